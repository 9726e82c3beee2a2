"""Constants and helpers shared by the container tier's fixtures and tests."""

from __future__ import annotations

MIRROR = "localhost/pcompile-mirror"
BASE = f"{MIRROR}/python:3.11-slim"
# Podman as root in this kind of sandbox: chroot isolation to build, runc with low limits to run.
BUILD_FLAGS = ("--isolation", "chroot")
RUN_FLAGS = ("--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000")
