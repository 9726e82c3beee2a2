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


@contextlib.contextmanager
def serving(
    argv: list[str], ready_url: str, timeout: float = 20.0, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run a server process in its own process group until the block ends, once ``ready_url``
    answers; the whole group is stopped, so no child outlives the test."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
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
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


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
