"""The AWS GPU catalog: which EC2 instance types carry which GPU, as data.

The rows live in ``gpu_catalog.csv`` next to this module, each citing its source.
Lookups take the table as an argument so tests can pass three rows. A GPU string
follows Modal: a case-insensitive type, an optional ``:count`` (already split by the
compiler into :class:`GpuRequest`), fallback lists and ``"any"``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import GpuRequest, GpuSpec, Source


@dataclass(frozen=True)
class InstanceRow:
    """One catalog row: ``count`` GPUs of type ``gpu`` on ``instance_type``."""

    gpu: str
    count: int
    instance_type: str
    vcpus: int
    memory_gib: int
    source: str


# A requested name → the catalog GPU names that satisfy it, best first. Modal treats a
# bare "A100" as either memory size and "A10" as the A10G that AWS sells; "H100!" is
# Modal's "no automatic upgrade" form of H100. "ANY" means the cheap inference GPUs.
GPU_FAMILIES: dict[str, tuple[str, ...]] = {
    "A100": ("A100-40GB", "A100-80GB"),
    "A10": ("A10G",),
    "H100!": ("H100",),
    "ANY": ("T4", "L4", "A10G"),
}


def load_catalog(text: str | None = None) -> tuple[InstanceRow, ...]:
    """Parse catalog CSV text (default: the shipped ``gpu_catalog.csv``)."""
    if text is None:
        text = resources.files(__package__).joinpath("gpu_catalog.csv").read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return tuple(
        InstanceRow(
            gpu=row["gpu"].upper(),
            count=int(row["count"]),
            instance_type=row["instance_type"],
            vcpus=int(row["vcpus"]),
            memory_gib=int(row["memory_gib"]),
            source=row["source"],
        )
        for row in csv.DictReader(io.StringIO("\n".join(lines)))
    )


def family(table: tuple[InstanceRow, ...], gpu_type: str) -> tuple[str, ...]:
    """The catalog GPU names a requested type stands for (empty when unknown)."""
    name = gpu_type.upper()
    if name in GPU_FAMILIES:
        return GPU_FAMILIES[name]
    return (name,) if any(r.gpu == name for r in table) else ()


def instances_for(table: tuple[InstanceRow, ...], request: GpuRequest) -> tuple[InstanceRow, ...]:
    """Rows whose instances hold ``request.count`` GPUs of the requested type, catalog order."""
    names = family(table, request.type)
    return tuple(r for r in table if r.gpu in names and r.count >= request.count)


def canonical_key(request: GpuRequest) -> str:
    """A stable lowercase id for a GPU type, used in resource names (``a100-80gb``)."""
    return request.type.upper().rstrip("!").lower()


@dataclass(frozen=True)
class GpuResolution:
    """The outcome of resolving a GpuSpec: usable choices in preference order."""

    choices: tuple[tuple[GpuRequest, tuple[InstanceRow, ...]], ...]

    @property
    def first(self) -> GpuRequest:
        """The preferred usable GPU."""
        return self.choices[0][0]

    def instance_types(self) -> tuple[str, ...]:
        """All instance types of all usable choices, without repeats."""
        seen: dict[str, None] = {}
        for _, rows in self.choices:
            for row in rows:
                seen.setdefault(row.instance_type, None)
        return tuple(seen)


def resolve(table: tuple[InstanceRow, ...], gpu: GpuSpec, source: Source | None) -> GpuResolution:
    """Resolve a function's GPU and fallbacks; a UserError when no choice fits any instance."""
    usable: list[tuple[GpuRequest, tuple[InstanceRow, ...]]] = []
    reasons: list[str] = []
    for choice in gpu.choices():
        rows = instances_for(table, choice)
        if rows:
            usable.append((choice, rows))
        else:
            reasons.append(_why_not(table, choice))
    if not usable:
        raise UserError(
            "no AWS instance type fits gpu=" + ", ".join(f"{c.type}:{c.count}" for c in gpu.choices()),
            source=source,
            fix="; ".join(reasons),
        )
    return GpuResolution(tuple(usable))


def _why_not(table: tuple[InstanceRow, ...], choice: GpuRequest) -> str:
    """One sentence on why a choice has no instance, with what would work."""
    names = family(table, choice.type)
    if not names:
        known = sorted({r.gpu for r in table} | set(GPU_FAMILIES))
        return f"{choice.type!r} is not an AWS GPU type; use one of {', '.join(known)}"
    most = max(r.count for r in table if r.gpu in names)
    return (
        f"{choice.type} instances hold at most {most} GPUs, not {choice.count}; "
        f"use gpu='{choice.type}:{most}' or fewer, or add a fallback such as gpu=['{choice.type}:{most}', 'H100:8']"
    )
