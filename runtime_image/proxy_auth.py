"""Proxy auth: ``Modal-Key`` / ``Modal-Secret`` headers on web endpoints, as Modal (client 1.5.1+).

A web function whose IR ``web.requires_auth`` is set (``requires_proxy_auth=True`` on
``fastapi_endpoint``/``asgi_app``/``wsgi_app``/``web_endpoint``/``web_server``, and
every ``@app.server`` without ``unauthenticated=True``) answers ``401`` unless the
request carries the id and secret of a token. :class:`ProxyAuth` is the ASGI
middleware; :func:`pcompile.runtime.web.front_app` wraps every such app in it, so the
check is the same on ``pcompile serve``, Lambda Function URLs, Cloud Run and ECS. The
headers are removed before the user's app sees the request.

Tokens (``pcompile proxy-auth create``): an id ``wk-...`` and a secret ``ws-...`` of
:data:`SECRET_CHARS` random characters (about 190 bits). The token set is one JSON
document ``{"tokens": {"wk-...": {"created": ..., "salt": hex, "sha256": hex}}}``: the
secret is kept only as a salted SHA-256 (a secret that random needs no slow hash),
compared in constant time. :class:`TokenSet` caches the set for :data:`CACHE_S`, and
refetches on an unknown id at most every :data:`MISS_REFETCH_S`, so a new token works
within seconds and a deleted one stops within :data:`CACHE_S`.

Where the set lives is ``PCOMPILE_PROXY_AUTH`` (:data:`ENV`), set by each deploy:

* ``file:///abs/path`` - the local store (``pcompile serve`` / ``pcompile run``);
* ``secretsmanager://NAME`` - AWS Secrets Manager secret ``pcompile-<stack>-proxy-auth``
  (region and endpoint from the runtime's AWS environment);
* ``gcpsecret://projects/P/secrets/NAME`` - its latest version in GCP Secret Manager.

Without it, a function that requires proxy auth refuses every request (fails closed).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import string
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

ENV = "PCOMPILE_PROXY_AUTH"
KEY_HEADER = b"modal-key"
SECRET_HEADER = b"modal-secret"
CACHE_S = 10.0
MISS_REFETCH_S = 1.0
ID_CHARS = 22
SECRET_CHARS = 32
_ALPHABET = string.ascii_letters + string.digits
_DUMMY_SALT = "00" * 16


class TokenStore(Protocol):
    """Where one deployment's token set document lives (one implementation per cloud)."""

    def read(self) -> str:
        """The token set document; ``""`` when no token was ever created."""
        ...

    def write(self, text: str) -> None:
        """Replace the token set document."""
        ...


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def digest(salt_hex: str, secret: str) -> str:
    """The stored form of a token secret: SHA-256 over salt and secret, hex."""
    return hashlib.sha256(bytes.fromhex(salt_hex) + secret.encode()).hexdigest()


def new_token(now: datetime | None = None) -> tuple[str, str, dict[str, str]]:
    """``(token id, secret, stored record)``; the secret is not in the record."""
    token_id, secret, salt = f"wk-{_random(ID_CHARS)}", f"ws-{_random(SECRET_CHARS)}", secrets.token_hex(16)
    created = (now or datetime.now(UTC)).replace(microsecond=0).isoformat()
    return token_id, secret, {"created": created, "salt": salt, "sha256": digest(salt, secret)}


def parse(text: str) -> dict[str, dict[str, str]]:
    """The tokens of a token set document, by id (``{}`` for an empty document)."""
    data = json.loads(text) if text.strip() else {}
    tokens = data.get("tokens", {}) if isinstance(data, dict) else None
    if not isinstance(tokens, dict):
        raise ValueError('a proxy-auth token set is {"tokens": {id: record}}')
    return {str(k): dict(v) for k, v in tokens.items()}


def dump(tokens: Mapping[str, Mapping[str, str]]) -> str:
    """The token set document of ``tokens`` (sorted, stable)."""
    return json.dumps({"tokens": {k: dict(v) for k, v in tokens.items()}}, sort_keys=True, indent=1) + "\n"


def verify(tokens: Mapping[str, Mapping[str, str]], key: str, secret: str) -> bool:
    """Whether ``key``/``secret`` is a token of ``tokens`` (constant time in the secret)."""
    record = tokens.get(key)
    expected = record.get("sha256", "") if record else ""
    got = digest(record.get("salt", _DUMMY_SALT) if record else _DUMMY_SALT, secret)
    return hmac.compare_digest(got, expected) and record is not None


