"""Fields of the emitted AWS resources that a real `pulumi up` or a real container would reject
(issue 19): architecture, Batch entrypoint and region, and retries of lost hosts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pcompile.compiler.images import render_image
from pcompile.compiler.ir import ImageSpec, ImageStep
from pcompile.providers.aws import components
from pcompile.providers.synth import SynthOutput, SynthResource

JOBDEF = "aws:batch/jobDefinition:JobDefinition"
LAMBDA = "aws:lambda/function:Function"
RUNTIME_BATCH = ["python", "-m", "pcompile.runtime", "batch"]


def _container(r: SynthResource) -> dict[str, Any]:
    return json.loads(r.inputs["containerProperties"])  # type: ignore[no-any-return]


def test_lambda_functions_say_they_are_x86_64_like_the_images(gpu_mix_synth: SynthOutput) -> None:
    from pcompile.providers.builders import CLOUD_PLATFORM

    lambdas = gpu_mix_synth.result.of_type(LAMBDA)
    assert lambdas
    assert {tuple(r.inputs["architectures"]) for r in lambdas} == {("x86_64",)}
    assert CLOUD_PLATFORM == "linux/amd64"


# --------------------------------------------------------------------------- Batch entrypoint


def _entrypoint(dockerfile: str) -> list[str] | None:
    """The image's effective ENTRYPOINT from our Dockerfile's last ENTRYPOINT (None: the base's)."""
    lines = [line for line in dockerfile.splitlines() if line.startswith("ENTRYPOINT ")]
    return json.loads(lines[-1].removeprefix("ENTRYPOINT ")) if lines else None


REGISTRY = ImageStep("from_registry", {"tag": "nvcr.io/nvidia/pytorch:24.05-py3", "add_python": "3.11"})


def test_a_registry_base_entrypoint_is_reset_so_the_batch_command_runs_the_runtime(
    tmp_path: Path, gpu_mix_synth: SynthOutput
) -> None:
    jobdefs = gpu_mix_synth.result.of_type(JOBDEF)
    assert jobdefs
    for jobdef in jobdefs:
        props = _container(jobdef)
        assert props["command"] == RUNTIME_BATCH and "entryPoint" not in props
    dockerfile = render_image(ImageSpec("im-reg", REGISTRY), root=tmp_path).dockerfile
    entrypoint = _entrypoint(dockerfile)
    assert entrypoint == []
    assert [*entrypoint, *components.BATCH_COMMAND] == RUNTIME_BATCH
    assert dockerfile.index("ENTRYPOINT []") > dockerfile.index("FROM ")


def test_a_user_entrypoint_step_still_wraps_the_runtime_as_on_modal(tmp_path: Path) -> None:
    wrap = ImageStep("entrypoint", {"commands": ["/usr/bin/my_entrypoint.sh"]})
    dockerfile = render_image(ImageSpec("im-wrap", REGISTRY, steps=(wrap,)), root=tmp_path).dockerfile
    assert [*(_entrypoint(dockerfile) or []), *components.BATCH_COMMAND] == [
        "/usr/bin/my_entrypoint.sh",
        *RUNTIME_BATCH,
    ]


def test_a_from_dockerfile_entrypoint_is_reset_too(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text('FROM python:3.11-slim\nENTRYPOINT ["/bin/serve"]\n')
    base = ImageStep("from_dockerfile", {"path": "Dockerfile", "context_dir": "."})
    dockerfile = render_image(ImageSpec("im-df", base), root=tmp_path).dockerfile
    assert '["/bin/serve"]' in dockerfile and _entrypoint(dockerfile) == []


# --------------------------------------------------------------------------- Batch region


def test_batch_job_definitions_tell_the_container_its_region(gpu_mix_synth: SynthOutput) -> None:
    for jobdef in gpu_mix_synth.result.of_type(JOBDEF):
        env = {e["name"]: e["value"] for e in _container(jobdef)["environment"]}
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1", jobdef.name
    for fn in gpu_mix_synth.result.of_type(LAMBDA):
        # Lambda sets these itself and refuses functions that set reserved keys.
        assert not {"AWS_REGION", "AWS_DEFAULT_REGION"} & set(fn.inputs["environment"]["variables"])


def test_the_runtime_secrets_client_takes_the_job_definition_region(monkeypatch: pytest.MonkeyPatch) -> None:
    from pcompile.runtime.aws_runtime import SecretsManager

    for key in ("AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert SecretsManager().client.meta.region_name == "eu-west-3"


# --------------------------------------------------------------------------- retries


def test_lost_hosts_are_retried_whatever_the_user_asked(gpu_mix_synth: SynthOutput) -> None:
    jobdefs = {r.name: r.inputs["retryStrategy"] for r in gpu_mix_synth.result.of_type(JOBDEF)}
    host = {"action": "RETRY", "onStatusReason": "Host EC2*"}
    assert jobdefs["gpu-mix-train-a100-jobdef"] == {"attempts": 6.0, "evaluateOnExits": [host]}
    no_retries = jobdefs["gpu-mix-long-etl-jobdef"]
    assert no_retries == {
        "attempts": 4.0,
        "evaluateOnExits": [host, {"action": "EXIT", "onStatusReason": "*"}],
    }
    assert all(s["evaluateOnExits"][0] == host for s in jobdefs.values())
    assert components.batch_retry_strategy(9)["attempts"] == components.BATCH_MAX_ATTEMPTS


# --------------------------------------------------------------------------- destroy + redeploy

SECRET = "aws:secretsmanager/secret:Secret"
BUCKET = "aws:s3/bucket:Bucket"


def test_code_defined_secrets_have_no_recovery_window_so_a_redeploy_can_reuse_the_name() -> None:
    from aws_apps import AWS_SETTINGS, gpu_mix

    from pcompile.providers.synth import synthesize

    created = synthesize("aws", gpu_mix(), AWS_SETTINGS).result.of_type(SECRET)
    assert created and {r.inputs["recoveryWindowInDays"] for r in created} == {0}


def test_staging_is_emptied_on_destroy_and_volumes_are_kept(gpu_mix_synth: SynthOutput) -> None:
    buckets = {r.name: r.inputs.get("forceDestroy", False) for r in gpu_mix_synth.result.of_type(BUCKET)}
    staging = [n for n in buckets if n.endswith("-staging")]
    volumes = [n for n in buckets if "vol" in n]
    assert staging and volumes
    assert all(buckets[n] for n in staging) and not any(buckets[n] for n in volumes)


# --------------------------------------------------------------------------- volumes in /tmp


def test_lambda_functions_with_volumes_warn_that_volumes_fill_tmp_and_take_ephemeral_disk() -> None:
    import dataclasses

    from aws_apps import AWS_SETTINGS, gpu_mix

    from pcompile.providers.synth import synthesize

    app = gpu_mix()
    (warning,) = [w for w in synthesize("aws", app, AWS_SETTINGS).extras["warnings"] if "/tmp" in w]
    assert "predict (512 MiB)" in warning and "ephemeral_disk=" in warning
    assert "train_h100x8" not in warning  # Batch: the volume goes to the instance's disk

    bigger = tuple(
        dataclasses.replace(f, ephemeral_disk=4096) if f.name == "predict" else f for f in app.functions
    )
    out = synthesize("aws", dataclasses.replace(app, functions=bigger), AWS_SETTINGS)
    assert any("predict (4096 MiB)" in w for w in out.extras["warnings"])
    (predict,) = [r for r in out.result.of_type(LAMBDA) if r.inputs["name"].endswith("-predict")]
    assert predict.inputs["ephemeralStorage"] == {"size": 4096}
