"""``pcompile deploy``: the steps that ship a compiled app, in one readable order.

::

    check engine ─▶ compile ─▶ (Dict/Queue stores) ─▶ plan image refs ─▶ build+push missing images ─▶
    upload code bundle (if absent) ─▶ emit Pulumi project ─▶ engine preview/up ─▶
    write manifest ─▶ report endpoints

Every side effect sits behind a small interface with a fake shipped here:

* :class:`Engine` (``preview/up/destroy/outputs``): :class:`AutomationEngine` drives
  Pulumi's Automation API on the emitted project; :class:`FakeEngine` records calls.
* :class:`ImagePublisher` (``exists/publish``) and :class:`ArtifactStore`
  (``exists/put``): what images and the code bundle need; in-memory fakes here,
  real builders in :mod:`pcompile.providers.builders`, S3/GCS through the stack's
  provider (:mod:`pcompile.providers.registry`, :mod:`pcompile.providers.cloud_stores`).
* :class:`ManifestStore`: where the deployment manifest is written; a directory
  store (``.pcompile/deployments/<stack>/<app>.json``) always gets a copy.

Nothing is built, pushed or uploaded before the engine is known to be available and
the app compiled, and ``--preview`` builds and uploads nothing at all: image tags
and the bundle key are content hashes, known before anything is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, ImageSpec, Program
from pcompile.providers import registry
from pcompile.providers.manifest import FunctionAddress, Manifest
from pcompile.providers.settings import StackSettings

INSTALL_PULUMI = (
    "pcompile deploy needs the Pulumi CLI: install a pinned release checked against its published "
    "checksum (https://www.pulumi.com/docs/install/; docs/deploy.md shows the steps CI uses) and re-run"
)
STATE_DIR = ".pcompile"
# The placement target of every function of a stack that is not remote (``pcompile serve``).
LOCAL_TARGET = "local"


class DeploymentFailed(Exception):
    """The cloud side failed (engine, builder, upload): exit code 2, not a user mistake."""


class EngineMissing(UserError):
    """No ``pulumi`` binary: the one sentence on how to install it."""

    def __init__(self, command: str = "deploy") -> None:
        super().__init__(INSTALL_PULUMI.replace("pcompile deploy", f"pcompile {command}"))


# ---------------------------------------------------------------------- engine


@dataclass(frozen=True)
class PulumiProject:
    """An emitted Pulumi project and how to reach its state."""

    path: Path
    project: str
    stack: str
    backend_url: str
    secrets_provider: str = "passphrase"
    config: dict[str, str] = field(default_factory=dict)
    secret_config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineResult:
    """What one engine operation did: counts per operation (``create``, ``update``,
    ``delete``, ``same`` ...), the stack outputs, and the engine's text (the diff)."""

    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    def changed(self) -> int:
        """Resources created, updated, replaced or deleted."""
        return sum(n for op, n in self.changes.items() if op not in ("same", "read"))


OnOutput = Callable[[str], None]


