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
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import RUN_FLAGS

from pcompile.compiler import load
from pcompile.compiler.bundle import build_bundle
from pcompile.compiler.ir import AppSpec, to_jsonable
from pcompile.providers.builders import ImageBuilder
from pcompile.providers.containers import run_worker_in_container
from pcompile.runtime import protocol
from pcompile.runtime.channel import Channel

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "image_container_app.py"
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def app() -> AppSpec:
    return load(FIXTURE).program.app()


@pytest.fixture(scope="module")
def image(image_builder: ImageBuilder, app: AppSpec) -> str:
    return image_builder.ensure(app, app.images[0])


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
    slot.write_bytes(struct.pack("<q", -1))
    proc = run_worker_in_container(
        image, in_fd=to_worker_r, out_fd=from_worker_w, worker_args=["--slot", str(slot)], binds=[root, tmp_path],
        env={"PCOMPILE_WORKER": "1"}, run_flags=RUN_FLAGS, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    os.close(to_worker_r)
    os.close(from_worker_w)
    channel = Channel(from_worker_r, to_worker_w)
    try:
        spec = to_jsonable(app.function("describe"))
        channel.send(("init", {"v": 1, "functions": [spec], "root": str(root), "mounts": {}}))
        assert channel.recv()[0] == "ready"
        channel.send(("in", [(0, "describe", "call")], protocol.pack([((7,), {})])))
        (status, seq, data, _), *_ = channel.recv()[1]
        assert (status, seq) == ("ok", 0), data
        value = protocol.unpack(data) if isinstance(data, dict) else protocol.deserialize(data)
        assert value == _expected(7)
        assert slot.read_bytes() != struct.pack("<q", -1)  # the worker wrote its seq through the bind mount
        channel.send(("stop",))
        assert proc.wait(timeout=60) == 0
    finally:
        channel.close()
        if proc.poll() is None:
            proc.kill()
    _announce(capsys, f"built image {image} and executed a pickled input (worker mode, podman)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    port, name = _free_port(), f"pcompile-http-{uuid.uuid4().hex[:8]}"
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
            "inputs": protocol.pack([((6,), {})]),
        }
        response = httpx.post(
            f"{url}/invoke", content=protocol.dump_envelope(request), timeout=60,
            headers={"Content-Type": "application/x-pcompile-envelope"},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        (result,) = protocol.load_envelope(response.content)["results"]
        assert result["status"] == "ok", result
        assert protocol.unpack(result["value"]) == _expected(6)
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)
    _announce(
        capsys,
        f"built image {image} and executed a pickled input over HTTP (code bundle {bundle.sha256[:12]})",
    )
