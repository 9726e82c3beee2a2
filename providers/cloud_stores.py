"""The stack's cloud, as deploy and the CLI reach it: shared names, stores, logs, bootstrap.

* **Shared pieces** (what ``pcompile bootstrap`` creates once per account/project
  and region, as ``cdk bootstrap`` does): a state bucket, a staging bucket for code
  bundles, and an image registry. Their names are derived, never stored, so a CI
  job on a fresh machine finds them: :func:`shared_names`.
* **Stores**: :class:`S3Store` / :class:`GcsStore` (code bundles), and the
  manifest stores that read what the providers' programs wrote
  (:class:`SsmManifestStore` on AWS, :class:`GcsManifestStore` on GCP).
* **Logs**: :func:`fetch_logs` (CloudWatch Logs, Cloud Logging, local files).
* :func:`default_tools`: the real :class:`~pcompile.providers.deploy.DeployTools`.

Cloud SDKs are imported lazily; nothing here runs at import time.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec
from pcompile.providers import deploy as dep
from pcompile.providers.manifest import Manifest
from pcompile.providers.settings import StackSettings

BOOTSTRAP_PROJECT = "pcompile-bootstrap"


# ------------------------------------------------------------------ shared names


@dataclass(frozen=True)
class SharedNames:
    """The per-account pieces of one stack's cloud and region."""

    state_bucket: str | None
    staging_bucket: str
    registry: str

    def to_json(self) -> dict[str, Any]:
        """Plain dict, sorted keys."""
        return {
            "registry": self.registry,
            "staging_bucket": self.staging_bucket,
            "state_bucket": self.state_bucket,
        }


def shared_names(settings: StackSettings, account: Callable[[], str] | None = None) -> SharedNames:
    """Names of the bootstrap resources; ``account`` (AWS) is asked only when a name needs it.

    The state bucket is the one named by an ``s3://`` / ``gs://`` state backend (None
    for file and Pulumi Cloud backends); stack keys ``registry`` and
    ``extra.staging_bucket`` override the derived names.
    """
    state = _bucket_of(settings.state_backend)
    staging = settings.extra.get("staging_bucket")
    if settings.cloud == "aws":
        from pcompile.providers.aws import names as aws_names

        region = settings.region or "us-east-1"
        ask = account or aws_account
        acct = ask() if not (staging and settings.registry) else ""
        return SharedNames(
            state_bucket=state,
            staging_bucket=staging or f"pcompile-staging-{acct}-{region}",
            registry=settings.registry or aws_names.registry(acct, region),
        )
    if settings.cloud == "gcp":
        from pcompile.providers.gcp import names as gcp_names

        project, region = settings.project or "", settings.region or "us-central1"
        return SharedNames(
            state_bucket=state,
            staging_bucket=staging or f"{project}-pcompile-staging",
            registry=gcp_names.registry(project, region, settings.registry),
        )
    raise UserError(
        f"stack {settings.name!r} is local: it has no cloud account", fix="use an aws or gcp stack"
    )


def _bucket_of(url: str | None) -> str | None:
    match = re.match(r"^(s3|gs)://([^/?]+)", url or "")
    return match.group(2) if match else None


def aws_account() -> str:
    """The account id of the current AWS credentials (STS)."""
    import boto3

    try:
        return str(boto3.client("sts").get_caller_identity()["Account"])
    except Exception as exc:
        raise UserError(
            f"cannot read the AWS account id: {exc}",
            fix="configure AWS credentials (aws configure sso, or OIDC in CI) and re-run",
        ) from None


@contextmanager
def aws_errors() -> Iterator[None]:
    """Missing credentials or an unreachable endpoint are the user's to fix: one sentence."""
    from botocore.exceptions import BotoCoreError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise UserError(
            "no AWS credentials found", fix="configure them (aws configure sso, or OIDC in CI) and re-run"
        ) from None
    except BotoCoreError as exc:
        raise UserError(f"cannot reach AWS: {exc}", fix="check the network, region and credentials") from None


def credential_error(exc: BaseException) -> UserError | None:
    """A UserError for missing cloud credentials (AWS or Google), else None."""
    kind = f"{type(exc).__module__}.{type(exc).__name__}"
    if kind.endswith("NoCredentialsError") or kind.endswith("UnauthorizedSSOTokenError"):
        return UserError("no AWS credentials found", fix="configure them (aws configure sso, or OIDC in CI)")
    if kind.endswith("DefaultCredentialsError") or kind.endswith("RefreshError"):
        return UserError(
            "no Google Cloud credentials found",
            fix="run `gcloud auth application-default login` (or OIDC in CI)",
        )
    return None


