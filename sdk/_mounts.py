"""Mount paths of ``volumes=`` and ``network_file_systems=``: checked and normalised once.

Modal accepts ``str`` and any ``os.PathLike`` (``pathlib.Path("/models")``) as keys.
Paths are compared after normalisation (``/data/`` and ``/data//`` are ``/data``), so
a check written on the text cannot be passed by ``/tmp/..`` or ``//``; the normalised
string is what the IR records.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any

from pcompile.exception import InvalidError

# Modal refuses these (``_utils/mount_utils.py``): they hold the container's own files.
RESERVED = ("/", "/root", "/tmp")
EXAMPLE = "'/data'"


def mount_path(path: Any, what: str) -> str:
    """``path`` as a normalised absolute POSIX path, or an ``InvalidError`` saying the fix."""
    raw = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(raw, str):
        raise InvalidError(f"{what}: mount path {path!r} must be a string or pathlib.Path, e.g. {EXAMPLE}")
    if not raw.strip():
        raise InvalidError(f"{what}: mount path {raw!r} is empty; pass an absolute path, e.g. {EXAMPLE}")
    if not raw.startswith("/"):
        raise InvalidError(f"{what}: mount path {raw!r} must be absolute, e.g. {EXAMPLE}")
    # PurePosixPath keeps '..' and a leading '//' (POSIX allows both), so drop those by hand.
    parts = [p for p in PurePosixPath(raw).parts[1:] if p not in ("", ".", "/", "//")]
    if ".." in parts:
        raise InvalidError(
            f"{what}: mount path {raw!r} contains '..'; write the absolute path it means, e.g. {EXAMPLE}"
        )
    normal = str(PurePosixPath("/", *parts))
    if normal in RESERVED:
        same = "" if normal == raw else f" (that is {normal!r})"
        raise InvalidError(
            f"{what}: cannot mount at {raw!r}{same}: /, /root and /tmp are reserved; use e.g. {EXAMPLE}"
        )
    return normal


def check_mounts(mounts: Any, what: str, allowed: tuple[type, ...], kinds: str) -> dict[str, Any]:
    """``mounts`` with normalised string keys; refuses bad paths, values and duplicates."""
    if not isinstance(mounts, dict):
        raise InvalidError(f"{what} must be a dict of mount path -> {kinds}, got {type(mounts).__name__}")
    out: dict[str, Any] = {}
    given: dict[str, Any] = {}
    for path, obj in mounts.items():
        normal = mount_path(path, what)
        if not isinstance(obj, allowed):
            raise InvalidError(f"{what}[{normal!r}] must be a {kinds}, got {obj!r}")
        if normal in out:
            raise InvalidError(
                f"{what}: mount paths {given[normal]!r} and {path!r} are the same path "
                f"{normal!r}; mount each object at its own path"
            )
        out[normal], given[normal] = obj, path
    return out


def check_disjoint(first: dict[str, Any], second: dict[str, Any], what: str) -> None:
    """Refuse a path mounted twice across ``volumes=`` and ``network_file_systems=``."""
    both = sorted(set(first) & set(second))
    if both:
        raise InvalidError(
            f"{what}: {both[0]!r} is mounted by both volumes= and network_file_systems=; "
            "mount each at its own path"
        )
