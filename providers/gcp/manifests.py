"""Where a GCP stack's deployment manifests are read: an object in each app's staging bucket."""

from __future__ import annotations

from typing import Any

from pcompile.providers.gcp.stores import GcsStore, url
from pcompile.providers.manifest import Manifest
from pcompile.providers.settings import StackSettings


class GcsManifestStore:
    """Reads the manifest the GCP program writes in the app's staging bucket."""

    def __init__(self, settings: StackSettings, client: Any = None) -> None:
        self.settings = settings
        self.client = client

    def _store(self, app: str) -> tuple[GcsStore, str]:
        from pcompile.providers.gcp import names

        bucket = names.staging_bucket(self.settings.project or "", self.settings.name, app)
        return GcsStore(bucket, self.client, self.settings.project), names.manifest_key(app)

    def write(self, manifest: Manifest) -> str:
        """The program already wrote it; say where."""
        store, key = self._store(manifest.app)
        return url(store.bucket, key)

    def read(self, app: str) -> Manifest | None:
        """Download and parse the manifest object."""
        store, key = self._store(app)
        data = store.get(key)
        return Manifest.loads(data.decode()) if data is not None else None

    def list(self) -> list[str]:
        """Per-app buckets cannot be listed by name; the local cache lists apps."""
        return []

    def delete(self, app: str) -> None:
        """``pulumi destroy`` removes the object with the stack."""