class Engine(Protocol):
    """The few Pulumi operations pcompile needs."""

    def check(self) -> None:
        """Raise :class:`EngineMissing` when the engine cannot run here."""
        ...

    def preview(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """Show what ``up`` would change."""
        ...

    def up(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """Create or update the stack's resources."""
        ...

    def destroy(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """Delete the stack's resources."""
        ...

    def outputs(self, project: PulumiProject) -> dict[str, Any]:
        """The stack's current outputs."""
        ...


def find_pulumi() -> Path | None:
    """The ``pulumi`` binary on PATH or where get.pulumi.com installs it, or None."""
    found = shutil.which("pulumi")
    if found:
        return Path(found)
    home = Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi")) / "bin" / "pulumi"
    return home if home.is_file() and os.access(home, os.X_OK) else None


class AutomationEngine:
    """Pulumi's Automation API over a local workspace on the emitted project dir."""

    def __init__(self, which: Callable[[], Path | None] = find_pulumi) -> None:
        self._which = which

    def check(self) -> None:
        """Raise :class:`EngineMissing` unless a ``pulumi`` binary is installed."""
        if self._which() is None:
            raise EngineMissing()

    def preview(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """``pulumi preview --diff``."""
        result = self._stack(project).preview(on_output=on_output, diff=True)
        return EngineResult(_counts(result.change_summary), {}, result.stdout)

    def up(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """``pulumi up --yes``."""
        result = self._stack(project).up(on_output=on_output)
        outputs = {k: v.value for k, v in result.outputs.items()}
        return EngineResult(_counts(result.summary.resource_changes or {}), outputs, result.stdout)

    def destroy(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """``pulumi destroy --yes``."""
        result = self._stack(project).destroy(on_output=on_output)
        return EngineResult(_counts(result.summary.resource_changes or {}), {}, result.stdout)

    def outputs(self, project: PulumiProject) -> dict[str, Any]:
        """``pulumi stack output --json``."""
        return {k: v.value for k, v in self._stack(project).outputs().items()}

    def _stack(self, project: PulumiProject) -> Any:
        from pulumi import automation as auto

        binary = self._which()
        if binary is None:
            raise EngineMissing()
        env = {"PULUMI_BACKEND_URL": project.backend_url, "PULUMI_SKIP_UPDATE_CHECK": "true"}
        if project.secrets_provider == "passphrase" and not _has_passphrase():
            raise UserError(
                "the passphrase secrets provider needs PULUMI_CONFIG_PASSPHRASE (or _FILE) to be set",
                fix="export PULUMI_CONFIG_PASSPHRASE=... (in CI: a repository secret), "
                "or set `secrets_provider: awskms://...` / `gcpkms://...` in the stack file",
            )
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(project.path),
            env_vars=env,
            secrets_provider=None if project.secrets_provider == "passphrase" else project.secrets_provider,
            pulumi_command=auto.PulumiCommand(root=str(binary.parent.parent)),
        )
        stack = auto.create_or_select_stack(project.stack, work_dir=str(project.path), opts=opts)
        for key, value in sorted(project.config.items()):
            stack.set_config(key, auto.ConfigValue(value))
        for key, value in sorted(project.secret_config.items()):
            stack.set_config(key, auto.ConfigValue(value, secret=True))
        return stack


def _has_passphrase() -> bool:
    return "PULUMI_CONFIG_PASSPHRASE" in os.environ or "PULUMI_CONFIG_PASSPHRASE_FILE" in os.environ


def _counts(summary: Any) -> dict[str, int]:
    return {str(getattr(op, "value", op)): int(n) for op, n in sorted(dict(summary).items(), key=str)}


class FakeEngine:
    """An engine for tests: records ``(operation, stack)`` calls, returns set outputs.

    ``available=False`` behaves like a machine without the ``pulumi`` binary;
    ``fail_with`` makes ``up``/``preview``/``destroy`` raise it.
    """

    def __init__(
        self,
        outputs: dict[str, Any] | None = None,
        *,
        available: bool = True,
        fail_with: Exception | None = None,
        journal: list[str] | None = None,
    ) -> None:
        self.stack_outputs = dict(outputs or {})
        self.available = available
        self.fail_with = fail_with
        self.calls: list[tuple[str, str]] = []
        self.projects: list[PulumiProject] = []
        self.journal = journal if journal is not None else []
        self._deployed: set[str] = set()

    def check(self) -> None:
        """Raise :class:`EngineMissing` when constructed with ``available=False``."""
        self._record("check", "")
        if not self.available:
            raise EngineMissing()

    def preview(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """Report every resource as a create on the first deploy, nothing after."""
        return self._run("preview", project, on_output)

    def up(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """Pretend to deploy and return the configured outputs."""
        result = self._run("up", project, on_output)
        self._deployed.add(project.stack)
        return result

    def destroy(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """Pretend to delete everything."""
        result = self._run("destroy", project, on_output)
        self._deployed.discard(project.stack)
        return EngineResult({"delete": 1}, {}, result.text)

    def outputs(self, project: PulumiProject) -> dict[str, Any]:
        """The configured outputs."""
        self._record("outputs", project.stack)
        return dict(self.stack_outputs)

    def _run(self, op: str, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        self._record(op, project.stack)
        self.projects.append(project)
        if self.fail_with is not None:
            raise self.fail_with
        on_output(f"{op} {project.project}/{project.stack}")
        changes = {"same": 1} if project.stack in self._deployed else {"create": 1}
        outputs = dict(self.stack_outputs) if op == "up" else {}
        return EngineResult(changes, outputs, f"{op}: {changes}")

    def _record(self, op: str, stack: str) -> None:
        self.calls.append((op, stack))
        self.journal.append(f"engine.{op}")


# ------------------------------------------------------- images, bundle, stores


class ImagePublisher(Protocol):
    """Builds an image and pushes it to the stack's registry."""

    def exists(self, ref: str) -> bool:
        """Whether ``ref`` (``registry/repo:tag``) is already in the registry."""
        ...

    def publish(self, image: ImageSpec, ref: str, root: Path) -> None:
        """Build ``image`` from the project at ``root`` and push it as ``ref``."""
        ...


class FakePublisher:
    """Records what it would build; a registry that remembers pushed refs."""

    def __init__(self, journal: list[str] | None = None) -> None:
        self.pushed: set[str] = set()
        self.built: list[str] = []
        self.journal = journal if journal is not None else []

    def exists(self, ref: str) -> bool:
        """Whether ``ref`` was published before."""
        return ref in self.pushed

    def publish(self, image: ImageSpec, ref: str, root: Path) -> None:
        """Record a build and a push."""
        self.journal.append(f"image.publish {image.id}")
        self.built.append(ref)
        self.pushed.add(ref)


class ArtifactStore(Protocol):
    """Object storage for code bundles (the stack's staging bucket)."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        ...

    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` at ``key``; returns its URL (``s3://``, ``gs://``, ``file://``)."""
        ...


class MemoryArtifactStore:
    """An in-memory :class:`ArtifactStore` for tests."""

    def __init__(self, journal: list[str] | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.journal = journal if journal is not None else []

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        return key in self.objects

    def put(self, key: str, data: bytes) -> str:
        """Keep ``data``."""
        self.journal.append(f"artifacts.put {key}")
        self.objects[key] = data
        return f"memory://{key}"


class DirectoryArtifactStore:
    """An :class:`ArtifactStore` in a local folder (local stacks, tests)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        return (self.root / key).is_file()

    def put(self, key: str, data: bytes) -> str:
        """Write ``data`` under the folder."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path.resolve().as_uri()


class ManifestStore(Protocol):
    """Where deployment manifests live, one per (stack, app)."""

    def write(self, manifest: Manifest) -> str:
        """Store ``manifest``; returns where it went."""
        ...

    def read(self, app: str) -> Manifest | None:
        """The manifest of ``app``, or None when it is not deployed."""
        ...

    def list(self) -> list[str]:
        """Names of the deployed apps, sorted."""
        ...

    def delete(self, app: str) -> None:
        """Forget ``app`` (after destroy)."""
        ...


class DirectoryManifestStore:
    """Manifests as ``<root>/.pcompile/deployments/<stack>/<app>.json``."""

    def __init__(self, root: Path, stack: str) -> None:
        self.root = root
        self.folder = root / STATE_DIR / "deployments" / stack

    def write(self, manifest: Manifest) -> str:
        """Write the canonical JSON; returns the path relative to the project root."""
        path = self.folder / f"{manifest.app}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(manifest.dumps())
        return path.relative_to(self.root).as_posix()

    def read(self, app: str) -> Manifest | None:
        """Read one manifest, or None."""
        path = self.folder / f"{app}.json"
        return Manifest.loads(path.read_text()) if path.is_file() else None

    def list(self) -> list[str]:
        """Apps with a manifest file."""
        return sorted(p.stem for p in self.folder.glob("*.json")) if self.folder.is_dir() else []

    def delete(self, app: str) -> None:
        """Remove the manifest file."""
        (self.folder / f"{app}.json").unlink(missing_ok=True)


# --------------------------------------------------------------------- deploy


@dataclass(frozen=True)
class Bundle:
    """The code bundle: content-addressed key and bytes."""

    key: str
    data: bytes


Compiler = Callable[[Path], Program]
Bundler = Callable[[Path, AppSpec], Bundle]
Emitter = Callable[["EmitRequest"], Path]


@dataclass(frozen=True)
class EmitRequest:
    """What the emitter needs to write the Pulumi project for one app on one stack."""

    program: Program
    app: AppSpec
    settings: StackSettings
    out_dir: Path
    image_refs: dict[str, str]
    bundle_url: str | None


@dataclass
class DeployTools:
    """The side-effecting pieces of a deploy; tests pass fakes.

    ``image_refs(app)`` plans the content-addressed ref of every image (no build);
    ``publisher(app)`` builds and pushes them; ``artifacts_url(key)`` is where a
    bundle key lives once uploaded (``s3://bucket/key``).
    """

    engine: Engine
    publisher: Callable[[AppSpec], ImagePublisher]
    artifacts: ArtifactStore
    manifests: list[ManifestStore]
    compile: Compiler
    emit: Emitter
    bundle: Bundler
    image_refs: Callable[[AppSpec], dict[str, str]]
    artifacts_url: Callable[[str], str] = field(default=lambda key: key)
    secret_values: Callable[[AppSpec], dict[str, dict[str, str]]] = field(default=lambda app: {})
    deployed_manifest: Callable[[AppSpec], Manifest | None] = field(default=lambda app: None)
    # ``prepare_stores(app, preview)``: make the app's missing Dict/Queue stores (tables that
    # outlive one app's program), or in a preview only check them; returns lines to show.
    prepare_stores: Callable[[AppSpec, bool], list[str]] = field(default=lambda app, preview: [])


@dataclass(frozen=True)
class DeployRequest:
    """One ``pcompile deploy`` invocation."""

    file: Path
    root: Path
    settings: StackSettings
    app: str | None = None
    preview: bool = False


@dataclass
class DeployReport:
    """What a deploy did; ``to_json`` is the ``--json`` summary."""

    stack: str
    cloud: str
    app: str = ""
    preview: bool = False
    steps: list[str] = field(default_factory=list)
    image_tags: dict[str, str] = field(default_factory=dict)
    images_built: list[str] = field(default_factory=list)
    bundle: str | None = None
    bundle_uploaded: bool = False
    changes: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)
    manifest: list[str] = field(default_factory=list)
    diff: str = ""

    def changed(self) -> int:
        """Resources created, updated, replaced or deleted."""
        return sum(n for op, n in self.changes.items() if op not in ("same", "read"))

    def to_json(self) -> dict[str, Any]:
        """Deterministic summary: sorted keys, no timestamps."""
        return {
            "stack": self.stack,
            "cloud": self.cloud,
            "app": self.app,
            "preview": self.preview,
            "steps": list(self.steps),
            "image_tags": dict(sorted(self.image_tags.items())),
            "images_built": sorted(self.images_built),
            "bundle": self.bundle,
            "bundle_uploaded": self.bundle_uploaded,
            "changes": dict(sorted(self.changes.items())),
            "resources_changed": self.changed(),
            "endpoints": dict(sorted(self.endpoints.items())),
            "manifest": list(self.manifest),
        }


class Progress(Protocol):
    """Where a deploy reports what it is doing (rich console, or nothing)."""

    def step(self, message: str) -> None:
        """A new step started."""
        ...

    def output(self, line: str) -> None:
        """A line of engine output."""
        ...


class QuietProgress:
    """A :class:`Progress` that keeps the lines it was given."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, message: str) -> None:
        """Keep the step message."""
        self.lines.append(message)

    def output(self, line: str) -> None:
        """Keep the engine line."""
        self.lines.append(line)


def deploy(request: DeployRequest, tools: DeployTools, progress: Progress) -> DeployReport:
    """Run every step of a deploy in order; see the module docstring.

    Raises :class:`UserError` (exit 1) for mistakes, :class:`DeploymentFailed` (exit
    2) when a builder, upload or the engine fails.
    """
    settings = request.settings
    remote = registry.get(settings.cloud).remote
    report = DeployReport(stack=settings.name, cloud=settings.cloud, preview=request.preview)
    if remote:
        _step(report, progress, "engine", "checking the Pulumi engine")
        tools.engine.check()
    _step(report, progress, "compile", f"compiling {request.file}")
    program = tools.compile(request.file)
    app = _pick_app(program, request.app)
    report.app = app.name
    if not remote:
        return _deploy_local(request, app, tools, report, progress)
    # Secret values are checked before anything is built: a missing key stops here.
    secrets = secret_config(settings.cloud, app, tools.secret_values(app))
    if app.dicts or app.queues:
        _step(report, progress, "stores", "checking the app's Dicts and Queues")
        for line in _guard(lambda: tools.prepare_stores(app, request.preview)):
            progress.output(line)
    image_refs = tools.image_refs(app)
    report.image_tags = image_refs
    bundle = tools.bundle(request.root, app)
    report.bundle = tools.artifacts_url(bundle.key)
    if not request.preview:
        _guard(lambda: _publish_images(request.root, app, image_refs, tools, report, progress))
        _guard(lambda: _upload_bundle(bundle, tools, report, progress))
    _step(report, progress, "emit", "writing the Pulumi project")
    out_dir = request.root / STATE_DIR / "build" / settings.name / app.name
    # emit hands image_refs and bundle_url to the program through stack.json's extra.
    project_dir = tools.emit(EmitRequest(program, app, settings, out_dir, image_refs, report.bundle))
    project = pulumi_project(project_dir, app.name, settings, request.root)
    project = dataclasses.replace(project, secret_config=secrets)
    return _run_engine(request, app, project, tools, report, progress)


def _run_engine(
    request: DeployRequest,
    app: AppSpec,
    project: PulumiProject,
    tools: DeployTools,
    report: DeployReport,
    progress: Progress,
) -> DeployReport:
    op = "preview" if request.preview else "up"
    _step(report, progress, op, f"pulumi {op} on stack {project.stack}")
    action = tools.engine.preview if request.preview else tools.engine.up
    result = _guard(lambda: action(project, progress.output))
    report.changes, report.diff = result.changes, result.text
    if request.preview:
        return report
    # The provider programs write the manifest themselves (S3 + SSM, GCS); read it back,
    # else build it from the stack outputs.
    written = _guard(lambda: tools.deployed_manifest(app))
    manifest = written or manifest_from_outputs(app, request.settings, result.outputs, report)
    _step(report, progress, "manifest", "writing the deployment manifest")
    report.manifest = [_guard(lambda s=store: s.write(manifest)) for store in tools.manifests]  # type: ignore[misc]
    report.endpoints = {n: f.web_url for n, f in sorted(manifest.functions.items()) if f.web_url}
    return report


def _deploy_local(
    request: DeployRequest, app: AppSpec, tools: DeployTools, report: DeployReport, progress: Progress
) -> DeployReport:
    """A local stack builds nothing: the manifest tells ``pcompile serve`` what to run."""
    if request.preview:
        return report
    try:
        app_file = request.file.resolve().relative_to(request.root.resolve()).as_posix()
    except ValueError:
        app_file = str(request.file.resolve())
    functions = {fn.name: FunctionAddress(target=LOCAL_TARGET) for fn in app.functions}
    manifest = Manifest(
        app=app.name,
        stack=request.settings.name,
        cloud=request.settings.cloud,
        region=None,
        functions=functions,
        staging={"app_file": app_file},
        ir_sha256=_app_sha(app),
    )
    _step(report, progress, "manifest", "writing the deployment manifest for `pcompile serve`")
    report.manifest = [store.write(manifest) for store in tools.manifests]
    return report


def _pick_app(program: Program, name: str | None) -> AppSpec:
    try:
        return program.app(name)
    except KeyError as exc:
        raise UserError(str(exc.args[0]), fix="pass --app NAME to choose one") from None


def _publish_images(
    root: Path,
    app: AppSpec,
    refs: dict[str, str],
    tools: DeployTools,
    report: DeployReport,
    progress: Progress,
) -> None:
    _step(report, progress, "images", f"building {len(refs)} image(s)")
    publisher = tools.publisher(app)
    for image in app.images:
        ref = refs[image.id]
        if publisher.exists(ref):
            progress.output(f"image {ref} exists, skipped")
            continue
        progress.output(f"building and pushing {ref}")
        publisher.publish(image, ref, root)
        report.images_built.append(ref)


def _upload_bundle(bundle: Bundle, tools: DeployTools, report: DeployReport, progress: Progress) -> None:
    _step(report, progress, "bundle", "uploading the code bundle")
    if tools.artifacts.exists(bundle.key):
        progress.output(f"code bundle {bundle.key} exists, skipped")
        return
    tools.artifacts.put(bundle.key, bundle.data)
    report.bundle_uploaded = True


def _step(report: DeployReport, progress: Progress, name: str, message: str) -> None:
    report.steps.append(name)
    progress.step(message)


def _guard(action: Callable[[], Any]) -> Any:
    """Turn provider failures into :class:`DeploymentFailed`; user errors pass through."""
    try:
        return action()
    except (UserError, DeploymentFailed):
        raise
    except Exception as exc:
        raise DeploymentFailed(f"{type(exc).__name__}: {exc}") from exc


def plan_image_refs(app: AppSpec, registry: str) -> dict[str, str]:
    """Image refs ``<registry>/<app>:<image id>``: the IR's image id is a content hash.

    The real deploy uses :func:`pcompile.providers.builders.plan_image_refs` (the tag
    is the hash of the rendered build); this form serves fakes and tests.
    """
    repo = f"{registry.rstrip('/')}/{app.name}" if registry else app.name
    return {image.id: f"{repo}:{image.id}" for image in app.images}


def pulumi_project(path: Path, app: str, settings: StackSettings, root: Path) -> PulumiProject:
    """Where the engine finds the project and its state, relative backends made absolute."""
    return PulumiProject(
        path=path,
        project=f"pcompile-{app}",
        stack=settings.name,
        backend_url=backend_url(settings, root),
        secrets_provider=settings.secrets_provider,
    )


def secret_config(cloud: str, app: AppSpec, values: dict[str, dict[str, str]]) -> dict[str, str]:
    """Pulumi secret config for the secrets defined in code (``from_dict``/``dotenv``/
    ``local_environ``): one JSON object per secret, under the key its provider reads.
    Named secrets already live in the cloud and need none."""
    config: dict[str, str] = {}
    for spec in app.secrets:
        if spec.kind == "named":
            continue
        if spec.name not in values:
            raise UserError(
                f"no values for secret {spec.name!r} ({spec.kind}) on this machine",
                fix="define its keys (the .env file or the environment variables) and re-run",
            )
        config[_secret_key(cloud, app.name, spec.name)] = json.dumps(values[spec.name], sort_keys=True)
    return config


def _secret_key(cloud: str, app: str, secret: str) -> str:
    return registry.get(cloud).secret_config_key(app, secret)


def backend_url(settings: StackSettings, root: Path) -> str:
    """The stack's state backend; ``file://`` paths are taken relative to the project root."""
    url = settings.state_backend or "file://.pcompile/state"
    if url.startswith("file://") and not url.startswith("file:///"):
        path = root / url[len("file://") :]
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve().as_uri()
    return url


def manifest_from_outputs(
    app: AppSpec, settings: StackSettings, outputs: dict[str, Any], report: DeployReport
) -> Manifest:
    """The manifest from the stack outputs.

    The emitted program exports ``functions`` (``{name: {target, addresses, web_url}}``)
    and ``staging`` (``{bucket, prefix ...}``); a function missing from the outputs is
    recorded with target ``unknown`` so the gap is visible, not silent.
    """
    exported = outputs.get("functions") or {}
    functions: dict[str, FunctionAddress] = {}
    for fn in app.functions:
        raw = exported.get(fn.name) or {}
        functions[fn.name] = FunctionAddress(
            target=str(raw.get("target", "unknown")),
            addresses={str(k): str(v) for k, v in (raw.get("addresses") or {}).items()},
            web_url=raw.get("web_url"),
        )
    return Manifest(
        app=app.name,
        stack=settings.name,
        cloud=settings.cloud,
        region=settings.region,
        functions=functions,
        staging={str(k): str(v) for k, v in (outputs.get("staging") or {}).items()},
        image_tags=dict(report.image_tags),
        code_bundle=report.bundle,
        ir_sha256=_app_sha(app),
    )


def _app_sha(app: AppSpec) -> str:
    from pcompile.compiler.ir import to_jsonable

    text = json.dumps(to_jsonable(app), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def simple_bundle(root: Path, app: AppSpec) -> Bundle:
    """A deterministic zip of the project's ``.py`` files, keyed by its sha256.

    Used until (or where) the images issue's bundler is not available.
    """
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _python_files(root):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    return Bundle(f"bundles/{app.name}/{hashlib.sha256(data).hexdigest()}.zip", data)


def _python_files(root: Path) -> Iterable[Path]:
    skip = {".git", STATE_DIR, ".venv", "__pycache__", "node_modules", ".github"}
    for path in sorted(root.rglob("*.py")):
        if not skip.intersection(path.relative_to(root).parts):
            yield path


# --------------------------------------------------------------------- destroy


# What S3, GCS and ECR answer when asked to delete a container that still holds objects.
_NOT_EMPTY = re.compile(r"BucketNotEmpty|bucket .*is not empty|RepositoryNotEmpty|containing objects", re.I)


def destroy(
    app: str,
    settings: StackSettings,
    root: Path,
    engine: Engine,
    stores: list[ManifestStore],
    progress: Progress,
) -> EngineResult:
    """``pulumi destroy`` the app's stack from its last emitted project; forget its manifest."""
    if not registry.get(settings.cloud).remote:
        for store in stores:
            store.delete(app)
        return EngineResult({"delete": 0})
    engine.check()
    path = root / STATE_DIR / "build" / settings.name / app
    if not (path / "Pulumi.yaml").is_file():
        raise UserError(
            f"no emitted project for app {app!r} on stack {settings.name!r} at {path}",
            fix=f"run `pcompile deploy FILE --stack {settings.name} --preview` first to emit it",
        )
    progress.step(f"pulumi destroy on stack {settings.name}")
    progress.output("volumes keep their data: a volume bucket that still holds files is not deleted")
    try:
        result: EngineResult = _guard(
            lambda: engine.destroy(pulumi_project(path, app, settings, root), progress.output)
        )
    except DeploymentFailed as exc:
        if _NOT_EMPTY.search(str(exc)):
            raise UserError(
                f"destroy of app {app!r} stopped at a volume bucket that still holds data: {exc}",
                fix="copy out what you need (`pcompile volume get`), empty the bucket "
                "(aws s3 rm s3://BUCKET --recursive, or gcloud storage rm 'gs://BUCKET/**'), "
                "then run `pcompile destroy` again",
            ) from None
        raise
    for store in stores:
        store.delete(app)
    return result
