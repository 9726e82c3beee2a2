"""AWS placement: the rules table, stack overrides and the errors users see."""

from __future__ import annotations

import dataclasses

import pytest
from aws_apps import fn, gpu_mix
from hypothesis import given, settings
from hypothesis import strategies as st

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, GpuRequest, GpuSpec, WebSpec
from pcompile.providers.aws import catalog, placement
from pcompile.providers.settings import FunctionOverride, StackSettings

TABLE = catalog.load_catalog()
TABLE_ROWS = {r.instance_type: r for r in TABLE}
SETTINGS = StackSettings(name="dev", cloud="aws", region="us-east-1")


def test_acceptance_app_placements() -> None:
    plans = placement.plan(gpu_mix(), SETTINGS)
    targets = {name: p.target for name, p in plans.items()}
    assert targets == {
        "Model.generate": "lambda",
        "embed_t4": "batch",
        "infer_l4": "batch",
        "long_etl": "batch",
        "nightly_report": "lambda",
        "predict": "lambda",
        "refresh_cache": "lambda",
        "render_l40s": "batch",
        "train_a100": "batch",
        "train_h100x8": "batch",
    }
    h100 = plans["train_h100x8"]
    assert isinstance(h100, placement.BatchPlacement) and h100.gpus == 8
    assert plans["infer_l4"].details()["compute"] == ["gpu-l4", "gpu-a10g"]


def test_no_gpu_function_gets_a_gpu_less_instance_list() -> None:
    for p in placement.plan(gpu_mix(), SETTINGS).values():
        if p.gpu is not None:
            assert p.instance_types and all(not t.startswith(("c6i", "m6i", "r6i")) for t in p.instance_types)
            assert "optimal" not in p.instance_types


@pytest.mark.parametrize("kind", ["web_server", "server"])
def test_long_running_services_are_ecs_services_on_fargate(kind: str) -> None:
    spec = fn("ui", 12, web=WebSpec(kind=kind, port=8000))  # type: ignore[arg-type]
    p = placement.place(spec, SETTINGS, TABLE)
    assert isinstance(p, placement.EcsPlacement) and p.target == "ecs"
    assert (p.launch_type, p.port, p.front_port, p.instance_types) == ("fargate", 8000, 8080, ())


def test_gpu_web_endpoints_are_ecs_services_on_gpu_instances() -> None:
    spec = fn("gen", 5, web=WebSpec(kind="fastapi"), gpu=GpuSpec("T4"))
    p = placement.place(spec, SETTINGS, TABLE)
    assert isinstance(p, placement.EcsPlacement) and p.launch_type == "ec2" and p.port is None
    assert p.instance_types and all(TABLE_ROWS[t].gpu == "T4" for t in p.instance_types)


def test_big_cpu_functions_go_to_batch_and_small_ones_to_lambda() -> None:
    assert placement.place(fn("big", 1, cpu=16.0), SETTINGS, TABLE).target == "batch"
    small = placement.place(fn("small", 1, cpu=2.0), SETTINGS, TABLE)
    assert small.target == "lambda" and small.memory_mib >= 2 * 1769


def test_overrides_force_batch_and_instance_types() -> None:
    settings = dataclasses.replace(
        SETTINGS,
        overrides={"f": FunctionOverride(placement="batch", instance_types=("g5.12xlarge",))},
    )
    p = placement.place(fn("f", 1, gpu=GpuSpec("A10G", 4)), settings, TABLE)
    assert p.target == "batch" and p.instance_types == ("g5.12xlarge",)
    assert isinstance(p, placement.BatchPlacement) and p.queue_key()[0].startswith("custom-")


def test_override_to_lambda_for_a_gpu_function_is_refused() -> None:
    settings = dataclasses.replace(SETTINGS, overrides={"f": FunctionOverride(placement="lambda")})
    with pytest.raises(UserError, match="forces 'f' onto Lambda"):
        placement.place(fn("f", 1, gpu=GpuSpec("T4")), settings, TABLE)


def test_resources_no_instance_can_hold_are_a_user_error() -> None:
    with pytest.raises(UserError, match="largest: g4dn.metal"):
        placement.place(fn("f", 1, gpu=GpuSpec("T4"), cpu=200.0), SETTINGS, TABLE)


def test_plan_is_independent_of_declaration_order() -> None:
    app = gpu_mix()
    shuffled = AppSpec(name=app.name, functions=tuple(reversed(app.functions)), images=app.images)
    assert placement.plan(app, SETTINGS) == placement.plan(shuffled, SETTINGS)


GPU_NAMES = sorted({r.gpu for r in TABLE} | set(catalog.GPU_FAMILIES))
requests = st.builds(GpuRequest, st.sampled_from(GPU_NAMES), st.sampled_from([1, 2, 4, 8]))


@settings(max_examples=200, deadline=None)
@given(first=requests, fallbacks=st.lists(requests, max_size=2))
def test_gpu_placements_only_list_instances_carrying_a_requested_gpu(
    first: GpuRequest, fallbacks: list[GpuRequest]
) -> None:
    spec = fn("g", 1, gpu=GpuSpec(first.type, first.count, tuple(fallbacks)))
    try:
        p = placement.place(spec, SETTINGS, TABLE)
    except UserError as err:
        assert "examples/gpu_mix.py:1" in str(err) and "fix:" in str(err)
        return
    allowed = {g for c in spec.gpu.choices() for g in catalog.family(TABLE, c.type)} if spec.gpu else set()
    by_type = {r.instance_type: r for r in TABLE}
    assert p.target == "batch" and p.instance_types
    for t in p.instance_types:
        assert by_type[t].gpu in allowed
    assert p.gpu is not None and any(by_type[t].count >= p.gpu.count for t in p.instance_types)
