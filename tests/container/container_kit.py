"""Constants and helpers shared by the container tier's fixtures and tests."""

from __future__ import annotations

import socket

MIRROR = "localhost/pcompile-mirror"
BASE = f"{MIRROR}/python:3.11-slim"
# Podman as root in this kind of sandbox: chroot isolation to build, runc with low limits to run.
BUILD_FLAGS = ("--isolation", "chroot")
RUN_FLAGS = ("--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000")


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
