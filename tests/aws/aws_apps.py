"""Hand-built IR for the AWS tests (mirrors examples/gpu_mix.py), plus a large app for benchmarks."""

from __future__ import annotations

from pathlib import Path

from pcompile.compiler import compile_file
from pcompile.compiler.ir import (
    AppSpec,
    ClassSpec,
    CronSchedule,
    FunctionSpec,
    GpuRequest,
    GpuSpec,
    ImageSpec,
    ImageStep,
    PeriodSchedule,
    RetriesSpec,
    SecretSpec,
    Source,
    VolumeSpec,
    WebSpec,
)
from pcompile.providers.settings import StackSettings

IMAGE = ImageSpec(id="im-0123456789abcdef", base=ImageStep("debian_slim", {"python_version": "3.11"}))


def fn(name: str, line: int, **kwargs: object) -> FunctionSpec:
    """A function of examples/gpu_mix.py with the given options."""
    qualname = kwargs.pop("qualname", name)
    return FunctionSpec(
        name=name,
        module="gpu_mix",
        qualname=str(qualname),
        source=Source("examples/gpu_mix.py", line),
        image=IMAGE.id,
        **kwargs,  # type: ignore[arg-type]
    )


def gpu_mix() -> AppSpec:
    """The acceptance app: five GPU types, CPU functions, two schedules, a POST endpoint, a cls."""
    functions = (
        fn("train_a100", 20, gpu=GpuSpec("A100"), timeout=3600, retries=RetriesSpec(max_retries=2)),
        fn("train_h100x8", 25, gpu=GpuSpec("H100", 8), timeout=7200, volumes={"/weights": "weights"}),
        fn("embed_t4", 30, gpu=GpuSpec("T4"), min_containers=1),
        fn("infer_l4", 35, gpu=GpuSpec("L4", 1, (GpuRequest("A10G"),))),
        fn("render_l40s", 40, gpu=GpuSpec("L40S"), secrets=("hf-token",)),
        fn("nightly_report", 45, schedule=CronSchedule("0 2 * * *"), secrets=("hf-token",)),
        fn("refresh_cache", 50, schedule=PeriodSchedule(5 * 3600.0), max_containers=2),
        fn("long_etl", 55, timeout=3600, cpu=4.0, memory=8192),
        fn("predict", 60, web=WebSpec(kind="fastapi", method="POST"), volumes={"/weights": "weights"}),
        fn(
            "Model.generate",
            70,
            kind="method",
            qualname="Model.generate",
            cls=ClassSpec(name="Model", qualname="Model", enter=("load",)),
            memory=2048,
            min_containers=1,
        ),
    )
    return AppSpec(
        name="gpu-mix",
        functions=tuple(sorted(functions, key=lambda f: f.name)),
        images=(IMAGE,),
        volumes=(VolumeSpec("weights", create_if_missing=True),),
        secrets=(
            SecretSpec("hf-token", kind="named"),
            SecretSpec("env-abc123", kind="dict", keys=("API_KEY",)),
        ),
    )


def many_functions(count: int) -> AppSpec:
    """An app of ``count`` CPU functions (one in ten on a T4), for the synthesis benchmark."""
    functions = tuple(
        fn(f"f{i:04d}", 10 + i, gpu=GpuSpec("T4") if i % 10 == 0 else None) for i in range(count)
    )
    return AppSpec(name="many", functions=functions, images=(IMAGE,))


# Shared by conftest and the tests; tests import it from here, never from conftest
# (several test folders have a conftest.py, and only one can be the module "conftest").
AWS_SETTINGS = StackSettings(name="dev", cloud="aws", region="us-east-1")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gpu_mix.py"


def gpu_mix_example() -> AppSpec:
    """The acceptance app, compiled from ``examples/gpu_mix.py`` (plain Modal style)."""
    return compile_file(EXAMPLE).app()
