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

# Modal's rule for object names: letters, digits, '-', '.', '_', shorter than 64 characters.
# The first character is a letter or digit, so "." and ".." (and hidden files) are never names.
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def local_dir() -> Path:
    """The root of local state (created on demand)."""
    env = os.environ.get("PCOMPILE_LOCAL_DIR")
    root = Path(env) if env else Path.cwd() / ".pcompile" / "local"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def safe_name(name: str, what: str) -> str:
    """``name`` if it is a valid object name (hence a safe file name), else a ValueError naming
    the rule. The whole string must match: ``"x\\n"`` or ``"../x"`` are refused."""
    if not isinstance(name, str) or not _SAFE.fullmatch(name):
        raise ValueError(
            f"invalid {what} name {name!r}: a name starts with a letter or digit and has only letters, "
            "digits, '.', '_' or '-' (at most 63 characters); rename it, e.g. "
            f"{_suggest(name)!r}"
        )
    return name


def _suggest(name: object) -> str:
    """A valid name close to ``name`` (for the error message)."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name).strip()).strip("-._")
    return (text or "my-object")[:63]


def sub(*parts: str) -> Path:
    """A directory under :func:`local_dir`, created."""
    path = local_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
