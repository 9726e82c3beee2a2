"""``modal.Volume`` on this machine: a directory per volume, ``.pcompile/local/volumes/<name>``.

Workers see the same directory at the function's mount path (see
:mod:`pcompile.runtime.mounts`), so writes are visible to every process at once:
``commit()`` and ``reload()`` have nothing to synchronise and return immediately,
which keeps code written for Modal (write, commit; reload, read) correct.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .paths import safe_name, sub

CHUNK = 1 << 20


class LocalVolume:
    """The local backend of ``modal.Volume`` (method names as ``sdk/_volume.py`` calls them)."""

    def __init__(self, name: str) -> None:
        self.name = safe_name(name, "volume")
        self.root = sub("volumes", self.name)

    def path(self, path: str) -> Path:
        """The local file for a volume path (``/a/b`` and ``a/b`` are the same)."""
        rel = os.path.normpath("/" + path.lstrip("/")).lstrip("/")
        if rel.startswith(".."):
            raise ValueError(f"path {path!r} leaves the volume")
        return self.root / rel if rel not in ("", ".") else self.root

    def commit(self) -> None:
        """Writes are already visible to every local process."""

    def reload(self) -> None:
        """Every local process already sees the latest files."""

    def listdir(self, path: str, *, recursive: bool = False) -> list[Any]:
        """``FileEntry`` objects under ``path``, sorted; ``FileNotFoundError`` if absent."""
        from pcompile._volume import FileEntry, FileEntryType

        base = self.path(path)
        if not base.exists():
            raise FileNotFoundError(f"no such file or directory in volume {self.name!r}: {path}")
        paths = [base] if base.is_file() else sorted(base.rglob("*") if recursive else base.iterdir())
        entries = []
        for item in paths:
            st = item.lstat()
            kind = (
                FileEntryType.SYMLINK
                if item.is_symlink()
                else FileEntryType.DIRECTORY
                if item.is_dir()
                else FileEntryType.FILE
            )
            entries.append(FileEntry(str(item.relative_to(self.root)), kind, int(st.st_mtime), st.st_size))
        return entries

    def read_file(self, path: str) -> Iterator[bytes]:
        """The file's bytes in chunks."""
        target = self.path(path)
        if not target.is_file():
            raise FileNotFoundError(f"no such file in volume {self.name!r}: {path}")
        with open(target, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def remove_file(self, path: str, recursive: bool = False) -> None:
        """Delete a file, or a directory when ``recursive``."""
        target = self.path(path)
        if target.is_dir() and not target.is_symlink():
            if not recursive:
                raise IsADirectoryError(f"{path} is a directory; pass recursive=True")
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        else:
            raise FileNotFoundError(f"no such file in volume {self.name!r}: {path}")

    def copy_files(self, src_paths: list[str], dst_path: str, recursive: bool = False) -> None:
        """Copy files (directories with ``recursive``) to ``dst_path``."""
        dst = self.path(dst_path)
        for src_path in src_paths:
            src = self.path(src_path)
            into = dst / src.name if (dst.is_dir() or len(src_paths) > 1) else dst
            into.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                if not recursive:
                    raise IsADirectoryError(f"{src_path} is a directory; pass recursive=True")
                shutil.copytree(src, into, dirs_exist_ok=True)
            else:
                shutil.copy2(src, into)

    def batch_upload(self, force: bool = False) -> BatchUpload:
        """A context manager collecting ``put_file``/``put_directory``; written on exit."""
        return BatchUpload(self, force)

    def delete(self) -> None:
        """Remove the volume and its files."""
        shutil.rmtree(self.root, ignore_errors=True)


class BatchUpload:
    """``Volume.batch_upload()``: uploads happen when the ``with`` block exits cleanly."""

    def __init__(self, volume: LocalVolume, force: bool) -> None:
        self.volume = volume
        self.force = force
        self._files: list[tuple[str | os.PathLike[str] | IO[bytes], str, int | None]] = []

    def __enter__(self) -> BatchUpload:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self._write()

    def put_file(
        self, local_file: str | os.PathLike[str] | IO[bytes], remote_path: str, mode: int | None = None
    ) -> None:
        """Upload a local file (path or binary file object) to ``remote_path``."""
        self._files.append((local_file, remote_path, mode))

    def put_directory(
        self, local_path: str | os.PathLike[str], remote_path: str, recursive: bool = True
    ) -> None:
        """Upload the files of a local directory under ``remote_path``."""
        base = Path(local_path)
        files = base.rglob("*") if recursive else base.iterdir()
        for item in sorted(files):
            if item.is_file():
                self._files.append(
                    (item, f"{remote_path.rstrip('/')}/{item.relative_to(base).as_posix()}", None)
                )

    def _write(self) -> None:
        targets = [(src, self.volume.path(remote), mode) for src, remote, mode in self._files]
        if not self.force:
            existing = [str(t.relative_to(self.volume.root)) for _, t, _ in targets if t.exists()]
            if existing:
                raise FileExistsError(
                    f"{existing[0]} already exists in volume {self.volume.name!r}; use force=True"
                )
        for src, target, mode in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, str | os.PathLike):
                shutil.copyfile(src, target)
            else:
                with open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            if mode is not None:
                os.chmod(target, mode)
