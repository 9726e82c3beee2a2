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

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, FunctionSpec
from pcompile.compiler.placement import Placement, Rule, first_matching
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

# The largest size of each CPU family Batch may pick (shared.CPU_INSTANCE_FAMILIES).
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


def plan(app: AppSpec, settings: StackSettings) -> dict[str, Placement]:
    """One placement per function of ``app``, in function-name order."""
    table = catalog.load_catalog()
    return {fn.name: place(fn, settings, table) for fn in sorted(app.functions, key=lambda f: f.name)}


def place(fn: FunctionSpec, settings: StackSettings, table: tuple[catalog.InstanceRow, ...]) -> Placement:
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


def _lambda_placement(fn: FunctionSpec, why: str) -> Placement:
    cpu, memory = _request(fn.cpu), _request(fn.memory)
    # Lambda gives CPU in proportion to memory: one vCPU per 1,769 MiB.
    memory_mib = max(
        LAMBDA_MIN_MEMORY_MIB, int(memory or DEFAULT_LAMBDA_MEMORY_MIB), math.ceil((cpu or 0) * 1769)
    )
    details = {
        "reason": why,
        "memory_mib": min(memory_mib, LAMBDA_MAX_MEMORY_MIB),
        "timeout": fn.timeout,
        "ephemeral_storage_mib": max(512, min(fn.ephemeral_disk or 512, LAMBDA_MAX_MEMORY_MIB)),
    }
    return Placement(function=fn.name, target="lambda", details=details)


def _batch_placement(
    fn: FunctionSpec, why: str, table: tuple[catalog.InstanceRow, ...], forced_types: tuple[str, ...]
) -> Placement:
    gpus = fn.gpu.count if fn.gpu else 0
    vcpus = max(1, math.ceil(_request(fn.cpu) or max(1, 2 * gpus)))
    memory_mib = int(_request(fn.memory) or max(2048, 4096 * gpus))
    details: dict[str, object] = {
        "reason": why,
        "vcpus": vcpus,
        "memory_mib": memory_mib,
        "gpus": gpus,
        "timeout": max(BATCH_MIN_TIMEOUT, fn.timeout),
    }
    if forced_types:
        key = "custom-" + hashlib.sha256(",".join(forced_types).encode()).hexdigest()[:8]
        details["compute"] = [key]
        gpu = fn.gpu.choices()[0] if fn.gpu else None
        return Placement(fn.name, "batch", gpu, forced_types, details)
    if fn.gpu is None:
        _check_fits_cpu(fn, vcpus, memory_mib)
        details["compute"] = ["cpu"]
        return Placement(fn.name, "batch", None, (), details)
    resolution = catalog.resolve(table, fn.gpu, fn.source)
    _check_fits(fn, resolution, vcpus, memory_mib)
    details["compute"] = [f"gpu-{catalog.canonical_key(choice)}" for choice, _ in resolution.choices]
    return Placement(fn.name, "batch", resolution.first, resolution.instance_types(), details)


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
