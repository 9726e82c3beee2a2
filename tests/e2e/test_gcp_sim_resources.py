"""The simulated GCP control plane (providers/simulate/gcp_resources.py) on the resources the
GCP program really declares: synthesized from examples/gpu_mix_gcp.py, created in
gcp-storage-emulator and validated as google-cloud messages; then each kind of mistake
the Google APIs refuse is refused here, naming the resource and the field."""

from __future__ import annotations

import copy
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gcp_sim_kit import storage_emulator
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2, storage

from pcompile.compiler import compile_file
from pcompile.providers.settings import StackSettings
from pcompile.providers.simulate import gcp_resources as gr
from pcompile.providers.synth import SynthOutput, synthesize

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "pcompile-sim"
SETTINGS = StackSettings(name="sim", cloud="gcp", region="us-central1", project=PROJECT)
SERVICE = "gcp:cloudrunv2/service:Service"


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with storage_emulator() as url:
        previous = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = url
        try:
            yield url
        finally:
            if previous is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = previous


@pytest.fixture(scope="module")
def mix() -> SynthOutput:
    app = compile_file(str(ROOT / "examples" / "gpu_mix_gcp.py")).app()
    return synthesize("gcp", app, SETTINGS)


@pytest.fixture()
def resources(emulator: str, tmp_path: Path) -> gr.GcpResources:
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    plane = gr.ControlPlane.load(tmp_path / gr.PLANE_FILE)
    return gr.GcpResources(plane, client, PROJECT, "us-central1")


def _inputs(mix: SynthOutput, type_token: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in mix.result.of_type(type_token) if r.name == name]
    return copy.deepcopy(gr.plain(found.inputs))


def test_every_resource_of_the_example_is_created_and_kept(
    mix: SynthOutput, resources: gr.GcpResources
) -> None:
    custom = [r for r in mix.result.resources if r.custom]
    for resource in custom:  # sorted by type: buckets before their objects and bindings
        rid, outputs = resources.create(resource.type, resource.name, dict(resource.inputs))
        assert rid
    plane = json.loads(resources.plane.path.read_text())
    services = plane["services"]
    assert len(services) == len(mix.result.of_type(SERVICE))
    square = services[f"projects/{PROJECT}/locations/us-central1/services/gpu-mix-square"]
    container = square["template"]["containers"][0]
    assert container["command"] == ["python", "-m", "pcompile.runtime"] and container["args"] == ["http"]
    assert {e["name"] for e in container["env"]} >= {"PCOMPILE_FUNCTION", "PCOMPILE_SPEC", "PCOMPILE_STAGING"}
    assert square["template"]["timeout"] == "300s"
    assert len(plane["scheduler_jobs"]) == 2
    # Buckets and the stored Batch templates are in the emulator, as the program wrote them.
    client = resources.storage
    staging = [b for b in mix.result.of_type("gcp:storage/bucket:Bucket") if "staging" in b.inputs["name"]]
    names = sorted(b.name for b in client.list_blobs(staging[0].inputs["name"]))
    assert names == [
        "manifests/gpu-mix.json",
        *[f"templates/{t}.json" for t in ("train-a100", "train-h100x8", "transcode-t4")],
    ]
    assert stat.S_IMODE(resources.plane.path.stat().st_mode) == 0o600


def test_cloud_run_url_is_a_path_on_the_loopback_player(mix: SynthOutput, resources: gr.GcpResources) -> None:
    _, outputs = resources.create(SERVICE, "svc", _inputs(mix, SERVICE, "gpu-mix-fn-square-run"))
    assert outputs["uri"] == f"{resources.plane.gateway_url()}/run/us-central1/gpu-mix-square"
    assert outputs["uri"].startswith("http://127.0.0.1:")


