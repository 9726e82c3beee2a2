"""The code-bundle store of a GCP stack: its staging bucket in Cloud Storage."""

from __future__ import annotations

from typing import Any


class GcsStore:
    """An :class:`~pcompile.providers.deploy.ArtifactStore` in a GCS bucket."""

    def __init__(self, bucket: str, client: Any = None, project: str | None = None) -> None:
        from google.cloud import storage  # type: ignore[attr-defined]

        self.bucket = bucket
        self.client = client or storage.Client(project=project)

    def exists(self, key: str) -> bool:
        """Whether the blob exists."""
        return bool(self.client.bucket(self.bucket).blob(key).exists())

    def put(self, key: str, data: bytes) -> str:
        """Upload the blob."""
        self.client.bucket(self.bucket).blob(key).upload_from_string(data)
        return url(self.bucket, key)

    def get(self, key: str) -> bytes | None:
        """The blob's bytes, or None."""
        blob = self.client.bucket(self.bucket).blob(key)
        return bytes(blob.download_as_bytes()) if blob.exists() else None


def url(bucket: str, key: str) -> str:
    """The ``gs://`` URL of ``key`` in ``bucket``."""
    return f"gs://{bucket}/{key}"
