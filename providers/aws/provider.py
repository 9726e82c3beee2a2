"""The AWS provider: what the registry hands every stage for ``cloud: aws``.

A thin adapter over this folder's modules (``placement.plan``, ``program.define``,
``invoker.from_stack`` / ``for_call``, ``stores``, ``manifests``, ``logs``,
``bootstrap``, ``images``, ``secrets``, ``volumes``). They are imported inside the
methods: the registry and the compiler import this module, and must not pay for
boto3 or Pulumi.
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

CALL_PREFIX = "aws:"
EMULATOR = "a moto server or LocalStack"

# The AWS services the program's resources live in (pulumi-aws `endpoints` keys).
SERVICES = (
    "batch",
    "cloudwatchlogs",
    "ec2",
    "ecr",
    "iam",
    "lambda",
    "s3",
    "scheduler",
    "secretsmanager",
    "ssm",
    "sts",
)


def emulator_config(url: str) -> dict[str, Any]:
    """pulumi-aws provider settings for an API emulator (moto, LocalStack): every service's
    endpoint, path-style S3, and no checks that need the real account."""
    return {
        "aws:endpoints": [{service: url for service in SERVICES}],
        "aws:s3UsePathStyle": True,
        "aws:skipCredentialsValidation": True,
        "aws:skipMetadataApiCheck": True,
        "aws:skipRequestingAccountId": True,
    }


class AwsProvider:
    """Lambda and Batch in the user's AWS account."""

    name = "aws"
    remote = True

    def check_stack(self, data: Mapping[str, Any], path: Path) -> None:
        """A region is required; ``engine: simulate`` needs an ``endpoint_url``."""
        from pcompile.compiler import stacks

        stacks.require_key(data, path, "region", f"add e.g. `region: {self.regions().DEFAULT}`")
        stacks.require_endpoint_for_simulate(data, path, EMULATOR)
        web = data.get("web") or {}
        if web.get("domain") and not web.get("certificate_arn"):
            raise UserError(
                f"{path}: key 'web.domain' is {web['domain']!r} but 'web.certificate_arn' is not set",
                fix=f"add `certificate_arn: arn:aws:acm:<region>:<account>:certificate/<id>` under web (an ACM "
                f"certificate in the stack's region covering *.{web['domain']}), or remove web.domain to serve "
                "from CloudFront's default certificate",
            )

    def pulumi_config(self, settings: StackSettings) -> dict[str, Any]:
        """``aws:region``, and the emulator endpoints when the stack names one."""
        config: dict[str, Any] = {}
        if settings.region:
            config["aws:region"] = settings.region
        if settings.endpoint_url:
            config.update(emulator_config(settings.endpoint_url))
        return config

    def requirements(self) -> tuple[str, ...]:
        """Pulumi, its AWS provider, and boto3 (the program reads the account)."""
        return ("pulumi", "pulumi-aws", "boto3")

    def secret_config_key(self, app: str, secret: str) -> str:
        """``pcompile-<app>:secret-<slug>``: the program's own project namespace."""
        from pcompile.providers.aws.program import secret_config_key

        return f"pcompile-{app}:{secret_config_key(secret)}"

    def regions(self) -> Any:
        """:mod:`pcompile.providers.aws.regions`."""
        from pcompile.providers.aws import regions

        return regions

    def init_defaults(self) -> dict[str, str]:
        """Region, and a state bucket to replace before CI uses it."""
        return {"region": "us-east-1", "state_backend": "s3://pcompile-state-ACCOUNT_ID-us-east-1"}

    def ci_settings(self) -> str:
        """The OIDC role the workflow logs in with."""
        return "repository variable AWS_DEPLOY_ROLE_ARN"

    def plan(self, app: AppSpec, settings: StackSettings) -> dict[str, Placement]:
        """:func:`pcompile.providers.aws.placement.plan`."""
        from pcompile.providers.aws import placement

        placements: dict[str, Placement] = dict(placement.plan(app, settings))
        return placements

    def define(
        self,
        app: AppSpec,
        placements: dict[str, Placement],
        settings: StackSettings,
        inputs: DeployInputs,
    ) -> dict[str, Any]:
        """:func:`pcompile.providers.aws.program.define`."""
        from pcompile.providers.aws import placement, program

        own = {name: placement.own(p) for name, p in placements.items()}
        return program.define(app, own, settings, inputs) or {}

    def invoker(self, app_name: str, settings: StackSettings) -> Invoker:
        """:func:`pcompile.providers.aws.invoker.from_stack`."""
        from pcompile.providers.aws import invoker

        return invoker.from_stack(app_name, settings)

    def owns_call(self, call_id: str) -> bool:
        """AWS call ids are ``aws:<bucket>/<function>/<id>...``."""
        return call_id.startswith(CALL_PREFIX)

    def call_invoker(self, call_id: str) -> Invoker:
        """:func:`pcompile.providers.aws.invoker.for_call`."""
        from pcompile.providers.aws import invoker

        return invoker.for_call(call_id)

    def shared_names(
        self, settings: StackSettings, state_bucket: str | None, account: Callable[[], str] | None
    ) -> SharedNames:
        """:func:`pcompile.providers.aws.bootstrap.shared_names`."""
        from pcompile.providers.aws import bootstrap

        return bootstrap.shared_names(settings, state_bucket, account)

    def define_bootstrap(self, settings: StackSettings, names: SharedNames) -> dict[str, Any]:
        """:func:`pcompile.providers.aws.bootstrap.define_bootstrap`."""
        from pcompile.providers.aws import bootstrap

        return bootstrap.define_bootstrap(settings, names)

    def artifact_store(self, settings: StackSettings, bucket: str) -> ArtifactStore:
        """An :class:`~pcompile.providers.aws.stores.S3Store`."""
        from pcompile.providers.aws.stores import S3Store

        return S3Store(bucket, region=settings.region)

    def artifact_url(self, bucket: str, key: str) -> str:
        """``s3://bucket/key``."""
        from pcompile.providers.aws import stores

        return stores.url(bucket, key)

    def manifest_store(self, settings: StackSettings) -> ManifestStore:
        """An :class:`~pcompile.providers.aws.manifests.SsmManifestStore`."""
        from pcompile.providers.aws.manifests import SsmManifestStore

        return SsmManifestStore(settings.name, region=settings.region)

    def publisher(self, settings: StackSettings, root: Path, app: AppSpec) -> ImagePublisher:
        """:func:`pcompile.providers.aws.images.publisher`."""
        from pcompile.providers.aws import images

        return images.publisher(settings, root, app)

    def engine(self, settings: StackSettings, root: Path) -> Engine:
        """Pulumi's Automation API, or the simulate engine against the stack's emulator."""
        from pcompile.providers import deploy as dep

        if settings.engine == "simulate":
            from pcompile.providers.simulate.engine import SimulateEngine

            return SimulateEngine(settings, root)
        return dep.AutomationEngine()

    def use_endpoint(self, settings: StackSettings) -> None:
        """Point every boto3 client this process makes at the stack's ``endpoint_url``,
        through botocore's own ``AWS_ENDPOINT_URL`` (per-service settings such as
        ``AWS_ENDPOINT_URL_LAMBDA`` still win). A simulate stack talks only to its
        emulator, so it gets placeholder credentials when none are set."""
        if not settings.endpoint_url:
            return
        os.environ["AWS_ENDPOINT_URL"] = settings.endpoint_url
        os.environ.setdefault("AWS_DEFAULT_REGION", settings.region or "us-east-1")
        if settings.engine == "simulate":
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "simulate")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "simulate")

    def secrets(self, settings: StackSettings) -> SecretStore:
        """An :class:`~pcompile.providers.aws.secrets.AwsSecrets` (Secrets Manager)."""
        from pcompile.providers.aws.secrets import AwsSecrets

        return AwsSecrets(settings.region)

    def proxy_auth(self, settings: StackSettings) -> TokenStore:
        """An :class:`~pcompile.providers.aws.secrets.AwsTokenStore` (Secrets Manager)."""
        from pcompile.providers.aws.secrets import AwsTokenStore

        return AwsTokenStore(settings.name, settings.region)

    def volume_url(self, settings: StackSettings, name: str, app: str | None, client: Any) -> str:
        """:func:`pcompile.providers.aws.volumes.volume_url` (the bucket found by its tags)."""
        from pcompile.providers.aws import volumes

        return volumes.volume_url(settings, name, app, client)

    def volume(self, url: str, client: Any = None) -> VolumeStore:
        """An :class:`~pcompile.providers.aws.volumes.S3Volume`."""
        from pcompile.providers.aws.volumes import S3Volume

        return S3Volume(url, client)

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
        """CloudWatch Logs of the function's log group."""
        from pcompile.providers.aws import logs

        return logs.log_lines(address.addresses, settings.region, start, limit, client)

    def credential_error(self, exc: BaseException) -> UserError | None:
        """:func:`pcompile.providers.aws.credentials.credential_error`."""
        from pcompile.providers.aws import credentials

        return credentials.credential_error(exc)

    def kv(self) -> KvBackend:
        """:mod:`pcompile.providers.aws.kv`."""
        from pcompile.providers.aws import kv

        return kv
