"""``pcompile serve`` over HTTP on loopback: endpoints, schedules, calls from other processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from localhelp import FIXTURES

CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """``pcompile serve --no-reload tests/fixtures/local_web.py``; yields (record, dir, t_ready, env)."""
    tmp_path = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"), "TICK_FILE": str(tmp_path / "ticks")}
    proc = subprocess.Popen(
        [*CLI, "serve", "--no-reload", str(FIXTURES / "local_web.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    record_path = tmp_path / "local" / "deployments" / "local-web.json"
    try:
        for _ in range(1200):
            if record_path.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert record_path.exists(), proc.stdout.read() if proc.poll() is not None else "serve did not start"
        yield json.loads(record_path.read_text()), tmp_path, time.monotonic(), env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert not record_path.exists()


def test_endpoints_answer_over_http(served):
    record, _, _, _ = served
    urls = record["web_urls"]
    assert sorted(urls) == ["echo", "fastapi_app", "flask_app", "greet"]
    assert all(url.startswith("http://127.0.0.1:") for url in urls.values())
    assert httpx.get(urls["greet"] + "/", params={"name": "bob"}).json() == {"hello": "bob"}
    assert httpx.post(urls["echo"] + "/", json={"a": 1}).json() == {"got": {"a": 1}}
    assert httpx.get(urls["fastapi_app"] + "/items/7").json() == {"item": 7}
    assert httpx.get(urls["flask_app"] + "/").text == "flask says hi"


def test_period_schedule_fires_twice_within_three_seconds(served):
    _, tmp_path, ready, _ = served
    ticks = tmp_path / "ticks"
    while time.monotonic() - ready < 3.0:
        time.sleep(0.1)
    assert ticks.exists() and len(ticks.read_text().splitlines()) >= 2


def test_other_processes_reach_functions_and_urls(served):
    record, tmp_path, _, env = served
    code = (
        "import pcompile\n"
        "print(pcompile.Function.from_name('local-web', 'double').remote(21))\n"
        "print(pcompile.Function.from_name('local-web', 'greet').get_web_url())\n"
        "call = pcompile.Function.from_name('local-web', 'double').spawn(5)\n"
        "print(pcompile.FunctionCall.from_id(call.object_id).get(timeout=30))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["42", record["web_urls"]["greet"], "10"]


def test_from_name_without_serve_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PCOMPILE_LOCAL_DIR", str(tmp_path))
    import pcompile
    from pcompile.exception import NotFoundError

    with pytest.raises(NotFoundError, match="pcompile serve"):
        pcompile.Function.from_name("not-served", "f").remote()


def test_web_server_and_app_server_listen_on_their_ports(tmp_path):
    from pcompile.providers.local.serve import free_port

    ports = {"SERVER_PORT": str(free_port()), "CLS_SERVER_PORT": str(free_port())}
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"), **ports}
    proc = subprocess.Popen(
        [*CLI, "serve", "--no-reload", str(FIXTURES / "local_servers.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
    )
    record = tmp_path / "local" / "deployments" / "local-servers.json"
    try:
        for _ in range(1200):
            if record.exists():
                break
            time.sleep(0.05)
        urls = json.loads(record.read_text())["web_urls"]
        assert urls == {
            "Static": f"http://127.0.0.1:{ports['CLS_SERVER_PORT']}",
            "files": f"http://127.0.0.1:{ports['SERVER_PORT']}",
        }
        assert httpx.get(urls["files"] + "/").status_code == 200
        assert httpx.get(urls["Static"] + "/").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{ports['SERVER_PORT']}/")


def test_cron_next_fire_uses_the_time_zone():
    import datetime as dt
    from zoneinfo import ZoneInfo

    from pcompile.providers.local.serve import next_fire

    start = dt.datetime(2025, 1, 15, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    fire = next_fire({"kind": "cron", "expression": "0 9 * * *", "timezone": "America/New_York"}, start)
    assert dt.datetime.fromtimestamp(fire, ZoneInfo("UTC")) == dt.datetime(
        2025, 1, 15, 14, 0, tzinfo=ZoneInfo("UTC")
    )
    assert next_fire({"kind": "period", "seconds": 2.5}, 100.0) == 102.5


def test_serve_reloads_when_the_file_changes(tmp_path):
    app_file = tmp_path / "reloading_app.py"
    source = (FIXTURES / "local_web.py").read_text()
    app_file.write_text(source)
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local")}
    proc = subprocess.Popen([*CLI, "serve", str(app_file)], cwd=tmp_path, env=env, stdout=subprocess.PIPE)
    record = tmp_path / "local" / "deployments" / "local-web.json"
    try:
        url = _wait_url(record, "greet")
        assert httpx.get(url + "/").json() == {"hello": "world"}
        record.unlink()
        app_file.write_text(source.replace('{"hello": name}', '{"hi": name}'))
        url = _wait_url(record, "greet")
        assert httpx.get(url + "/").json() == {"hi": "world"}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_url(record, name):
    for _ in range(1200):
        if record.exists():
            return json.loads(record.read_text())["web_urls"][name]
        time.sleep(0.05)
    raise AssertionError("serve did not come up")
