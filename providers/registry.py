"""The registry of clouds: the one place where a cloud's name is matched.

Every stage that does something per cloud asks :func:`get` for the stack's
:class:`Provider` and calls it; nothing outside this module and each provider's own
folder compares a string with a cloud name (``tests/registry`` checks that).

Adding a cloud is a folder ``providers/<cloud>/`` with a ``provider.py`` whose class
satisfies :class:`Provider`, plus one line in :data:`_PROVIDERS`. Provider classes are
imported on first use, and they import their cloud's SDKs and Pulumi packages inside
their methods, so importing this module stays cheap (the compiler and the SDK do).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pcompile.compiler.errors import UserError
from pcompile.providers.invoker import Invoker, MapInputs, Target

if TYPE_CHECKING:
    from pcompile.compiler.ir import AppSpec
    from pcompile.compiler.placement import Placement
    from pcompile.providers.cloud_stores import SecretStore, SharedNames, VolumeStore
    from pcompile.providers.deploy import (
        ArtifactStore,
        DeployReport,
        Engine,
        ImagePublisher,
        ManifestStore,
        Progress,
    )
    from pcompile.providers.kv import KvBackend
    from pcompile.providers.manifest import FunctionAddress, Manifest
    from pcompile.providers.settings import DeployInputs, StackSettings
    from pcompile.runtime.proxy_auth import TokenStore

# cloud name -> "module:class" of its provider; one line per cloud, sorted.
_PROVIDERS: dict[str, str] = {
    "aws": "pcompile.providers.aws.provider:AwsProvider",
    "gcp": "pcompile.providers.gcp.provider:GcpProvider",
    "local": "pcompile.providers.local.provider:LocalProvider",
}

# The cloud of code that names no stack: ``pcompile run``, ``serve``, ``with app.run()``.
_STACKLESS = "local"

_loaded: dict[str, Provider] = {}

# The SDK's handles (which function to call, a map's inputs): plain values every invoker takes,
# re-exported here so the SDK builds them without importing pcompile.providers.invoker.
__all__ = ["Invoker", "LocalRun", "MapInputs", "Provider", "Runner", "Target"]


@runtime_checkable
class Provider(Protocol):
    """Everything pcompile does differently per cloud, from stack file to logs.

    ``remote`` says whether the stack lives in a cloud account. The local provider
    (``pcompile run`` / ``serve``) is not remote: it has no Pulumi program, no
    bootstrap and no cloud stores, and says so with a :class:`UserError` when asked.
    """

    name: str
    remote: bool

    # -- stack file and emitted project ------------------------------------------

    def check_stack(self, data: Mapping[str, Any], path: Path) -> None:
        """Raise a :class:`UserError` naming ``path`` for keys this cloud requires or refuses."""
        ...

    def pulumi_config(self, settings: StackSettings) -> dict[str, Any]:
        """The plain config of the emitted ``Pulumi.<stack>.yaml`` (``aws:region`` ...)."""
        ...

    def requirements(self) -> tuple[str, ...]:
        """Packages the emitted Pulumi project needs besides pcompile (pinned by emit)."""
        ...

    def secret_config_key(self, app: str, secret: str) -> str:
        """The Pulumi secret config key under which the program reads a code-defined secret."""
        ...

    def regions(self) -> Any:
        """The cloud's region table: a module with ``REGIONS``, ``DEFAULT`` and ``SOURCE``."""
        ...

    def init_defaults(self) -> dict[str, str]:
        """The stack keys ``pcompile init`` asks for, with their defaults (``region`` ...)."""
        ...

    def ci_settings(self) -> str:
        """What a CI workflow needs set besides the passphrase, as ``pcompile init`` says it."""
        ...

    # -- placement and program ---------------------------------------------------

    def plan(self, app: AppSpec, settings: StackSettings) -> dict[str, Placement]:
        """Where each function of ``app`` runs (no Pulumi import)."""
        ...

    def define(
        self,
        app: AppSpec,
        placements: dict[str, Placement],
        settings: StackSettings,
        inputs: DeployInputs,
    ) -> dict[str, Any]:
        """Create the app's Pulumi resources (inside a Pulumi program) from what deploy
        hands over in ``inputs`` (pushed images, code bundle); returns extra outputs."""
        ...

    # -- invoking deployed functions ---------------------------------------------

    def invoker(self, app_name: str, settings: StackSettings) -> Invoker:
        """The invoker of ``app_name`` deployed on ``settings``' stack."""
        ...

    def owns_call(self, call_id: str) -> bool:
        """Whether ``call_id`` (``FunctionCall.object_id``) was made by this cloud's invoker."""
        ...

    def call_invoker(self, call_id: str) -> Invoker:
        """An invoker that reads and cancels the call ``call_id`` with nothing else known."""
        ...

    # -- deploy: shared pieces, stores, images, engine ------------------------------

    def shared_names(
        self, settings: StackSettings, state_bucket: str | None, account: Callable[[], str] | None
    ) -> SharedNames:
        """The names of the bootstrap resources (staging bucket, registry) of the stack."""
        ...

    def define_bootstrap(self, settings: StackSettings, names: SharedNames) -> dict[str, Any]:
        """Create the bootstrap resources (inside a Pulumi program); returns its outputs."""
        ...

    def artifact_store(self, settings: StackSettings, bucket: str) -> ArtifactStore:
        """The code-bundle store in ``bucket``."""
        ...

    def artifact_url(self, bucket: str, key: str) -> str:
        """The URL of ``key`` in ``bucket`` once uploaded (``s3://...``, ``gs://...``)."""
        ...

    def manifest_store(self, settings: StackSettings) -> ManifestStore:
        """The store that reads the manifests this cloud's program writes."""
        ...

    def publisher(self, settings: StackSettings, root: Path, app: AppSpec) -> ImagePublisher:
        """Builds the app's images and pushes them to the stack's registry."""
        ...

    def engine(self, settings: StackSettings, root: Path) -> Engine:
        """What runs the emitted program: Pulumi, or the simulate engine."""
        ...

    def use_endpoint(self, settings: StackSettings) -> None:
        """Point this process's cloud clients at the stack's ``endpoint_url`` emulator."""
        ...

    def secrets(self, settings: StackSettings) -> SecretStore:
        """The stack's store of named secrets (``pcompile secret --stack``)."""
        ...

    def proxy_auth(self, settings: StackSettings) -> TokenStore:
        """The stack's proxy-auth token set (``pcompile proxy-auth --stack``; without a stack,
        the local provider's)."""
        ...

    def volume_url(self, settings: StackSettings, name: str, app: str | None, client: Any) -> str:
        """Where volume ``name`` lives on the stack (``extra.volumes`` already checked)."""
        ...

    def volume(self, url: str, client: Any = None) -> VolumeStore:
        """The files of the volume at ``url`` (``pcompile volume --stack``)."""
        ...

    def logs(
        self,
        settings: StackSettings,
        root: Path,
        manifest: Manifest,
        function: str,
        address: FunctionAddress,
        start: float,
        limit: int,
        client: Any,
    ) -> list[str]:
        """Log lines of ``function`` since ``start`` (epoch seconds), oldest first."""
        ...

    def credential_error(self, exc: BaseException) -> UserError | None:
        """A one-sentence UserError when ``exc`` means this cloud's credentials are missing."""
        ...

    def kv(self) -> KvBackend:
        """The cloud's Dict/Queue stores (deployed functions and ``pcompile dict|queue``)."""
        ...


