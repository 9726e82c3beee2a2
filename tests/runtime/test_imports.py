"""``import pcompile.runtime`` is cheap and pulls in neither pulumi nor the compiler."""

from __future__ import annotations

import subprocess
import sys


def _import_cpu_seconds(module: str, runs: int = 5) -> float:
    """Least CPU time a fresh interpreter spends importing ``module`` (CPU, not wall
    time, so a loaded CI machine does not make the figure meaningless)."""
    code = f"import time; t = time.process_time(); import {module}; print(time.process_time() - t)"
    return min(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    )


def test_runtime_imports_no_pulumi_and_no_compiler():
    code = (
        "import sys, pcompile.runtime, pcompile.runtime.worker, pcompile.runtime.web\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'pulumi_gcp', 'boto3')"
        " or m.startswith('pcompile.compiler') or m.startswith('google.cloud')]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_runtime_import_adds_under_150_ms():
    cost = _import_cpu_seconds("pcompile.runtime")
    assert cost < 0.150, f"import pcompile.runtime costs {1000 * cost:.0f} ms of CPU"
