"""Where each function runs on AWS: Lambda, Batch or an ECS service, decided by a rules table.

The first rule whose condition holds decides (``compiler.placement.first_matching``);
rows with target ``unsupported`` turn into a :class:`UserError` naming the
decorator's ``file:line``, why, and the fix. A stack file may force ``lambda``,
``batch`` or ``ecs`` or instance types per function. Long-running web services
(``web_server``, ``app.server``, GPU or big web endpoints) are ECS services
(:class:`EcsPlacement`): Fargate for CPU, EC2 GPU capacity providers otherwise. This module never imports Pulumi.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, FunctionSpec, GpuRequest
from pcompile.compiler.placement import Placement, Rule, first_matching, place_all
from pcompile.providers.aws import catalog
from pcompile.providers.settings import StackSettings

LAMBDA_MAX_TIMEOUT = 900
LAMBDA_MAX_MEMORY_MIB = 10240
LAMBDA_MAX_VCPUS = 6
LAMBDA_MIN_MEMORY_MIB = 128
DEFAULT_LAMBDA_MEMORY_MIB = 1024
BATCH_MIN_TIMEOUT = 60
SERVICE_KINDS = ("web_server", "server")
TARGETS = ("lambda", "batch", "ecs")
# Lambda gives CPU in proportion to memory: one vCPU per 1,769 MiB.
# Source: https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
LAMBDA_MIB_PER_VCPU = 1769
# The instance families CPU jobs run on (Batch picks the size).
CPU_INSTANCE_FAMILIES = ("c6i", "m6i", "r6i")
CPU_COMPUTE_KEY = "cpu"

# The largest size of each CPU family Batch may pick (CPU_INSTANCE_FAMILIES).
_CPU_SOURCE = "https://aws.amazon.com/ec2/instance-types/"
CPU_LARGEST: tuple[catalog.InstanceRow, ...] = (
    catalog.InstanceRow("", 0, "c6i.32xlarge", 128, 256, _CPU_SOURCE),
    catalog.InstanceRow("", 0, "m6i.32xlarge", 128, 512, _CPU_SOURCE),
    catalog.InstanceRow("", 0, "r6i.32xlarge", 128, 1024, _CPU_SOURCE),
)


@dataclass(frozen=True, kw_only=True)
class LambdaPlacement(Placement):
    """A function on Lambda: ``memory_mib`` sets its CPU share, ``/tmp`` holds ``ephemeral_storage_mib``."""

    target: ClassVar[str] = "lambda"
    ephemeral_storage_mib: int = 512


@dataclass(frozen=True)
class ComputeChoice:
    """One compute environment a Batch job may run in: ``key`` names it (``cpu``, ``gpu-<type>``,
    ``custom-<hash>``), ``gpu`` is what the job needs there (type and count), ``instance_types``
    the machines that hold it."""

    key: str
    gpu: GpuRequest | None
    instance_types: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class BatchPlacement(Placement):
    """A function on AWS Batch: its job asks for ``cpu`` vCPUs, ``memory_mib`` and ``gpu.count``
    GPUs; its queue tries ``compute`` in order (the GPU and its fallbacks)."""

    target: ClassVar[str] = "batch"
    compute: tuple[ComputeChoice, ...] = ()

    @property
    def gpus(self) -> int:
        """GPUs the job definition asks for."""
        return self.gpu.count if self.gpu else 0

    @property
    def vcpus(self) -> int:
        """vCPUs the job definition asks for."""
        return int(self.cpu)

    def queue_key(self) -> tuple[str, ...]:
        """The compute environments of its queue, in order (functions with the same order share it)."""
        return tuple(c.key for c in self.compute)

    def details(self) -> dict[str, Any]:
        """The queue's compute environments (the instance types are the top-level list)."""
        return {"compute": list(self.queue_key())}


