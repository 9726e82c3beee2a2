"""Google Cloud Storage as a :class:`pcompile.runtime.storage.Storage` (``gs://bucket/prefix``).

``google-cloud-storage`` is imported only when a ``gs://`` URL is opened. When
``STORAGE_EMULATOR_HOST`` is set (gcp-storage-emulator, fake-gcs-server) the client
talks to the emulator with anonymous credentials, so tests need no account.
"""

from __future__ import annotations

import os
from typing import Any


def gcs_client(project: str | None = None) -> Any:
    """A storage client: anonymous against an emulator, default credentials otherwise."""
    from google.cloud import storage  # type: ignore[attr-defined]

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "pcompile-emulator", credentials=AnonymousCredentials())
    return storage.Client(project=project)


def split_gs_url(url: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    if not url.startswith("gs://"):
        raise ValueError(f"not a gs:// URL: {url!r}")
    bucket, _, prefix = url.removeprefix("gs://").partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix.strip("/")


class GcsStorage:
    """Blobs under ``prefix`` in one bucket. GCS object writes are atomic, so ``put`` is."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.client = client if client is not None else gcs_client()
        self.bucket = self.client.bucket(bucket)
        self.prefix = prefix.strip("/")

    @classmethod
    def from_url(cls, url: str) -> GcsStorage:
        """``gs://bucket/prefix`` -> storage rooted there."""
        bucket, prefix = split_gs_url(url)
        return cls(bucket, prefix)

    def _name(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"storage key must be a relative path without '..': {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key``."""
        self.bucket.blob(self._name(key)).upload_from_string(data, content_type="application/octet-stream")

    def get(self, key: str) -> bytes:
        """The bytes at ``key``; ``KeyError`` when absent."""
        from google.api_core.exceptions import NotFound

        try:
            return bytes(self.bucket.blob(self._name(key)).download_as_bytes())
        except NotFound:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        return bool(self.bucket.blob(self._name(key)).exists())

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (relative to this storage's prefix), sorted."""
        root = f"{self.prefix}/" if self.prefix else ""
        blobs = self.client.list_blobs(self.bucket, prefix=root + prefix)
        return sorted(b.name[len(root) :] for b in blobs if not b.name.endswith("/"))

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        from google.api_core.exceptions import NotFound

        try:
            self.bucket.blob(self._name(key)).delete()
        except NotFound:
            pass
