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


def proxy_auth_secret(stack: str) -> str:
    """The Secret Manager secret holding a stack's proxy-auth token set."""
    return f"pcompile-{stack}-proxy-auth"


class GcpTokenStore:
    """A stack's proxy-auth token set: the latest version of secret :func:`proxy_auth_secret`."""

    def __init__(self, project: str, stack: str, session: Any = None, api: str = GcpSecrets.API) -> None:
        self.secret = f"projects/{project}/secrets/{proxy_auth_secret(stack)}"
        self.project, self.stack, self.api = project, stack, api
        self.session = session or google_session("https://www.googleapis.com/auth/cloud-platform")

    def read(self) -> str:
        """The token set document; ``""`` before the first token."""
        import base64

        answer = self.session.get(f"{self.api}/{self.secret}/versions/latest:access")
        if answer.status_code == 404:
            return ""
        answer.raise_for_status()
        return base64.b64decode(answer.json()["payload"]["data"]).decode()

    def write(self, text: str) -> None:
        """Add a version holding the document (creating the secret the first time)."""
        import base64

        parent = f"{self.api}/projects/{self.project}/secrets"
        made = self.session.post(
            f"{parent}?secretId={proxy_auth_secret(self.stack)}", json={"replication": {"automatic": {}}}
        )
        if made.status_code not in (200, 409):
            made.raise_for_status()
        data = base64.b64encode(text.encode()).decode()
        self.session.post(
            f"{self.api}/{self.secret}:addVersion", json={"payload": {"data": data}}
        ).raise_for_status()
