"""Placement on GCP: the rules table, GPU catalog lookups and user errors with file:line and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gcp_ir_apps import fn

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, GpuRequest, GpuSpec, PeriodSchedule, WebSpec
from pcompile.providers.gcp import catalog as cat
from pcompile.providers.gcp import placement
from pcompile.providers.settings import FunctionOverride, StackSettings

SETTINGS = StackSettings(name="dev", cloud="gcp")
THREE_ROWS: cat.Catalog = (
    cat.MachineShape("L4", 1, "g2-standard-8", "nvidia-l4", 8, 32, True, "test"),
    cat.MachineShape("A100-40GB", 1, "a2-highgpu-1g", "nvidia-tesla-a100", 12, 85, False, "test"),
    cat.MachineShape("CPU", 0, "n2-standard-4", "", 4, 16, False, "test"),
)


def place(**kwargs: object) -> Any:
    return placement.place(fn("f", 7, **kwargs), SETTINGS, cat.default_catalog())


def test_every_catalog_row_cites_a_source() -> None:
    rows = cat.default_catalog()
    assert rows and all(r.source.startswith("https://cloud.google.com/") for r in rows)


@pytest.mark.parametrize(
    ("gpu", "machine", "accelerator"),
    [
        (GpuSpec("A100"), "a2-highgpu-1g", "nvidia-tesla-a100"),
        (GpuSpec("A100-40GB", 2), "a2-highgpu-2g", "nvidia-tesla-a100"),
        (GpuSpec("A100-80GB", 4), "a2-ultragpu-4g", "nvidia-a100-80gb"),
        (GpuSpec("H100", 8), "a3-highgpu-8g", "nvidia-h100-80gb"),
        (GpuSpec("H100!", 1), "a3-highgpu-1g", "nvidia-h100-80gb"),
        (GpuSpec("H200", 1), "a3-ultragpu-8g", "nvidia-h200-141gb"),
        (GpuSpec("B200", 8), "a4-highgpu-8g", "nvidia-b200"),
        (GpuSpec("L4", 2), "g2-standard-24", "nvidia-l4"),
        (GpuSpec("T4"), "n1-standard-8", "nvidia-tesla-t4"),
    ],
)
def test_batch_gpu_machine_shapes(gpu: GpuSpec, machine: str, accelerator: str) -> None:
    p = place(gpu=gpu)
    assert p.target == "gcpbatch"
    assert p.instance_types == (machine,)
    assert p.accelerator == accelerator


def test_spot_only_shapes_are_requested_as_spot() -> None:
    assert place(gpu=GpuSpec("H100", 2)).shape.provisioning == "SPOT"
    assert place(gpu=GpuSpec("H100", 8)).shape.provisioning == "STANDARD"


def test_l4_runs_on_cloud_run_with_gpu_minimums() -> None:
    p = place(gpu=GpuSpec("L4"))
    assert p.target == "cloudrun"
    assert p.accelerator == "nvidia-l4"
    assert (p.cpu, p.memory_mib) == (4, 16384)


def test_long_l4_job_goes_to_batch() -> None:
    p = place(gpu=GpuSpec("L4"), timeout=7200)
    assert (p.target, p.instance_types) == ("gcpbatch", ("g2-standard-8",))


def test_fallback_list_picks_first_type_gcp_offers() -> None:
    p = place(gpu=GpuSpec("L40S", 1, (GpuRequest("A10G"), GpuRequest("L4"))))
    assert p.gpu == GpuRequest("L4", 1)
    assert p.target == "cloudrun"


def test_any_gpu_is_l4() -> None:
    assert place(gpu=GpuSpec("ANY")).gpu == GpuRequest("L4", 1)


@pytest.mark.parametrize("gpu", ["L40S", "A10G", "A10"])
def test_gpu_without_gcp_shape_names_file_line_and_fix(gpu: str) -> None:
    with pytest.raises(UserError) as err:
        place(gpu=GpuSpec(gpu))
    text = str(err.value)
    assert text.startswith("examples/gpu_mix_gcp.py:7: ")
    assert gpu in text and "no GCP machine shape" in text
    assert f'gpu=["{gpu}", "L4"]' in text and "--cloud aws" in text


def test_cpu_functions_and_web_endpoints_use_cloud_run() -> None:
    assert place().target == "cloudrun"
    web = place(web=WebSpec("fastapi", "POST"))
    assert web.target == "cloudrun" and web.public is True
    # proxy auth is the runtime front's check, so such a service is public too (as on AWS)
    assert place(web=WebSpec("asgi", requires_auth=True)).public is True


def test_cloud_run_cpu_and_memory_are_rounded_to_allowed_values() -> None:
    p = place(cpu=3.0, memory=10_000)
    assert (p.cpu, p.memory_mib) == (4, 10000)
    assert place(cpu=0.25).cpu == 1
    assert place(memory=20 * 1024).cpu == 6


@pytest.mark.parametrize(
    ("cpu", "memory", "expected"),
    [
        (4.0, None, (4, 2048)),
        (6.0, None, (6, 4096)),
        (8.0, None, (8, 4096)),
        (8.0, 1024, (8, 4096)),
        (4.0, 3000, (4, 3000)),
        (2.0, None, (2, 512)),
    ],
)
def test_cloud_run_memory_is_raised_to_the_floor_of_its_cpu(
    cpu: float, memory: int | None, expected: tuple[int, int]
) -> None:
    p = place(cpu=cpu, memory=memory)
    assert (p.cpu, p.memory_mib) == expected


def test_every_cloud_run_size_is_inside_the_range_cloud_run_allows_for_its_cpu() -> None:
    for cpu in (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0):
        for memory in (None, 256, 2048, 4096, 8192, 12_000, 20_000, 30_000):
            p = place(cpu=cpu, memory=memory)
            vcpus, mib = int(p.cpu), p.memory_mib
            (low, high) = next((lo, hi) for c, lo, hi in placement.CLOUD_RUN_SIZES if c == vcpus)
            assert low <= mib <= high and vcpus >= cpu, (cpu, memory, p)


def test_memory_above_what_a_cpu_limit_allows_is_an_error_naming_the_line() -> None:
    with pytest.raises(UserError, match=r"needs 4 vCPUs.*cpu limit is 2") as err:
        place(cpu=(1.0, 2.0), memory=10_000)
    assert "gpu_mix_gcp.py:7" in str(err.value) and "cpu=(1, 4)" in str(err.value)


def test_big_cpu_function_goes_to_batch_on_a_cpu_machine() -> None:
    p = place(cpu=16.0, memory=64 * 1024)
    assert (p.target, p.instance_types) == ("gcpbatch", ("n2-standard-16",))
    assert p.accelerator is None


def test_web_endpoint_with_a_big_gpu_is_an_error() -> None:
    with pytest.raises(UserError, match="Cloud Run serves only gpu='L4'"):
        place(gpu=GpuSpec("A100"), web=WebSpec("fastapi"))


def test_stack_override_forces_target() -> None:
    settings = StackSettings(cloud="gcp", overrides={"f": FunctionOverride(placement="gcpbatch")})
    p = placement.place(fn("f", 7), settings, cat.default_catalog())
    assert p.target == "gcpbatch" and p.reason == "forced by the stack file"
    bad = StackSettings(cloud="gcp", overrides={"f": FunctionOverride(placement="lambda")})
    with pytest.raises(UserError, match="not a GCP target"):
        placement.place(fn("f", 7), bad, cat.default_catalog())


def test_lookups_take_the_table_as_an_argument() -> None:
    app = AppSpec("a", functions=(fn("g", 3, gpu=GpuSpec("H100")),))
    with pytest.raises(UserError, match="GCP offers L4, A100-40GB"):
        placement.plan_with(app, SETTINGS, THREE_ROWS)
    assert cat.cpu_shape(THREE_ROWS, 2, 8) == THREE_ROWS[2]


def test_gated_period_on_batch_is_an_error() -> None:
    with pytest.raises(UserError, match="GCP Batch functions cannot gate"):
        place(gpu=GpuSpec("A100"), schedule=PeriodSchedule(7 * 3600.0))


def test_several_errors_are_reported_together() -> None:
    app = AppSpec("a", functions=(fn("g", 3, gpu=GpuSpec("L40S")), fn("h", 9, gpu=GpuSpec("A10G"))))
    with pytest.raises(UserError) as err:
        placement.plan(app, SETTINGS)
    assert ":3: " in str(err.value) and ":9: " in str(err.value)


def test_placement_module_does_not_import_pulumi() -> None:
    source = Path(placement.__file__).read_text() + Path(cat.__file__).read_text()
    assert "import pulumi" not in source
