"""Stack settings as providers consume them: the parsed form of ``stacks/<name>.yaml``.

The stack file loader (``pcompile.compiler.stacks``) validates YAML into this shape;
``pcompile synth`` builds one from its command-line flags. Providers read only
this, never the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENGINES = ("pulumi", "simulate")


@dataclass(frozen=True)
class FunctionOverride:
    """Per-function overrides from a stack file: force a placement target or instance types."""

    placement: str | None = None
    instance_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkSettings:
    """Where Batch compute runs; empty means "create a small VPC for the app"."""

    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebSettings:
    """Stack key ``web``: serve AWS web services at ``<app>-<label>.<domain>`` over an ALB
    HTTPS listener with ``certificate_arn`` (an ACM certificate covering ``*.<domain>``);
    empty means CloudFront with its default certificate."""

    domain: str | None = None
    certificate_arn: str | None = None


@dataclass(frozen=True)
class StackSettings:
    """Everything about one deployment target that is not in the user's code."""

    name: str = "dev"
    cloud: str = "local"
    region: str | None = None
    project: str | None = None
    state_backend: str | None = None
    secrets_provider: str = "passphrase"
    builder: str = "docker"
    builder_flags: tuple[str, ...] = ()
    run_flags: tuple[str, ...] = ()
    base_image_mirror: str | None = None
    registry: str | None = None
    # ``engine: pulumi | simulate`` and the AWS API emulator a stack talks to (moto, LocalStack).
    engine: str = "pulumi"
    endpoint_url: str | None = None
    bake_code: bool = False
    network: NetworkSettings = field(default_factory=NetworkSettings)
    web: WebSettings = field(default_factory=WebSettings)
    overrides: dict[str, FunctionOverride] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def override(self, function: str) -> FunctionOverride:
        """The override for ``function``, or an empty one."""
        return self.overrides.get(function, FunctionOverride())

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values, for the emitted project's ``stack.json``."""
        from pcompile.compiler.ir import to_jsonable

        return to_jsonable(self)  # type: ignore[no-any-return]

    @staticmethod
    def from_json(data: dict[str, Any]) -> StackSettings:
        """Rebuild settings written by :meth:`to_json`."""
        from pcompile.compiler.ir import from_jsonable

        return from_jsonable(StackSettings, data)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ManifestLocation:
    """Where a program writes the deployment manifest: ``key`` in the staging bucket and, on
    AWS, ``pointer`` (the SSM parameter invokers read to find it)."""

    key: str
    pointer: str | None = None


@dataclass(frozen=True)
class DeployInputs:
    """What ``pcompile deploy`` hands a cloud program besides the IR and the stack settings.

    ``image_refs`` maps image id → pushed reference, ``bundle_url`` is the uploaded code
    bundle (``s3://``/``gs://``), ``manifest`` where the manifest goes (None: the program's
    default for the app and stack). ``pcompile synth`` passes an empty one. The emitted
    project carries it as ``deploy.json``, so a misnamed field fails the type check and the
    load instead of deploying functions without their code.
    """

    image_refs: dict[str, str] = field(default_factory=dict)
    bundle_url: str | None = None
    manifest: ManifestLocation | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values, for the emitted project's ``deploy.json``."""
        from pcompile.compiler.ir import to_jsonable

        return to_jsonable(self)  # type: ignore[no-any-return]

    @staticmethod
    def from_json(data: dict[str, Any]) -> DeployInputs:
        """Rebuild inputs written by :meth:`to_json`; an unknown key is refused, not ignored."""
        import dataclasses

        from pcompile.compiler.ir import from_jsonable

        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(DeployInputs)})
        if unknown:
            raise ValueError(f"deploy.json has unknown keys {unknown}: written by another pcompile version?")
        return from_jsonable(DeployInputs, data)  # type: ignore[no-any-return]
