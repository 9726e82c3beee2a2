"""Stack settings as providers consume them: the parsed form of ``stacks/<name>.yaml``.

The stack file loader (``pcompile.compiler.stacks``) validates YAML into this shape;
``pcompile synth`` builds one from its command-line flags. Providers read only
this, never the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENGINES = ("pulumi", "simulate")

# What deploy hands the emitted program, through ``stack.json``'s ``extra`` (written by
# ``pcompile.compiler.emit``, read by the providers' programs): one name on both sides.
EXTRA_IMAGE_REFS = "image_refs"
EXTRA_BUNDLE_URL = "bundle_url"


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
    overrides: dict[str, FunctionOverride] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def override(self, function: str) -> FunctionOverride:
        """The override for ``function``, or an empty one."""
        return self.overrides.get(function, FunctionOverride())

    def bundle_url(self) -> str | None:
        """The uploaded code bundle (``s3://``/``gs://`` URL) deploy handed the program, if any."""
        return str(self.extra.get(EXTRA_BUNDLE_URL) or "") or None

    def image_refs(self) -> dict[str, str]:
        """Image id → pushed reference, as deploy handed them to the program."""
        return {str(k): str(v) for k, v in (self.extra.get(EXTRA_IMAGE_REFS) or {}).items()}

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values, for the emitted project's ``stack.json``."""
        from pcompile.compiler.ir import to_jsonable

        return to_jsonable(self)  # type: ignore[no-any-return]

    @staticmethod
    def from_json(data: dict[str, Any]) -> StackSettings:
        """Rebuild settings written by :meth:`to_json`."""
        from pcompile.compiler.ir import _from_json

        return _from_json(StackSettings, data)  # type: ignore[no-any-return]
