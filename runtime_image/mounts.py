"""Volume mount paths (``volumes={"/weights": vol}``) on a machine without containers.

Locally a volume is a directory (``.pcompile/local/volumes/<name>``). A worker makes
its mount path reach that directory, in this order:

1. the path already is a symlink to the volume directory: nothing to do;
2. the path does not exist (or is a symlink whose target is gone) and its parent is
   writable (root, or a path such as ``/tmp/x``): create a symlink
   ``mount -> volume dir`` (left in place; it is reused);
3. otherwise: install a path-mapping shim in this worker process, so Python-level
   file access (``open``, ``os``, ``pathlib``, ``shutil``) under the mount path is
   redirected to the volume directory. Code that opens files from C/Rust directly
   (bypassing Python's ``open``) does not see it; ``docs/local.md`` says how to
   create the symlink once by hand for that case.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable
from typing import Any

_MAPPED: list[tuple[str, str]] = []
_PATCHED = False
# os functions whose first (and for some, second) argument is a path.
_ONE_PATH = (
    "open", "stat", "lstat", "listdir", "scandir", "mkdir", "rmdir", "remove", "unlink",
    "chmod", "access", "utime", "chdir", "truncate", "readlink",
)  # fmt: skip
_TWO_PATHS = ("rename", "replace", "link", "symlink")


def apply(mounts: dict[str, str]) -> dict[str, str]:
    """Make each mount path reach its directory; returns ``{path: "symlink"|"shim"}``."""
    how: dict[str, str] = {}
    for mount, target in sorted(mounts.items()):
        os.makedirs(target, exist_ok=True)
        how[mount] = "symlink" if _try_symlink(mount, target) else _shim(mount, target)
    return how


def _try_symlink(mount: str, target: str) -> bool:
    for _ in range(2):  # two workers may race to create it
        if os.path.islink(mount):
            if os.path.realpath(mount) == os.path.realpath(target):
                return True
            if os.path.exists(mount) or not _replace_dangling(mount):
                return False
            continue
        if os.path.exists(mount) or not os.access(os.path.dirname(mount) or "/", os.W_OK):
            return False
        try:
            os.symlink(target, mount)
            return True
        except FileExistsError:
            continue
        except OSError:
            return False
    return False


def _replace_dangling(mount: str) -> bool:
    """Remove a symlink whose target is gone (a project or test folder deleted since)."""
    try:
        os.unlink(mount)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def translate(path: Any) -> Any:
    """``path`` with a shimmed mount prefix replaced by its directory."""
    if isinstance(path, int):
        return path
    try:
        text = os.fspath(path)
    except TypeError:
        return path
    if isinstance(text, bytes):
        return path
    for mount, target in _MAPPED:
        if text == mount or text.startswith(mount + "/"):
            return target + text[len(mount) :]
    return path


def _shim(mount: str, target: str) -> str:
    global _PATCHED
    _MAPPED.append((mount.rstrip("/"), os.path.realpath(target)))
    if not _PATCHED:
        _PATCHED = True
        builtins.open = io.open = _wrap(io.open, 1)  # type: ignore[assignment]
        for name in _ONE_PATH:
            if hasattr(os, name):
                setattr(os, name, _wrap(getattr(os, name), 1))
        for name in _TWO_PATHS:
            if hasattr(os, name):
                setattr(os, name, _wrap(getattr(os, name), 2))
    return "shim"


def _wrap(fn: Callable[..., Any], n_paths: int) -> Callable[..., Any]:
    def mapped(*args: Any, **kwargs: Any) -> Any:
        args = tuple(translate(a) if i < n_paths else a for i, a in enumerate(args))
        return fn(*args, **kwargs)

    mapped.__name__ = getattr(fn, "__name__", "mapped")
    mapped.__doc__ = fn.__doc__
    return mapped
