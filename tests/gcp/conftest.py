"""Fixtures for the GCP provider tests: the synthesized acceptance app and the storage emulator."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gcp_ir_apps import gpu_mix_app
from gcp_kit import SETTINGS, stop, wait_for_port
from servers import free_port, popen_group

from pcompile.compiler.ir import AppSpec
from pcompile.providers.synth import SynthOutput, synthesize

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


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """A gcp-storage-emulator on a free port; yields its host:port (STORAGE_EMULATOR_HOST)."""
    port = free_port()
    beside = Path(sys.executable).with_name("gcp-storage-emulator")
    exe = beside if beside.exists() else Path(shutil.which("gcp-storage-emulator") or beside)
    cmd = [str(exe), "start", "-H", "127.0.0.1", "--port", str(port), "--in-memory"]
    proc = popen_group(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
