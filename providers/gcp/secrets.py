"""Named secrets of a GCP stack: Secret Manager (``pcompile secret --stack``)."""

from __future__ import annotations

import json
from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.providers.gcp.credentials import google_session


class GcpSecrets:
    """Named secrets in Secret Manager (REST, so no extra client library): one secret per
    name, its latest version a JSON object of keys to values."""

    API = "https://secretmanager.googleapis.com/v1"

    def __init__(self, project: str, session: Any = None) -> None:
        self.project = project
        self.session = session or google_session("https://www.googleapis.com/auth/cloud-platform")

    def create(self, name: str, values: dict[str, str], overwrite: bool = False) -> None:
        """Create the secret (if needed) and add a version holding the JSON."""
        import base64

        parent = f"{self.API}/projects/{self.project}/secrets"
        made = self.session.post(f"{parent}?secretId={name}", json={"replication": {"automatic": {}}})
        if made.status_code == 409 and not overwrite:
            raise UserError(f"secret {name!r} already exists", fix="pass --force to add a new version")
        if made.status_code not in (200, 409):
            made.raise_for_status()
        data = base64.b64encode(json.dumps(values, sort_keys=True).encode()).decode()
        self.session.post(f"{parent}/{name}:addVersion", json={"payload": {"data": data}}).raise_for_status()

    def keys_by_name(self) -> dict[str, list[str]]:
        """Secret names (key names need a version read; shown as empty here)."""
        response = self.session.get(f"{self.API}/projects/{self.project}/secrets")
        response.raise_for_status()
        names = [s["name"].rsplit("/", 1)[-1] for s in response.json().get("secrets", [])]
        return {n: [] for n in sorted(names)}
