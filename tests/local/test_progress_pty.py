"""The progress bar of a long map, as a terminal shows it (the run's output goes to a PTY)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from localhelp import FIXTURES
from servers import stop_group

CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]


def run_in_pty(tmp_path: Path, *args: str, timeout: float = 120) -> tuple[int, str]:
    """Run the CLI with a PTY as its terminal; returns (exit code, everything it wrote)."""
    master, slave = pty.openpty()
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local"), "PCOMPILE_IMAGE_ENV": "0"}
    env.update(COLUMNS="100", TERM="xterm-256color")
    proc = subprocess.Popen(
        [*CLI, *args], cwd=tmp_path, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                raise AssertionError("no output for a while:\n" + b"".join(chunks).decode(errors="replace"))
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed its side
                break
            if not chunk:
                break
            chunks.append(chunk)
        return proc.wait(timeout), b"".join(chunks).decode(errors="replace")
    finally:
        os.close(master)
        stop_group(proc)


def test_a_three_second_map_shows_the_bars_frames(tmp_path):
    code, out = run_in_pty(tmp_path, "run", str(FIXTURES / "local_long_map.py"))
    assert code == 0, out
    assert "total 435" in out
    frames = [part for part in out.split("\r") if "step.map" in part and "━" in part]
    assert len(frames) >= 2, out  # the bar was drawn and then refreshed
    assert any(" done" in frame for frame in frames)
