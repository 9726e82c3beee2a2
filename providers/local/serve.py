"""``pcompile serve``: web endpoints, schedules and a control endpoint for one app.

:class:`Serving` runs one app until stopped: a :class:`LocalInvoker` for its
functions, :class:`WebEndpoints` (one ``python -m pcompile.runtime web`` process per
web function on a loopback port, URLs returned by ``get_web_url()``; ``pcompile run``
starts these alone), a thread per ``Period``/``Cron`` schedule that spawns the
function when due, and a :class:`ControlServer` recorded in
``.pcompile/local/deployments/<app>.json`` so other processes reach the app.
:func:`watch_and_restart` re-runs a serve child process (in its own process group,
keeping its ports) when a source file changes, and stops it on SIGTERM/SIGINT.
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

from pcompile.compiler.errors import UserError
from pcompile.providers.invoker import Target
from pcompile.runtime import proxy_auth
from pcompile.runtime.web import SERVER_KINDS, startup_timeout

from . import gpus, pool, secrets
from .control import ControlServer, deployment_file
from .invoker import LocalInvoker
from .pool import LogSink, print_log

IMPORT_GRACE_S = 30.0


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until the front at ``url`` answers its health path with 200 (False on timeout or exit)."""
    import urllib.error
    import urllib.request

    from pcompile.runtime.web import HEALTH_PATH

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no HTTP proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with opener.open(url + HEALTH_PATH, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except (OSError, urllib.error.URLError):
            pass
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


class PortInUse(Exception):
    """A port asked for with ``--port`` is taken."""


class WebEndpoints:
    """One ``python -m pcompile.runtime web`` process per web function of the app.

    Each serves the function's front app (:func:`pcompile.runtime.web.front_app`: proxy
    auth, health path, and for ``web_server``/``app.server`` a proxy to the server on
    its own declared port). Front ports: ``base_port`` plus the function's index in name
    order, endpoints before servers (``--port``), else what the previous serve used (``ports``, so URLs survive a
    reload), else a free one - never a port a function's own server declares.
    """

    def __init__(
        self,
        invoker: LocalInvoker,
        *,
        log: LogSink = print_log,
        say: Callable[[str], None] = print,
        ports: dict[str, int] | None = None,
        base_port: int | None = None,
    ) -> None:
        self.invoker = invoker
        self.log = log
        self.say = say
        self.ports = dict(ports or {})
        self.base_port = base_port
        self.procs: list[subprocess.Popen[bytes]] = []
        self.init_files: list[str] = []
        self.claims: list[gpus.Claim] = []  # the GPUs of web processes, held until stop()

    def specs(self) -> list[dict[str, Any]]:
        """The app's web functions, by name."""
        return sorted((s for s in self.invoker.specs.values() if s.get("web")), key=lambda s: s["name"])

    def start(self) -> None:
        """Start every web process, wait for each to listen and record its URL."""
        specs = self.specs()
        ports = self._ports(specs)
        launched = [self._launch(spec, ports[spec["name"]]) for spec in specs]
        for name, port, proc, timeout in launched:
            url = f"http://127.0.0.1:{port}"
            if not wait_ready(url, timeout, proc):
                why = (
                    f"exited with code {proc.returncode}"
                    if proc.poll() is not None
                    else f"within {timeout:g} s"
                )
                self.say(f"warning: {name} is not listening on {url} ({why})")
            self.invoker.web_urls[name] = url
            self.say(f"{name} => {url}")

    def _ports(self, specs: list[dict[str, Any]]) -> dict[str, int]:
        chosen: dict[str, int] = {}
        servers = {int(s["web"]["port"]) for s in specs if s["web"].get("port")}  # the user's own
        # endpoints first, so --port N stays the first endpoint's port with servers added
        order = sorted(specs, key=lambda s: (s["web"].get("kind") in SERVER_KINDS, s["name"]))
        for index, name in enumerate(s["name"] for s in order):
            if self.base_port is not None:
                port = self.base_port + index
                if port in servers or not port_is_free(port):
                    raise PortInUse(f"port {port} (for {name}) is in use")
            else:
                remembered = self.ports.get(name)
                taken = servers | set(chosen.values())  # a port freed by free_port() can come back
                port = (
                    remembered
                    if remembered and remembered not in taken and port_is_free(remembered)
                    else free_port()
                )
                while port in taken:
                    port = free_port()
            chosen[name] = port
        return chosen

    def _launch(self, spec: dict[str, Any], port: int) -> tuple[str, int, subprocess.Popen[bytes], float]:
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
        env = {**(setup.environment(env) if setup else env), **self._devices(spec)}
        env[proxy_auth.ENV] = secrets.proxy_auth_url()  # the `pcompile proxy-auth` tokens
        # its own process group, so servers the user's code starts stop with it
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        self.procs.append(proc)
        for stream, is_err in ((proc.stdout, False), (proc.stderr, True)):
            threading.Thread(target=self._pump, args=(spec["name"], stream, is_err), daemon=True).start()
        # the process imports the app before the front listens, then the server starts
        return spec["name"], port, proc, startup_timeout(spec) + IMPORT_GRACE_S

    def _pump(self, label: str, stream: Any, is_err: bool) -> None:
        for raw in iter(stream.readline, b""):
            self.log(label, raw.decode(errors="replace"), is_err)

    def _devices(self, spec: dict[str, Any]) -> dict[str, str]:
        """The GPUs of a web process, taken for as long as it serves (it does not wait:
        an endpoint that cannot get its devices is an error, not a hang at start)."""
        uses_gpus = any(s.get("gpu") for s in self.invoker.specs.values())
        found = gpus.probe() if uses_gpus else gpus.Found(())
        count = gpus.count_for(spec, found)
        if not count:
            return gpus.cpu_env(found)
        claim = gpus.claim(count, found)
        if claim is None:
            where = spec.get("source") or {}
            site = f" ({where['file']}:{where['line']})" if where.get("file") else ""
            raise UserError(
                f"web function {spec['name']!r}{site} needs {count} free GPUs, but the "
                f"{len(found.gpus)} here are held by other pcompile workers",
                fix="stop the other pcompile run or serve that uses them, or lower the gpu= count",
            )
        self.claims.append(claim)
        return claim.env()

    def stop(self) -> None:
        """Stop every web process with its whole process group; forget its URL."""
        for proc in self.procs:
            _signal_group(proc, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        for path in self.init_files:
            Path(path).unlink(missing_ok=True)
        for claim in self.claims:
            claim.release()
        self.claims.clear()
        self.invoker.web_urls.clear()


class Serving:
    """One served app (see the module docstring)."""

    def __init__(
        self,
        invoker: LocalInvoker,
        *,
        log: LogSink = print_log,
        say: Callable[[str], None] = print,
        ports: dict[str, int] | None = None,
        base_port: int | None = None,
    ) -> None:
        self.invoker = invoker
        self.log = log
        self.say = say
        self.web = WebEndpoints(invoker, log=log, say=say, ports=ports, base_port=base_port)
        self.control = ControlServer(invoker)
        self.stopping = threading.Event()
        self.fired: dict[str, int] = {}
        self.control_started = False

    @property
    def app_name(self) -> str:
        return str(self.invoker.app["name"])

    def start(self) -> None:
        """Start schedules, web processes and the control endpoint; print the URLs."""
        specs = sorted(self.invoker.specs.values(), key=lambda s: s["name"])
        now = time.time()
        for spec in specs:
            if spec.get("schedule"):
                self.say(describe_schedule(spec["name"], spec["schedule"], now))
                threading.Thread(target=self._schedule, args=(spec,), daemon=True).start()
        self.web.start()
        remember_ports(self.invoker.web_urls)
        self.control.start()
        self.control_started = True
        record = {
            "app": self.app_name,
            "pid": os.getpid(),
            "web_urls": dict(sorted(self.invoker.web_urls.items())),
        }
        self.control.publish(self.app_name, record)  # 0600, with the control URL and token

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
        if self.control_started:  # shutting down a server that never ran would wait forever
            self.control.close()
        self.web.stop()
        self.invoker.close()


def describe_schedule(name: str, schedule: dict[str, Any], after: float) -> str:
    """``schedule nightly: cron '0 2 * * *' (UTC), next at 2026-12-02 02:00:00 UTC``."""
    if schedule["kind"] == "period":
        what, zone = f"every {float(schedule['seconds']):g} s", "UTC"
    else:
        zone = schedule.get("timezone") or "UTC"
        what = f"cron {schedule['expression']!r} ({zone})"
    from zoneinfo import ZoneInfo

    when = dt.datetime.fromtimestamp(next_fire(schedule, after), ZoneInfo(zone))
    return f"schedule {name}: {what}, next at {when:%Y-%m-%d %H:%M:%S} {when.tzname()}"


def port_is_free(port: int) -> bool:
    """Whether ``port`` can be bound on loopback now."""
    with socket.socket() as sock:
        # as uvicorn binds: a port left in TIME_WAIT by the previous server is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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


PORTS_ENV = "PCOMPILE_SERVE_PORTS_FILE"


def remembered_ports() -> dict[str, int]:
    """The web ports the previous serve child used (the reloading parent's file), if any."""
    path = os.environ.get(PORTS_ENV)
    try:
        data = json.loads(Path(path).read_text()) if path else {}
        return {str(k): int(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def remember_ports(web_urls: dict[str, str]) -> None:
    """Leave this child's web ports for the next one after a reload."""
    path = os.environ.get(PORTS_ENV)
    if path:
        ports = {name: int(url.rsplit(":", 1)[1]) for name, url in web_urls.items()}
        Path(path).write_text(json.dumps(ports, sort_keys=True))


def stop_tree(child: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to ``child`` (it stops what it started), then SIGKILL to its whole group."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(child, signal.SIGKILL)  # anything of its group still alive
    child.wait()


def raise_interrupt(signum: int, frame: Any) -> None:
    """A SIGTERM handler: stop as on Ctrl-C, so ``finally`` blocks stop the children."""
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """SIGTERM and SIGINT both stop serve, also when SIGINT was ignored at start (a
    background job, or a test suite run in the background, ignores it otherwise)."""
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, raise_interrupt)


def watch_and_restart(
    cmd: list[str], root: Path, *, interval: float = 0.5, say: Callable[[str], None] = print
) -> int:
    """Run ``cmd`` and restart it whenever a ``.py`` file under ``root`` changes.

    The child runs in its own process group and keeps its web ports across restarts;
    SIGTERM or SIGINT here stops it and everything it started.
    """
    stop_on_signals()
    with tempfile.TemporaryDirectory(prefix="pcompile-serve-") as scratch:
        env = {**os.environ, PORTS_ENV: str(Path(scratch) / "ports.json")}
        while True:
            seen = source_mtimes(root)
            child = subprocess.Popen(cmd, env=env, start_new_session=True)
            try:
                while child.poll() is None:
                    time.sleep(interval)
                    if source_mtimes(root) != seen:
                        say("source changed; reloading")
                        stop_tree(child)
                        break
                else:
                    return int(child.returncode)
            except KeyboardInterrupt:
                stop_tree(child)
                return 130