def clouds() -> tuple[str, ...]:
    """The registered cloud names, sorted."""
    return tuple(sorted(_PROVIDERS))


def remote_clouds() -> tuple[str, ...]:
    """The registered clouds that live in a cloud account (they have Pulumi programs), sorted."""
    return tuple(name for name in clouds() if get(name).remote)


def get(cloud: str) -> Provider:
    """The provider of ``cloud``; a UserError naming the registered clouds when it is unknown."""
    found = _loaded.get(cloud)
    if found is not None:
        return found
    where = _PROVIDERS.get(cloud)
    if where is None:
        raise UserError(f"unknown cloud {cloud!r}", fix=f"use one of: {', '.join(clouds())}")
    module, _, cls = where.partition(":")
    provider: Provider = getattr(importlib.import_module(module), cls)()
    _loaded[cloud] = provider
    return provider


def get_remote(cloud: str) -> Provider:
    """The provider of ``cloud`` when it has a Pulumi program; else a UserError naming those that do."""
    if cloud in _PROVIDERS and get(cloud).remote:
        return get(cloud)
    options = remote_clouds()
    raise UserError(
        f"unknown cloud {cloud!r}" if cloud not in _PROVIDERS else f"cloud {cloud!r} has no Pulumi program",
        fix="use " + " or ".join(f"--cloud {c}" for c in options),
    )


