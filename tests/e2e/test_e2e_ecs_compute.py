"""A web service's URL answers through the simulated CloudFront, ALB and ECS, from what moto holds.

The hand-written program (``ecs_kit``) is deployed with the simulate engine into a
plain moto; its task definition runs ``python -m pcompile.runtime ecs --function files``
(a ``web_server``) with the code bundle in moto's S3. The service starts at zero tasks:
the first request is answered at once with ``503``, ``Retry-After`` and the starting
page; the waker alarm scales the service up; once the task is healthy the user's server
answers; after an idle window the idle alarm scales it back to zero; destroy stops the task.
"""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path

import ecs_kit
import httpx
import pytest
from servers import free_port

from pcompile.compiler import compile_file
from pcompile.compiler.bundle import build_bundle
from pcompile.compiler.ir import to_jsonable
from pcompile.providers.simulate.compute import stop_service

pytestmark = pytest.mark.timeout(900)

APP = """\
import subprocess
import sys

import modal

app = modal.App("ecs-compute")


@app.function()
@modal.web_server({port}, startup_timeout=60)
def files():
    subprocess.Popen([sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"])
"""


def get(url: str, ca: ssl.SSLContext) -> httpx.Response:
    return httpx.get(url, verify=ca, timeout=60)


def test_scale_from_zero_answer_scale_to_zero_and_destroy(
    plain_moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "t")
    monkeypatch.setenv("PCOMPILE_SIMULATE_ALARM_PERIOD_S", "3")  # every alarm period: 3 s
    monkeypatch.chdir(tmp_path)
    server_port = free_port()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "app.py").write_text(APP.format(port=server_port))
    app = compile_file(str(tmp_path / "site" / "app.py")).apps[0]
    bundle = build_bundle(app, tmp_path / "site")
    s3 = ecs_kit.client(plain_moto, "s3")
    s3.create_bucket(Bucket="kit-artifacts")
    s3.put_object(Bucket="kit-artifacts", Key=bundle.key, Body=bundle.data)
    environment = {
        "PCOMPILE_APP": app.name,
        "PCOMPILE_FUNCTION": "files",
        "PCOMPILE_SPEC": json.dumps(to_jsonable(app.function("files")), sort_keys=True),
        "PCOMPILE_STAGING_URL": "s3://kit-artifacts",
        "PCOMPILE_CODE_BUNDLE": f"s3://kit-artifacts/{bundle.key}#sha256={bundle.sha256}",
        "AWS_REGION": "us-east-1",
    }
    # An image outside ECR: nothing to pull (the ECR pull as the execution role is checked elsewhere).
    config = {"function": "files", "environment": ecs_kit.environment(environment), "image": "ecs-kit:local"}
    engine = ecs_kit.engine(tmp_path, plain_moto, compute=True)
    try:
        deployed = engine.up(ecs_kit.project(tmp_path, config), lambda line: None)
        url = str(deployed.outputs["url"])
        assert url.startswith("https://127.0.0.1:"), url
        ca = ssl.create_default_context(
            cafile=str(tmp_path / ".pcompile" / "simulate" / "sim" / "tls" / "cert.pem")
        )

        plain = httpx.get(url.replace("https://", "http://") + "/x", timeout=30)
        assert plain.status_code == 301 and plain.headers["location"].startswith("https://")

        first = get(f"{url}/hello.txt", ca)  # no task runs: answered at once, never held
        assert first.status_code == 503
        assert first.headers["retry-after"] == "7" and first.text == "starting: retry in 7 s"

        (tmp_path / ".pcompile" / "simulate" / "sim" / "task" / "hello.txt").write_text("hello from ECS")
        deadline = time.monotonic() + 240
        answer = first
        while answer.status_code == 503:
            assert time.monotonic() < deadline, "the service never woke"
            time.sleep(0.5)
            answer = get(f"{url}/hello.txt", ca)
        assert answer.status_code == 200 and answer.text == "hello from ECS"
        ecs = ecs_kit.client(plain_moto, "ecs")
        service = ecs.describe_services(
            cluster=deployed.outputs["cluster"], services=[deployed.outputs["service"]]
        )
        assert service["services"][0]["desiredCount"] == 1  # the waker's step policy set it in moto

        deadline = time.monotonic() + 120  # no request now: the idle alarm scales the service to zero
        while ecs.describe_services(
            cluster=deployed.outputs["cluster"], services=[deployed.outputs["service"]]
        )["services"][0]["desiredCount"]:
            assert time.monotonic() < deadline, "the service never scaled to zero"
            time.sleep(0.5)
        deadline = time.monotonic() + 60
        while _listening(server_port):
            assert time.monotonic() < deadline, "the task outlived its scale-in"
            time.sleep(0.5)
        assert get(f"{url}/hello.txt", ca).status_code == 503  # asleep again: the next request wakes it

        deadline = time.monotonic() + 240
        while get(f"{url}/hello.txt", ca).status_code != 200:
            assert time.monotonic() < deadline, "the service never woke the second time"
            time.sleep(0.5)
        engine.destroy(ecs_kit.project(tmp_path, config), lambda line: None)
        deadline = time.monotonic() + 60
        while _listening(server_port):
            assert time.monotonic() < deadline, "destroy left the task running"
            time.sleep(0.5)
    finally:
        stop_service(tmp_path, "sim")
    assert not _listening(server_port)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
