"""The local provider: ``cloud: local`` stacks, ``pcompile run`` and ``pcompile serve``.

Functions run in worker processes on this machine. A local stack lives in no cloud
account (``remote`` is False): deploy writes only the manifest ``pcompile serve``
reads (:func:`pcompile.providers.deploy.deploy`), and what needs a cloud (a Pulumi
program, bootstrap, cloud stores) is refused with a :class:`UserError` saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pcompile.compiler.errors import UserError
from pcompile.providers.settings import DeployInputs, StackSettings

if TYPE_CHECKING:
    from pcompile.compiler.ir import AppSpec
    from pcompile.compiler.placement import Placement
    from pcompile.providers.cloud_stores import SecretStore, SharedNames, VolumeStore
    from pcompile.providers.deploy import ArtifactStore, Engine, ImagePublisher, ManifestStore
    from pcompile.providers.invoker import Invoker
    from pcompile.providers.kv import KvBackend
    from pcompile.providers.manifest import FunctionAddress, Manifest
    from pcompile.providers.registry import LocalRun
    from pcompile.runtime.proxy_auth import TokenStore


def _no_cloud(what: str, fix: str = "use an aws or gcp stack") -> NoReturn:
    raise UserError(f"a local stack has no {what}: its functions run on this machine", fix=fix)


class LocalProvider:
    """Worker processes on this machine (``pcompile run`` / ``serve``)."""

    name = "local"
    remote = False

    def check_stack(self, data: Mapping[str, Any], path: Path) -> None:
        """``endpoint_url`` and ``engine: simulate`` name a cloud's emulator: refused here."""
        if data.get("endpoint_url"):
            raise UserError(
                f"{path}: key 'endpoint_url' is {data['endpoint_url']!r} but cloud is {data['cloud']}; "
                "it names an AWS or GCP API emulator",
                fix="remove endpoint_url, or use it with `cloud: aws` or `cloud: gcp`",
            )
        if data.get("engine") == "simulate":
            raise UserError(
                f"{path}: key 'engine' is 'simulate' but cloud is {data['cloud']}; the simulate engine "
                "covers cloud: aws and cloud: gcp",
                fix="use `cloud: aws` or `cloud: gcp` with an endpoint_url, or leave engine out",
            )

    def pulumi_config(self, settings: StackSettings) -> dict[str, Any]:
        """No Pulumi program, so no config."""
        return {}

    def requirements(self) -> tuple[str, ...]:
        """No Pulumi program, so no packages."""
        return ()

    def secret_config_key(self, app: str, secret: str) -> str:
        """Local secrets are read on this machine, never Pulumi config."""
        _no_cloud("Pulumi secret config", "local secrets are read from .pcompile/local/secrets")

    def regions(self) -> Any:
        """This machine has no regions."""
        _no_cloud("regions")

    def init_defaults(self) -> dict[str, str]:
        """A local stack needs no keys."""
        return {}

    def ci_settings(self) -> str:
        """A local stack is not deployed from CI (``pcompile init`` refuses ``--ci``)."""
        _no_cloud("CI deploy", "pass --cloud aws or --cloud gcp with --ci github")

    def plan(self, app: AppSpec, settings: StackSettings) -> dict[str, Placement]:
        """Every function runs here; there is no placement to plan."""
        _no_cloud("placement plan", "use `pcompile synth --cloud aws` or `--cloud gcp`")

    def define(
        self,
        app: AppSpec,
        placements: dict[str, Placement],
        settings: StackSettings,
        inputs: DeployInputs,
    ) -> dict[str, Any]:
        """There is no Pulumi program."""
        _no_cloud("Pulumi program")

    def invoker(self, app_name: str, settings: StackSettings) -> Invoker:
        """The running ``pcompile serve`` of ``app_name`` (:func:`.invoker.from_deployment`)."""
        from pcompile.providers.local import invoker

        return invoker.from_deployment(app_name)  # type: ignore[no-any-return]

    def owns_call(self, call_id: str) -> bool:
        """Local call ids start with :data:`pcompile.providers.local.calls.CALL_PREFIX`."""
        from pcompile.providers.local import calls

        return call_id.startswith(calls.CALL_PREFIX)

    def call_invoker(self, call_id: str) -> Invoker:
        """A reader of the local call store, so another process's spawn can be fetched."""
        from pcompile.providers.local import invoker

        return invoker.StoredCalls()  # type: ignore[return-value]

    def run_invoker(self, spec: dict[str, Any], app: Any, root: str, main_file: str | None) -> LocalRun:
        """Worker pools running the app IR ``spec`` here, ``app``'s secrets checked first."""
        from pcompile.providers.local.invoker import LocalInvoker
        from pcompile.providers.local.secrets import SecretResolver

        resolver = SecretResolver.for_app(app)
        resolver.check(spec)
        return LocalInvoker(spec, root=root, main_file=main_file, env_for=resolver.env_for)  # type: ignore[return-value]

    def store(self, kind: str, name: str) -> Any:
        """SQLite files (Dict, Queue) and directories (Volume) under ``.pcompile/local``."""
        if kind == "volume":
            from pcompile.providers.local.volumes import LocalVolume

            return LocalVolume(name)
        from pcompile.providers.local import stores

        return {"dict": stores.SqliteDict, "queue": stores.SqliteQueue}[kind](name)

    def shared_names(
        self, settings: StackSettings, state_bucket: str | None, account: Callable[[], str] | None
    ) -> SharedNames:
        """A local stack has no account, so no shared pieces."""
        raise UserError(
            f"stack {settings.name!r} is local: it has no cloud account", fix="use an aws or gcp stack"
        )

    def define_bootstrap(self, settings: StackSettings, names: SharedNames) -> dict[str, Any]:
        """Nothing to bootstrap."""
        raise UserError("a local stack needs no bootstrap", fix="bootstrap an aws or gcp stack")

    def artifact_store(self, settings: StackSettings, bucket: str) -> ArtifactStore:
        """Local deploys upload nothing."""
        _no_cloud("staging bucket")

    def artifact_url(self, bucket: str, key: str) -> str:
        """Local deploys upload nothing."""
        _no_cloud("staging bucket")

    def manifest_store(self, settings: StackSettings) -> ManifestStore:
        """Local manifests live only in the project's ``.pcompile/deployments``."""
        _no_cloud("cloud manifest store")

    def publisher(self, settings: StackSettings, root: Path, app: AppSpec) -> ImagePublisher:
        """Local images become environments on this machine; nothing is pushed."""
        _no_cloud("image registry")

    def engine(self, settings: StackSettings, root: Path) -> Engine:
        """Pulumi's Automation API (a local deploy never runs it)."""
        from pcompile.providers import deploy as dep

        return dep.AutomationEngine()

    def use_endpoint(self, settings: StackSettings) -> None:
        """No cloud clients to point anywhere (``check_stack`` refuses ``endpoint_url``)."""

    def secrets(self, settings: StackSettings) -> SecretStore:
        """Local secrets are the ``pcompile secret`` store without ``--stack``."""
        raise UserError("local secrets need no --stack", fix="leave --stack out for the local store")

    def proxy_auth(self, settings: StackSettings) -> TokenStore:
        """The local token set (``.pcompile/local/secrets``), also for a local stack."""
        from pcompile.providers.local.secrets import LocalTokenStore

        return LocalTokenStore()

    def volume_url(self, settings: StackSettings, name: str, app: str | None, client: Any) -> str:
        """Local volumes are the ``pcompile volume`` store without ``--stack``."""
        raise UserError("local volumes need no --stack", fix="leave --stack out for local volumes")

    def volume(self, url: str, client: Any = None) -> VolumeStore:
        """Local volumes are the ``pcompile volume`` store without ``--stack``."""
        raise UserError("local volumes need no --stack", fix="leave --stack out for local volumes")

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
        """The last ``limit`` lines of the function's worker log files (no time filter)."""
        from pcompile.providers.local import logs

        return logs.log_lines(root, manifest.app, function, limit)

    def credential_error(self, exc: BaseException) -> UserError | None:
        """No credentials here."""
        return None

    def kv(self) -> KvBackend:
        """Local Dicts and Queues are the SQLite stores the SDK opens itself."""
        _no_cloud("Dict/Queue table")
