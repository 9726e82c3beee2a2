"""Google credentials as pcompile's commands meet them: an authorized session, one-sentence errors."""

from __future__ import annotations

from typing import Any

from pcompile.compiler.errors import UserError


def google_session(scope: str) -> Any:
    """An ``AuthorizedSession`` with the application-default credentials for ``scope``."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=[scope])
    return AuthorizedSession(credentials)


def credential_error(exc: BaseException) -> UserError | None:
    """A UserError when ``exc`` is google-auth's missing-credentials error, else None."""
    kind = f"{type(exc).__module__}.{type(exc).__name__}"
    if kind.endswith("DefaultCredentialsError") or kind.endswith("RefreshError"):
        return UserError(
            "no Google Cloud credentials found",
            fix="run `gcloud auth application-default login` (or OIDC in CI)",
        )
    return None