def own(placement: Placement) -> AwsPlacement:
    """``placement`` as one of this cloud's targets; another cloud's placement is a bug
    in the caller (the registry hands each provider only its own plan)."""
    if not isinstance(placement, LambdaPlacement | BatchPlacement | EcsPlacement):
        raise TypeError(f"{placement.function}: {type(placement).__name__} is not a aws placement")
    return placement


def _request(value: float | int | tuple[float, float] | tuple[int, int] | None) -> float | None:
    """The request half of Modal's ``(request, limit)`` pairs."""
    if isinstance(value, tuple):
        return float(value[0])
    return None if value is None else float(value)


def _too_big_for_lambda(fn: FunctionSpec) -> bool:
    cpu, memory = _request(fn.cpu), _request(fn.memory)
    disk = fn.ephemeral_disk or 0
    return (
        (cpu or 0) > LAMBDA_MAX_VCPUS or (memory or 0) > LAMBDA_MAX_MEMORY_MIB or disk > LAMBDA_MAX_MEMORY_MIB
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "ecs",
        lambda fn: fn.web is not None and fn.web.kind in SERVICE_KINDS,
        "web_server and app.server are long-running services with an open port: an ECS service",
    ),
    Rule(
        "ecs",
        lambda fn: fn.web is not None and fn.gpu is not None,
        "a GPU web endpoint is a long-running GPU service (Lambda has no GPUs): an ECS service on EC2",
    ),
    Rule(
        "ecs",
        lambda fn: fn.web is not None and (fn.timeout > LAMBDA_MAX_TIMEOUT or _too_big_for_lambda(fn)),
        "web endpoint over Lambda's limits (15 minutes, 6 vCPUs, 10 GiB): an ECS service",
    ),
    Rule("batch", lambda fn: fn.gpu is not None, "GPU functions run on AWS Batch (Lambda has no GPUs)"),
    Rule("batch", lambda fn: fn.timeout > LAMBDA_MAX_TIMEOUT, "Lambda stops at 15 minutes; Batch does not"),
    Rule("batch", _too_big_for_lambda, "more CPU, memory or disk than Lambda offers"),
    Rule("lambda", lambda fn: True, "CPU function within Lambda's limits"),
)


def plan(app: AppSpec, settings: StackSettings) -> dict[str, AwsPlacement]:
    """One placement per function of ``app``, in function-name order; every user error
    found is raised together."""
    table = catalog.load_catalog()
    return place_all(app.functions, lambda fn: place(fn, settings, table))


def place(fn: FunctionSpec, settings: StackSettings, table: tuple[catalog.InstanceRow, ...]) -> AwsPlacement:
    """The placement of one function, honouring the stack's override."""
    rule = first_matching(RULES, fn)
    override = settings.override(fn.name)
    target, why = rule.target, rule.why
    if override.placement:
        target, why = (
            _checked_override(fn, override.placement, rule),
            f"stack override ({override.placement})",
        )
    if target == "lambda":
        return _lambda_placement(fn, why)
    if target == "ecs":
        return ecs_placement(fn, why, table, override.instance_types)
    return _batch_placement(fn, why, table, override.instance_types)


def _checked_override(fn: FunctionSpec, forced: str, rule: Rule) -> str:
    """A stack's forced target, refused when the function cannot run there."""
    if forced not in TARGETS:
        raise UserError(
            f"stack override placement={forced!r} for {fn.name!r} is not an AWS target",
            source=fn.source,
            fix=f"use one of {', '.join(TARGETS)}",
        )
    if forced == "lambda" and rule.target != "lambda":
        raise UserError(
            f"stack override forces {fn.name!r} onto Lambda, but {rule.why}",
            source=fn.source,
            fix="remove the override or use placement: batch" + (" or ecs" if fn.web else ""),
        )
    if (forced == "ecs" and fn.web is None) or (forced == "batch" and fn.web is not None):
        what = "only web endpoints are ECS services" if forced == "ecs" else "Batch jobs serve no HTTP"
        raise UserError(
            f"stack override placement={forced!r} for {fn.name!r} cannot work: {what}",
            source=fn.source,
            fix="remove the override" + ("" if fn.web is None else ", or use placement: ecs"),
        )
    return forced


