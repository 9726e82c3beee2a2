"""``pcompile serve`` over HTTP on loopback: endpoints, schedules, calls from other processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from localhelp import FIXTURES
from servers import free_port, popen_group, stop_group

CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """``pcompile serve --no-reload tests/fixtures/local_web.py``; yields (record, dir, t_ready, env).

    Its output goes to ``dir/serve.log``."""
    tmp_path = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"), "TICK_FILE": str(tmp_path / "ticks")}
    log = (tmp_path / "serve.log").open("w")
    proc = popen_group(
        [*CLI, "serve", "--no-reload", str(FIXTURES / "local_web.py")],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    record_path = tmp_path / "local" / "deployments" / "local-web.json"
    try:
        for _ in range(1200):
            if record_path.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert record_path.exists(), (tmp_path / "serve.log").read_text()
        yield json.loads(record_path.read_text()), tmp_path, time.monotonic(), env
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        stop_group(proc)
        log.close()
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


def test_each_request_is_logged_on_one_line(served):
    record, tmp_path, _, _ = served
    assert httpx.get(record["web_urls"]["fastapi_app"] + "/items/41").status_code == 200
    assert httpx.get(record["web_urls"]["fastapi_app"] + "/nowhere").status_code == 404
    lines = _wait_lines(tmp_path / "serve.log", "/nowhere")
    logged = [line for line in lines if line.startswith("[fastapi_app] GET /")]
    assert any(re.fullmatch(r"\[fastapi_app\] GET /items/41 200 \d+\.\d ms", line) for line in logged), lines
    assert any(re.fullmatch(r"\[fastapi_app\] GET /nowhere 404 \d+\.\d ms", line) for line in logged), lines


def test_schedules_are_listed_with_their_next_fire_time(served):
    _, tmp_path, _, _ = served
    lines = (tmp_path / "serve.log").read_text().splitlines()
    assert any(
        re.fullmatch(r"schedule tick: every 1 s, next at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", line)
        for line in lines
    ), lines


def _wait_lines(path, needle):
    for _ in range(200):
        text = path.read_text()
        if needle in text:
            return text.splitlines()
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never logged:\n{path.read_text()}")


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


def test_web_server_and_app_server_are_proxied_from_their_fronts(tmp_path):
    ports = {"SERVER_PORT": str(free_port()), "CLS_SERVER_PORT": str(free_port())}
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"), **ports}
    proc = popen_group(
        [*CLI, "serve", "--no-reload", str(FIXTURES / "local_servers.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    record = tmp_path / "local" / "deployments" / "local-servers.json"
    try:
        for _ in range(1200):
            if record.exists():
                break
            time.sleep(0.05)
        urls = json.loads(record.read_text())["web_urls"]
        assert sorted(urls) == ["Static", "files"]
        # the URLs are the fronts, on ports of their own; the servers listen on theirs
        assert not {url.rsplit(":", 1)[1] for url in urls.values()} & set(ports.values())
        assert httpx.get(urls["files"] + "/").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ports['SERVER_PORT']}/").status_code == 200
        # an app.server requires proxy auth unless unauthenticated=True (Modal 1.5.1)
        assert httpx.get(urls["Static"] + "/").status_code == 401
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        stop_group(proc)
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
    proc = popen_group([*CLI, "serve", str(app_file)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
    record = tmp_path / "local" / "deployments" / "local-web.json"
    try:
        url = _wait_url(record, "greet")
        assert httpx.get(url + "/").json() == {"hello": "world"}
        record.unlink()
        app_file.write_text(source.replace('{"hello": name}', '{"hi": name}'))
        again = _wait_url(record, "greet")
        assert again == url  # the same port after the reload, without --port
        assert httpx.get(again + "/").json() == {"hi": "world"}
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    finally:
        stop_group(proc)


def _wait_url(record, name):
    for _ in range(1200):
        if record.exists():
            return json.loads(record.read_text())["web_urls"][name]
        time.sleep(0.05)
    raise AssertionError("serve did not come up")


def _tree(pid):
    """``pid`` and every process below it (by parent id, across sessions), from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return set(found)


def _alive(pids):
    alive = set()
    for pid in pids:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_whole_tree_and_port_keeps_its_value(tmp_path, sig):
    app_file = tmp_path / "app.py"
    app_file.write_text((FIXTURES / "local_run_web.py").read_text())
    port, server_port = free_port(), free_port()
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"), "RUN_SERVER_PORT": str(server_port)}
    cmd = [*CLI, "serve", str(app_file), "--port", str(port)]
    proc = popen_group(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
    record = tmp_path / "local" / "deployments" / "local-run-web.json"
    try:
        assert _wait_url(record, "greet") == f"http://127.0.0.1:{port}"
        record.unlink()
        app_file.write_text(app_file.read_text().replace('{"hello": name}', '{"hi": name}'))
        assert _wait_url(record, "greet") == f"http://127.0.0.1:{port}"  # --port survives the reload
        assert httpx.get(f"http://127.0.0.1:{port}/").json() == {"hi": "world"}
        tree = _tree(proc.pid)
        # watcher, serve, the endpoint's process, the server's process and its http.server
        assert len(tree) >= 5, tree
        proc.send_signal(sig)
        assert proc.wait(30) in (0, 130)
        for _ in range(100):
            if not _alive(tree):
                break
            time.sleep(0.05)
        assert not _alive(tree), f"left running: {_alive(tree)}"
    finally:
        stop_group(proc)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{server_port}/")


def test_port_in_use_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"), "PCOMPILE_IMAGE_ENV": "0"}
        result = subprocess.run(
            [*CLI, "serve", "--no-reload", "--port", str(port), str(FIXTURES / "local_web.py")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"port {port}" in result.stderr and "--port" in result.stderr


def test_missing_secret_fails_before_any_environment_is_built(tmp_path):
    envs_dir = tmp_path / "envs"
    env = {
        **os.environ,
        "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"),
        "PCOMPILE_IMAGE_ENV": "1",
        "PCOMPILE_ENVS_DIR": str(envs_dir),
    }
    for command in (["serve", "--no-reload"], ["run"]):
        result = subprocess.run(
            [*CLI, *command, str(FIXTURES / "local_secret_before_env.py")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        assert "local-never-created" in result.stderr and "pcompile secret create" in result.stderr
        assert "Building environment" not in result.stderr and "Traceback" not in result.stderr
        assert not envs_dir.exists() or not any(envs_dir.iterdir())


def test_front_ports_never_repeat_when_the_kernel_hands_one_back(monkeypatch):
    # free_port() binds port 0 and closes: the next call may return the same port, and
    # two fronts on one port sent one endpoint's requests to another (a 405 for a POST)
    from pcompile.providers.local import serve

    handed = iter([4101, 4101, 4102, 4102, 4101, 4103, 4103, 4104])
    monkeypatch.setattr(serve, "free_port", lambda: next(handed))
    monkeypatch.setattr(serve, "port_is_free", lambda port: True)
    fronts = serve.WebEndpoints.__new__(serve.WebEndpoints)
    fronts.base_port, fronts.ports = None, {"c": 4102}  # c's port from the previous serve
    specs = [{"name": n, "web": {"kind": "fastapi_endpoint"}} for n in ("a", "b", "c", "d")]
    chosen = fronts._ports(specs)
    assert chosen["c"] != chosen["a"] and len(set(chosen.values())) == 4
