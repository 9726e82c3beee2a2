"""``pcompile serve``: web endpoints, schedules and a control endpoint for one app.

:class:`Serving` runs one app until stopped: a :class:`LocalInvoker` for its
functions, one ``python -m pcompile.runtime web`` process per web function on a free
loopback port (URLs returned by ``get_web_url()``), a thread per ``Period``/``Cron``
schedule that spawns the function when due, and a :class:`ControlServer` recorded in
``.pcompile/local/deployments/<app>.json`` so other processes reach the app.
:func:`watch_and_restart` re-runs a serve child process when a source file changes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pcompile.providers.invoker import Target

from . import pool
from .control import ControlServer, deployment_file
from .invoker import LocalInvoker
from .pool import LogSink, print_log


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until something accepts connections on ``port`` (False on timeout or exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def next_fire(schedule: dict[str, Any], after: float) -> float:
    """Epoch seconds of the schedule's next run after ``after``."""
    if schedule["kind"] == "period":
        return after + float(schedule["seconds"])
    from zoneinfo import ZoneInfo

    from croniter import croniter

    tz = ZoneInfo(schedule.get("timezone") or "UTC")
    start = dt.datetime.fromtimestamp(after, tz)
    return float(croniter(schedule["expression"], start).get_next(float))


class Serving:
    """One served app (see the module docstring)."""

    def __init__(
        self, invoker: LocalInvoker, *, log: LogSink = print_log, say: Callable[[str], None] = print
    ) -> None:
        self.invoker = invoker
        self.log = log
        self.say = say
        self.web: list[subprocess.Popen[bytes]] = []
        self.control = ControlServer(invoker)
        self.stopping = threading.Event()
        self.fired: dict[str, int] = {}
        self.init_files: list[str] = []

    @property
    def app_name(self) -> str:
        return str(self.invoker.app["name"])

    def start(self) -> None:
        """Start schedules, web processes and the control endpoint; print the URLs."""
        specs = sorted(self.invoker.specs.values(), key=lambda s: s["name"])
        for spec in specs:
            if spec.get("schedule"):
                threading.Thread(target=self._schedule, args=(spec,), daemon=True).start()
        launched = [self._launch_web(spec) for spec in specs if spec.get("web")]
        for name, port, proc, timeout in launched:
            url = f"http://127.0.0.1:{port}"
            if not wait_listening(port, timeout, proc):
                why = (
                    f"exited with code {proc.returncode}"
                    if proc.poll() is not None
                    else f"within {timeout:g} s"
                )
                self.say(f"warning: {name} is not listening on {url} ({why})")
            self.invoker.web_urls[name] = url
            self.say(f"{name} => {url}")
        self.control.start()
        record = {
            "app": self.app_name,
            "pid": os.getpid(),
            "web_urls": dict(sorted(self.invoker.web_urls.items())),
        }
        self.control.publish(self.app_name, record)  # 0600, with the control URL and token

    def _launch_web(self, spec: dict[str, Any]) -> tuple[str, int, subprocess.Popen[bytes], float]:
        web = spec["web"]
        fixed = web.get("port") if web.get("kind") in ("web_server", "server") else None
        port = int(fixed or free_port())
        members = self.invoker.members((spec.get("cls") or {}).get("qualname", spec["name"]), spec["name"])
        init = {**self.invoker.worker_init(members), "function": spec["name"]}
        init.pop("cls_params", None)
        setup = pool.image_env_hook(members) if pool.image_env_hook else None  # image environment
        if setup is not None:
            init["mounts"] = {**setup.mounts, **init["mounts"]}
        fd, init_path = tempfile.mkstemp(prefix="web-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(init, fh)
        self.init_files.append(init_path)
        python = setup.python if setup else sys.executable
        cmd = [python, "-m", "pcompile.runtime", "web", "--init", init_path, "--port", str(port)]
        env = self.invoker.worker_env(members)
        env = setup.environment(env) if setup else env
        # its own process group, so servers the user's code starts stop with it
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        self.web.append(proc)
        for stream, is_err in ((proc.stdout, False), (proc.stderr, True)):
            threading.Thread(target=self._pump, args=(spec["name"], stream, is_err), daemon=True).start()
        return (
            spec["name"],
            port,
            proc,
            float(web.get("startup_timeout") or spec.get("startup_timeout") or 30),
        )

    def _pump(self, label: str, stream: Any, is_err: bool) -> None:
        for raw in iter(stream.readline, b""):
            self.log(label, raw.decode(errors="replace"), is_err)

    def _schedule(self, spec: dict[str, Any]) -> None:
        name = spec["name"]
        target = Target(self.app_name, name)
        due = next_fire(spec["schedule"], time.time())
        while not self.stopping.wait(max(0.0, due - time.time())):
            self.fired[name] = self.fired.get(name, 0) + 1
            try:
                self.invoker.spawn(target, (), {})
            except Exception as exc:  # the app may be stopping
                self.say(f"schedule {name}: {exc}")
            due = next_fire(spec["schedule"], max(due, time.time() - 1e-3))

    def stop(self) -> None:
        """Stop everything this serve started."""
        self.stopping.set()
        deployment_file(self.app_name).unlink(missing_ok=True)
        self.control.close()
        for proc in self.web:
            _signal_group(proc, signal.SIGTERM)
        for proc in self.web:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)
        for path in self.init_files:
            Path(path).unlink(missing_ok=True)
        self.invoker.close()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def source_mtimes(root: Path) -> dict[str, float]:
    """Modification times of the Python files under ``root`` (skipping hidden folders)."""
    out: dict[str, float] = {}
    for path in root.rglob("*.py"):
        if any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(root).parts):
            continue
        try:
            out[str(path)] = path.stat().st_mtime
        except OSError:
            continue
    return out


def watch_and_restart(
    cmd: list[str], root: Path, *, interval: float = 0.5, say: Callable[[str], None] = print
) -> int:
    """Run ``cmd`` and restart it whenever a ``.py`` file under ``root`` changes."""
    while True:
        seen = source_mtimes(root)
        child = subprocess.Popen(cmd)
        try:
            while child.poll() is None:
                time.sleep(interval)
                if source_mtimes(root) != seen:
                    say("source changed; reloading")
                    child.terminate()
                    try:
                        child.wait(10)
                    except subprocess.TimeoutExpired:
                        child.kill()
                        child.wait()
                    break
            else:
                return int(child.returncode)
        except KeyboardInterrupt:
            child.terminate()
            child.wait()
            return 130
