"""GCP Batch job templates: one task per GPU VM, and lost VMs retried whatever the user asked
(issue 19, items 10 and 15)."""

from __future__ import annotations

import json
from typing import Any

from gcp_ir_apps import fn
from gcp_kit import SETTINGS

from pcompile.compiler.ir import AppSpec, GpuSpec, RetriesSpec
from pcompile.providers.gcp import jobs
from pcompile.providers.synth import synthesize


def _group(template: dict[str, Any]) -> dict[str, Any]:
    return template["taskGroups"][0]  # type: ignore[no-any-return]


def test_gpu_tasks_never_share_a_vm(mix_json: dict[str, Any]) -> None:
    templates = mix_json["job_templates"]
    gpu = {
        n: t
        for n, t in templates.items()
        if t["allocationPolicy"]["instances"][0]["policy"].get("accelerators")
    }
    assert gpu, "the acceptance app has GPU Batch functions"
    for name, template in gpu.items():
        assert _group(template)["taskCountPerNode"] == "1", name
        call = jobs.for_call(template, call_env={"PCOMPILE_CALL": "calls/x"}, task_count=8)
        assert _group(call)["taskCountPerNode"] == "1"


def test_cpu_tasks_are_still_packed_by_cpu_and_memory() -> None:
    app = AppSpec(name="cpu", functions=(fn("etl", 9, timeout=7200, cpu=2.0),), images=())
    out = synthesize("gcp", app, SETTINGS).to_json()
    (template,) = out["job_templates"].values()
    assert "taskCountPerNode" not in _group(template)


def _retry_app() -> AppSpec:
    return AppSpec(
        name="retry",
        functions=(
            fn("spot_h100", 10, gpu=GpuSpec("H100"), timeout=7200),
            fn("careful", 20, gpu=GpuSpec("H100"), timeout=7200, retries=RetriesSpec(max_retries=4)),
            fn("greedy", 30, gpu=GpuSpec("H100"), timeout=7200, retries=RetriesSpec(max_retries=10)),
        ),
        images=(),
    )


def test_preempted_tasks_are_retried_without_user_retries() -> None:
    out = synthesize("gcp", _retry_app(), SETTINGS).to_json()
    specs = {n: _group(t)["taskSpec"] for n, t in out["job_templates"].items()}
    policy = out["job_templates"]["spot_h100"]["allocationPolicy"]["instances"][0]["policy"]
    assert policy["provisioningModel"] == "SPOT"  # a3-highgpu-1g is Spot-only
    for spec in specs.values():
        assert spec["lifecyclePolicies"] == [
            {"action": "RETRY_TASK", "actionCondition": {"exitCodes": [50001, 50002, 50003, 50004, 50006]}}
        ]
    assert specs["spot_h100"]["maxRetryCount"] == jobs.PREEMPTION_RETRIES
    assert specs["careful"]["maxRetryCount"] == 4 + jobs.PREEMPTION_RETRIES
    assert specs["greedy"]["maxRetryCount"] == jobs.MAX_RETRY_COUNT == 10


def test_templates_with_policies_are_valid_batch_jobs() -> None:
    from google.cloud import batch_v1

    out = synthesize("gcp", _retry_app(), SETTINGS).to_json()
    for template in out["job_templates"].values():
        job = batch_v1.Job.from_json(json.dumps(template), ignore_unknown_fields=False)
        group = job.task_groups[0]
        assert group.task_count_per_node == 1
        assert group.task_spec.lifecycle_policies[0].action == batch_v1.LifecyclePolicy.Action.RETRY_TASK