def stackless() -> StackSettings:
    """The settings of code that names no stack: this machine's provider (``pcompile run`` / ``serve``)."""
    from pcompile.providers.settings import StackSettings

    return StackSettings(name=_STACKLESS, cloud=_STACKLESS)


def for_call(call_id: str) -> Provider | None:
    """The provider whose invoker made ``call_id``, or None when no cloud claims it."""
    return next((get(name) for name in clouds() if get(name).owns_call(call_id)), None)


def providers() -> tuple[Provider, ...]:
    """Every registered provider, in :func:`clouds` order."""
    return tuple(get(name) for name in clouds())


# -- this machine: what the SDK runs on without a stack ------------------------------


class LocalRun(Invoker, Protocol):
    """The invoker of an app running on this machine for a ``with app.run():`` block."""

    def close(self) -> None:
        """Stop the app's worker processes."""
        ...


@runtime_checkable
class Runner(Protocol):
    """What the stackless provider offers the SDK besides :class:`Provider`: running an
    app here (``pcompile run``, ``with app.run():``) and the stores its objects default to."""

    def run_invoker(self, spec: dict[str, Any], app: Any, root: str, main_file: str | None) -> LocalRun:
        """Worker pools for the app IR ``spec``; ``app``'s secrets are checked first (a
        missing one is an error before any function runs)."""
        ...

    def store(self, kind: str, name: str) -> Any:
        """The backend of ``Dict``/``Queue``/``Volume`` ``name`` (``kind``) on this machine."""
        ...


def runner() -> Runner:
    """The stackless provider as the SDK's :class:`Runner` (``pcompile run`` / ``serve``)."""
    provider = get(_STACKLESS)
    if not isinstance(provider, Runner):
        raise TypeError(f"provider {_STACKLESS!r} cannot run apps on this machine")
    return provider


def dict_store(name: str) -> Any:
    """The local backend of ``Dict.from_name(name)`` (the SDK's default ``dict`` factory)."""
    return runner().store("dict", name)


def queue_store(name: str) -> Any:
    """The local backend of ``Queue.from_name(name)`` (the SDK's default ``queue`` factory)."""
    return runner().store("queue", name)


def volume_store(name: str) -> Any:
    """The local backend of ``Volume.from_name(name)`` (the SDK's default ``volume`` factory)."""
    return runner().store("volume", name)


def deploy(
    file: Path, root: Path, settings: StackSettings, app: str | None, progress: Progress
) -> DeployReport:
    """Deploy ``app`` of ``file`` to ``settings``' stack with the real tools (``app.deploy()``)."""
    from pcompile.providers import deploy as dep
    from pcompile.providers.cloud_stores import default_tools

    request = dep.DeployRequest(file, root, settings, app, False)
    return dep.deploy(request, default_tools(settings, root), progress)
