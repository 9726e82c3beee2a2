"""Proxy auth on ``pcompile serve``: 401 without a token, 200 with one from ``pcompile proxy-auth create``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from servers import free_port, popen_group, stop_group

CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def create_token(env: dict[str, str], cwd: Path) -> dict[str, str]:
    """``pcompile proxy-auth create``: the headers it prints."""
    made = cli(env, cwd, "proxy-auth", "create")
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(": ", 1) for line in made.stdout.splitlines() if line.startswith("Modal-"))
    assert lines["Modal-Key"].startswith("wk-") and lines["Modal-Secret"].startswith("ws-")
    return lines


def until(check, seconds: float = 5.0):
    """Poll ``check`` until it is truthy; the last value (a token works within seconds)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("proxyauth")
    env = {
        **os.environ,
        "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"),
        "PCOMPILE_IMAGE_ENV": "0",
        "OPEN_SERVER_PORT": str(free_port()),
        "GUARDED_SERVER_PORT": str(free_port()),
    }
    log = (tmp_path / "serve.log").open("w")
    proc = popen_group(
        [*CLI, "serve", "--no-reload", str(FIXTURES / "proxy_auth_app.py")],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    record = tmp_path / "local" / "deployments" / "proxy-auth.json"
    try:
        until(lambda: record.exists() or proc.poll() is not None, 120)
        assert record.exists(), (tmp_path / "serve.log").read_text()
        yield json.loads(record.read_text())["web_urls"], env, tmp_path
    finally:
        stop_group(proc)
        log.close()


def test_401_without_headers_and_200_with_a_created_token(served):
    urls, env, cwd = served
    refused = httpx.get(urls["guarded"] + "/")
    assert refused.status_code == 401 and "Modal-Key" in refused.text
    bad = {"Modal-Key": "wk-unknown", "Modal-Secret": "ws-wrong"}
    assert httpx.get(urls["guarded"] + "/", headers=bad).status_code == 401
    token = create_token(env, cwd)
    answer = until(lambda: (r := httpx.get(urls["guarded"] + "/", headers=token)).status_code == 200 and r)
    assert answer and answer.json() == {"ok": True, "saw_token": False}
    wrong_secret = {**token, "Modal-Secret": token["Modal-Secret"][:-1] + "x"}
    assert httpx.get(urls["guarded"] + "/", headers=wrong_secret).status_code == 401


def test_app_server_requires_a_token_unless_unauthenticated(served):
    urls, env, cwd = served
    assert httpx.get(urls["OpenServer"] + "/").status_code == 200
    assert httpx.get(urls["GuardedServer"] + "/").status_code == 401
    token = create_token(env, cwd)
    assert until(lambda: httpx.get(urls["GuardedServer"] + "/", headers=token).status_code == 200)
    assert httpx.get(urls["public"] + "/").json() == {"ok": True}
    # the health path needs no token (load balancer checks carry none)
    assert httpx.get(urls["GuardedServer"] + "/__pcompile/healthz").status_code == 200


def test_list_and_delete_and_a_deleted_token_is_refused(served):
    urls, env, cwd = served
    token = create_token(env, cwd)
    listed = cli(env, cwd, "proxy-auth", "list")
    ids = listed.stdout.split()
    assert token["Modal-Key"] in ids and ids == sorted(ids)
    assert token["Modal-Secret"] not in listed.stdout
    stored = (cwd / "local" / "secrets" / "proxy-auth.tokens").read_text()
    assert token["Modal-Secret"] not in stored  # only the salted hash
    assert until(lambda: httpx.get(urls["guarded"] + "/", headers=token).status_code == 200)
    deleted = cli(env, cwd, "proxy-auth", "delete", token["Modal-Key"])
    assert deleted.returncode == 0, deleted.stderr
    assert until(lambda: httpx.get(urls["guarded"] + "/", headers=token).status_code == 401, 20)
    again = cli(env, cwd, "proxy-auth", "delete", token["Modal-Key"])
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert f"no proxy-auth token {token['Modal-Key']!r}" in again.stderr and "proxy-auth list" in again.stderr


def test_an_unknown_stack_is_a_clear_error(tmp_path):
    result = cli(
        {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local")},
        tmp_path,
        "proxy-auth",
        "list",
        "--stack",
        "nope",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no stack 'nope'" in result.stderr
