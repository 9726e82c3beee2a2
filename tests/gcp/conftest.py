"""Fixtures for the GCP provider tests: synthesized acceptance app, emulator processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ir_apps import gpu_mix_app  # noqa: E402

from pcompile.compiler.ir import AppSpec  # noqa: E402
from pcompile.providers.settings import StackSettings  # noqa: E402
from pcompile.providers.synth import SynthOutput, synthesize  # noqa: E402

SETTINGS = StackSettings(
    name="dev",
    cloud="gcp",
    region="us-central1",
    project="acme-ml",
    extra={"invokers": ["user:dev@example.com"]},
)


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gpu_mix_gcp.py"


@pytest.fixture(scope="session", params=["hand-ir", "compiled-example"])
def mix_app(request: pytest.FixtureRequest) -> AppSpec:
    """The acceptance app: hand-built IR (stable golden) and examples/gpu_mix_gcp.py compiled."""
    if request.param == "hand-ir":
        return gpu_mix_app()
    from pcompile.compiler import compile_file

    return compile_file(str(EXAMPLE)).app()


@pytest.fixture(scope="session")
def mix_synth(mix_app: AppSpec) -> SynthOutput:
    """The acceptance app synthesized for GCP under the mock engine."""
    return synthesize("gcp", mix_app, SETTINGS)


@pytest.fixture(scope="session")
def mix_json(mix_synth: SynthOutput) -> dict[str, Any]:
    """``pcompile synth --json`` output of the acceptance app."""
    return mix_synth.to_json()


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    """Stop a process we started, by its PID."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """A gcp-storage-emulator on a free port; yields its host:port (STORAGE_EMULATOR_HOST)."""
    port = free_port()
    exe = Path(sys.executable).with_name("gcp-storage-emulator")
    cmd = [str(exe), "start", "-H", "127.0.0.1", "--port", str(port), "--in-memory"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture()
def emulator_env(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """This process talks to the emulator with anonymous credentials."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "pcompile-emulator")
    return gcs_emulator


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra`` (for runtime subprocesses)."""
    return {**os.environ, **extra}