def _lambda_placement(fn: FunctionSpec, why: str) -> LambdaPlacement:
    cpu, memory = _request(fn.cpu), _request(fn.memory)
    memory_mib = min(
        LAMBDA_MAX_MEMORY_MIB,
        max(
            LAMBDA_MIN_MEMORY_MIB,
            int(memory or DEFAULT_LAMBDA_MEMORY_MIB),
            math.ceil((cpu or 0) * LAMBDA_MIB_PER_VCPU),
        ),
    )
    return LambdaPlacement(
        function=fn.name,
        reason=why,
        timeout_s=fn.timeout,
        cpu=round(min(LAMBDA_MAX_VCPUS, memory_mib / LAMBDA_MIB_PER_VCPU), 2),
        memory_mib=memory_mib,
        ephemeral_storage_mib=max(512, min(fn.ephemeral_disk or 512, LAMBDA_MAX_MEMORY_MIB)),
    )


def _batch_placement(
    fn: FunctionSpec, why: str, table: tuple[catalog.InstanceRow, ...], forced_types: tuple[str, ...]
) -> BatchPlacement:
    """The job's size and its queue's compute environments: forced types, CPU families, or
    every usable GPU choice (type and count) with the instances that hold it."""
    resolution = catalog.resolve(table, fn.gpu, fn.source) if fn.gpu and not forced_types else None
    gpu = resolution.first if resolution else (fn.gpu.choices()[0] if fn.gpu else None)
    gpus = gpu.count if gpu else 0
    vcpus = max(1, math.ceil(_request(fn.cpu) or max(1, 2 * gpus)))
    memory_mib = int(_request(fn.memory) or max(2048, 4096 * gpus))
    if forced_types:
        key = "custom-" + hashlib.sha256(",".join(forced_types).encode()).hexdigest()[:8]
        compute: tuple[ComputeChoice, ...] = (ComputeChoice(key, gpu, forced_types),)
    elif resolution is None:
        _check_fits_cpu(fn, vcpus, memory_mib)
        compute = (ComputeChoice(CPU_COMPUTE_KEY, None, CPU_INSTANCE_FAMILIES),)
    else:
        _check_fits(fn, resolution, vcpus, memory_mib)
        compute = tuple(
            ComputeChoice(
                f"gpu-{catalog.canonical_key(choice)}", choice, tuple(r.instance_type for r in rows)
            )
            for choice, rows in resolution.choices
        )
    instance_types = resolution.instance_types() if resolution else compute[0].instance_types
    return BatchPlacement(
        function=fn.name,
        reason=why,
        timeout_s=max(BATCH_MIN_TIMEOUT, fn.timeout),
        cpu=vcpus,
        memory_mib=memory_mib,
        gpu=gpu,
        instance_types=instance_types,
        compute=compute,
    )


def _check_fits_cpu(fn: FunctionSpec, vcpus: int, memory_mib: int) -> None:
    """A CPU job needs one instance of the CPU families that holds all of it."""
    if any(r.vcpus >= vcpus and r.memory_gib * 1024 >= memory_mib for r in CPU_LARGEST):
        return
    most_cpu = max(r.vcpus for r in CPU_LARGEST)
    most_memory = max(r.memory_gib for r in CPU_LARGEST) * 1024
    raise UserError(
        f"function {fn.name!r} asks for {vcpus} vCPUs and {memory_mib} MiB, more than any AWS Batch CPU "
        f"instance offers (at most {most_cpu} vCPUs, and {most_memory} MiB on "
        f"{max(CPU_LARGEST, key=lambda r: r.memory_gib).instance_type})",
        source=fn.source,
        fix=f"lower cpu/memory to at most cpu={most_cpu}, memory={most_memory}",
    )


