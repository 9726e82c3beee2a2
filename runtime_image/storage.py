"""Where payloads too big to travel inline are staged: a tiny blob interface.

Every backend implements :class:`Storage` - four methods on ``bytes`` by ``key``
(keys are ``/``-separated relative paths such as ``blobs/<sha256>`` or
``fn/<function>/out/<id>/0.result``, see :mod:`.staging`):

* ``put(key, data)`` - store (overwrite) atomically;
* ``get(key) -> bytes`` - read; ``KeyError`` when absent;
* ``exists(key) -> bool``;
* ``delete(key)`` - remove; absent keys are fine.

:class:`DirectoryStorage` is the local one (and the fake for tests). Cloud backends
live in ``storage_s3.py`` / ``storage_gcs.py`` and are found through
:data:`SCHEMES` by :func:`open_storage` (``file:///dir``, ``s3://bucket/prefix``,
``gs://bucket/prefix``); each class has ``from_url(url)``. Their SDKs are imported
only when such a URL is opened.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

SCHEMES: dict[str, str] = {
    "file": "pcompile.runtime.storage:DirectoryStorage",
    "s3": "pcompile.runtime.storage_s3:S3Storage",
    "gs": "pcompile.runtime.storage_gcs:GcsStorage",
}


class Storage(Protocol):
    """Blobs by key; see the module docstring for the contract."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


class DirectoryStorage:
    """Blobs as files under ``root``; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @classmethod
    def from_url(cls, url: str) -> DirectoryStorage:
        """``file:///abs/dir`` -> storage rooted there."""
        return cls(url.removeprefix("file://"))

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"storage key must be a relative path without '..': {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key``."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        """The bytes at ``key``; ``KeyError`` when absent."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        self._path(key).unlink(missing_ok=True)


def open_storage(url: str) -> Storage:
    """The storage for ``url``, picking the class by URL scheme from :data:`SCHEMES`."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    if scheme not in SCHEMES:
        raise ValueError(f"unknown storage scheme {scheme!r} in {url!r}; known: {sorted(SCHEMES)}")
    module, _, name = SCHEMES[scheme].partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls.from_url(url if "://" in url else f"file://{url}")  # type: ignore[no-any-return]
