"""Local secrets: ``pcompile secret create NAME KEY=VALUE`` and resolving an app's secrets.

Named secrets live in ``.pcompile/local/secrets/<name>.json`` (mode 0600, directory
0700). Secrets defined in code (``Secret.from_dict``, ``from_dotenv``,
``from_local_environ``) take their values from the live SDK objects. Values go only
into worker environments: never into the IR, logs, or error messages (which name
keys, not values).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from pcompile.exception import NotFoundError

from .paths import safe_name, sub


def _dir() -> Any:
    path = sub("secrets")
    os.chmod(path, 0o700)
    return path


def create(name: str, values: dict[str, str], *, overwrite: bool = False) -> None:
    """Store a named secret (0600); refuses to replace one unless ``overwrite``."""
    path = _dir() / f"{safe_name(name, 'secret')}.json"
    if path.exists() and not overwrite:
        raise FileExistsError(f"secret {name!r} already exists; pass --force to replace it")
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(dict(sorted(values.items())), fh)
    os.replace(path.with_suffix(".tmp"), path)


def load(name: str) -> dict[str, str]:
    """The values of a named secret; ``NotFoundError`` saying how to create it."""
    path = _dir() / f"{safe_name(name, 'secret')}.json"
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise NotFoundError(
            f"secret {name!r} not found in the local secret store ({path.parent}); "
            f"create it with: pcompile secret create {name} KEY=VALUE ..."
        ) from None


def list_names() -> list[str]:
    """Names of stored secrets, sorted."""
    return sorted(p.stem for p in _dir().glob("*.json"))


class SecretResolver:
    """Values for the secrets an app's functions use, checked before anything runs.

    ``objects`` maps secret names to SDK ``Secret`` objects (anything with ``kind``,
    ``required_keys`` and ``local_values()``); names without one are read from the
    local store.
    """

    def __init__(self, objects: dict[str, Any] | None = None) -> None:
        self.objects = objects or {}
        self._cache: dict[str, dict[str, str]] = {}

    @classmethod
    def for_app(cls, app: Any) -> SecretResolver:
        """Collect the ``Secret`` objects an SDK ``App`` and its functions reference."""
        found: dict[str, Any] = {}
        defaults = getattr(app, "default_secrets", None) or []
        for secret in defaults() if callable(defaults) else defaults:
            found[secret.name] = secret
        for definition in getattr(app, "definitions", dict)().values():
            for secret in (getattr(definition, "options", {}) or {}).get("secrets") or []:
                found[secret.name] = secret
        return cls(found)

    def values(self, name: str, required_keys: Iterable[str] = ()) -> dict[str, str]:
        """The secret's values; missing ``required_keys`` are an error naming the keys."""
        if name not in self._cache:
            obj = self.objects.get(name)
            if obj is None or getattr(obj, "kind", "named") == "named":
                self._cache[name] = load(name)
            else:
                self._cache[name] = dict(obj.local_values())
        values = self._cache[name]
        obj = self.objects.get(name)
        required = {*required_keys, *(getattr(obj, "required_keys", ()) or ())}
        missing = sorted(required - set(values))
        if missing:
            raise NotFoundError(
                f"secret {name!r} lacks required keys {missing}; add them with: "
                f"pcompile secret create {name} {' '.join(k + '=...' for k in missing)} --force"
            )
        return values

    def check(self, app: dict[str, Any]) -> None:
        """Resolve every secret the IR app declares (errors before any function runs)."""
        for spec in app.get("secrets", ()):
            self.values(spec["name"], spec.get("required_keys", ()))

    def env_for(self, functions: list[dict[str, Any]]) -> dict[str, str]:
        """Environment variables for workers serving ``functions`` (IR dicts)."""
        env: dict[str, str] = {}
        for spec in functions:
            for name in spec.get("secrets", ()):
                env.update(self.values(name))
        return env


PROXY_AUTH_FILE = "proxy-auth.tokens"  # not *.json: it is no named secret


def proxy_auth_path() -> Any:
    """The local proxy-auth token set (``pcompile proxy-auth`` without ``--stack``)."""
    return _dir() / PROXY_AUTH_FILE


def proxy_auth_url() -> str:
    """What local web processes get as ``PCOMPILE_PROXY_AUTH``."""
    return f"file://{proxy_auth_path().resolve()}"


class LocalTokenStore:
    """The local proxy-auth token set: one file in the secret store (0600, directory 0700)."""

    def read(self) -> str:
        """The token set document; ``""`` before the first token."""
        try:
            return str(proxy_auth_path().read_text())
        except FileNotFoundError:
            return ""

    def write(self, text: str) -> None:
        """Replace the document atomically (0600)."""
        path = proxy_auth_path()
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(path.with_suffix(".tmp"), path)
