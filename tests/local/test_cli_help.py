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


def test_runs_own_words_after_the_program_unless_the_entrypoint_has_them():
    from pcompile.cli.run import take_own_options

    own = {"--containers": ("containers", True), "--stack": ("stack", str), "--verbose": ("verbose", True)}
    taken, rest = take_own_options(
        ["--n", "3", "--stack", "ctr", "--verbose", "--containers"], own, {"--verbose"}
    )
    assert taken == {"stack": "ctr", "containers": True}
    assert rest == ["--n", "3", "--verbose"]


def test_only_words_before_the_program_are_runs():
    from pcompile.cli._help import _target_end
    from pcompile.cli.main import load_commands

    run = load_commands("pcompile.cli.run")["run"]
    assert _target_end(run, ["--help"]) is None
    assert _target_end(run, ["--stack", "s", "-h"]) is None
    assert _target_end(run, ["--stack", "s", "app.py", "--help"]) == 3
    assert _target_end(run, ["-m", "pkg.app", "--n", "3"]) == 2


def test_user_traceback_keeps_outer_and_inner_frames_within_15_lines(tmp_path):
    from pcompile.cli.tracebacks import MAX_LINES, user_traceback

    source = tmp_path / "deep_user_code.py"
    calls = [f"def f{i}():\n    return f{i + 1}()\n" for i in range(12)]
    source.write_text("".join(calls) + "def f12():\n    raise ValueError('bottom')\n")
    namespace: dict = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    try:
        namespace["f0"]()
    except ValueError as exc:
        text = user_traceback(exc)
    lines = text.splitlines()
    assert len(lines) == MAX_LINES and lines[-1] == "ValueError: bottom"
    assert "lines left out" in text
    assert lines[-3] == f'  File "{source}", line 26, in f12'  # the innermost frame
    assert f'File "{source}", line 2, in f0' in text  # and the outermost of the file


def test_a_repeated_frame_keeps_pythons_note(tmp_path):
    from pcompile.cli.tracebacks import user_traceback

    source = tmp_path / "recursive_user_code.py"
    source.write_text(
        "def down(n):\n    if n == 0:\n        raise ValueError('bottom')\n    return down(n - 1)\n"
    )
    namespace: dict = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    try:
        namespace["down"](20)
    except ValueError as exc:
        text = user_traceback(exc)
    assert "[Previous line repeated" in text and text.endswith("ValueError: bottom")


def test_schedules_are_described_in_their_time_zone():
    import datetime as dt
    from zoneinfo import ZoneInfo

    from pcompile.providers.local.serve import describe_schedule

    start = dt.datetime(2025, 1, 15, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    cron = {"kind": "cron", "expression": "0 9 * * *", "timezone": "America/New_York"}
    assert describe_schedule("report", cron, start) == (
        "schedule report: cron '0 9 * * *' (America/New_York), next at 2025-01-15 09:00:00 EST"
    )
    period = describe_schedule("tick", {"kind": "period", "seconds": 90}, start)
    assert period == "schedule tick: every 90 s, next at 2025-01-15 12:01:30 UTC"