# ------------------------------------------------------------------ object stores


class S3Store:
    """An :class:`~pcompile.providers.deploy.ArtifactStore` in an S3 bucket."""

    def __init__(self, bucket: str, client: Any = None, region: str | None = None) -> None:
        import boto3

        self.bucket = bucket
        self.client = client or boto3.client("s3", region_name=region)

    def exists(self, key: str) -> bool:
        """HEAD the object."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def put(self, key: str, data: bytes) -> str:
        """PUT the object."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None."""
        if not self.exists(key):
            return None
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())


class GcsStore:
    """An :class:`~pcompile.providers.deploy.ArtifactStore` in a GCS bucket."""

    def __init__(self, bucket: str, client: Any = None, project: str | None = None) -> None:
        from google.cloud import storage  # type: ignore[attr-defined]

        self.bucket = bucket
        self.client = client or storage.Client(project=project)

    def exists(self, key: str) -> bool:
        """Whether the blob exists."""
        return bool(self.client.bucket(self.bucket).blob(key).exists())

    def put(self, key: str, data: bytes) -> str:
        """Upload the blob."""
        self.client.bucket(self.bucket).blob(key).upload_from_string(data)
        return f"gs://{self.bucket}/{key}"

    def get(self, key: str) -> bytes | None:
        """The blob's bytes, or None."""
        blob = self.client.bucket(self.bucket).blob(key)
        return bytes(blob.download_as_bytes()) if blob.exists() else None


# ------------------------------------------------------------------ manifests


class SsmManifestStore:
    """Reads the manifests the AWS program writes: SSM ``/pcompile/<stack>/<app>/manifest``
    holds ``s3://bucket/key`` of the manifest object. Writing is the program's job."""

    def __init__(self, stack: str, ssm: Any = None, s3: Any = None, region: str | None = None) -> None:
        import boto3

        self.stack = stack
        self.ssm = ssm or boto3.client("ssm", region_name=region)
        self.s3 = s3 or boto3.client("s3", region_name=region)

    def _prefix(self) -> str:
        from pcompile.providers.aws.placement import slug

        return f"/pcompile/{slug(self.stack)}/"

    def write(self, manifest: Manifest) -> str:
        """The program already wrote it; say where."""
        return f"ssm:{self._prefix()}{manifest.app}/manifest"

    def read(self, app: str) -> Manifest | None:
        """Follow the SSM pointer to the S3 object."""
        from pcompile.providers.aws.program import manifest_parameter

        with aws_errors():
            try:
                url = self.ssm.get_parameter(Name=manifest_parameter(app, self.stack))["Parameter"]["Value"]
            except self.ssm.exceptions.ParameterNotFound:
                return None
            bucket, _, key = url.removeprefix("s3://").partition("/")
            return Manifest.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())

    def list(self) -> list[str]:
        """Apps with a manifest parameter under the stack's prefix."""
        names: set[str] = set()
        with aws_errors():
            pages = self.ssm.get_paginator("get_parameters_by_path").paginate(
                Path=self._prefix(), Recursive=True
            )
            for page in pages:
                for param in page["Parameters"]:
                    parts = param["Name"][len(self._prefix()) :].split("/")
                    if len(parts) == 2 and parts[1] == "manifest":
                        names.add(parts[0])
        return sorted(names)

    def delete(self, app: str) -> None:
        """``pulumi destroy`` removes the parameter with the stack."""


class GcsManifestStore:
    """Reads the manifest the GCP program writes in the app's staging bucket."""

    def __init__(self, settings: StackSettings, client: Any = None) -> None:
        self.settings = settings
        self.client = client

    def _store(self, app: str) -> tuple[GcsStore, str]:
        from pcompile.providers.gcp import names

        bucket = names.staging_bucket(self.settings.project or "", self.settings.name, app)
        return GcsStore(bucket, self.client, self.settings.project), names.manifest_key(app)

    def write(self, manifest: Manifest) -> str:
        """The program already wrote it; say where."""
        store, key = self._store(manifest.app)
        return f"gs://{store.bucket}/{key}"

    def read(self, app: str) -> Manifest | None:
        """Download and parse the manifest object."""
        store, key = self._store(app)
        data = store.get(key)
        return Manifest.loads(data.decode()) if data is not None else None

    def list(self) -> list[str]:
        """Per-app buckets cannot be listed by name; the local cache lists apps."""
        return []

    def delete(self, app: str) -> None:
        """``pulumi destroy`` removes the object with the stack."""