class TokenSet:
    """The token set from ``read``, cached (see the module docstring); thread-safe."""

    def __init__(self, read: Callable[[], str], clock: Callable[[], float] = time.monotonic) -> None:
        self._read, self._clock = read, clock
        self._tokens: dict[str, dict[str, str]] = {}
        self._fetched: float | None = None
        self._lock = threading.Lock()

    def check(self, key: str, secret: str) -> bool:
        """Whether the pair is a current token; refetches when stale or on an unknown id."""
        with self._lock:
            now = self._clock()
            if self._fetched is None or now - self._fetched >= CACHE_S:
                self._fetch(now)
            elif key not in self._tokens and now - self._fetched >= MISS_REFETCH_S:
                self._fetch(now)  # a token created since the last fetch
            return verify(self._tokens, key, secret)

    def _fetch(self, now: float) -> None:
        try:
            self._tokens = parse(self._read())
        except Exception as exc:  # keep the last good set; a store never read stays empty
            print(f"pcompile: cannot read the proxy-auth token set: {exc}", file=sys.stderr, flush=True)
        self._fetched = now


def reader(url: str) -> Callable[[], str]:
    """The function that reads the token set document at ``url`` (see the module docstring)."""
    scheme, _, rest = url.partition("://")
    if scheme == "file":
        return lambda: _read_file(rest)
    if scheme == "secretsmanager":
        return _aws_reader(rest)
    if scheme == "gcpsecret":
        return _gcp_reader(rest)
    raise ValueError(f"{ENV}={url!r}: expected file://, secretsmanager:// or gcpsecret://")


def _read_file(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return ""


def _aws_reader(name: str) -> Callable[[], str]:
    from .aws_runtime import SecretsManager

    manager = SecretsManager()

    def read() -> str:
        try:
            return manager.get(name)
        except manager.client.exceptions.ResourceNotFoundException:
            return ""  # no token created yet

    return read


GCP_API = "https://secretmanager.googleapis.com/v1"


def _gcp_reader(path: str) -> Callable[[], str]:
    import base64

    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    session = AuthorizedSession(credentials)
    api = os.environ.get("PCOMPILE_GCP_SECRETMANAGER_API", GCP_API)

    def read() -> str:
        answer = session.get(f"{api}/{path}/versions/latest:access", timeout=10)
        if answer.status_code == 404:
            return ""  # no token created yet
        answer.raise_for_status()
        return base64.b64decode(answer.json()["payload"]["data"]).decode()

    return read


def _header(scope: Mapping[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


class ProxyAuth:
    """ASGI middleware: 401 unless ``Modal-Key``/``Modal-Secret`` name a token of ``tokens``.

    ``tokens`` None (no store configured) refuses everything. ``open_paths`` (the health
    path) need no token; lifespan messages pass through.
    """

    def __init__(self, app: Any, tokens: TokenSet | None, open_paths: tuple[str, ...] = ()) -> None:
        self.app, self.tokens, self.open_paths = app, tokens, open_paths

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") not in ("http", "websocket") or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        key, secret = _header(scope, KEY_HEADER), _header(scope, SECRET_HEADER)
        if not (key and secret):
            await _refuse(scope, send, "missing Modal-Key and Modal-Secret headers")
            return
        if self.tokens is None or not await asyncio.to_thread(self.tokens.check, key, secret):
            await _refuse(scope, send, "invalid Modal-Key or Modal-Secret")
            return
        kept = [(k, v) for k, v in scope.get("headers", ()) if k.lower() not in (KEY_HEADER, SECRET_HEADER)]
        await self.app({**scope, "headers": kept}, receive, send)


async def _refuse(scope: Mapping[str, Any], send: Any, why: str) -> None:
    if scope.get("type") == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = (
        f"401 Unauthorized: {why}. This endpoint requires proxy auth: send the headers of a "
        "token from 'pcompile proxy-auth create'.\n"
    ).encode()
    head = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 401, "headers": head})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def guard(app: Any, spec: Mapping[str, Any], environ: Mapping[str, str], open_paths: tuple[str, ...]) -> Any:
    """``app`` behind :class:`ProxyAuth` when web function ``spec`` requires it, else ``app``."""
    if not (spec.get("web") or {}).get("requires_auth"):
        return app
    url = environ.get(ENV)
    if not url:
        print(f"pcompile: {ENV} is not set; every request is refused", file=sys.stderr, flush=True)
    return ProxyAuth(app, TokenSet(reader(url)) if url else None, open_paths)
