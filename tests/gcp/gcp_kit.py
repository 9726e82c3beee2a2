"""Helpers shared by the GCP tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import socket
import subprocess
import time

from servers import stop_group

from pcompile.providers.settings import StackSettings

SETTINGS = StackSettings(
    name="dev",
    cloud="gcp",
    region="us-central1",
    project="acme-ml",
    extra={"invokers": ["user:dev@example.com"]},
)


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Block until something listens on ``port`` (fails if ``proc`` exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise RuntimeError(f"process exited with {proc.returncode}:\n{out}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process we started with :func:`servers.popen_group`, and its whole group."""
    stop_group(proc)