# ------------------------------------------------------------------ logs

_SINCE = re.compile(r"^(\d+)([smhd])$")


def parse_since(text: str) -> float:
    """``30m`` / ``2h`` / ``1d`` as seconds; a UserError for anything else."""
    match = _SINCE.match(text.strip())
    if not match:
        raise UserError(f"--since {text!r} is not a duration", fix="use e.g. 30m, 2h or 1d")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def fetch_logs(
    settings: StackSettings,
    root: Path,
    manifest: Manifest,
    function: str,
    since: str,
    limit: int,
    client: Any = None,
    now: Callable[[], float] = time.time,
) -> list[str]:
    """Recent log lines of ``function``, oldest first."""
    address = manifest.functions.get(function)
    if address is None:
        raise UserError(
            f"app {manifest.app!r} has no function {function!r}",
            fix=f"use one of: {', '.join(sorted(manifest.functions))}",
        )
    start = now() - parse_since(since)
    if settings.cloud == "aws":
        return _cloudwatch_lines(address.addresses, settings, start, limit, client)
    if settings.cloud == "gcp":
        return _cloud_logging_lines(address.addresses, settings, start, limit, client)
    return _local_lines(root, manifest.app, function, limit)


def cloudwatch_group(addresses: dict[str, str]) -> str:
    """The CloudWatch log group of a function: Batch's own, else Lambda's default."""
    if "log_group" in addresses:
        return addresses["log_group"]
    if "function_name" in addresses:
        return f"/aws/lambda/{addresses['function_name']}"
    raise UserError(
        "the manifest has no log group for this function", fix="re-deploy with this pcompile version"
    )


def _cloudwatch_lines(
    addresses: dict[str, str], settings: StackSettings, start: float, limit: int, client: Any
) -> list[str]:
    import boto3

    logs = client or boto3.client("logs", region_name=settings.region)
    events = logs.filter_log_events(
        logGroupName=cloudwatch_group(addresses), startTime=int(start * 1000), limit=limit
    )
    return [e["message"].rstrip("\n") for e in sorted(events["events"], key=lambda e: e["timestamp"])]


