"""``modal.Volume``, ``modal.NetworkFileSystem`` and ``modal.CloudBucketMount``.

Mounting is declared with ``volumes={"/path": vol}`` and compiled to the IR; the
client-side methods (``listdir``, ``read_file``, ``batch_upload`` ...) delegate to the
active storage backend from :mod:`pcompile._storage` (a directory per volume under
``.pcompile/local/volumes`` locally; S3/GCS for deployed stacks).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import IO, Any

from pcompile._source import CallSite, caller_site
from pcompile.exception import InvalidError


class FileEntryType(IntEnum):
    """Kind of a volume entry (``modal.volume.FileEntryType``)."""

    UNSPECIFIED = 0
    FILE = 1
    DIRECTORY = 2
    SYMLINK = 3


@dataclass(frozen=True)
class FileEntry:
    """One file or directory in a volume (``modal.volume.FileEntry``)."""

    path: str
    type: FileEntryType
    mtime: int
    size: int


def _backend(name: str) -> Any:
    from pcompile import _storage

    return _storage.volume_backend(name)


class Volume:
    """A named, persistent file tree (``modal.Volume``); create with ``Volume.from_name``."""

    def __init__(
        self, name: str, *, create_if_missing: bool = False, read_only: bool = False, _site: Any = None
    ):
        self.name = name
        self.create_if_missing = create_if_missing
        self._read_only = read_only
        self._site: CallSite = _site or caller_site()

    def __repr__(self) -> str:
        return f"Volume({self.name!r})"

    @staticmethod
    def from_name(
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: int | None = None,
        create_options: Any = None,
        client: Any = None,
    ) -> Volume:
        """The volume called ``name`` (created at deploy when ``create_if_missing``)."""
        _check_name(name, "Volume")
        return Volume(name, create_if_missing=create_if_missing)

    @staticmethod
    def persisted(name: str) -> Volume:
        """Old spelling of ``Volume.from_name(name, create_if_missing=True)``."""
        warnings.warn(
            "Volume.persisted is an old Modal spelling; use Volume.from_name(name, create_if_missing=True)",
            DeprecationWarning,
            stacklevel=2,
        )
        return Volume.from_name(name, create_if_missing=True)

    @staticmethod
    @contextlib.contextmanager
    def ephemeral(**kwargs: Any) -> Iterator[Volume]:
        """A temporary volume, deleted when the block exits."""
        import uuid

        vol = Volume(f"ephemeral-{uuid.uuid4().hex[:12]}", create_if_missing=True)
        try:
            yield vol
        finally:
            _backend(vol.name).delete()

    @staticmethod
    def from_id(volume_id: str, client: Any = None) -> Volume:
        """Volumes are addressed by name; the id is the name."""
        return Volume(volume_id.removeprefix("vo-"))

    @property
    def object_id(self) -> str:
        """Stable id of this volume."""
        return f"vo-{self.name}"

    def read_only(self) -> Volume:
        """This volume, mounted read-only."""
        return Volume(self.name, create_if_missing=self.create_if_missing, read_only=True, _site=self._site)

    def with_mount_options(self, *, read_only: bool | None = None, sub_path: str | None = None) -> Volume:
        """This volume with mount options."""
        ro = self._read_only if read_only is None else read_only
        return Volume(self.name, create_if_missing=self.create_if_missing, read_only=ro, _site=self._site)

    def commit(self) -> None:
        """Make this container's changes visible to others."""
        _backend(self.name).commit()

    def reload(self) -> None:
        """See changes committed by others."""
        _backend(self.name).reload()

    def listdir(self, path: str, *, recursive: bool = False) -> list[FileEntry]:
        """Entries under ``path``."""
        return list(_backend(self.name).listdir(path, recursive=recursive))

    def iterdir(self, path: str, *, recursive: bool = True) -> Iterator[FileEntry]:
        """Entries under ``path``, lazily."""
        yield from _backend(self.name).listdir(path, recursive=recursive)

    def read_file(self, path: str) -> Iterator[bytes]:
        """The bytes of a file, in chunks."""
        yield from _backend(self.name).read_file(path)

    def read_file_into_fileobj(self, path: str, fileobj: IO[bytes]) -> int:
        """Copy a file into ``fileobj``; returns the number of bytes."""
        size = 0
        for chunk in self.read_file(path):
            fileobj.write(chunk)
            size += len(chunk)
        return size

    def remove_file(self, path: str, recursive: bool = False) -> None:
        """Delete a file, or a directory with ``recursive=True``."""
        _backend(self.name).remove_file(path, recursive=recursive)

    def copy_files(self, src_paths: Sequence[str], dst_path: str, recursive: bool = False) -> None:
        """Copy files within the volume."""
        _backend(self.name).copy_files(list(src_paths), dst_path, recursive=recursive)

    def batch_upload(self, force: bool = False) -> Any:
        """A context manager with ``put_file`` and ``put_directory``; uploads on exit."""
        return _backend(self.name).batch_upload(force=force)

    def info(self) -> dict[str, Any]:
        """Name and id."""
        return {"name": self.name, "object_id": self.object_id}

    def hydrate(self, client: Any = None) -> Volume:
        """Nothing to hydrate: returns self."""
        return self


class NetworkFileSystem:
    """``modal.NetworkFileSystem``: a shared file system, mounted like a volume."""

    def __init__(self, name: str, *, create_if_missing: bool = False) -> None:
        self.name = name
        self.create_if_missing = create_if_missing
        self._site: CallSite = caller_site()

    @staticmethod
    def from_name(
        name: str, *, environment_name: str | None = None, create_if_missing: bool = False, client: Any = None
    ) -> NetworkFileSystem:
        """The network file system called ``name``."""
        _check_name(name, "NetworkFileSystem")
        return NetworkFileSystem(name, create_if_missing=create_if_missing)

    @staticmethod
    def persisted(name: str) -> NetworkFileSystem:
        """Old spelling of ``NetworkFileSystem.from_name(name, create_if_missing=True)``."""
        warnings.warn(
            "NetworkFileSystem.persisted is an old Modal spelling; "
            "use NetworkFileSystem.from_name(name, create_if_missing=True)",
            DeprecationWarning,
            stacklevel=2,
        )
        return NetworkFileSystem(name, create_if_missing=True)

    def __repr__(self) -> str:
        return f"NetworkFileSystem({self.name!r})"

    def _vol(self) -> Volume:
        return Volume(self.name, create_if_missing=True, _site=self._site)

    def listdir(self, path: str) -> list[FileEntry]:
        """Entries under ``path``."""
        return self._vol().listdir(path)

    def read_file(self, path: str) -> Iterator[bytes]:
        """The bytes of a file."""
        return self._vol().read_file(path)

    def remove_file(self, path: str, recursive: bool = False) -> None:
        """Delete a file."""
        self._vol().remove_file(path, recursive=recursive)

    def write_file(self, remote_path: str, fp: IO[bytes]) -> int:
        """Upload the contents of ``fp``."""
        with self._vol().batch_upload(force=True) as batch:
            batch.put_file(fp, remote_path)
        return 0


@dataclass(frozen=True)
class CloudBucketMount:
    """Mount an existing S3/R2/GCS bucket at a path (``modal.CloudBucketMount``)."""

    bucket_name: str
    bucket_endpoint_url: str | None = None
    key_prefix: str | None = None
    secret: Any = None
    oidc_auth_role_arn: str | None = None
    read_only: bool = False
    requester_pays: bool = False
    force_path_style: bool = False


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidError(f"{what}.from_name needs a non-empty name, got {name!r}")
