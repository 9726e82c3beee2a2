"""What GCP mounts for a function besides its volumes, decided before any program runs.

* A ``CloudBucketMount`` of a **GCS** bucket (``bucket_endpoint_url`` on
  ``storage.googleapis.com``, as Modal's guide writes it) is mounted by the platform:
  a Cloud Run ``gcs`` volume, gcsfuse on GCP Batch. The function's own service account
  reads (or writes) it, so an HMAC ``secret`` is not needed for the mount.
  ``key_prefix`` becomes gcsfuse's ``only-dir``. A bucket on another cloud (no endpoint
  is S3 in Modal; R2 and other S3 endpoints) is a :class:`UserError` with the fix.
* A ``NetworkFileSystem`` is a Filestore share mounted over NFS, which needs the stack's
  VPC network (``network.vpc_id``; Cloud Run reaches it by Direct VPC egress on
  ``network.subnet_ids[0]``, or the subnet named like the network).

Neither is copied by the runtime: these paths are not in ``PCOMPILE_VOLUMES``.
No Pulumi here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, CloudBucketMountSpec, FunctionSpec
from pcompile.providers.kv import KvInputError, check_name
from pcompile.providers.settings import StackSettings

GCS_ENDPOINT = "https://storage.googleapis.com"
# storage.googleapis.com and its regional endpoints (storage.<region>.rep.googleapis.com).
_GCS_HOST = re.compile(r"storage(\.[a-z0-9-]+)*\.googleapis\.com")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
NETWORK_KEY = "network.vpc_id"


@dataclass(frozen=True)
class GcsMount:
    """A GCS bucket the platform mounts at ``path`` (gcsfuse ``options``)."""

    path: str
    bucket: str
    read_only: bool
    options: tuple[str, ...] = ()


def is_gcs(spec: CloudBucketMountSpec) -> bool:
    """Whether the mount names a GCS bucket (its endpoint is Google Cloud Storage's)."""
    if not spec.bucket_endpoint_url:
        return False  # Modal: no endpoint means S3
    host = urlparse(spec.bucket_endpoint_url).hostname or ""
    return bool(_GCS_HOST.fullmatch(host))


def gcs_mounts(fn: FunctionSpec, project: str) -> list[GcsMount]:
    """The function's GCS bucket mounts, sorted by path (call :func:`check_function` first)."""
    out = []
    for path, spec in sorted(fn.cloud_bucket_mounts.items()):
        options = []
        if spec.key_prefix and spec.key_prefix.strip("/"):
            options.append(f"only-dir={spec.key_prefix.strip('/')}")
        if spec.requester_pays:
            options.append(f"billing-project={project}")
        out.append(GcsMount(path, spec.bucket_name, spec.read_only, tuple(options)))
    return out


def check_function(fn: FunctionSpec, settings: StackSettings) -> None:
    """Refuse mounts GCP cannot give this function, naming the decorator's line and the fix."""
    for path, spec in sorted(fn.cloud_bucket_mounts.items()):
        _check_bucket(fn, path, spec)
    if fn.network_file_systems and not settings.network.vpc_id:
        raise UserError(
            f"function {fn.name!r}: NetworkFileSystem at {', '.join(sorted(fn.network_file_systems))} is a "
            "Filestore share reached over the stack's VPC network, and the stack names none",
            source=fn.source,
            fix=f"set `{NETWORK_KEY}` in the stack file to the VPC network (e.g. network: {{vpc_id: default}}; "
            "Cloud Run uses Direct VPC egress on network.subnet_ids[0] or the subnet named like the "
            "network), or use a modal.Volume",
        )


def _check_bucket(fn: FunctionSpec, path: str, spec: CloudBucketMountSpec) -> None:
    if not is_gcs(spec):
        where = spec.bucket_endpoint_url or "no bucket_endpoint_url, which Modal reads as S3"
        raise UserError(
            f"function {fn.name!r}: CloudBucketMount {spec.bucket_name!r} at {path} is not a GCS bucket "
            f"({where}); GCP mounts only Cloud Storage buckets",
            source=fn.source,
            fix=f'pass bucket_endpoint_url="{GCS_ENDPOINT}" for a GCS bucket, deploy this app on AWS for an '
            "S3 bucket, or copy the data into a modal.Volume",
        )
    if spec.oidc_auth_role_arn:
        raise UserError(
            f"function {fn.name!r}: CloudBucketMount {spec.bucket_name!r} at {path} sets oidc_auth_role_arn, "
            "an AWS role; on GCP the function's own service account reads the bucket",
            source=fn.source,
            fix="drop oidc_auth_role_arn (the deploy grants the function access to this bucket)",
        )
    if not _BUCKET.fullmatch(spec.bucket_name):
        raise UserError(
            f"function {fn.name!r}: {spec.bucket_name!r} at {path} is not a GCS bucket name",
            source=fn.source,
            fix="use the bucket's name alone (3-222 lower-case letters, digits, '-', '_', '.'), no gs:// or path",
        )


def check_stores(app: AppSpec) -> list[UserError]:
    """Dict/Queue names Firestore cannot hold as a collection id (the shared rules of
    :func:`pcompile.providers.kv.check_name`, which are narrower than Firestore's)."""
    errors = []
    for kind, stores in (("dict", app.dicts), ("queue", app.queues)):
        for store in stores:
            try:
                check_name(store.name, kind)
            except KvInputError as err:
                call = f"modal.{kind.capitalize()}.from_name({store.name!r})"
                errors.append(UserError(f"{call}: {err}", fix=f"rename it in the {call} call"))
    return errors