def cloud_logging_filter(addresses: dict[str, str], start: float) -> str:
    """The Cloud Logging filter for a Cloud Run service or a Batch function's jobs."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    if "service" in addresses:
        where = (
            f'resource.type="cloud_run_revision" AND resource.labels.service_name="{addresses["service"]}"'
        )
    else:
        template = addresses.get("job_template", "")
        where = f'logName:"batch_task_logs" AND labels.pcompile_template="{template}"'
    return f'{where} AND timestamp>="{stamp}"'


def _cloud_logging_lines(
    addresses: dict[str, str], settings: StackSettings, start: float, limit: int, session: Any
) -> list[str]:
    if session is None:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/logging.read"])
        session = AuthorizedSession(credentials)
    body = {
        "resourceNames": [f"projects/{settings.project}"],
        "filter": cloud_logging_filter(addresses, start),
        "orderBy": "timestamp asc",
        "pageSize": limit,
    }
    response = session.post("https://logging.googleapis.com/v2/entries:list", json=body)
    response.raise_for_status()
    entries = response.json().get("entries", [])
    return [
        str(e.get("textPayload") or json.dumps(e.get("jsonPayload", {}), sort_keys=True)) for e in entries
    ]


def local_log_dir(root: Path, app: str) -> Path:
    """Where local workers' logs are read from: ``.pcompile/local/logs/<app>/``, or under
    ``PCOMPILE_LOCAL_DIR`` when set (where the local provider then writes them)."""
    override = os.environ.get("PCOMPILE_LOCAL_DIR")
    base = Path(override) if override else root / dep.STATE_DIR / "local"
    return base / "logs" / app


def _local_lines(root: Path, app: str, function: str, limit: int) -> list[str]:
    folder = local_log_dir(root, app)
    # Methods of a class share their class's workers, and so its log file.
    files = sorted(folder.glob(f"{function.partition('.')[0]}*.log")) if folder.is_dir() else []
    if not files:
        raise UserError(
            f"no local logs for {app}.{function} under {folder}",
            fix="run the app with `pcompile serve` or `pcompile run` first",
        )
    lines = [line for path in files for line in path.read_text().splitlines()]
    return lines[-limit:]


# ------------------------------------------------------------------ bootstrap


def define_bootstrap(settings: StackSettings, names: SharedNames) -> dict[str, Any]:
    """The bootstrap Pulumi program: state bucket, staging bucket, registry."""
    import pulumi

    if settings.cloud == "aws":
        outputs = _aws_bootstrap(settings, names)
    else:
        outputs = _gcp_bootstrap(settings, names)
    for key, value in sorted(outputs.items()):
        pulumi.export(key, value)
    return outputs


def _aws_bootstrap(settings: StackSettings, names: SharedNames) -> dict[str, Any]:
    import pulumi_aws as aws

    tags = {"pcompile-stack": settings.name, "pcompile": "bootstrap", **settings.labels}
    buckets = {"staging": names.staging_bucket}
    if names.state_bucket:
        buckets["state"] = names.state_bucket
    for role, bucket_name in sorted(buckets.items()):
        bucket = aws.s3.Bucket(f"pcompile-{role}", bucket=bucket_name, tags=tags, force_destroy=False)
        aws.s3.BucketPublicAccessBlock(
            f"pcompile-{role}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"pcompile-{role}-encryption",
            bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
        )
        if role == "state":
            aws.s3.BucketVersioning(
                "pcompile-state-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}
            )
    # ECR repositories are per app (`<registry>/<app>`, names.registry), created on first push.
    return names.to_json()


def _gcp_bootstrap(settings: StackSettings, names: SharedNames) -> dict[str, Any]:
    import pulumi_gcp as gcp

    from pcompile.providers.gcp import names as gcp_names

    labels = {"pcompile-stack": settings.name, "pcompile": "bootstrap", **settings.labels}
    buckets = {"staging": names.staging_bucket}
    if names.state_bucket:
        buckets["state"] = names.state_bucket
    for role, bucket_name in sorted(buckets.items()):
        gcp.storage.Bucket(
            f"pcompile-{role}",
            name=bucket_name,
            project=settings.project,
            location=(settings.region or "us-central1").upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": role == "state"},
            labels=labels,
        )
    gcp.artifactregistry.Repository(
        "pcompile-registry",
        repository_id=gcp_names.BOOTSTRAP_REPOSITORY,
        project=settings.project,
        location=settings.region or "us-central1",
        format="DOCKER",
        labels=labels,
    )
    return names.to_json()


BOOTSTRAP_MAIN = '''"""pcompile bootstrap program (generated; do not edit)."""

import json
from pathlib import Path

from pcompile.compiler.stacks import parse_stack
from pcompile.providers.cloud_stores import SharedNames, define_bootstrap

data = json.loads(Path(__file__).with_name("bootstrap.json").read_text())
settings = parse_stack(data["stack"], Path(data["stack_file"]))
define_bootstrap(settings, SharedNames(**data["names"]))
'''


def emit_bootstrap(
    settings: StackSettings, names: SharedNames, root: Path, stack_data: dict[str, Any]
) -> Path:
    """Write the bootstrap Pulumi project under ``.pcompile/build/<stack>/_bootstrap``."""
    folder = root / dep.STATE_DIR / "build" / settings.name / "_bootstrap"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text(f"name: {BOOTSTRAP_PROJECT}\nruntime: python\n")
    (folder / "__main__.py").write_text(BOOTSTRAP_MAIN)
    data = {"stack": stack_data, "stack_file": f"{settings.name}.yaml", "names": names.to_json()}
    (folder / "bootstrap.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return folder


def bootstrap(
    settings: StackSettings,
    root: Path,
    engine: dep.Engine,
    progress: dep.Progress,
    *,
    preview: bool = False,
    account: Callable[[], str] | None = None,
    stack_data: dict[str, Any] | None = None,
) -> dep.EngineResult:
    """Create the shared pieces through the engine.

    Its own state stays in the local file backend (``.pcompile/bootstrap-state``): the
    state bucket it creates cannot hold the state of its own creation.
    """
    if settings.cloud == "local":
        raise UserError("a local stack needs no bootstrap", fix="bootstrap an aws or gcp stack")
    engine.check()
    names = shared_names(settings, account)
    data = stack_data if stack_data is not None else _stack_data(settings, root)
    folder = emit_bootstrap(settings, names, root, data)
    state = root / dep.STATE_DIR / "bootstrap-state"
    state.mkdir(parents=True, exist_ok=True)
    project = dep.PulumiProject(
        folder, BOOTSTRAP_PROJECT, settings.name, state.resolve().as_uri(), "passphrase"
    )
    progress.step(f"{'previewing' if preview else 'creating'} the shared pieces of stack {settings.name}")
    action = engine.preview if preview else engine.up
    result: dep.EngineResult = dep._guard(lambda: action(project, progress.output))
    outputs = result.outputs or names.to_json()
    return dep.EngineResult(result.changes, outputs, result.text)


def _stack_data(settings: StackSettings, root: Path) -> dict[str, Any]:
    import yaml

    from pcompile.compiler.stacks import find_stack_file

    return dict(yaml.safe_load(find_stack_file(settings.name, root).read_text()) or {})


# ------------------------------------------------------------------ real tools


def ensure_ecr_repository(ref: str, region: str | None, client: Any = None) -> None:
    """Create the ECR repository of ``ref`` (``acct.dkr.ecr.region.amazonaws.com/repo:tag``) if missing."""
    import boto3

    repo = ref.split("/", 1)[1].rsplit(":", 1)[0]
    ecr = client or boto3.client("ecr", region_name=region)
    try:
        ecr.create_repository(
            repositoryName=repo,
            imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
            encryptionConfiguration={"encryptionType": "AES256"},
        )
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass


class _EcrPublisher:
    """Creates the app's ECR repository before the first push."""

    def __init__(self, inner: dep.ImagePublisher, region: str | None) -> None:
        self.inner = inner
        self.region = region

    def exists(self, ref: str) -> bool:
        """Delegate."""
        return self.inner.exists(ref)

    def publish(self, image: Any, ref: str, root: Path) -> None:
        """Ensure the repository, then build and push."""
        if ".dkr.ecr." in ref:
            ensure_ecr_repository(ref, self.region)
        self.inner.publish(image, ref, root)


