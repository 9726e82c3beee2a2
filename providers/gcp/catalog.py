"""GCP machine shapes per GPU type and count, read from ``gpu_catalog.csv`` (one source per row).

Lookups take the table as an argument so tests can pass three rows. GPU strings
follow Modal: the IR already upper-cases the type; here ``A100`` means
``A100-40GB`` and a trailing ``!`` (Modal's "no automatic upgrade") is dropped,
since GCP never upgrades a machine type anyway.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_PATH = Path(__file__).with_name("gpu_catalog.csv")

# Modal names that mean another row of the table.
ALIASES = {"A100": "A100-40GB", "A100-40G": "A100-40GB", "A100-80G": "A100-80GB"}

# What ``gpu="any"`` resolves to: the cheapest GPU GCP offers, and the one Cloud Run serves.
ANY_GPU = "L4"

CPU_ROW = "CPU"


@dataclass(frozen=True)
class MachineShape:
    """One row: ``count`` GPUs of type ``gpu`` come with ``machine_type`` (vCPUs and GiB of memory),
    offered with ``provisioning`` (``STANDARD`` or ``SPOT``)."""

    gpu: str
    count: int
    machine_type: str
    accelerator: str
    vcpus: int
    memory_gib: int
    cloud_run: bool
    source: str
    provisioning: str = "STANDARD"


Catalog = tuple[MachineShape, ...]


def read_catalog(path: Path) -> Catalog:
    """Parse a catalog CSV (``gpu,count,machine_type,accelerator,vcpus,memory_gib,cloud_run,provisioning,source``).

    ``provisioning`` is the GCP provisioning model the shape is offered with (``STANDARD``
    or ``SPOT``: some shapes exist only as Spot VMs).
    """
    with path.open(newline="") as fh:
        return tuple(
            MachineShape(
                gpu=row["gpu"],
                count=int(row["count"]),
                machine_type=row["machine_type"],
                accelerator=row["accelerator"],
                vcpus=int(row["vcpus"]),
                memory_gib=int(row["memory_gib"]),
                cloud_run=row["cloud_run"] == "yes",
                source=row["source"],
                provisioning=row.get("provisioning") or "STANDARD",
            )
            for row in csv.DictReader(fh)
        )


@cache
def default_catalog() -> Catalog:
    """The catalog shipped with pcompile."""
    return read_catalog(CATALOG_PATH)


def canonical_gpu(gpu_type: str) -> str:
    """The catalog's name for a Modal GPU type string (``a100`` → ``A100-40GB``)."""
    name = gpu_type.upper().rstrip("!")
    if name == "ANY":
        return ANY_GPU
    return ALIASES.get(name, name)


def offered_gpus(catalog: Catalog) -> list[str]:
    """GPU types the catalog has a shape for, in table order."""
    seen: list[str] = []
    for row in catalog:
        if row.gpu != CPU_ROW and row.gpu not in seen:
            seen.append(row.gpu)
    return seen


def gpu_shape(catalog: Catalog, gpu_type: str, count: int) -> MachineShape | None:
    """The smallest shape with at least ``count`` GPUs of ``gpu_type``; None when GCP has none."""
    rows = [r for r in catalog if r.gpu == canonical_gpu(gpu_type) and r.count >= count]
    return min(rows, key=lambda r: r.count) if rows else None


def cpu_shape(catalog: Catalog, vcpus: float, memory_gib: float) -> MachineShape | None:
    """The smallest CPU-only machine with at least ``vcpus`` and ``memory_gib``."""
    rows = [r for r in catalog if r.gpu == CPU_ROW and r.vcpus >= vcpus and r.memory_gib >= memory_gib]
    return min(rows, key=lambda r: (r.vcpus, r.memory_gib)) if rows else None
