"""Typed AWS placements: the GPU count reaches Batch, and every placement error is reported."""

from __future__ import annotations

import json

import pytest
from aws_apps import AWS_SETTINGS, IMAGE, fn

from pcompile.compiler.errors import CompileErrors
from pcompile.compiler.ir import AppSpec, GpuRequest, GpuSpec, WebSpec
from pcompile.providers.aws import catalog, placement
from pcompile.providers.synth import SynthOutput, synthesize

CE = "aws:batch/computeEnvironment:ComputeEnvironment"
JOBDEF = "aws:batch/jobDefinition:JobDefinition"
TABLE = {r.instance_type: r for r in catalog.load_catalog()}


def _app(*functions: object) -> AppSpec:
    return AppSpec(name="multi", functions=tuple(functions), images=(IMAGE,))  # type: ignore[arg-type]


def _gpu_request(out: SynthOutput, job_definition: str) -> str:
    props = json.loads(out.result.named(f"{job_definition}-jobdef").inputs["containerProperties"])
    (gpu,) = [r["value"] for r in props["resourceRequirements"] if r["type"] == "GPU"]
    return str(gpu)


def _instance_types(out: SynthOutput, key: str) -> list[str]:
    return list(out.result.named(f"multi-{key}-ce").inputs["computeResources"]["instanceTypes"])


def test_a100x4_reaches_the_job_definition_and_the_compute_environment() -> None:
    out = synthesize("aws", _app(fn("train", 3, gpu=GpuSpec("A100", 4), timeout=3600)), AWS_SETTINGS)
    train = out.placements["train"]
    assert isinstance(train, placement.BatchPlacement)
    assert train.gpu == GpuRequest("A100", 4) and [c.gpu for c in train.compute] == [GpuRequest("A100", 4)]
    assert _gpu_request(out, "multi-train") == "4"
    types = _instance_types(out, "gpu-a100")
    assert types and all(TABLE[t].gpu.startswith("A100") and TABLE[t].count >= 4 for t in types)
    assert out.to_json()["placements"]["train"]["gpu"] == {"type": "A100", "count": 4}


def test_the_compute_environment_holds_only_instances_with_enough_gpus() -> None:
    # The count used to be decoded as 1 from "gpu-t4": 1-GPU instances joined a 4-GPU job's environment.
    out = synthesize("aws", _app(fn("embed", 3, gpu=GpuSpec("T4", 4))), AWS_SETTINGS)
    assert _gpu_request(out, "multi-embed") == "4"
    assert _instance_types(out, "gpu-t4") == ["g4dn.12xlarge", "g4dn.metal"]


def test_jobs_of_one_gpu_type_share_an_environment_sized_for_the_smallest() -> None:
    app = _app(fn("big", 3, gpu=GpuSpec("T4", 4)), fn("small", 5, gpu=GpuSpec("T4")))
    out = synthesize("aws", app, AWS_SETTINGS)
    assert len(out.result.of_type(CE)) == 1
    assert _instance_types(out, "gpu-t4") == [t for t, r in TABLE.items() if r.gpu == "T4"]
    assert (_gpu_request(out, "multi-big"), _gpu_request(out, "multi-small")) == ("4", "1")


def test_every_placement_error_of_an_app_is_reported_with_its_file_and_line() -> None:
    app = _app(
        fn("ui", 12, web=WebSpec(kind="web_server", port=0)),
        fn("fine", 14),
        fn("gen", 17, web=WebSpec(kind="fastapi"), gpu=GpuSpec("T4"), min_containers=3, max_containers=2),
        fn("huge", 21, gpu=GpuSpec("T4", 16)),
    )
    with pytest.raises(CompileErrors) as err:
        placement.plan(app, AWS_SETTINGS)
    assert len(err.value.errors) == 3
    text = str(err.value)
    for line, what in ((12, "'ui'"), (17, "'gen'"), (21, "T4:16")):
        assert f"examples/gpu_mix.py:{line}" in text and what in text
    assert "'fine'" not in text