def use_endpoint(settings: StackSettings) -> None:
    """Point every boto3 client this process makes at the stack's ``endpoint_url`` (an AWS
    API emulator), through botocore's own ``AWS_ENDPOINT_URL``: per-service settings
    (``AWS_ENDPOINT_URL_LAMBDA`` ...) still win. A simulate stack talks only to its
    emulator, so it gets placeholder credentials when none are set."""
    if settings.cloud == "gcp" and settings.endpoint_url:
        # google-cloud-storage's own switch to an emulator (anonymous credentials).
        os.environ["STORAGE_EMULATOR_HOST"] = settings.endpoint_url
        return
    if settings.cloud != "aws" or not settings.endpoint_url:
        return
    os.environ["AWS_ENDPOINT_URL"] = settings.endpoint_url
    os.environ.setdefault("AWS_DEFAULT_REGION", settings.region or "us-east-1")
    if settings.engine == "simulate":
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "simulate")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "simulate")


def _engine(settings: StackSettings, root: Path) -> dep.Engine:
    """The stack's engine: Pulumi's Automation API, or the simulate engine."""
    if settings.engine == "simulate" and settings.cloud == "gcp":
        from pcompile.providers.simulate.gcp_engine import engine_for

        return engine_for(settings, root)
    if settings.engine == "simulate":
        from pcompile.providers.simulate.engine import SimulateEngine

        return SimulateEngine(settings, root)
    return dep.AutomationEngine()


