"""The CLI as a Modal user expects it: standard help, ``-h``, ``-m``, hints naming the command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from localhelp import FIXTURES

CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]


def pcompile(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(cwd / "local"), "PCOMPILE_IMAGE_ENV": "0"}
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_run_help_lists_runs_own_options(tmp_path):
    for flag in ("--help", "-h"):
        result = pcompile(tmp_path, "run", flag)
        assert result.returncode == 0, result.stderr
        for option in ("--no-image-env", "--containers", "--stack", "--verbose", "-m"):
            assert option in result.stdout
        assert "ModuleNotFoundError" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", [[], ["synth"], ["serve"], ["secret", "create"], ["image"]])
def test_help_is_standard_click_text_and_h_is_an_alias(tmp_path, command):
    long = pcompile(tmp_path, *command, "--help")
    short = pcompile(tmp_path, *command, "-h")
    assert long.returncode == short.returncode == 0, long.stderr + short.stderr
    assert long.stdout == short.stdout
    assert "<bool>" not in long.stdout and "<str>" not in long.stdout and "{" not in long.stdout


def test_synth_help_shows_usage_like_click_and_region_help(tmp_path):
    out = pcompile(tmp_path, "synth", "--help").stdout
    assert "Usage: pcompile synth [OPTIONS] [FILE]" in out
    assert "Cloud region" in out and "TEXT" in out


def test_run_file_help_is_the_entrypoints(tmp_path):
    for flag in ("--help", "-h"):
        result = pcompile(tmp_path, "run", str(FIXTURES / "local_semantics.py"), flag)
        assert result.returncode == 0, result.stderr
        assert "--count INTEGER" in result.stdout and "--containers" not in result.stdout


def test_run_module_passes_options_to_the_entrypoint(tmp_path):
    result = pcompile(FIXTURES, "run", "-m", "cli_pkg.entry", "--n", "3", "--verbose")
    assert result.returncode == 0, result.stderr
    # --verbose is the entrypoint's own option here, not run's
    assert "square 9 verbose True" in result.stdout
    shown = pcompile(FIXTURES, "run", "-m", "cli_pkg.entry", "--help")
    assert shown.returncode == 0 and "--n INTEGER" in shown.stdout and "square" not in shown.stdout


def test_runs_own_options_may_follow_the_file(tmp_path):
    entry = str(FIXTURES / "cli_pkg" / "entry.py")
    result = pcompile(tmp_path, "run", entry, "--n", "4", "--no-image-env")
    assert result.returncode == 0, result.stderr
    assert "square 16 verbose False" in result.stdout


def test_synth_takes_a_module(tmp_path):
    result = pcompile(FIXTURES, "synth", "-m", "cli_pkg.entry", "--ir")
    assert result.returncode == 0, result.stderr
    assert '"name": "cli-entry"' in result.stdout


@pytest.mark.parametrize("command", ["serve", "synth"])
def test_hints_name_the_command_that_was_run(tmp_path, command):
    for args in ([command], [command, "missing.py"]):
        result = pcompile(tmp_path, *args)
        assert result.returncode != 0
        assert "pcompile run" not in result.stderr and "Traceback" not in result.stderr
    assert f"pcompile {command} app.py" in pcompile(tmp_path, command).stderr