def _check_fits(fn: FunctionSpec, resolution: catalog.GpuResolution, vcpus: int, memory_mib: int) -> None:
    """A job asking for more vCPUs or memory than any candidate instance never starts."""
    rows = [row for _, rows in resolution.choices for row in rows]
    if any(r.vcpus >= vcpus and r.memory_gib * 1024 >= memory_mib for r in rows):
        return
    biggest = max(rows, key=lambda r: (r.vcpus, r.memory_gib))
    raise UserError(
        f"function {fn.name!r} asks for {vcpus} vCPUs and {memory_mib} MiB, more than any instance with its GPU "
        f"(largest: {biggest.instance_type}, {biggest.vcpus} vCPUs, {biggest.memory_gib} GiB)",
        source=fn.source,
        fix=f"lower cpu/memory to at most cpu={biggest.vcpus}, memory={biggest.memory_gib * 1024}",
    )


def slug(text: str) -> str:
    """A resource-name-safe form of an IR name (``Model.generate`` → ``model-generate``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


# --------------------------------------------------------------------------- ECS services

ECS_TARGET = "ecs"
# The container port the ALB targets: the runtime's front server listens there and proxies
# to the user's port (web_server/server) or serves the ASGI/WSGI app itself.
FRONT_PORT = 8080
FRONT_PORT_ALTERNATE = 8081
# Modal sets no hard cap; an AWS service needs one. A stack raises it per function with
# ``max_containers=`` in the decorator.
ECS_DEFAULT_MAX_CONTAINERS = 10
# Modal's default scaledown_window (seconds a container idles before it stops).
ECS_DEFAULT_SCALEDOWN_S = 60
# ALB timeouts: idle 1..4000 s; deregistration delay 0..3600 s.
# Source: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html
ALB_MAX_IDLE_TIMEOUT_S = 4000
ALB_MAX_DEREGISTRATION_S = 3600
# CloudFront's origin read timeout: 1..60 s, up to 180 s after a quota increase (stack extra
# ``cloudfront_origin_read_timeout``). It bounds the wait for each chunk, not the whole response.
# Source: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesOrigin.html
CLOUDFRONT_MAX_READ_TIMEOUT_S = 60
CLOUDFRONT_QUOTA_READ_TIMEOUT_S = 180
# The ECS health check grace period never goes below this: image pull and instance start.
ECS_MIN_GRACE_S = 60
DEFAULT_SERVICE_CPU = 1
DEFAULT_SERVICE_MEMORY_MIB = 2048
# Instance families the ECS GPU-optimized AMI (AL2023 NVIDIA) supports; catalog rows of other
# families are never in a capacity provider.
# Source: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-gpu.html
ECS_GPU_FAMILIES = ("g4dn", "g5", "g6", "g6e", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200")
# Fargate task sizes: vCPUs → (least MiB, most MiB, step MiB).
# Source: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html
FARGATE_SIZES: tuple[tuple[float, int, int, int], ...] = (
    (0.25, 512, 2048, 1024),
    (0.5, 1024, 4096, 1024),
    (1, 2048, 8192, 1024),
    (2, 4096, 16384, 1024),
    (4, 8192, 30720, 1024),
    (8, 16384, 61440, 4096),
    (16, 32768, 122880, 8192),
)


@dataclass(frozen=True)
class EcsScaling:
    """A service's autoscaling: task bounds, the in-flight requests one task is sized for
    (``target_inputs``), the scale-in cooldown and the idle tasks kept above demand."""

    min_containers: int
    max_containers: int
    target_inputs: int
    scale_in_cooldown_s: int
    buffer_containers: int = 0


@dataclass(frozen=True, kw_only=True)
class EcsPlacement(Placement):
    """A web service on ECS behind an ALB: ``port`` is the user's server (None for ASGI/WSGI
    kinds), ``front_port`` the container port the ALB targets; ``launch_type`` is ``fargate``
    (CPU) or ``ec2`` (GPU capacity provider ``capacity_key`` over ``instance_types``)."""

    target: ClassVar[str] = ECS_TARGET
    port: int | None = None
    front_port: int = FRONT_PORT
    launch_type: str = "fargate"
    capacity_key: str | None = None
    scaling: EcsScaling = EcsScaling(0, ECS_DEFAULT_MAX_CONTAINERS, 1, ECS_DEFAULT_SCALEDOWN_S)
    startup_timeout_s: int = 30
    health_check_grace_s: int = ECS_MIN_GRACE_S
    idle_timeout_s: int = 60
    origin_read_timeout_s: int = CLOUDFRONT_MAX_READ_TIMEOUT_S
    deregistration_delay_s: int = 30

    @property
    def gpus(self) -> int:
        """GPUs the task definition asks for."""
        return self.gpu.count if self.gpu else 0


def front_port(user_port: int | None) -> int:
    """The runtime front's container port: 8080, or 8081 when the user's server is on 8080."""
    return FRONT_PORT_ALTERNATE if user_port == FRONT_PORT else FRONT_PORT


def ecs_placement(
    fn: FunctionSpec, why: str, table: tuple[catalog.InstanceRow, ...], forced_types: tuple[str, ...] = ()
) -> EcsPlacement:
    """A web function as an ECS service: size, compute, ports, scaling, timeouts."""
    assert fn.web is not None
    if fn.schedule is not None:
        raise UserError(
            f"function {fn.name!r} is a web service and has a schedule",
            source=fn.source,
            fix="drop schedule= and have a scheduled plain function call the service",
        )
    port = _checked_port(fn)
    startup = math.ceil(fn.web.startup_timeout or fn.startup_timeout or 30)
    common = {
        "function": fn.name,
        "reason": why,
        "timeout_s": fn.timeout,
        "port": port,
        "front_port": front_port(port),
        "scaling": _scaling(fn),
        "startup_timeout_s": startup,
        "health_check_grace_s": max(ECS_MIN_GRACE_S, startup),
        "idle_timeout_s": min(ALB_MAX_IDLE_TIMEOUT_S, max(1, fn.timeout)),
        "origin_read_timeout_s": min(CLOUDFRONT_MAX_READ_TIMEOUT_S, max(1, fn.timeout)),
        "deregistration_delay_s": min(ALB_MAX_DEREGISTRATION_S, fn.timeout),
    }
    if fn.gpu is None and not forced_types:
        cpu, memory_mib = fargate_size(fn)
        return EcsPlacement(cpu=cpu, memory_mib=memory_mib, launch_type="fargate", **common)  # type: ignore[arg-type]
    gpu, vcpus, memory_mib, types = _ecs_gpu_compute(fn, table, forced_types)
    key = "ecs-" + (
        f"{catalog.canonical_key(gpu)}-x{gpu.count}"
        if gpu and not forced_types
        else "custom-" + hashlib.sha256(",".join(types).encode()).hexdigest()[:8]
    )
    return EcsPlacement(
        cpu=vcpus,
        memory_mib=memory_mib,
        gpu=gpu,
        instance_types=types,
        launch_type="ec2",
        capacity_key=key,
        **common,  # type: ignore[arg-type]
    )


def _checked_port(fn: FunctionSpec) -> int | None:
    """The user's server port (web_server/server), refused outside 1-65535."""
    assert fn.web is not None
    port = fn.web.port
    if fn.web.kind not in SERVICE_KINDS:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise UserError(
            f"function {fn.name!r}: port={port!r} is not a TCP port (1-65535)",
            source=fn.source,
            fix="pass the port your server listens on, e.g. @modal.web_server(8000) or @app.server(port=8000)",
        )
    return port


