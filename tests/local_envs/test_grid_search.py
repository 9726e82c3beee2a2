"""Acceptance: Modal's basic_grid_search runs with scikit-learn only in its image, and a
second run reuses the environment without installing anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from envs_support import FIXTURES, Runner

GRID = str(FIXTURES / "local_envs_grid_search.py")


def _env_dirs(envs_dir: Path) -> list[Path]:
    return sorted(p for p in envs_dir.iterdir() if p.is_dir())


def _caller_has_sklearn() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import sklearn"], capture_output=True, check=False)
    return probe.returncode == 0


# The point of the test: the process running pcompile cannot import scikit-learn. Where
# it is installed here anyway, the caller blocks it (workers are other processes).
BLOCK = ["-c", "import sys; sys.modules['sklearn'] = None; from pcompile.cli.main import main; main()"]
CALLER = BLOCK if _caller_has_sklearn() else []


def test_grid_search_runs_in_image_env_then_reuses_it(pcompile: Runner, envs_dir: Path) -> None:
    first = pcompile("run", GRID, cli=CALLER)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Best k =   6, score = 0.9956" in first.stdout.splitlines()
    assert first.stdout.count("[fit_knn] k = ") == 99  # every input ran in a worker
    assert "Building environment for image" in first.stderr
    assert "installing uv_pip_install(scikit-learn~=1.5.0)" in first.stderr
    (env,) = [p for p in _env_dirs(envs_dir) if "scikit-learn" in (p / "install.log").read_text()]
    log_before = (env / "install.log").read_text()
    site = next(env.glob("lib/python*/site-packages"))
    stamp = (site.stat().st_ino, site.stat().st_mtime_ns, sorted(p.name for p in site.iterdir()))

    second = pcompile("run", GRID, cli=CALLER)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Best k =   6, score = 0.9956" in second.stdout.splitlines()
    assert "Reusing environment for image im-" in second.stderr and str(env) in second.stderr
    assert "Building environment" not in second.stderr and "installing" not in second.stderr
    assert (env / "install.log").read_text() == log_before  # no install command ran
    assert (site.stat().st_ino, site.stat().st_mtime_ns, sorted(p.name for p in site.iterdir())) == stamp


@pytest.mark.skipif(_caller_has_sklearn(), reason="scikit-learn is installed in this environment")
def test_no_image_env_runs_in_the_callers_environment(pcompile: Runner) -> None:
    result = pcompile("run", "--no-image-env", GRID)
    assert result.returncode != 0  # scikit-learn is missing here, as before image environments
    assert "No module named 'sklearn'" in result.stderr
    assert "environment for image" not in result.stderr


def test_image_env_describes_the_built_environment(pcompile: Runner, envs_dir: Path) -> None:
    shown = pcompile("image", "env", "--build", GRID)  # reuses what the first test built
    assert shown.returncode == 0, shown.stderr
    assert "(fit_knn)" in shown.stdout and "[built]" in shown.stdout and "Reusing" in shown.stderr
    assert "uv_pip_install(scikit-learn~=1.5.0)" in shown.stdout
    assert "scikit-learn==1.5." in shown.stdout and "cloudpickle==" in shown.stdout
