"""``python -m pcompile.runtime ecs``: the ECS task's entry point, run as ECS runs it.

The task gets only the Batch-style environment (spec, staging, volumes, code bundle)
plus ``PCOMPILE_FRONT_PORT``; the code arrives through a verified bundle. Requests go
through a real uvicorn over loopback with httpx; SIGTERM (how ECS stops a task) lets a
request in flight finish before the process exits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import free_port, popen_group, stop_group

from pcompile.compiler import compile_file
from pcompile.compiler.bundle import build_bundle
from pcompile.compiler.ir import AppSpec, to_jsonable

pytestmark = pytest.mark.timeout(300)

APP = """\
import modal

app = modal.App("ecs-runtime")
vol = modal.Volume.from_name("ecs-runtime-vol", create_if_missing=True)


@app.function(volumes={{{mount!r}: vol}})
@modal.asgi_app()
def stream():
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def tokens(request):
        n = int(request.query_params.get("n", "3"))
        delay = float(request.query_params.get("delay", "0.05"))

        async def gen():
            for i in range(n):
                await asyncio.sleep(delay)
                yield f"tok{{i}}\\n"

        return StreamingResponse(gen(), media_type="text/plain")

    async def write(request):
        with open({mount!r} + "/hit.txt", "w") as fh:
            fh.write(request.query_params["text"])
        return PlainTextResponse("written")

    return Starlette(routes=[Route("/tokens", tokens), Route("/write", write, methods=["POST"])])


@app.function()
@modal.fastapi_endpoint(method="POST")
def echo(item: dict) -> dict:
    return {{"echo": item}}


@app.function()
@modal.web_server({server_port}, startup_timeout=30)
def files():
    import subprocess
    import sys

    subprocess.Popen([sys.executable, "-m", "http.server", "{server_port}", "--bind", "127.0.0.1"])
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AppSpec, str]:
    root = tmp_path_factory.mktemp("ecs-runtime")
    (root / "app.py").write_text(APP.format(mount=str(root / "mnt" / "data"), server_port=free_port()))
    (root / "hello.txt").write_text("hello from the user's server")
    (root / "mnt").mkdir()
    app = compile_file(str(root / "app.py")).apps[0]
    bundle = build_bundle(app, root)
    (root / "bundle.tar").write_bytes(bundle.data)
    return root, app, f"{(root / 'bundle.tar').as_uri()}#sha256={bundle.sha256}"


def task_env(root: Path, app: AppSpec, bundle: str, function: str, port: int) -> dict[str, str]:
    """What the task definition gives the container (no credentials: nothing here needs them)."""
    (root / "staging").mkdir(exist_ok=True)
    (root / "volume").mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PCOMPILE_"))}
    return {
        **base,
        "PCOMPILE_APP": app.name,
        "PCOMPILE_FUNCTION": function,
        "PCOMPILE_SPEC": json.dumps(to_jsonable(app.function(function))),
        "PCOMPILE_STAGING_URL": (root / "staging").as_uri(),
        "PCOMPILE_VOLUMES": json.dumps({str(root / "mnt" / "data"): {"url": (root / "volume").as_uri()}}),
        "PCOMPILE_CODE_BUNDLE": bundle,
        "PCOMPILE_CODE_DIR": str(root / f"code-{function}-{port}"),
        "PCOMPILE_FRONT_PORT": str(port),
        "PCOMPILE_HOST": "127.0.0.1",
    }


def wait_listening(proc: subprocess.Popen[bytes], url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the ecs task exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the ecs task never listened at {url}")


@pytest.fixture
def task(project: tuple[Path, AppSpec, str]) -> Iterator[Any]:
    """Start ``python -m pcompile.runtime ecs --function F`` as a task; yields a starter."""
    root, app, bundle = project
    started: list[subprocess.Popen[bytes]] = []

    def start(function: str) -> tuple[subprocess.Popen[bytes], str, Path]:
        port = free_port()
        log = root / f"task-{function}-{port}.log"
        with open(log, "wb") as out:
            proc = popen_group(
                [sys.executable, "-m", "pcompile.runtime", "ecs", "--function", function],
                env=task_env(root, app, bundle, function, port),
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_listening(proc, url)
        return proc, url, log

    yield start
    for proc in started:
        stop_group(proc)


def test_fastapi_endpoint_answers_and_each_request_is_logged(task: Any) -> None:
    proc, url, log = task("echo")
    answer = httpx.post(f"{url}/", json={"a": 1}, timeout=30)
    assert answer.status_code == 200 and answer.json() == {"echo": {"a": 1}}
    assert httpx.get(f"{url}/", timeout=30).status_code == 405  # the endpoint's method only
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    lines = log.read_text().splitlines()
    assert any(line.startswith("POST / 200 ") and line.endswith(" ms") for line in lines), lines
    assert any(line.startswith("GET / 405 ") for line in lines), lines


def test_streaming_passes_through_chunk_by_chunk(task: Any) -> None:
    _, url, _ = task("stream")
    seen: list[str] = []
    with httpx.stream("GET", f"{url}/tokens", params={"n": 4}, timeout=30) as answer:
        assert answer.status_code == 200
        assert answer.headers.get("transfer-encoding") == "chunked"
        for line in answer.iter_lines():
            seen.append(line)
    assert seen == ["tok0", "tok1", "tok2", "tok3"]


def test_sigterm_drains_the_request_in_flight_then_exits(task: Any) -> None:
    proc, url, _ = task("stream")
    got: dict[str, Any] = {}

    def slow() -> None:
        with httpx.stream("GET", f"{url}/tokens", params={"n": 6, "delay": 0.4}, timeout=60) as answer:
            got["lines"] = list(answer.iter_lines())

    client = threading.Thread(target=slow)
    client.start()
    time.sleep(0.6)  # the stream has begun
    os.killpg(proc.pid, signal.SIGTERM)
    client.join(timeout=60)
    assert got.get("lines") == [f"tok{i}" for i in range(6)]
    assert proc.wait(timeout=30) == 0
    with pytest.raises(httpx.TransportError):  # no new request is taken after the drain
        httpx.get(f"{url}/tokens", timeout=2)


def test_a_write_under_a_volume_is_copied_back_after_the_request(
    task: Any, project: tuple[Path, AppSpec, str]
) -> None:
    root = project[0]
    _, url, _ = task("stream")
    answer = httpx.post(f"{url}/write", params={"text": "from-ecs"}, timeout=30)
    assert answer.status_code == 200 and answer.text == "written"
    assert (root / "volume" / "hit.txt").read_text() == "from-ecs"


def test_a_web_server_is_reached_through_the_front_once_it_listens(task: Any) -> None:
    _, url, _ = task("files")
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/__pcompile/healthz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the user's server never became ready"
        time.sleep(0.1)
    answer = httpx.get(f"{url}/hello.txt", timeout=30)
    assert answer.status_code == 200 and answer.text == "hello from the user's server"


def test_wrong_function_and_bad_port_are_refused(project: tuple[Path, AppSpec, str]) -> None:
    root, app, bundle = project
    env = task_env(root, app, bundle, "echo", free_port())
    argv = [sys.executable, "-m", "pcompile.runtime", "ecs", "--function", "stream"]
    done = subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "this task serves 'echo'" in done.stderr
    env["PCOMPILE_FRONT_PORT"] = "70000"
    done = subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "PCOMPILE_FRONT_PORT must be the container port" in done.stderr
