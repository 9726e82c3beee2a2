"""Loopback servers the test areas start and stop themselves (moto, registries ...).

Shared by every test folder (``pythonpath = ["tests"]`` in pytest's settings), so each
area does not carry its own copy of port picking, readiness polling and shutdown.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop ``proc`` (started by :func:`popen_group`) and every process of its group.

    SIGTERM to the group, then SIGKILL to whatever is left: signalling the group, not the
    PID, reaches the server's children too, also when pytest runs in the background and
    SIGINT is ignored (ENVIRONMENT.md).
    """
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc.pid, signal.SIGKILL)  # a hung leader, and children that outlived it
    proc.wait()


def popen_group(argv: list[str], **kwargs: object) -> subprocess.Popen:
    """Start ``argv`` in its own process group (stop it with :func:`stop_group`)."""
    return subprocess.Popen(argv, start_new_session=True, **kwargs)  # type: ignore[call-overload]


@contextlib.contextmanager
def serving(
    argv: list[str], ready_url: str, timeout: float = 20.0, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run a server in its own process group until the block ends, once ``ready_url`` answers;
    the whole group is stopped, so no child outlives the test."""
    proc = popen_group(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[0]} did not answer at {ready_url}") from None
                time.sleep(0.05)
        yield
    finally:
        stop_group(proc)


@contextlib.contextmanager
def moto_server(*, no_docker: bool = False, managed_policies: bool = False) -> Iterator[str]:
    """moto's server on a free loopback port; yields its URL. ``no_docker`` makes Batch and
    Lambda control-plane calls succeed without running anything (ENVIRONMENT.md);
    ``managed_policies`` loads AWS's managed IAM policies (which roles attach by ARN)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"} if managed_policies else {}
    with serving(argv, f"{url}/moto-api/", env=env):
        if no_docker:
            config = json.dumps({"batch": {"use_docker": False}, "lambda": {"use_docker": False}}).encode()
            request = urllib.request.Request(f"{url}/moto-api/config", data=config, method="POST")
            urllib.request.urlopen(request, timeout=10)
        yield url
