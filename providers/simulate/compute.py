"""Simulated compute for ``engine: simulate`` AWS stacks: what clients of a stack call.

moto holds everything the emitted program creates (Lambda functions, Batch queues
and job definitions, Scheduler schedules, buckets) but cannot run image-packaged
functions or Batch jobs. The compute service
(:mod:`pcompile.providers.simulate.compute_server`) plays that part on loopback,
starting the runtime only from what the emulator holds. This module is its client:

* :func:`ensure_service` starts the service on first use, in its own session, and
  records it in ``.pcompile/simulate/<stack>/compute.json`` (mode 0600: port, pid,
  the secret path prefix), the way ``pcompile serve`` records itself; later calls
  reuse it while it answers. It exits by itself after 10 idle minutes
  (``PCOMPILE_SIMULATE_IDLE_S`` or ``idle_seconds`` to change that);
  :func:`stop_service` stops its whole process group.
* :func:`client_environment` is the endpoint configuration every boto3 client of
  the stack uses: ``AWS_ENDPOINT_URL`` = the stack's ``endpoint_url``,
  ``AWS_ENDPOINT_URL_LAMBDA``/``AWS_ENDPOINT_URL_BATCH`` = the service (botocore's
  own per-service variables).
* :func:`function_url` is a function's Function URL on loopback;
  :func:`fire_schedule` runs a Scheduler schedule's target once, now. Both are also
  commands: ``python -m pcompile.providers.simulate.compute fire-schedule NAME
  --stack S`` (and ``function-url NAME``, ``status``, ``stop``).

Images: see :mod:`.compute_images` for how an image URI in the emulator finds the
interpreter that runs it (``SimulatedImages`` is the publisher a simulate deploy
uses).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pcompile.providers.settings import StackSettings

from .compute_server import RECORD

STATE = Path(".pcompile") / "simulate"
DEFAULT_IDLE_S = 600.0
START_TIMEOUT_S = 30.0


class ComputeError(Exception):
    """The simulated compute service could not be started or refused a request."""


def state_dir(root: Path, stack: str) -> Path:
    """``<root>/.pcompile/simulate/<stack>/`` (mode 0700, created)."""
    path = Path(root) / STATE / stack
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def read_record(root: Path, stack: str) -> dict[str, Any] | None:
    """The recorded service of ``stack`` (it may have exited), or None."""
    return _read(state_dir(root, stack))


def _read(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _endpoint(settings: StackSettings) -> str:
    url = settings.endpoint_url
    if not url:
        raise ComputeError(
            f"stack {settings.name!r} uses engine: simulate but sets no endpoint_url; "
            "add `endpoint_url: http://127.0.0.1:5000` (a moto server) to the stack file"
        )
    return url.rstrip("/")


def _answers(record: Mapping[str, Any]) -> bool:
    try:
        if not _running(int(record["pid"])):
            return False
        with urllib.request.urlopen(f"{record['url']}/pcompile/health", timeout=5) as answer:  # noqa: S310
            return bool(json.loads(answer.read()).get("ok"))
    except (OSError, ValueError, KeyError):
        return False


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / "compute.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_service(
    root: Path, settings: StackSettings, *, idle_seconds: float | None = None
) -> dict[str, Any]:
    """The running service of ``settings``' stack (started when none answers); its record."""
    endpoint = _endpoint(settings)
    folder = state_dir(root, settings.name)
    with _locked(folder):
        record = read_record(root, settings.name)
        if record and record.get("endpoint_url") == endpoint and _answers(record):
            return record
        if record:
            _stop(record)
        return _start(folder, endpoint, settings.region or "us-east-1", idle_seconds)


def _start(folder: Path, endpoint: str, region: str, idle_seconds: float | None) -> dict[str, Any]:
    idle = (
        idle_seconds
        if idle_seconds is not None
        else float(os.environ.get("PCOMPILE_SIMULATE_IDLE_S") or DEFAULT_IDLE_S)
    )
    argv = [
        sys.executable,
        "-m",
        "pcompile.providers.simulate.compute_server",
        "--state-dir",
        str(folder),
        "--endpoint-url",
        endpoint,
        "--region",
        region,
        "--idle",
        str(idle),
    ]
    (folder / RECORD).unlink(missing_ok=True)
    with open(folder / "compute.log", "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        record = _read(folder)
        if record and record.get("pid") == proc.pid and _answers(record):
            return record
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    tail = (folder / "compute.log").read_text(errors="replace")[-2000:]
    raise ComputeError(f"the simulated compute service did not start (log {folder / 'compute.log'}):\n{tail}")


def _stop(record: Mapping[str, Any], timeout: float = 10.0) -> bool:
    """Stop the service's process group (SIGTERM, then SIGKILL); whether it was running."""
    pid = int(record.get("pid") or 0)
    if pid <= 0:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, e.g. our own exited child, does not)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop_service(root: Path, stack: str) -> bool:
    """Stop ``stack``'s service and every runtime it started; whether one was running."""
    record = read_record(root, stack)
    stopped = _stop(record) if record else False
    (state_dir(root, stack) / RECORD).unlink(missing_ok=True)
    return stopped


