"""Stable GCP names for an app's resources, derived only from IR names and stack settings.

GCP names have narrow alphabets and lengths (service accounts 6-30 characters,
Cloud Run services 49, buckets 63 and globally unique); names that would not fit
are cut and end in a short hash of the full name, so they never depend on
declaration order and never collide. The invoker uses the same functions to find
what the program created (staging bucket, manifest, job templates).
"""

from __future__ import annotations

import hashlib
import re

from pcompile.runtime import gcp_env

DEFAULT_REGION = "us-central1"
# Placeholder shown by ``pcompile synth`` without ``--project``; a deploy always has a project.
PLACEHOLDER_PROJECT = "PROJECT_ID"
# Staging-bucket folders only the deploying identity writes (callers read them).
MANIFESTS = "manifests"
TEMPLATES = "templates"


def slug(text: str) -> str:
    """Lower-case letters, digits and single hyphens (``Model.embed`` -> ``model-embed``)."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-") or "x"


def short_hash(*parts: str, length: int = 6) -> str:
    """A short, stable hex digest of ``parts``."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def fit(text: str, limit: int, *salt: str) -> str:
    """``slug(text)`` when it fits in ``limit``, else cut and suffixed with a hash of the whole."""
    base = slug(text)
    if len(base) <= limit and not salt:
        return base
    digest = short_hash(text, *salt)
    return f"{base[: limit - len(digest) - 1].rstrip('-')}-{digest}"


def letter_first(text: str) -> str:
    """GCP ids that must start with a letter."""
    return text if text[:1].isalpha() else f"p{text}"


def service_name(app: str, function: str) -> str:
    """Cloud Run service name: at most 49 characters, starting with a letter."""
    return letter_first(fit(f"{app}-{function}", 48))


def account_id(app: str, function: str) -> str:
    """Service account id: 6-30 characters; always hashed, ids are project-wide."""
    return letter_first(fit(f"pc-{function}", 29, app))


def bucket_name(project: str, stack: str, app: str, what: str) -> str:
    """Globally unique bucket name: readable prefix plus a hash of project, stack and app."""
    return fit(f"{app}-{what}", 62, project, stack)


def staging_bucket(project: str, stack: str, app: str) -> str:
    """The bucket holding payloads, results, job templates and the manifest."""
    return bucket_name(project, stack, app, "staging")


# Bootstrap's Artifact Registry repository: every app's images are pushed there.
BOOTSTRAP_REPOSITORY = "pcompile"
_ARTIFACT_REF = re.compile(r"^([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/")


def artifact_repository(image_ref: str) -> tuple[str, str, str] | None:
    """``(location, project, repository)`` of an Artifact Registry image reference, else None.

    The pull grant is computed from the very reference a function runs, so it names the
    repository the image was pushed to.
    """
    match = _ARTIFACT_REF.match(image_ref)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def secret_id(app: str, secret: str, named: bool) -> str:
    """Secret Manager id: a ``Secret.from_name`` keeps its name; code-defined ones are per app."""
    return secret if named else fit(f"{app}-{secret}", 200)


def scheduler_job_name(app: str, function: str) -> str:
    """Cloud Scheduler job id (letters, digits, hyphens, at most 500)."""
    return fit(f"{app}-{function}", 200)


def manifest_key(app: str) -> str:
    """Object name of the deployment manifest in the staging bucket."""
    return f"{MANIFESTS}/{slug(app)}.json"


def template_key(function: str) -> str:
    """Object name of a function's Batch job template in the staging bucket."""
    return f"{TEMPLATES}/{slug(function)}.json"


def registry(project: str, region: str, override: str | None = None) -> str:
    """The Docker registry deploy pushes to: bootstrap's repository (a stack's ``registry`` wins)."""
    return override or f"{region}-docker.pkg.dev/{project}/{BOOTSTRAP_REPOSITORY}"


def image_uri(registry_url: str, app: str, image_id: str) -> str:
    """One image: ``<registry>/<app>:<tag>``, tag = the IR's content hash of the image."""
    return f"{registry_url}/{slug(app)}:{image_id}"


def secret_env(secret: str) -> str:
    """The environment variable carrying a secret's JSON (the runtime exports its keys)."""
    return gcp_env.SECRET_PREFIX + re.sub(r"[^A-Z0-9]", "_", secret.upper())


def firestore_database(stack: str) -> str:
    """The stack's Firestore database id (bootstrap creates it): 4-63 lower-case letters,
    digits and hyphens, starting with a letter; every app of the stack shares it, as Modal's
    named Dicts and Queues are shared by every app of a workspace."""
    return letter_first(fit(f"pcompile-{stack}", 63))


def filestore_instance(app: str, volume: str) -> str:
    """Filestore instance id of an app's NetworkFileSystem (letters, digits, hyphens, at most 63)."""
    return letter_first(fit(f"{app}-nfs-{volume}", 62, app, volume))


FILESTORE_SHARE = "share"  # the one file share of a BASIC instance (at most 16 characters)
# Zone of a zonal resource (Filestore BASIC) unless the stack's ``extra.zone`` names one;
# "-b" exists in every region that has zones a, b, c or b, c, d.
DEFAULT_ZONE_SUFFIX = "b"
