"""The GCP provider: what the registry hands every stage for ``cloud: gcp``.

A thin adapter over this folder's modules (``placement.plan``, ``program.define``,
``invoker.from_stack`` / ``for_call``, ``stores``, ``manifests``, ``logs``,
``bootstrap``, ``images``, ``secrets``, ``volumes``). They are imported inside the
methods: the registry and the compiler import this module, and must not pay for the
Google clients or Pulumi.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from pcompile.runtime.proxy_auth import TokenStore

CALL_PREFIX = "gcp:"  # pcompile.providers.gcp.invoker.CallRef ids; a test holds them equal
EMULATOR = "a gcp-storage-emulator"


class GcpProvider:
    """Cloud Run and Batch in the user's GCP project."""

    name = "gcp"
    remote = True

    def check_stack(self, data: Mapping[str, Any], path: Path) -> None:
        """Project and region are required; ``endpoint_url`` only with ``engine: simulate``."""
        from pcompile.compiler import stacks

        stacks.require_key(data, path, "project", "add `project: <your-gcp-project-id>` to the stack file")
        stacks.require_key(data, path, "region", f"add e.g. `region: {self.regions().DEFAULT}`")
        if data.get("endpoint_url") and data.get("engine") != "simulate":
            raise UserError(
                f"{path}: key 'endpoint_url' on a gcp stack needs `engine: simulate` (the Pulumi "
                "GCP provider cannot be pointed at a storage emulator)",
                fix="add `engine: simulate`, or remove endpoint_url",
            )
        stacks.require_endpoint_for_simulate(data, path, EMULATOR)

    def pulumi_config(self, settings: StackSettings) -> dict[str, Any]:
        """``gcp:project`` and ``gcp:region``."""
        config: dict[str, Any] = {}
        if settings.project:
            config["gcp:project"] = settings.project
        if settings.region:
            config["gcp:region"] = settings.region
        return config

    def requirements(self) -> tuple[str, ...]:
        """Pulumi and its GCP provider."""
        return ("pulumi", "pulumi-gcp")

    def secret_config_key(self, app: str, secret: str) -> str:
        """``pcompile:secret-<slug>``: the components' config namespace."""
        from pcompile.providers.gcp.components import CONFIG_NAMESPACE, secret_config_key

        return f"{CONFIG_NAMESPACE}:{secret_config_key(secret)}"

    def regions(self) -> Any:
        """:mod:`pcompile.providers.gcp.regions`."""
        from pcompile.providers.gcp import regions

        return regions

    def init_defaults(self) -> dict[str, str]:
        """Region, project, and a state bucket to replace before CI uses it."""
        return {
            "region": "us-central1",
            "project": "my-gcp-project",
            "state_backend": "gs://my-gcp-project-pulumi-state",
        }

    def ci_settings(self) -> str:
        """The OIDC workload identity the workflow logs in with."""
        return "variables GCP_WORKLOAD_IDENTITY_PROVIDER, GCP_SERVICE_ACCOUNT"

    def plan(self, app: AppSpec, settings: StackSettings) -> dict[str, Placement]:
        """:func:`pcompile.providers.gcp.placement.plan`."""
        from pcompile.providers.gcp import placement

        placements: dict[str, Placement] = dict(placement.plan(app, settings))
        return placements

    def define(
        self,
        app: AppSpec,
        placements: dict[str, Placement],
        settings: StackSettings,
        inputs: DeployInputs,
    ) -> dict[str, Any]:
        """:func:`pcompile.providers.gcp.program.define`."""
        from pcompile.providers.gcp import placement, program

        own = {name: placement.own(p) for name, p in placements.items()}
        return program.define(app, own, settings, inputs) or {}

    def invoker(self, app_name: str, settings: StackSettings) -> Invoker:
        """:func:`pcompile.providers.gcp.invoker.from_stack`."""
        from pcompile.providers.gcp import invoker

        return invoker.from_stack(app_name, settings)

    def owns_call(self, call_id: str) -> bool:
        """GCP call ids are ``gcp:<bucket>/<function>/<id>``."""
        return call_id.startswith(CALL_PREFIX)

    def call_invoker(self, call_id: str) -> Invoker:
        """:func:`pcompile.providers.gcp.invoker.for_call`."""
        from pcompile.providers.gcp import invoker

        return invoker.for_call(call_id)

    def shared_names(
        self, settings: StackSettings, state_bucket: str | None, account: Callable[[], str] | None
    ) -> SharedNames:
        """:func:`pcompile.providers.gcp.bootstrap.shared_names`."""
        from pcompile.providers.gcp import bootstrap

        return bootstrap.shared_names(settings, state_bucket, account)

    def define_bootstrap(self, settings: StackSettings, names: SharedNames) -> dict[str, Any]:
        """:func:`pcompile.providers.gcp.bootstrap.define_bootstrap`."""
        from pcompile.providers.gcp import bootstrap

        return bootstrap.define_bootstrap(settings, names)

    def artifact_store(self, settings: StackSettings, bucket: str) -> ArtifactStore:
        """A :class:`~pcompile.providers.gcp.stores.GcsStore`."""
        from pcompile.providers.gcp.stores import GcsStore

        return GcsStore(bucket)

    def artifact_url(self, bucket: str, key: str) -> str:
        """``gs://bucket/key``."""
        from pcompile.providers.gcp import stores

        return stores.url(bucket, key)

    def manifest_store(self, settings: StackSettings) -> ManifestStore:
        """A :class:`~pcompile.providers.gcp.manifests.GcsManifestStore`."""
        from pcompile.providers.gcp.manifests import GcsManifestStore

        return GcsManifestStore(settings)

    def publisher(self, settings: StackSettings, root: Path, app: AppSpec) -> ImagePublisher:
        """:func:`pcompile.providers.gcp.images.publisher`."""
        from pcompile.providers.gcp import images

        return images.publisher(settings, root, app)

    def engine(self, settings: StackSettings, root: Path) -> Engine:
        """Pulumi's Automation API, or the simulate engine against the storage emulator."""
        from pcompile.providers import deploy as dep

        if settings.engine == "simulate":
            from pcompile.providers.simulate.gcp_engine import engine_for

            return engine_for(settings, root)
        return dep.AutomationEngine()

    def use_endpoint(self, settings: StackSettings) -> None:
        """google-cloud-storage's own switch to an emulator (anonymous credentials)."""
        if settings.endpoint_url:
            os.environ["STORAGE_EMULATOR_HOST"] = settings.endpoint_url

    def secrets(self, settings: StackSettings) -> SecretStore:
        """A :class:`~pcompile.providers.gcp.secrets.GcpSecrets` (Secret Manager); on a
        simulate stack the control plane's (Secret Manager has no emulator)."""
        if settings.engine == "simulate":
            from pcompile.providers.simulate.gcp_resources import SimulatedSecrets, gcp_plane

            return SimulatedSecrets(gcp_plane(Path.cwd(), settings.name), settings.project or "")
        from pcompile.providers.gcp.secrets import GcpSecrets

        return GcpSecrets(settings.project or "")

    def proxy_auth(self, settings: StackSettings) -> TokenStore:
        """A :class:`~pcompile.providers.gcp.secrets.GcpTokenStore` (Secret Manager)."""
        if settings.engine == "simulate":
            raise UserError(
                "proxy-auth tokens need Secret Manager, which a GCP simulate stack does not emulate",
                fix="use an aws simulate stack, pcompile serve, or a real GCP stack",
            )
        from pcompile.providers.gcp.secrets import GcpTokenStore

        return GcpTokenStore(settings.project or "", settings.name)

    def volume_url(self, settings: StackSettings, name: str, app: str | None, client: Any) -> str:
        """:func:`pcompile.providers.gcp.volumes.volume_url` (the bucket name is derived)."""
        from pcompile.providers.gcp import volumes

        return volumes.volume_url(settings, name, app, client)

    def volume(self, url: str, client: Any = None) -> VolumeStore:
        """A :class:`~pcompile.providers.gcp.volumes.GcsVolume`."""
        from pcompile.providers.gcp.volumes import GcsVolume

        return GcsVolume(url, client)

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
        """Cloud Logging entries of the function's service or jobs."""
        from pcompile.providers.gcp import logs

        return logs.log_lines(address.addresses, settings.project, start, limit, client)

    def credential_error(self, exc: BaseException) -> UserError | None:
        """:func:`pcompile.providers.gcp.credentials.credential_error`."""
        from pcompile.providers.gcp import credentials

        return credentials.credential_error(exc)

    def kv(self) -> KvBackend:
        """:mod:`pcompile.providers.gcp.kv`."""
        from pcompile.providers.gcp import kv

        return kv