def _scaling(fn: FunctionSpec) -> EcsScaling:
    """Modal's autoscaler knobs as service bounds; ``min > max`` is the user's to fix."""
    low = fn.min_containers or 0
    high = fn.max_containers if fn.max_containers is not None else max(ECS_DEFAULT_MAX_CONTAINERS, low)
    if low > high:
        raise UserError(
            f"function {fn.name!r}: min_containers={low} is more than max_containers={high}",
            source=fn.source,
            fix=f"use min_containers<={high} or max_containers>={low}",
        )
    target = 1
    if fn.concurrency is not None:
        target = fn.concurrency.target_inputs or fn.concurrency.max_inputs
    scaledown = fn.scaledown_window if fn.scaledown_window is not None else ECS_DEFAULT_SCALEDOWN_S
    return EcsScaling(low, high, max(1, target), scaledown, fn.buffer_containers or 0)


def fargate_size(fn: FunctionSpec) -> tuple[float, int]:
    """The smallest Fargate size holding the function's cpu and memory requests."""
    cpu = _request(fn.cpu) or DEFAULT_SERVICE_CPU
    memory = int(_request(fn.memory) or DEFAULT_SERVICE_MEMORY_MIB)
    for vcpus, least, most, step in FARGATE_SIZES:
        if vcpus >= cpu and memory <= most:
            return vcpus, max(least, math.ceil(memory / step) * step)
    raise UserError(
        f"function {fn.name!r} asks for {cpu:g} vCPUs and {memory} MiB, more than a Fargate task offers "
        f"(16 vCPUs, 120 GiB)",
        source=fn.source,
        fix="lower cpu/memory to at most cpu=16, memory=122880, or add a gpu= to run on EC2",
    )


