"""``pcompile run --containers``: the CLI builds the function's image and runs its workers in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from container_kit import BUILD_FLAGS, MIRROR, RUN_FLAGS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "image_container_app.py"

ENTRYPOINT = """

@app.local_entrypoint()
def main():
    import json

    print("RESULT " + json.dumps(describe.remote(6), sort_keys=True))
"""


def test_run_containers_executes_remote_calls_in_the_image(
    base_image: str, wheelhouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "app.py").write_text(FIXTURE.read_text() + ENTRYPOINT)
    shutil.copytree(wheelhouse, project / "wheels")
    stack = {
        "cloud": "local",
        "builder": "podman",
        "builder_flags": list(BUILD_FLAGS),
        "run_flags": list(RUN_FLAGS),
        "base_image_mirror": MIRROR,
        "extra": {"wheelhouse": "wheels"},
    }
    (project / "stacks" / "ctr.yaml").write_text(json.dumps(stack))
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local")}
    proc = subprocess.run(
        [sys.executable, "-m", "pcompile.cli", "run", "app.py", "--containers", "--stack", "ctr"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    # Values only the image can produce: its env, a build-time command and run_function.
    assert result["square"] == 36
    assert result["greeting"] == "hello from the image"
    assert result["built"] == "built"
    assert result["warm"] == "warmed by python 3.11"
    assert result["in_image"] == "1"
    with capsys.disabled():
        print("\ncontainer tier: `pcompile run --containers` ran describe.remote(6) inside its image")
