"""Where the local provider keeps state: ``.pcompile/local/`` under the project.

``PCOMPILE_LOCAL_DIR`` overrides it (workers inherit it, so every process of one run
agrees). Layout: ``volumes/<name>/``, ``secrets/<name>.json`` (mode 0600),
``stores/dict-<name>.sqlite`` / ``stores/queue-<name>.sqlite``, ``calls/<id>/``,
``staging/`` (large payloads), ``deployments/<app>.json`` (running ``pcompile serve``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def local_dir() -> Path:
    """The root of local state (created on demand)."""
    env = os.environ.get("PCOMPILE_LOCAL_DIR")
    root = Path(env) if env else Path.cwd() / ".pcompile" / "local"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def safe_name(name: str, what: str) -> str:
    """``name`` if it is usable as a file name, else a ValueError naming the rule."""
    if not _SAFE.match(name):
        raise ValueError(
            f"invalid {what} name {name!r}: use letters, digits, '.', '_' or '-' (at most 128 characters)"
        )
    return name


def sub(*parts: str) -> Path:
    """A directory under :func:`local_dir`, created."""
    path = local_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
