"""Fixtures for local image environments: one environments folder per test session.

Environments are built once per session into a temporary ``PCOMPILE_ENVS_DIR`` (so the
first run of a program really builds); uv's download cache is the user's, shared.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from envs_support import CLI, Runner


@pytest.fixture(scope="session")
def envs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's environments folder."""
    return tmp_path_factory.mktemp("envs")


@pytest.fixture
def pcompile(envs_dir: Path, tmp_path: Path) -> Runner:
    """Run the pcompile CLI in a subprocess, in ``tmp_path``, with the session's environments."""

    def run(
        *args: str, timeout: float = 540, cli: list[str] | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            "PCOMPILE_ENVS_DIR": str(envs_dir),
            "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"),
            **env,
        }
        full_env.pop("PCOMPILE_IMAGE_ENV", None)
        return subprocess.run(
            [*CLI, *args],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
