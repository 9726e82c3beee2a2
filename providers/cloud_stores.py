"""The shared layer of the cloud providers, as deploy and the CLI reach them.

What is the same on every cloud lives here; what differs is asked of the stack's
:class:`~pcompile.providers.registry.Provider` (per-cloud modules with the same names
in ``providers/aws/`` and ``providers/gcp/``: ``stores``, ``manifests``, ``logs``,
``bootstrap``, ``images``, ``secrets``, ``volumes``, ``credentials``).

* **Shared pieces** (what ``pcompile bootstrap`` creates once per account/project
  and region, as ``cdk bootstrap`` does): a state bucket, a staging bucket for code
  bundles, and an image registry. Their names are derived, never stored, so a CI
  job on a fresh machine finds them: :func:`shared_names`; :func:`bootstrap` runs
  the provider's bootstrap program through the engine.
* **Logs**: :func:`fetch_logs` (CloudWatch Logs, Cloud Logging, local files).
* **Secrets and volumes** of a cloud stack: :func:`cloud_secrets`, :func:`stack_volume`.
* :func:`default_tools`: the real :class:`~pcompile.providers.deploy.DeployTools`.

Cloud SDKs are imported lazily; nothing here runs at import time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec
from pcompile.providers import deploy as dep
from pcompile.providers import registry
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

    def buckets(self) -> dict[str, str]:
        """The buckets bootstrap creates, by role (``staging``, and ``state`` when named), sorted."""
        found = {"staging": self.staging_bucket}
        if self.state_bucket:
            found["state"] = self.state_bucket
        return dict(sorted(found.items()))


def shared_names(settings: StackSettings, account: Callable[[], str] | None = None) -> SharedNames:
    """Names of the bootstrap resources; ``account`` (AWS) is asked only when a name needs it.

    The state bucket is the one named by an ``s3://`` / ``gs://`` state backend (None
    for file and Pulumi Cloud backends); stack keys ``registry`` and
    ``extra.staging_bucket`` override the derived names.
    """
    provider = registry.get(settings.cloud)
    return provider.shared_names(settings, _bucket_of(settings.state_backend), account)


def _bucket_of(url: str | None) -> str | None:
    match = re.match(r"^(s3|gs)://([^/?]+)", url or "")
    return match.group(2) if match else None


def credential_error(exc: BaseException) -> UserError | None:
    """A UserError for missing cloud credentials (any registered cloud's), else None."""
    return next((e for p in registry.providers() if (e := p.credential_error(exc)) is not None), None)


def use_endpoint(settings: StackSettings) -> None:
    """Point this process's cloud clients at the stack's ``endpoint_url`` (an API emulator)."""
    registry.get(settings.cloud).use_endpoint(settings)


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
    provider = registry.get(settings.cloud)
    return provider.logs(settings, root, manifest, function, address, start, limit, client)


# ------------------------------------------------------------------ bootstrap


def define_bootstrap(settings: StackSettings, names: SharedNames) -> dict[str, Any]:
    """The bootstrap Pulumi program: state bucket, staging bucket, registry."""
    import pulumi

    outputs = registry.get(settings.cloud).define_bootstrap(settings, names)
    for key, value in sorted(outputs.items()):
        pulumi.export(key, value)
    return outputs


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
    if not registry.get(settings.cloud).remote:
        raise UserError(
            "a local stack needs no bootstrap",
            fix=f"bootstrap an {' or '.join(registry.remote_clouds())} stack",
        )
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


def default_tools(settings: StackSettings, root: Path) -> dep.DeployTools:
    """The real tools for a stack: Pulumi Automation API (or the simulate engine), the
    stack's builder, the provider's staging bucket and manifest store."""
    use_endpoint(settings)
    provider = registry.get(settings.cloud)
    local_manifests = dep.DirectoryManifestStore(root, settings.name)
    if not provider.remote:
        return dep.DeployTools(
            engine=provider.engine(settings, root),
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
    cloud_manifests = provider.manifest_store(settings)
    return dep.DeployTools(
        engine=provider.engine(settings, root),
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
        prepare_stores=lambda app, preview: _prepare_stores(provider, settings, app, preview),
    )


def _prepare_stores(provider: Any, settings: StackSettings, app: AppSpec, preview: bool) -> list[str]:
    """The cloud's ``prepare_deploy(app, settings, preview)`` in its kv module, where its
    Dict/Queue stores must exist before the program runs (AWS: one DynamoDB table each)."""
    prepare = getattr(provider.kv(), "prepare_deploy", None)
    return list(prepare(app, settings, preview)) if prepare is not None else []


class _LazyCloud:
    """Asks the cloud for names (account id, staging bucket) only when deploy needs them."""

    def __init__(self, settings: StackSettings, root: Path) -> None:
        self.settings = settings
        self.root = root
        self.provider = registry.get(settings.cloud)
        self._names: SharedNames | None = None
        self._store: dep.ArtifactStore | None = None

    def names(self) -> SharedNames:
        """The shared names, computed once."""
        if self._names is None:
            self._names = shared_names(self.settings)
        return self._names

    def store(self) -> dep.ArtifactStore:
        """The staging bucket's store."""
        if self._store is None:
            self._store = self.provider.artifact_store(self.settings, self.names().staging_bucket)
        return self._store

    def exists(self, key: str) -> bool:
        """ArtifactStore.exists on the staging bucket."""
        return self.store().exists(key)

    def put(self, key: str, data: bytes) -> str:
        """ArtifactStore.put on the staging bucket."""
        return self.store().put(key, data)

    def url(self, key: str) -> str:
        """The provider's URL of ``key`` in the staging bucket (``s3://``, ``gs://``)."""
        return self.provider.artifact_url(self.names().staging_bucket, key)

    def _pushing(self) -> StackSettings:
        import dataclasses

        return dataclasses.replace(self.settings, registry=self.names().registry)

    def image_refs(self, app: AppSpec) -> dict[str, str]:
        """Content-addressed refs in the stack's registry."""
        from pcompile.providers.builders import ImageBuilder, plan_image_refs

        return dict(plan_image_refs(app, ImageBuilder.for_stack(self._pushing(), self.root)))

    def publisher(self, app: AppSpec) -> dep.ImagePublisher:
        """The provider's publisher, pushing to the shared registry."""
        return self.provider.publisher(self._pushing(), self.root, app)


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


class SecretStore(Protocol):
    """A cloud stack's named secrets (``pcompile secret create/list --stack``)."""

    def create(self, name: str, values: dict[str, str], overwrite: bool = False) -> None:
        """Create ``name`` holding ``values``; with ``overwrite``, replace an existing one's."""
        ...

    def keys_by_name(self) -> dict[str, list[str]]:
        """Secret names and their key names, sorted; never values."""
        ...


def cloud_secrets(settings: StackSettings) -> SecretStore:
    """The secret store of a cloud stack."""
    return registry.get(settings.cloud).secrets(settings)


# ------------------------------------------------------------------ volumes


@dataclass(frozen=True)
class VolumeEntry:
    """One object in a volume bucket."""

    path: str
    size: int


class VolumeStore(Protocol):
    """A cloud volume's files (``pcompile volume ls/put/get --stack``)."""

    def ls(self, path: str = "/") -> list[VolumeEntry]:
        """Files under ``path``, sorted."""
        ...

    def put(self, local: Path, remote: str) -> list[str]:
        """Upload a file or a folder's files under ``remote``; returns the volume paths."""
        ...

    def get(self, remote: str) -> bytes:
        """The bytes of one file; a UserError when it is missing."""
        ...


class BucketVolume:
    """A volume as one bucket's objects, files at the bucket root (or under the URL's
    prefix); subclasses (``S3Volume``, ``GcsVolume``) say how to list, read and write."""

    def __init__(self, url: str, client: Any) -> None:
        _, _, rest = url.partition("://")
        self.bucket, _, prefix = rest.partition("/")
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client

    def _list(self, prefix: str) -> list[tuple[str, int]]:
        raise NotImplementedError

    def _read(self, key: str) -> bytes:
        raise NotImplementedError

    def _write(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def _key(self, path: str) -> str:
        return self.prefix + path.strip("/")

    def ls(self, path: str = "/") -> list[VolumeEntry]:
        """Objects under ``path``, sorted."""
        prefix = self._key(path)
        prefix = prefix + "/" if prefix and not prefix.endswith("/") else prefix
        items = self._list(prefix)
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
            self._write(self._key(target), path.read_bytes())
            written.append("/" + target.strip("/"))
        return written

    def get(self, remote: str) -> bytes:
        """The bytes of one file; a UserError when it is missing."""
        try:
            return self._read(self._key(remote))
        except Exception as exc:
            raise UserError(f"no file {remote!r} in the volume ({exc.__class__.__name__})") from None


def volume_url(settings: StackSettings, name: str, app: str | None, tagging: Any = None) -> str:
    """Where volume ``name`` lives on a cloud stack.

    ``extra.volumes.<name>`` in the stack file wins; else the provider finds it (on GCP
    the bucket name is derived from project, stack and app; on AWS the bucket is found
    by its tags ``pcompile-stack``, ``pcompile-volume``).
    """
    explicit = (settings.extra.get("volumes") or {}).get(name)
    if explicit:
        return str(explicit)
    return registry.get(settings.cloud).volume_url(settings, name, app, tagging)


def stack_volume(settings: StackSettings, name: str, app: str | None) -> VolumeStore:
    """The files of volume ``name`` on a cloud stack."""
    return registry.get(settings.cloud).volume(volume_url(settings, name, app))