def default_tools(settings: StackSettings, root: Path) -> dep.DeployTools:
    """The real tools for a stack: Pulumi Automation API (or the simulate engine), the
    stack's builder, S3/GCS."""
    use_endpoint(settings)
    local_manifests = dep.DirectoryManifestStore(root, settings.name)
    if settings.cloud == "local":
        return dep.DeployTools(
            engine=dep.AutomationEngine(),
            publisher=_no_publisher,
            artifacts=dep.DirectoryArtifactStore(root / dep.STATE_DIR / "local" / "bundles"),
            manifests=[local_manifests],
            compile=_compile,
            emit=_emit,
            bundle=_bundle,
            image_refs=lambda app: {},
        )
    compiled = _Compiled()
    lazy = _LazyCloud(settings, root)
    cloud_manifests: dep.ManifestStore = (
        SsmManifestStore(settings.name, region=settings.region)
        if settings.cloud == "aws"
        else GcsManifestStore(settings)
    )
    return dep.DeployTools(
        engine=_engine(settings, root),
        publisher=lazy.publisher,
        artifacts=lazy,
        manifests=[local_manifests, cloud_manifests],
        compile=compiled.compile,
        emit=_emit,
        bundle=_bundle,
        image_refs=lazy.image_refs,
        artifacts_url=lazy.url,
        secret_values=compiled.secret_values,
        deployed_manifest=lambda app: cloud_manifests.read(app.name),
    )


class _LazyCloud:
    """Asks the cloud for names (account id, staging bucket) only when deploy needs them."""

    def __init__(self, settings: StackSettings, root: Path) -> None:
        self.settings = settings
        self.root = root
        self._names: SharedNames | None = None
        self._store: S3Store | GcsStore | None = None

    def names(self) -> SharedNames:
        """The shared names, computed once."""
        if self._names is None:
            self._names = shared_names(self.settings)
        return self._names

    def store(self) -> S3Store | GcsStore:
        """The staging bucket's store."""
        if self._store is None:
            bucket = self.names().staging_bucket
            aws = self.settings.cloud == "aws"
            self._store = S3Store(bucket, region=self.settings.region) if aws else GcsStore(bucket)
        return self._store

    def exists(self, key: str) -> bool:
        """ArtifactStore.exists on the staging bucket."""
        return self.store().exists(key)

    def put(self, key: str, data: bytes) -> str:
        """ArtifactStore.put on the staging bucket."""
        return self.store().put(key, data)

    def url(self, key: str) -> str:
        """``s3://`` or ``gs://`` URL of ``key``."""
        scheme = "s3" if self.settings.cloud == "aws" else "gs"
        return f"{scheme}://{self.names().staging_bucket}/{key}"

    def _images(self) -> Any:
        import dataclasses

        from pcompile.providers.builders import ImageBuilder

        settings = dataclasses.replace(self.settings, registry=self.names().registry)
        return ImageBuilder.for_stack(settings, self.root)

    def image_refs(self, app: AppSpec) -> dict[str, str]:
        """Content-addressed refs in the stack's registry."""
        from pcompile.providers.builders import plan_image_refs

        return dict(plan_image_refs(app, self._images()))

    def publisher(self, app: AppSpec) -> dep.ImagePublisher:
        """The stack's builder, pushing to the shared registry (simulate: the emulator's ECR)."""
        from pcompile.providers.builders import BuilderPublisher

        if self.settings.engine == "simulate" and self.settings.cloud == "gcp":
            from pcompile.providers.simulate.gcp_engine import image_publisher

            return image_publisher(self.settings, self.root, app)
        if self.settings.engine == "simulate":
            from pcompile.providers.simulate.images import SimulatePublisher

            return SimulatePublisher(app, self.root, self.settings.name, self.settings.region)

        return _EcrPublisher(BuilderPublisher(self._images(), app), self.settings.region)


class _Compiled:
    """Compiles the app file and keeps the live SDK objects, whose code-defined secret
    values become Pulumi secret config (they never enter the IR)."""

    def __init__(self) -> None:
        self.loaded: Any = None

    def compile(self, path: Path) -> Any:
        """The IR program of ``path``."""
        from pcompile.compiler.loader import load

        self.loaded = load(str(path))
        return self.loaded.program

    def secret_values(self, app: AppSpec) -> dict[str, dict[str, str]]:
        """Values of the app's non-named secrets, read on this machine."""
        from pcompile.providers.local.secrets import SecretResolver

        resolver = SecretResolver.for_app(self.loaded.app(app.name))
        return {s.name: resolver.values(s.name, s.required_keys) for s in app.secrets if s.kind != "named"}


def _no_publisher(app: AppSpec) -> dep.ImagePublisher:
    return dep.FakePublisher()


def _compile(path: Path) -> Any:
    from pcompile.compiler import compile_file

    return compile_file(str(path))