def client_environment(root: Path, settings: StackSettings) -> dict[str, str]:
    """The boto3 endpoint variables of a simulate stack's clients (the service is started)."""
    record = ensure_service(root, settings)
    return {
        "AWS_ENDPOINT_URL": _endpoint(settings),
        "AWS_ENDPOINT_URL_BATCH": str(record["url"]),
        "AWS_ENDPOINT_URL_LAMBDA": str(record["url"]),
    }


def _post(root: Path, settings: StackSettings, path: str) -> dict[str, Any]:
    record = ensure_service(root, settings)
    request = urllib.request.Request(f"{record['url']}{path}", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=None) as answer:  # noqa: S310 - loopback URL we recorded
            return json.loads(answer.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as err:
        body = json.loads(err.read() or b"{}")
        raise ComputeError(str(body.get("message") or body)) from None


def function_url(root: Path, settings: StackSettings, function_name: str) -> str:
    """The loopback URL (``http://127.0.0.1:<port>/``) that answers as ``function_name``'s Function URL."""
    return str(_post(root, settings, f"/pcompile/urls/{function_name}")["url"])


def distribution_host(root: Path, settings: StackSettings, distribution_id: str) -> str:
    """``127.0.0.1:<port>``: where CloudFront distribution ``distribution_id`` answers (HTTPS with the
    certificate in ``.pcompile/simulate/<stack>/tls/cert.pem``), see :mod:`.compute_ecs`."""
    return str(_post(root, settings, f"/pcompile/distributions/{distribution_id}")["host"])


def fire_schedule(
    root: Path, settings: StackSettings, schedule_name: str, *, group: str = "default", wait: bool = True
) -> dict[str, Any]:
    """Start schedule ``schedule_name``'s target once, now; with ``wait``, return when it finished.

    Returns ``{"schedule", "target", "request_id" | "job_id", "status"}`` (``status``
    ``SUCCEEDED``/``FAILED`` when waited for).
    """
    flag = "?wait=1" if wait else ""
    return _post(root, settings, f"/pcompile/schedules/{group}/{schedule_name}/fire{flag}")


def _stack(name: str, endpoint_url: str | None) -> StackSettings:
    """Stack ``name`` from its stack file, ``--endpoint-url`` filling in or overriding its emulator."""
    import dataclasses

    from pcompile.compiler.stacks import load_stack

    settings = load_stack(name)
    return dataclasses.replace(
        settings, engine="simulate", endpoint_url=endpoint_url or settings.endpoint_url
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m pcompile.providers.simulate.compute {status,fire-schedule,function-url,stop} --stack S``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pcompile.providers.simulate.compute")
    parser.add_argument("action", choices=("status", "fire-schedule", "function-url", "stop"))
    parser.add_argument("name", nargs="?", help="the schedule or function (as named in the emulator)")
    parser.add_argument("--stack", required=True)
    parser.add_argument(
        "--endpoint-url", default=None, help="the emulator (default: the stack's endpoint_url)"
    )
    parser.add_argument("--group", default="default", help="the schedule group (fire-schedule)")
    opts = parser.parse_args(argv)
    try:
        return _run(parser, opts, Path.cwd())
    except ComputeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(parser: Any, opts: Any, root: Path) -> int:
    if opts.action == "stop":
        print("stopped" if stop_service(root, opts.stack) else "not running")
        return 0
    settings = _stack(opts.stack, opts.endpoint_url)
    if opts.action == "status":
        record = ensure_service(root, settings)
        print(json.dumps({k: record[k] for k in ("endpoint_url", "pid", "port")}, sort_keys=True))
    elif not opts.name:
        parser.error(f"{opts.action} needs a name")
    elif opts.action == "fire-schedule":
        print(json.dumps(fire_schedule(root, settings, opts.name, group=opts.group), sort_keys=True))
    else:
        print(function_url(root, settings, opts.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
