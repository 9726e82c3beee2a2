"""Where each function of an app runs on GCP: Cloud Run (``cloudrun``) or GCP Batch (``gcpbatch``).

The decision is the first row of :data:`RULES` that holds for the function, after
its GPU request is resolved against the catalog (fallback lists pick the first
type GCP offers). A stack file may force a target per function. Impossible
combinations (a GPU GCP has no shape for, a web endpoint that cannot be served by
Cloud Run) are :class:`UserError`\\ s naming the decorator's ``file:line`` and the fix.
No Pulumi here: this runs before any program.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from pcompile.compiler.errors import CompileErrors, UserError
from pcompile.compiler.ir import AppSpec, FunctionSpec, GpuRequest, GpuSpec
from pcompile.compiler.placement import Placement, Rule, first_matching, place_all
from pcompile.providers.gcp import catalog as cat
from pcompile.providers.gcp import mounts, schedules
from pcompile.providers.settings import StackSettings

CLOUD_RUN = "cloudrun"
GCP_BATCH = "gcpbatch"
TARGETS = (CLOUD_RUN, GCP_BATCH)

# Cloud Run service limits: https://cloud.google.com/run/docs/configuring/request-timeout,
# .../configuring/services/cpu, .../configuring/services/memory-limits, .../services/gpu
CLOUD_RUN_MAX_TIMEOUT_S = 3600
CLOUD_RUN_CPUS = (1, 2, 4, 6, 8)
CLOUD_RUN_MIN_MEMORY_MIB = 512
CLOUD_RUN_MAX_MEMORY_MIB = 32 * 1024
# (vCPUs, least MiB, most MiB) of a Cloud Run instance: Cloud Run refuses a revision whose
# memory is outside its CPU's range ("4 CPU requires at least 2 GiB", "6 or 8 CPU at least 4 GiB";
# "more than 4 GiB needs 2 CPU, 8 GiB 4, 16 GiB 6, 24 GiB 8").
# Sources: https://cloud.google.com/run/docs/configuring/services/cpu#cpu-memory and
# https://cloud.google.com/run/docs/configuring/services/memory-limits#cpu-minimum
CLOUD_RUN_SIZES = (
    (1, 512, 4 * 1024),
    (2, 512, 8 * 1024),
    (4, 2 * 1024, 16 * 1024),
    (6, 4 * 1024, 24 * 1024),
    (8, 4 * 1024, 32 * 1024),
)
CLOUD_RUN_GPU_MIN_CPU = 4
CLOUD_RUN_GPU_MIN_MEMORY_MIB = 16 * 1024
CLOUD_RUN_GPU_ACCELERATOR = "nvidia-l4"
# Regions where Cloud Run offers L4 GPUs; a stack may list more in ``extra.cloud_run_gpu_regions``
# when Google adds one. Source: https://cloud.google.com/run/docs/configuring/services/gpu#regions
CLOUD_RUN_GPU_REGIONS = ("asia-south1", "asia-southeast1", "europe-west1", "europe-west4", "us-central1")
# The startup probe: the port opens only after volume sync, imports and ``@enter`` hooks. Cloud
# Run's default probe gives up after 240 s; ours allows ``startup_timeout`` (non-web functions:
# their ``timeout``), polled every 10 s, at most an hour.
# Source: https://cloud.google.com/run/docs/configuring/healthchecks#startup-probes
CLOUD_RUN_DEFAULT_STARTUP_S = 240
CLOUD_RUN_MAX_STARTUP_S = 3600
CLOUD_RUN_PROBE_PERIOD_S = 10
# Cloud Run refuses GPU services whose max instances exceed the project's GPU quota, which
# starts small; without max_containers a GPU service gets this conservative cap.
CLOUD_RUN_GPU_DEFAULT_MAX_INSTANCES = 3

BATCH_DEFAULT_CPU = 2.0
BATCH_DEFAULT_MEMORY_MIB = 2048


@dataclass(frozen=True, kw_only=True)
class CloudRunPlacement(Placement):
    """A function served by Cloud Run: instance size (``cpu``, ``memory_mib``), ``accelerator``
    (an L4, or None), startup budget, concurrency, scaling, exposure and schedule trigger."""

    target: ClassVar[str] = CLOUD_RUN
    accelerator: str | None = None
    startup_s: int = CLOUD_RUN_DEFAULT_STARTUP_S
    concurrency: int = 1
    min_instances: int = 0
    max_instances: int | None = None
    public: bool = False
    schedule: schedules.Trigger | None = None


@dataclass(frozen=True, kw_only=True)
class GcpBatchPlacement(Placement):
    """A function run as GCP Batch jobs on ``shape`` (machine type, accelerators, provisioning,
    looked up once); each task asks for ``cpu`` and ``memory_mib`` of it."""

    target: ClassVar[str] = GCP_BATCH
    shape: cat.MachineShape
    max_retry_count: int = 0
    schedule: schedules.Trigger | None = None

    @property
    def accelerator(self) -> str | None:
        """The accelerator type of the machine, or None for a CPU machine."""
        return self.shape.accelerator or None

    @property
    def accelerator_count(self) -> int:
        """Accelerators attached to the machine."""
        return self.shape.count if self.shape.accelerator else 0

    def details(self) -> dict[str, Any]:
        """The machine (type in ``instance_types``), its accelerators, retries and trigger."""
        return {
            "accelerator": self.accelerator,
            "accelerator_count": self.accelerator_count,
            "machine_type": self.shape.machine_type,
            "max_retry_count": self.max_retry_count,
            "provisioning_model": self.shape.provisioning,
            "schedule": None if self.schedule is None else self.schedule.to_json(),
        }


GcpPlacement = CloudRunPlacement | GcpBatchPlacement


def own(placement: Placement) -> GcpPlacement:
    """``placement`` as one of this cloud's targets; another cloud's placement is a bug
    in the caller (the registry hands each provider only its own plan)."""
    if not isinstance(placement, CloudRunPlacement | GcpBatchPlacement):
        raise TypeError(f"{placement.function}: {type(placement).__name__} is not a gcp placement")
    return placement


def _cloud_run_gpu(fn: FunctionSpec) -> bool:
    return fn.gpu is not None and fn.gpu.type == "L4" and fn.gpu.count == 1


def _too_big_for_cloud_run(fn: FunctionSpec) -> bool:
    return _requested_cpu(fn) > max(CLOUD_RUN_CPUS) or _requested_memory(fn) > CLOUD_RUN_MAX_MEMORY_MIB


RULES: tuple[Rule, ...] = (
    Rule(CLOUD_RUN, lambda fn: fn.web is not None, "web endpoints are Cloud Run services"),
    Rule(GCP_BATCH, lambda fn: fn.timeout > CLOUD_RUN_MAX_TIMEOUT_S, "Cloud Run requests stop at 3600 s"),
    Rule(CLOUD_RUN, _cloud_run_gpu, "Cloud Run serves one L4 GPU per instance"),
    Rule(GCP_BATCH, lambda fn: fn.gpu is not None, "this GPU shape needs a Compute Engine VM (GCP Batch)"),
    Rule(GCP_BATCH, _too_big_for_cloud_run, "Cloud Run instances stop at 8 vCPU and 32 GiB"),
    Rule(CLOUD_RUN, lambda fn: True, "CPU functions are Cloud Run services"),
)


def plan(app: AppSpec, settings: StackSettings) -> dict[str, GcpPlacement]:
    """One placement per function of ``app``; all user errors found are raised together."""
    return plan_with(app, settings, cat.default_catalog())


def plan_with(app: AppSpec, settings: StackSettings, catalog: cat.Catalog) -> dict[str, GcpPlacement]:
    """:func:`plan` against an explicit catalog (tests pass a few rows)."""
    stores = mounts.check_stores(app)
    if stores:
        raise stores[0] if len(stores) == 1 else CompileErrors(stores)
    return place_all(app.functions, lambda fn: place(fn, settings, catalog))


def place(fn: FunctionSpec, settings: StackSettings, catalog: cat.Catalog) -> GcpPlacement:
    """The placement of one function."""
    found = resolve_gpu_shape(fn, catalog)
    gpu = found[0] if found else None
    resolved = dataclasses.replace(fn, gpu=None if gpu is None else GpuSpec(gpu.type, gpu.count))
    rule = first_matching(RULES, resolved)
    target = settings.override(fn.name).placement or rule.target
    why = rule.why if target == rule.target else "forced by the stack file"
    _check(resolved, target)
    mounts.check_function(fn, settings)
    if target == CLOUD_RUN and resolved.gpu is not None:
        _check_gpu_region(resolved, settings)
    trigger = _schedule(resolved, target)
    if target == CLOUD_RUN:
        return cloud_run_placement(resolved, gpu, why, trigger)
    forced = settings.override(fn.name).instance_types
    shape = batch_shape(resolved, catalog, forced, found[1] if found and not forced else None)
    return batch_placement(resolved, gpu, shape, why, trigger)


def _schedule(fn: FunctionSpec, target: str) -> schedules.Trigger | None:
    """The Cloud Scheduler trigger; gated periods need Cloud Run (a Batch VM boots too late)."""
    if fn.schedule is None:
        return None
    trig = schedules.trigger(fn.schedule, fn.source)
    if trig.gated and target == GCP_BATCH:
        raise UserError(
            f"function {fn.name!r}: a Period of {trig.period_s} s is not a unix-cron interval, and GCP Batch "
            "functions cannot gate a finer trigger",
            source=fn.source,
            fix="use a Period that divides an hour or a day (e.g. Period(hours=6)) or a Cron",
        )
    return trig


def resolve_gpu_shape(fn: FunctionSpec, catalog: cat.Catalog) -> tuple[GpuRequest, cat.MachineShape] | None:
    """The first GPU choice GCP offers and the machine shape that carries it (one lookup)."""
    if fn.gpu is None:
        return None
    for choice in fn.gpu.choices():
        shape = cat.gpu_shape(catalog, choice.type, choice.count)
        if shape is not None:
            return GpuRequest(cat.canonical_gpu(choice.type), choice.count), shape
    raise _no_gpu_shape(fn, fn.gpu, catalog)


def _no_gpu_shape(fn: FunctionSpec, gpu: GpuSpec, catalog: cat.Catalog) -> UserError:
    asked = ", ".join(f"{c.type}:{c.count}" for c in gpu.choices())
    offered = ", ".join(cat.offered_gpus(catalog))
    first = gpu.type
    return UserError(
        f"function {fn.name!r}: gpu {asked} has no GCP machine shape (GCP offers {offered})",
        source=fn.source,
        fix=f'use a fallback list GCP can place, e.g. gpu=["{first}", "L4"], '
        "or deploy the app on AWS (--cloud aws, or a stack with cloud: aws)",
    )


def _check(fn: FunctionSpec, target: str) -> None:
    """Reject what the chosen target cannot do, naming the fix."""
    if target not in TARGETS:
        raise UserError(
            f"function {fn.name!r}: placement {target!r} is not a GCP target",
            source=fn.source,
            fix=f"use one of {list(TARGETS)} in the stack file's overrides",
        )
    if target == GCP_BATCH and fn.web is not None:
        raise UserError(
            f"function {fn.name!r}: web endpoints run on Cloud Run, not GCP Batch",
            source=fn.source,
            fix="remove the stack file's placement override for this function",
        )
    if target == CLOUD_RUN:
        _check_cloud_run(fn)


def _check_gpu_region(fn: FunctionSpec, settings: StackSettings) -> None:
    """Cloud Run has L4 GPUs in a few regions only; elsewhere the deploy would fail."""
    region = settings.region or "us-central1"
    offered = sorted({*CLOUD_RUN_GPU_REGIONS, *settings.extra.get("cloud_run_gpu_regions", ())})
    if region in offered:
        return
    raise UserError(
        f"function {fn.name!r}: Cloud Run offers L4 GPUs only in {', '.join(offered)}, not in {region}",
        source=fn.source,
        fix="deploy to one of those regions (`region:` in the stack file), move a non-web function to GCP "
        "Batch (overrides: {" + fn.name + ": {placement: gcpbatch}}), or, if Google added the region, list "
        "it in the stack's extra.cloud_run_gpu_regions",
    )


def _check_cloud_run(fn: FunctionSpec) -> None:
    if fn.gpu is not None and not _cloud_run_gpu(fn):
        raise UserError(
            f"function {fn.name!r}: Cloud Run serves only gpu='L4' (one per instance), got "
            f"{fn.gpu.type}:{fn.gpu.count}",
            source=fn.source,
            fix='use gpu="L4" for a web endpoint, move the GPU work to a plain function it calls, or deploy '
            "it with --cloud aws, where GPU web endpoints run as ECS services on EC2 GPU instances",
        )
    if fn.timeout > CLOUD_RUN_MAX_TIMEOUT_S:
        raise UserError(
            f"function {fn.name!r}: timeout={fn.timeout} exceeds Cloud Run's 3600 s request limit",
            source=fn.source,
            fix="use timeout=3600 or less for a web endpoint",
        )
    if _too_big_for_cloud_run(fn):
        raise UserError(
            f"function {fn.name!r}: Cloud Run instances stop at 8 vCPU and 32 GiB",
            source=fn.source,
            fix="ask for cpu<=8 and memory<=32768 for a web endpoint",
        )


# ----------------------------------------------------------------------------- sizing


def _requested_cpu(fn: FunctionSpec) -> float:
    cpu = fn.cpu[1] if isinstance(fn.cpu, tuple) else fn.cpu
    return float(cpu or 0)


def _requested_memory(fn: FunctionSpec) -> int:
    memory = fn.memory[1] if isinstance(fn.memory, tuple) else fn.memory
    return int(memory or 0)


def cloud_run_resources(fn: FunctionSpec) -> tuple[int, int]:
    """(vCPUs, MiB) for a Cloud Run instance: the request rounded up to what Cloud Run allows.

    The fewest vCPUs that cover the CPU request and allow the memory (:data:`CLOUD_RUN_SIZES`),
    and the memory raised to that CPU's floor. A CPU *limit* (``cpu=(request, limit)``) is
    never exceeded: memory above what the limit allows is a :class:`UserError`.
    """
    memory = max(_requested_memory(fn), CLOUD_RUN_MIN_MEMORY_MIB)
    cpu = _requested_cpu(fn)
    if fn.gpu is not None:
        memory = max(memory, CLOUD_RUN_GPU_MIN_MEMORY_MIB)
        cpu = max(cpu, CLOUD_RUN_GPU_MIN_CPU)
    vcpus, floor_mib, _ = next(row for row in CLOUD_RUN_SIZES if row[0] >= cpu and row[2] >= memory)
    if isinstance(fn.cpu, tuple) and vcpus > next(row[0] for row in CLOUD_RUN_SIZES if row[0] >= cpu):
        _memory_over_cpu_limit(fn, memory)
    return vcpus, max(memory, floor_mib)


def _memory_over_cpu_limit(fn: FunctionSpec, memory: int) -> None:
    assert isinstance(fn.cpu, tuple)
    request, cpu = fn.cpu
    cap = max(row[2] for row in CLOUD_RUN_SIZES if row[0] <= max(cpu, 1))
    needed = next(row[0] for row in CLOUD_RUN_SIZES if row[2] >= memory)
    raise UserError(
        f"function {fn.name!r}: memory={memory} MiB needs {needed} vCPUs on Cloud Run, but the cpu limit "
        f"is {cpu:g} (at most {cap} MiB)",
        source=fn.source,
        fix=f"raise the cpu limit to {needed} (cpu=({request:g}, {needed})) or ask for memory<={cap}",
    )


def cloud_run_placement(
    fn: FunctionSpec, gpu: GpuRequest | None, why: str, trigger: schedules.Trigger | None
) -> CloudRunPlacement:
    """What the Cloud Run component needs beyond the IR: sizes, scaling, exposure."""
    vcpus, memory = cloud_run_resources(fn)
    return CloudRunPlacement(
        function=fn.name,
        reason=why,
        timeout_s=fn.timeout,
        cpu=vcpus,
        memory_mib=memory,
        gpu=gpu,
        accelerator=CLOUD_RUN_GPU_ACCELERATOR if fn.gpu is not None else None,
        startup_s=startup_budget(fn),
        concurrency=fn.concurrency.max_inputs if fn.concurrency else 1,
        min_instances=fn.min_containers or 0,
        max_instances=fn.max_containers
        or (CLOUD_RUN_GPU_DEFAULT_MAX_INSTANCES if fn.gpu is not None else None),
        public=fn.web is not None,  # proxy auth (if required) is checked by the runtime's front
        schedule=trigger,
    )


def startup_budget(fn: FunctionSpec) -> int:
    """Seconds a Cloud Run instance may take to open its port: ``startup_timeout``, else the
    function's ``timeout`` (non-web) or Cloud Run's default 240 s (web), at most an hour."""
    if fn.startup_timeout:
        budget = fn.startup_timeout
    elif fn.web is None:
        budget = fn.timeout
    else:
        budget = max(CLOUD_RUN_DEFAULT_STARTUP_S, math.ceil(fn.web.startup_timeout or 0))
    return max(CLOUD_RUN_PROBE_PERIOD_S, min(int(budget), CLOUD_RUN_MAX_STARTUP_S))


def batch_shape(
    fn: FunctionSpec,
    catalog: cat.Catalog,
    forced: tuple[str, ...] = (),
    gpu_shape: cat.MachineShape | None = None,
) -> cat.MachineShape:
    """The machine a Batch task of ``fn`` runs on: a stack override's first type, else the
    GPU's shape found when its request was resolved, else the smallest CPU machine that fits."""
    if forced:
        for row in catalog:
            if row.machine_type == forced[0]:
                return row
        raise UserError(
            f"function {fn.name!r}: instance type {forced[0]!r} is not in the GCP catalog",
            source=fn.source,
            fix=f"use one of {sorted({r.machine_type for r in catalog})}",
        )
    if fn.gpu is not None:
        assert gpu_shape is not None, "resolve_gpu_shape found the shape of a GPU function"
        return gpu_shape
    shape = cat.cpu_shape(catalog, _requested_cpu(fn) or BATCH_DEFAULT_CPU, _requested_memory(fn) / 1024)
    if shape is None:
        raise UserError(
            f"function {fn.name!r}: no GCP machine has cpu={fn.cpu} and memory={fn.memory}",
            source=fn.source,
            fix="ask for less cpu or memory",
        )
    return shape


def batch_placement(
    fn: FunctionSpec,
    gpu: GpuRequest | None,
    shape: cat.MachineShape,
    why: str,
    trigger: schedules.Trigger | None,
) -> GcpBatchPlacement:
    """The Batch task's resources on ``shape`` and its run limits."""
    # The task asks for what the user asked, capped by the VM (Batch refuses tasks that do not fit).
    cpu = min(_requested_cpu(fn) or BATCH_DEFAULT_CPU, float(shape.vcpus))
    memory = min(_requested_memory(fn) or BATCH_DEFAULT_MEMORY_MIB, shape.memory_gib * 1024)
    return GcpBatchPlacement(
        function=fn.name,
        reason=why,
        timeout_s=fn.timeout,
        cpu=cpu,
        memory_mib=memory,
        gpu=gpu,
        instance_types=(shape.machine_type,),
        shape=shape,
        max_retry_count=min(fn.retries.max_retries, 10),
        schedule=trigger,
    )
