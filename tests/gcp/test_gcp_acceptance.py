"""Issue 5's acceptance: ``pcompile synth --cloud gcp`` on examples/gpu_mix_gcp.py and the L40S fixture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gpu_mix_gcp.py"
L40S = ROOT / "tests" / "fixtures" / "gcp_l40s_only.py"


def pcompile(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from pcompile.cli.main import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


@pytest.fixture(scope="module")
def synth_json() -> dict[str, Any]:
    done = pcompile("synth", str(EXAMPLE), "--cloud", "gcp", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_example_synth_shows_what_the_issue_asks(synth_json: dict[str, Any]) -> None:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for res in synth_json["resources"]:
        by_type.setdefault(res["type"], []).append(res["inputs"])
    services = by_type["gcp:cloudrunv2/service:Service"]
    assert any(s["template"].get("nodeSelector", {}).get("accelerator") == "nvidia-l4" for s in services)
    templates = json.dumps(synth_json["job_templates"])
    assert all(n in templates for n in ("a2-highgpu-1g", "a3-highgpu-8g", "nvidia-tesla-t4"))
    assert "0 2 * * *" in {j["schedule"] for j in by_type["gcp:cloudscheduler/job:Job"]}
    assert by_type["gcp:storage/bucket:Bucket"]
    assert synth_json["placements"]["Embedder.embed"]["gpu"] == {"count": 1, "type": "L4"}


def test_l40s_alone_fails_at_its_line_with_the_fix() -> None:
    done = pcompile("synth", str(L40S), "--cloud", "gcp")
    assert done.returncode == 1
    assert "gcp_l40s_only.py:8:" in done.stderr
    assert 'gpu=["L40S", "L4"]' in done.stderr and "--cloud aws" in done.stderr
    assert "Traceback" not in done.stderr
