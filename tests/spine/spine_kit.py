"""Helpers for the spine's tests: fixture paths, in-process compiles, the real CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pcompile.compiler import compile_file, ir

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# The console script's entry point, run with this interpreter so no PATH lookup is needed.
_CLI = "import sys; from pcompile.cli.main import main; main(sys.argv[1:])"


def fixture_path(name: str) -> Path:
    """``tests/fixtures/<name>``."""
    return FIXTURES / name


def compile_fixture(name: str) -> ir.Program:
    """The IR of a fixture app, compiled in this process."""
    return compile_file(fixture_path(name))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``pcompile ARGS`` in a fresh interpreter; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-c", _CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def synth_ir(path: Path, cwd: Path | None = None) -> dict[str, Any]:
    """``pcompile synth PATH --ir`` through the CLI, parsed; fails the test on a non-zero exit."""
    proc = run_cli("synth", str(path), "--ir", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def functions_by_name(app: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An IR JSON app's functions keyed by name."""
    return {f["name"]: f for f in app["functions"]}
