"""Hand-built IR for the GCP tests (mirrors examples/gpu_mix_gcp.py)."""

from __future__ import annotations

from pcompile.compiler.ir import (
    AppSpec,
    ClassSpec,
    ConcurrencySpec,
    CronSchedule,
    FunctionSpec,
    GpuRequest,
    GpuSpec,
    ImageSpec,
    ImageStep,
    PeriodSchedule,
    SecretSpec,
    Source,
    VolumeSpec,
    WebSpec,
)

FILE = "examples/gpu_mix_gcp.py"
IMAGE = ImageSpec(id="im-0123456789ab", base=ImageStep("debian_slim", {"python_version": "3.11"}))


def fn(name: str, line: int, **kwargs: object) -> FunctionSpec:
    """A FunctionSpec in the example module."""
    return FunctionSpec(
        name=name,
        module="gpu_mix_gcp",
        qualname=name,
        source=Source(FILE, line),
        image=IMAGE.id,
        **kwargs,  # type: ignore[arg-type]
    )


def gpu_mix_app() -> AppSpec:
    """The acceptance app of issue 5, as IR."""
    cls = ClassSpec(name="Embedder", qualname="Embedder", enter=("load",))
    functions = (
        fn("train_a100", 20, gpu=GpuSpec("A100"), timeout=7200, volumes={"/weights": "weights"}),
        fn("train_h100x8", 25, gpu=GpuSpec("H100", 8), timeout=14400),
        fn("transcode_t4", 30, gpu=GpuSpec("T4")),
        fn("infer_l4", 35, gpu=GpuSpec("L4"), secrets=("hf-token",), concurrency=ConcurrencySpec(4)),
        FunctionSpec(
            name="Embedder.embed",
            module="gpu_mix_gcp",
            qualname="Embedder.embed",
            source=Source(FILE, 40),
            image=IMAGE.id,
            kind="method",
            cls=cls,
            gpu=GpuSpec("L40S", 1, (GpuRequest("L4", 1),)),
        ),
        fn("square", 50, max_containers=10, min_containers=1),
        fn(
            "nightly", 55, schedule=CronSchedule("0 2 * * *", "Europe/Paris"), volumes={"/weights": "weights"}
        ),
        fn("refresh", 60, schedule=PeriodSchedule(6 * 3600.0)),
        fn("predict", 65, web=WebSpec(kind="fastapi", method="POST")),
    )
    return AppSpec(
        name="gpu-mix",
        functions=tuple(sorted(functions, key=lambda f: f.name)),
        images=(IMAGE,),
        volumes=(VolumeSpec("weights", create_if_missing=True),),
        secrets=(SecretSpec("hf-token", "named", required_keys=("HF_TOKEN",)),),
    )