def ecs_table(table: tuple[catalog.InstanceRow, ...]) -> tuple[catalog.InstanceRow, ...]:
    """The catalog rows ECS's GPU-optimized AMI runs on."""
    return tuple(r for r in table if r.instance_type.split(".")[0] in ECS_GPU_FAMILIES)


def _ecs_gpu_compute(
    fn: FunctionSpec, table: tuple[catalog.InstanceRow, ...], forced_types: tuple[str, ...]
) -> tuple[GpuRequest | None, int, int, tuple[str, ...]]:
    """GPU, task vCPUs and MiB, and the instance types of the service's capacity provider: the
    first GPU choice (as Batch resolves it) on ECS-capable instances that fit the task."""
    if forced_types:
        gpu = fn.gpu.choices()[0] if fn.gpu else None
        gpus = gpu.count if gpu else 0
        return gpu, *_task_size(fn, gpus), forced_types
    assert fn.gpu is not None
    try:
        resolution = catalog.resolve(ecs_table(table), fn.gpu, fn.source)
    except UserError as err:
        raise UserError(
            f"function {fn.name!r}: no ECS-capable AWS instance type holds gpu="
            + ", ".join(f"{c.type}:{c.count}" for c in fn.gpu.choices()),
            source=fn.source,
            fix=err.fix or "use a GPU the ECS GPU-optimized AMI runs on",
        ) from None
    gpu, rows = resolution.choices[0]
    vcpus, memory_mib = _task_size(fn, gpu.count)
    _check_fits(fn, catalog.GpuResolution(((gpu, rows),)), vcpus, memory_mib)
    fitting = tuple(r.instance_type for r in rows if r.vcpus >= vcpus and r.memory_gib * 1024 >= memory_mib)
    return gpu, vcpus, memory_mib, fitting


def _task_size(fn: FunctionSpec, gpus: int) -> tuple[int, int]:
    """Task vCPUs and MiB: as asked, else Batch's defaults for the GPU count."""
    vcpus = max(1, math.ceil(_request(fn.cpu) or max(1, 2 * gpus)))
    return vcpus, int(_request(fn.memory) or max(2048, 4096 * gpus))


AwsPlacement = LambdaPlacement | BatchPlacement | EcsPlacement
