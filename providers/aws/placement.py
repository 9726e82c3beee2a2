"""Where each function runs on AWS: Lambda or Batch, decided by a rules table.

The first rule whose condition holds decides (``compiler.placement.first_matching``);
rows with target ``unsupported`` turn into a :class:`UserError` naming the
decorator's ``file:line``, why, and the fix. A stack file may force ``lambda`` or
``batch`` or instance types per function. This module never imports Pulumi.
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
TARGETS = ("lambda", "batch")
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

UNSUPPORTED_FIX = (
    "deploy this app with cloud='gcp' (Cloud Run), or run it with `pcompile serve`; "
    "on AWS use @modal.fastapi_endpoint, @modal.asgi_app or @modal.wsgi_app on a CPU function"
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


AwsPlacement = LambdaPlacement | BatchPlacement


def own(placement: Placement) -> AwsPlacement:
    """``placement`` as one of this cloud's targets; another cloud's placement is a bug
    in the caller (the registry hands each provider only its own plan)."""
    if not isinstance(placement, LambdaPlacement | BatchPlacement):
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
        "unsupported",
        lambda fn: fn.web is not None and fn.web.kind in SERVICE_KINDS,
        "web_server and app.server need a long-running service with an open port; "
        "AWS Lambda cannot host one and ECS is not supported in this version",
    ),
    Rule(
        "unsupported",
        lambda fn: fn.web is not None and fn.gpu is not None,
        "a GPU web endpoint needs a long-running GPU service; Lambda has no GPUs "
        "and ECS is not supported in this version",
    ),
    Rule(
        "unsupported",
        lambda fn: fn.web is not None and (fn.timeout > LAMBDA_MAX_TIMEOUT or _too_big_for_lambda(fn)),
        "web endpoints run on Lambda Function URLs: at most 15 minutes, 6 vCPUs and 10 GiB",
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
    if rule.target == "unsupported":
        raise UserError(
            f"function {fn.name!r} cannot be deployed to AWS: {rule.why}",
            source=fn.source,
            fix=UNSUPPORTED_FIX,
        )
    target, why = rule.target, rule.why
    if override.placement:
        target, why = (
            _checked_override(fn, override.placement, rule),
            f"stack override ({override.placement})",
        )
    if target == "lambda":
        return _lambda_placement(fn, why)
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
            fix="remove the override or use placement: batch",
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