def _container(inputs: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = inputs["template"]["containers"][0]
    return container


BAD_SERVICES = {
    "misspelt container field": (
        lambda i: _container(i).__setitem__("comands", ["python"]),
        'has no field named "comands"',
    ),
    "memory unit": (
        lambda i: _container(i)["resources"]["limits"].__setitem__("memory", "512MB"),
        "resources.limits.memory '512MB'",
    ),
    "memory above 32Gi": (
        lambda i: _container(i)["resources"]["limits"].__setitem__("memory", "64Gi"),
        "between 128Mi and 32Gi",
    ),
    "memory needs more CPUs": (
        lambda i: _container(i)["resources"]["limits"].__setitem__("memory", "16Gi"),
        "needs at least 4 CPUs",
    ),
    "concurrency": (
        lambda i: i["template"].__setitem__("maxInstanceRequestConcurrency", 5000),
        "maxInstanceRequestConcurrency 5000 must be between 1 and 1000",
    ),
    "ingress enum": (lambda i: i.__setitem__("ingress", "PUBLIC"), "Invalid enum value PUBLIC"),
    "timeout format": (lambda i: i["template"].__setitem__("timeout", "5m"), "timeout"),
    "unknown limit": (
        lambda i: _container(i)["resources"]["limits"].__setitem__("gpu", "1"),
        "unknown resource 'gpu'",
    ),
    "service name": (lambda i: i.__setitem__("name", "Gpu_Mix"), "service name 'Gpu_Mix'"),
}


@pytest.mark.parametrize("case", sorted(BAD_SERVICES))
def test_a_bad_cloud_run_service_is_refused_with_the_api_message(
    case: str, mix: SynthOutput, resources: gr.GcpResources
) -> None:
    change, message = BAD_SERVICES[case]
    inputs = _inputs(mix, SERVICE, "gpu-mix-fn-square-run")
    change(inputs)
    with pytest.raises(gr.ResourceRejected) as info:
        resources.create(SERVICE, "gpu-mix-fn-square-run", inputs)
    assert message in info.value.message
    assert str(info.value).startswith("gpu-mix-fn-square-run (gcp:cloudrunv2/service:Service): ")
    assert "services" not in resources.plane.data or not resources.plane.table("services")


def test_the_stored_service_is_a_run_v2_message(mix: SynthOutput, resources: gr.GcpResources) -> None:
    resources.create(SERVICE, "svc", _inputs(mix, SERVICE, "gpu-mix-fn-infer-l4-run"))
    (stored,) = resources.plane.table("services").values()
    service = run_v2.Service.from_json(json.dumps(stored), ignore_unknown_fields=False)
    assert service.template.node_selector.accelerator == "nvidia-l4"
    assert service.template.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    secret_env = [e for e in service.template.containers[0].env if e.value_source.secret_key_ref.secret]
    assert [e.value_source.secret_key_ref.secret for e in secret_env] == ["hf-token"]


SCHEDULER = "gcp:cloudscheduler/job:Job"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i: i.__setitem__("schedule", "every day"), "not a cron expression"),
        (lambda i: i.__setitem__("timeZone", "Mars/Olympus"), "not a tz database name"),
        (lambda i: i["httpTarget"].__setitem__("oidc", {}), 'has no field named "oidc"'),
        (lambda i: i["httpTarget"].__setitem__("httpMethod", "FETCH"), "Invalid enum value FETCH"),
    ],
)
def test_a_bad_scheduler_job_is_refused(
    change: Any, message: str, mix: SynthOutput, resources: gr.GcpResources
) -> None:
    inputs = _inputs(mix, SCHEDULER, "gpu-mix-cron-nightly-job")
    resources.create(SCHEDULER, "ok", copy.deepcopy(inputs))
    change(inputs)
    with pytest.raises(gr.ResourceRejected, match="gpu-mix-cron-nightly-job") as info:
        resources.create(SCHEDULER, "gpu-mix-cron-nightly-job", inputs)
    assert message in info.value.message


def _template_object(mix: SynthOutput) -> dict[str, Any]:
    return _inputs(mix, "gcp:storage/bucketObject:BucketObject", "gpu-mix-fn-train-a100-template")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t["taskGroups"][0]["taskSpec"].__setitem__("runnable", []),
            'has no field named "runnable"',
        ),
        (
            lambda t: t["allocationPolicy"]["instances"][0].__setitem__("installGpuDrivers", False),
            "accelerators need installGpuDrivers",
        ),
        (lambda t: t["taskGroups"][0].__setitem__("taskCount", "0"), "taskCount must be at least 1"),
    ],
)
def test_a_bad_batch_template_is_refused(
    change: Any, message: str, mix: SynthOutput, resources: gr.GcpResources
) -> None:
    staging = _inputs(mix, "gcp:storage/bucket:Bucket", "gpu-mix-shared-staging")
    resources.create("gcp:storage/bucket:Bucket", "staging", staging)
    inputs = _template_object(mix)
    resources.create("gcp:storage/bucketObject:BucketObject", "ok", copy.deepcopy(inputs))
    template = json.loads(inputs["content"])
    change(template)
    inputs["content"] = json.dumps(template)
    with pytest.raises(gr.ResourceRejected) as info:
        resources.create("gcp:storage/bucketObject:BucketObject", "gpu-mix-fn-train-a100-template", inputs)
    assert message in info.value.message


def test_secrets_live_only_in_the_plane_and_resolve_like_cloud_run(resources: gr.GcpResources) -> None:
    secret = {"secretId": "gcp-sim-token", "replication": {"auto": {}}, "labels": {"a": "b"}}
    rid, _ = resources.create("gcp:secretmanager/secret:Secret", "s", secret)
    resources.create(
        "gcp:secretmanager/secretVersion:SecretVersion", "v", {"secret": rid, "secretData": '{"K": "1"}'}
    )
    resources.create(
        "gcp:secretmanager/secretVersion:SecretVersion", "v", {"secret": rid, "secretData": '{"K": "2"}'}
    )
    assert gr.secret_payload(resources.plane, PROJECT, "gcp-sim-token") == '{"K": "2"}'
    assert gr.secret_payload(resources.plane, PROJECT, f"{rid}/versions/1") == '{"K": "1"}'
    with pytest.raises(gr.ResourceRejected, match="secretId 'bad id!'"):
        resources.create("gcp:secretmanager/secret:Secret", "s", {**secret, "secretId": "bad id!"})
    with pytest.raises(KeyError, match="missing"):
        gr.secret_payload(resources.plane, PROJECT, "missing")


def test_delete_removes_objects_and_definitions(mix: SynthOutput, resources: gr.GcpResources) -> None:
    staging = _inputs(mix, "gcp:storage/bucket:Bucket", "gpu-mix-shared-staging")
    resources.create("gcp:storage/bucket:Bucket", "staging", staging)
    inputs = _template_object(mix)
    rid, outputs = resources.create("gcp:storage/bucketObject:BucketObject", "t", inputs)
    blob = resources.storage.bucket(inputs["bucket"]).blob(inputs["name"])
    assert blob.exists()
    resources.delete("gcp:storage/bucketObject:BucketObject", rid, outputs)
    assert not blob.exists()
    sid, souts = resources.create(SERVICE, "svc", _inputs(mix, SERVICE, "gpu-mix-fn-square-run"))
    resources.delete(SERVICE, sid, souts)
    assert sid not in resources.plane.table("services")