def _bundle(root: Path, app: AppSpec) -> dep.Bundle:
    from pcompile.compiler.bundle import build_bundle

    bundle = build_bundle(app, root)
    return dep.Bundle(bundle.key, bundle.data)


def _emit(request: dep.EmitRequest) -> Path:
    from pcompile.compiler import emit

    return emit.emit_project(
        request.program,
        request.app,
        request.settings,
        request.out_dir,
        image_refs=request.image_refs,
        bundle_url=request.bundle_url,
    )


# ------------------------------------------------------------------ secrets


class AwsSecrets:
    """Named secrets in Secrets Manager: ``Secret.from_name(NAME)`` reads secret ``NAME``,
    a JSON object of keys to values."""

    def __init__(self, region: str | None = None, client: Any = None) -> None:
        import boto3

        self.client = client or boto3.client("secretsmanager", region_name=region)

    def create(self, name: str, values: dict[str, str], overwrite: bool = False) -> None:
        """Create ``name``, or replace its value with ``overwrite``."""
        body = json.dumps(values, sort_keys=True)
        try:
            self.client.create_secret(
                Name=name, SecretString=body, Tags=[{"Key": "pcompile", "Value": "secret"}]
            )
        except self.client.exceptions.ResourceExistsException:
            if not overwrite:
                raise UserError(
                    f"secret {name!r} already exists", fix="pass --force to replace its value"
                ) from None
            self.client.put_secret_value(SecretId=name, SecretString=body)

    def keys_by_name(self) -> dict[str, list[str]]:
        """Secret names and their key names (values are read to find keys, never shown)."""
        found: dict[str, list[str]] = {}
        for page in self.client.get_paginator("list_secrets").paginate():
            for item in page["SecretList"]:
                found[item["Name"]] = self._keys(item["Name"])
        return dict(sorted(found.items()))

    def _keys(self, name: str) -> list[str]:
        try:
            value = json.loads(self.client.get_secret_value(SecretId=name).get("SecretString") or "{}")
        except (ValueError, self.client.exceptions.ClientError):
            return []
        return sorted(value) if isinstance(value, dict) else []


class GcpSecrets:
    """Named secrets in Secret Manager (REST, so no extra client library): one secret per
    name, its latest version a JSON object of keys to values."""

    API = "https://secretmanager.googleapis.com/v1"

    def __init__(self, project: str, session: Any = None) -> None:
        self.project = project
        self.session = session or _google_session("https://www.googleapis.com/auth/cloud-platform")

    def create(self, name: str, values: dict[str, str], overwrite: bool = False) -> None:
        """Create the secret (if needed) and add a version holding the JSON."""
        import base64

        parent = f"{self.API}/projects/{self.project}/secrets"
        made = self.session.post(f"{parent}?secretId={name}", json={"replication": {"automatic": {}}})
        if made.status_code == 409 and not overwrite:
            raise UserError(f"secret {name!r} already exists", fix="pass --force to add a new version")
        if made.status_code not in (200, 409):
            made.raise_for_status()
        data = base64.b64encode(json.dumps(values, sort_keys=True).encode()).decode()
        self.session.post(f"{parent}/{name}:addVersion", json={"payload": {"data": data}}).raise_for_status()

    def keys_by_name(self) -> dict[str, list[str]]:
        """Secret names (key names need a version read; shown as empty here)."""
        response = self.session.get(f"{self.API}/projects/{self.project}/secrets")
        response.raise_for_status()
        names = [s["name"].rsplit("/", 1)[-1] for s in response.json().get("secrets", [])]
        return {n: [] for n in sorted(names)}


def _google_session(scope: str) -> Any:
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=[scope])
    return AuthorizedSession(credentials)


def cloud_secrets(settings: StackSettings) -> AwsSecrets | GcpSecrets:
    """The secret store of a cloud stack."""
    if settings.cloud == "aws":
        return AwsSecrets(settings.region)
    if settings.cloud == "gcp" and settings.engine == "simulate":
        from pcompile.providers.simulate.gcp_resources import SimulatedSecrets, gcp_plane

        return SimulatedSecrets(gcp_plane(Path.cwd(), settings.name), settings.project or "")  # type: ignore[return-value]
    if settings.cloud == "gcp":
        return GcpSecrets(settings.project or "")
    raise UserError("local secrets need no --stack", fix="leave --stack out for the local store")


# ------------------------------------------------------------------ volumes


