"""``pcompile logs`` on a local stack: the log files of ``pcompile run`` / ``serve`` workers."""

from __future__ import annotations

import os
from pathlib import Path

from pcompile.compiler.errors import UserError
from pcompile.providers.deploy import STATE_DIR


def local_log_dir(root: Path, app: str) -> Path:
    """Where local workers' logs are read from: ``.pcompile/local/logs/<app>/``, or under
    ``PCOMPILE_LOCAL_DIR`` when set (where the local provider then writes them)."""
    override = os.environ.get("PCOMPILE_LOCAL_DIR")
    base = Path(override) if override else root / STATE_DIR / "local"
    return base / "logs" / app


def log_lines(root: Path, app: str, function: str, limit: int) -> list[str]:
    """The last ``limit`` lines of the function's worker logs."""
    folder = local_log_dir(root, app)
    # Methods of a class share their class's workers, and so its log file.
    files = sorted(folder.glob(f"{function.partition('.')[0]}*.log")) if folder.is_dir() else []
    if not files:
        raise UserError(
            f"no local logs for {app}.{function} under {folder}",
            fix="run the app with `pcompile serve` or `pcompile run` first",
        )
    lines = [line for path in files for line in path.read_text().splitlines()]
    return lines[-limit:]
