"""Large payloads of one run: ``.pcompile/local/staging/blobs/<run>/<key>``.

Arguments and results over the inline limit (2 MiB) travel through files instead of
the pipe. Each has a unique key under its run's folder and exactly one reader, which
deletes it once read (the worker for inputs, the caller for results; a spawned
call's result is moved into the call's own folder). What a crash leaves behind is
removed by :func:`sweep`: a run holds an exclusive ``flock`` on
``staging/runs/<run>.lock`` while it lives, the kernel drops the lock when the
process dies, so any folder whose lock can be taken belongs to a dead run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from pathlib import Path

from pcompile.runtime.storage import DirectoryStorage

from .paths import sub


class RunStaging:
    """This process's staging folder, kept alive by its lock; dead runs are swept first."""

    def __init__(self) -> None:
        self.root = sub("staging")
        self.storage = DirectoryStorage(self.root)
        self.run_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.prefix = f"blobs/{self.run_id}"
        self._lock_fd: int | None = _hold(self.root / "runs", self.run_id)
        sweep(self.root)

    def close(self) -> None:
        """Remove what is left of this run's blobs and release the lock."""
        shutil.rmtree(self.root / self.prefix, ignore_errors=True)
        (self.root / "runs" / f"{self.run_id}.lock").unlink(missing_ok=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _hold(folder: Path, run_id: str) -> int:
    """Create ``<run_id>.lock`` already locked (locked under a temporary name, then renamed,
    so a sweeper never sees it unlocked)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{run_id}.tmp"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.replace(tmp, folder / f"{run_id}.lock")
    return fd


def _alive(lock: Path) -> bool:
    """Whether a live process holds ``lock`` (False when it is missing or can be taken)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def sweep(root: Path) -> list[str]:
    """Delete the blobs and locks of dead runs under ``root``; returns their run ids."""
    blobs, locks = root / "blobs", root / "runs"
    runs = {p.name for p in blobs.iterdir() if p.is_dir()} if blobs.is_dir() else set()
    runs |= {p.stem for p in locks.glob("*.lock")} if locks.is_dir() else set()
    dead = sorted(run for run in runs if not _alive(locks / f"{run}.lock"))
    for run in dead:
        shutil.rmtree(blobs / run, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (locks / f"{run}.lock").unlink()
    return dead