@dataclass(frozen=True)
class VolumeEntry:
    """One object in a volume bucket."""

    path: str
    size: int


class BucketVolume:
    """``pcompile volume ls/put/get`` on a volume's bucket (S3 or GCS), files at the bucket root."""

    def __init__(self, url: str, client: Any = None) -> None:
        scheme, _, rest = url.partition("://")
        self.scheme = scheme
        self.bucket, _, prefix = rest.partition("/")
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if scheme == "s3":
            import boto3

            self.client = client or boto3.client("s3")
        else:
            from google.cloud import storage  # type: ignore[attr-defined]

            self.client = client or storage.Client()

    def _key(self, path: str) -> str:
        return self.prefix + path.strip("/")

    def ls(self, path: str = "/") -> list[VolumeEntry]:
        """Objects under ``path``, sorted."""
        prefix = self._key(path)
        prefix = prefix + "/" if prefix and not prefix.endswith("/") else prefix
        if self.scheme == "s3":
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            items = [(o["Key"], int(o["Size"])) for p in pages for o in p.get("Contents", [])]
        else:
            items = [(b.name, int(b.size or 0)) for b in self.client.list_blobs(self.bucket, prefix=prefix)]
        return [VolumeEntry("/" + k[len(self.prefix) :], size) for k, size in sorted(items)]

    def put(self, local: Path, remote: str) -> list[str]:
        """Upload a file, or a folder's files, under ``remote``; returns the volume paths."""
        files = sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else [local]
        written = []
        for path in files:
            rel = path.relative_to(local).as_posix() if local.is_dir() else ""
            target = (
                f"{remote.rstrip('/')}/{rel}"
                if rel
                else (f"{remote.rstrip('/')}/{path.name}" if remote.endswith("/") else remote)
            )
            self._upload(self._key(target), path.read_bytes())
            written.append("/" + target.strip("/"))
        return written

    def get(self, remote: str) -> bytes:
        """The bytes of one file; a UserError when it is missing."""
        key = self._key(remote)
        try:
            if self.scheme == "s3":
                return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            return bytes(self.client.bucket(self.bucket).blob(key).download_as_bytes())
        except Exception as exc:
            raise UserError(f"no file {remote!r} in the volume ({exc.__class__.__name__})") from None

    def _upload(self, key: str, data: bytes) -> None:
        if self.scheme == "s3":
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        else:
            self.client.bucket(self.bucket).blob(key).upload_from_string(data)


def volume_url(settings: StackSettings, name: str, app: str | None, tagging: Any = None) -> str:
    """Where volume ``name`` lives on a cloud stack.

    ``extra.volumes.<name>`` in the stack file wins; on GCP the bucket name is derived
    from project, stack and app; on AWS the bucket is found by its tags
    (``pcompile-stack``, ``pcompile-volume``).
    """
    explicit = (settings.extra.get("volumes") or {}).get(name)
    if explicit:
        return str(explicit)
    if settings.cloud == "gcp":
        if not app:
            raise UserError(f"volume {name!r}: which app's volume?", fix="pass --app NAME")
        from pcompile.providers.gcp import names

        return f"gs://{names.bucket_name(settings.project or '', settings.name, app, f'vol-{name}')}"
    if settings.cloud == "aws":
        return f"s3://{_tagged_bucket(settings, name, app, tagging)}"
    raise UserError("local volumes need no --stack", fix="leave --stack out for local volumes")


def _tagged_bucket(settings: StackSettings, name: str, app: str | None, tagging: Any) -> str:
    import boto3

    client = tagging or boto3.client("resourcegroupstaggingapi", region_name=settings.region)
    filters = [
        {"Key": "pcompile-stack", "Values": [settings.name]},
        {"Key": "pcompile-volume", "Values": [name]},
    ]
    if app:
        filters.append({"Key": "pcompile-app", "Values": [app]})
    found = client.get_resources(TagFilters=filters, ResourceTypeFilters=["s3:bucket"])
    arns = sorted(r["ResourceARN"] for r in found.get("ResourceTagMappingList", []))
    if len(arns) != 1:
        raise UserError(
            f"{len(arns)} buckets are tagged as volume {name!r} on stack {settings.name!r}",
            fix="deploy the app that uses the volume, pass --app, or set extra.volumes."
            f"{name}: s3://bucket in the stack file",
        )
    return arns[0].rsplit(":", 1)[-1]
