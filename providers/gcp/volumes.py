"""Volumes of a GCP stack: GCS buckets named from project, stack and app (``pcompile volume --stack``)."""

from __future__ import annotations

from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.providers.cloud_stores import BucketVolume
from pcompile.providers.settings import StackSettings


class GcsVolume(BucketVolume):
    """A volume's files as blobs in a GCS bucket."""

    def __init__(self, url: str, client: Any = None) -> None:
        from google.cloud import storage  # type: ignore[attr-defined]

        super().__init__(url, client or storage.Client())

    def _list(self, prefix: str) -> list[tuple[str, int]]:
        return [(b.name, int(b.size or 0)) for b in self.client.list_blobs(self.bucket, prefix=prefix)]

    def _read(self, key: str) -> bytes:
        return bytes(self.client.bucket(self.bucket).blob(key).download_as_bytes())

    def _write(self, key: str, data: bytes) -> None:
        self.client.bucket(self.bucket).blob(key).upload_from_string(data)


def volume_url(settings: StackSettings, name: str, app: str | None, client: Any = None) -> str:
    """``gs://`` URL of the app's volume bucket; the name is derived, so ``--app`` is needed."""
    if not app:
        raise UserError(f"volume {name!r}: which app's volume?", fix="pass --app NAME")
    from pcompile.providers.gcp import names

    return f"gs://{names.bucket_name(settings.project or '', settings.name, app, f'vol-{name}')}"
