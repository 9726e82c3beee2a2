"""A real image from the generated Dockerfile runs pickled inputs through the runtime.

* worker mode: the path of ``pcompile run --containers`` (``run_worker_in_container``,
  channel pipes passed in with ``--preserve-fds``, project root bind-mounted);
* http mode: the Cloud Run entry point, with the code arriving *only* through a
  verified code bundle (``PCOMPILE_CODE_BUNDLE``), reached over HTTP.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from container_kit import BUILD_FLAGS, RUN_FLAGS
from servers import free_port

from pcompile.compiler import load
from pcompile.compiler.bundle import build_bundle
from pcompile.compiler.ir import AppSpec, to_jsonable
from pcompile.providers.builders import Completed, ImageBuilder, PodmanBuilder, subprocess_runner
from pcompile.providers.containers import ContainerWorkers
from pcompile.runtime import protocol, staging
from pcompile.runtime.channel import Channel

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "image_container_app.py"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def app() -> AppSpec:
    return load(FIXTURE).program.app()


@pytest.fixture(scope="module")
def image(image_builder: ImageBuilder, app: AppSpec) -> str:
    ref = image_builder.ensure(app, app.images[0])
    _remove_older_tags(ref)
    return ref


def _remove_older_tags(ref: str) -> None:
    """Each pcompile change makes a new tag; keep only the current one on this machine."""
    repo = ref.rsplit(":", 1)[0]
    listed = subprocess.run(
        ["podman", "images", "--filter", f"reference={repo}", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    stale = [line for line in listed.stdout.split() if line != ref]
    if stale:
        subprocess.run(["podman", "rmi", "-f", *stale], capture_output=True, check=False)


def _expected(x: int) -> dict[str, Any]:
    return {
        "square": x * x,
        "greeting": "hello from the image",
        "built": "built",
        "warm": "warmed by python 3.11",
        "python": "3.11",
        "cloudpickle": "3.1.1",
        "in_image": "1",
    }


def _announce(capsys: pytest.CaptureFixture[str], message: str) -> None:
    with capsys.disabled():
        print(f"\ncontainer tier: {message}")


def test_worker_mode_executes_a_pickled_input(
    image: str, app: AppSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    to_worker_r, to_worker_w = os.pipe()
    from_worker_r, from_worker_w = os.pipe()
    root = FIXTURE.parent
    slot = tmp_path / "slot"  # the pool reads the running input's seq from here (mmap)
    slot.write_bytes(struct.pack("<q", -2))  # not a value the worker writes: -1 is "free"
    # What `pcompile run --containers` does: the pool's worker env and args, one image per function.
    workers = ContainerWorkers({"describe": image}, root, "podman", RUN_FLAGS)
    proc = workers.popen(
        "describe", in_fd=to_worker_r, out_fd=from_worker_w, worker_args=["--slot", str(slot)],
        env={**os.environ, "PCOMPILE_WORKER": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    os.close(to_worker_r)
    os.close(from_worker_w)
    channel = Channel(from_worker_r, to_worker_w)
    try:
        spec = to_jsonable(app.function("describe"))
        channel.send(("init", {"v": 1, "functions": [spec], "root": str(root), "mounts": {}}))
        assert channel.recv()[0] == "ready"
        channel.send(("in", [(0, "describe", "call")], staging.pack([((7,), {})])))
        (status, seq, data, _), *_ = channel.recv()[1]
        assert (status, seq) == ("ok", 0), data
        value = staging.unpack(data) if isinstance(data, dict) else protocol.deserialize(data)
        assert value == _expected(7)
        # through the bind mount the worker wrote the seq (0), then -1 once the result was sent
        assert slot.read_bytes() in (struct.pack("<q", 0), struct.pack("<q", -1))
        channel.send(("stop",))
        assert proc.wait(timeout=60) == 0
    finally:
        channel.close()
        if proc.poll() is None:
            proc.kill()
    _announce(capsys, f"built image {image} and executed a pickled input (worker mode, podman)")


def _wait_healthy(url: str, container: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    logs = subprocess.run(["podman", "logs", container], capture_output=True, text=True, check=False)
    raise AssertionError(f"http runtime never became healthy:\n{logs.stdout}{logs.stderr}")


def test_http_mode_runs_code_from_a_verified_bundle(
    image: str, app: AppSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = build_bundle(app, FIXTURE.parent)
    (tmp_path / "bundle.tar").write_bytes(bundle.data)
    (tmp_path / "staging").mkdir()
    port, name = free_port(), f"pcompile-http-{uuid.uuid4().hex[:8]}"
    spec = to_jsonable(dataclasses.replace(app.function("describe")))
    env = {
        "PCOMPILE_SPEC": json.dumps(spec),
        "PCOMPILE_STAGING": (tmp_path / "staging").as_uri(),
        "PCOMPILE_CODE_BUNDLE": f"{(tmp_path / 'bundle.tar').as_uri()}#sha256={bundle.sha256}",
        "PCOMPILE_HOST": "127.0.0.1",
        "PORT": str(port),
    }
    argv = [
        "podman",
        "run",
        "-d",
        "--rm",
        "--name",
        name,
        "--network",
        "host",
        "-v",
        f"{tmp_path}:{tmp_path}",
    ]
    argv += [x for k, v in sorted(env.items()) for x in ("-e", f"{k}={v}")]
    started = subprocess.run(
        [*argv, *RUN_FLAGS, image, "python", "-m", "pcompile.runtime", "http"], check=False
    )
    assert started.returncode == 0
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, name)
        request = {
            "function": "describe",
            "kind": "call",
            "cls_params": {},
            "inputs": staging.pack([((6,), {})]),
        }
        response = httpx.post(
            f"{url}/invoke", content=protocol.dump_envelope(request), timeout=60,
            headers={"Content-Type": "application/x-pcompile-envelope"},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        (result,) = protocol.load_envelope(response.content)["results"]
        assert result["status"] == "ok", result
        assert staging.unpack(result["value"]) == _expected(6)
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)
    _announce(
        capsys,
        f"built image {image} and executed a pickled input over HTTP (code bundle {bundle.sha256[:12]})",
    )


AWS_CREDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def test_batch_mode_against_moto_s3(
    image: str, app: AppSpec, moto_s3: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    from pcompile.runtime.aws_calls import Layout

    s3 = boto3.client(
        "s3", endpoint_url=moto_s3, **{k.lower(): v for k, v in AWS_CREDS.items() if "KEY" in k}
    )
    s3.create_bucket(Bucket="staging")
    bundle = build_bundle(app, FIXTURE.parent)
    s3.put_object(Bucket="staging", Key=bundle.key, Body=bundle.data)
    layout = Layout.plan("describe", uuid.uuid4().hex, 2, 2)
    inputs = [((4,), {}), ((5,), {})]
    for chunk in range(layout.chunks):
        first, last = layout.chunk_range(chunk)
        request = {
            "function": "describe",
            "kind": "call",
            "cls_params": {},
            "inputs": staging.pack(inputs[first:last]),
        }
        s3.put_object(Bucket="staging", Key=layout.chunk_key(chunk), Body=protocol.dump_envelope(request))
    env = {
        **AWS_CREDS,
        "PCOMPILE_SPEC": json.dumps(to_jsonable(app.function("describe"))),
        "PCOMPILE_STAGING_URL": "s3://staging",
        "PCOMPILE_AWS_ENDPOINT_URL": moto_s3,
        # No #sha256 fragment: the runtime takes the hash from the content-addressed key.
        "PCOMPILE_CODE_BUNDLE": f"s3://staging/{bundle.key}",
        "PCOMPILE_JOB": layout.to_id("-", None).removeprefix("aws:-/"),
    }
    argv = [
        "podman",
        "run",
        "--rm",
        "--network",
        "host",
        *[x for k, v in sorted(env.items()) for x in ("-e", f"{k}={v}")],
    ]
    for task in range(layout.tasks):
        job = subprocess.run(
            [*argv, "-e", f"AWS_BATCH_JOB_ARRAY_INDEX={task}", *RUN_FLAGS, image, "python", "-m", "pcompile.runtime", "batch"],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        assert job.returncode == 0, job.stdout + job.stderr
    values = []
    for task in range(layout.tasks):
        out = protocol.load_envelope(s3.get_object(Bucket="staging", Key=layout.out_key(task))["Body"].read())
        values += [staging.unpack(r["value"]) for r in out["results"] if r["status"] == "ok"]
    assert values == [_expected(4), _expected(5)]
    _announce(capsys, f"built image {image} and executed pickled inputs in batch mode against moto's S3")


def test_push_to_a_registry_then_skip_build_and_push(
    image: str, app: AppSpec, image_builder: ImageBuilder, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    commands: list[list[str]] = []

    def recording(
        argv: Sequence[str], stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> Completed:
        commands.append(list(argv))
        return subprocess_runner(argv, stdin, env)

    podman = PodmanBuilder(recording, default_flags=BUILD_FLAGS)
    remote = dataclasses.replace(image_builder, builder=podman, registry=f"{registry}/team")
    ref = remote.ensure(app, app.images[0])
    assert ref == f"{registry}/team/image-container:{image.rsplit(':', 1)[1]}"
    assert [c[:2] for c in commands if c[1] in ("build", "push")] == [
        ["podman", "push"]
    ]  # built locally already
    assert (
        subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"], capture_output=True
        ).returncode
        == 0
    )
    commands.clear()
    assert remote.ensure(app, app.images[0]) == ref
    assert len(commands) == 1 and "inspect" in commands[0]  # the tag exists remotely: nothing built or pushed
    _announce(capsys, f"pushed {ref} to a loopback registry; the second deploy skipped build and push")
