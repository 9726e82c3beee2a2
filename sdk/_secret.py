"""``modal.Secret``: environment variables injected into functions.

Only names and key names are ever compiled; values stay in this object (for local
runs) or travel as Pulumi secret config at deploy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from pcompile._source import CallSite, caller_site
from pcompile.exception import InvalidError


class Secret:
    """A set of environment variables: named (stored in the cloud) or defined in code."""

    def __init__(
        self,
        name: str,
        kind: str,
        *,
        values: dict[str, str | None] | None = None,
        required_keys: Sequence[str] = (),
        path: str | None = None,
        keys: Sequence[str] = (),
        site: CallSite | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self._values = values
        self.required_keys = tuple(required_keys)
        self.path = path
        self._keys = tuple(keys)
        self._site = site or caller_site()

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, kind={self.kind!r})"

    @property
    def keys(self) -> tuple[str, ...]:
        """Key names (never values)."""
        if self._values is not None:
            return tuple(sorted(self._values))
        if self.kind == "dotenv":
            return tuple(sorted(self.local_values()))
        return self._keys

    def local_values(self) -> dict[str, str]:
        """The values this secret defines in code or on this machine (not for named secrets)."""
        if self.kind == "dotenv":
            return _read_dotenv(self.path or ".env")
        if self.kind == "local_environ":
            missing = [k for k in self._keys if k not in os.environ]
            if missing:
                raise InvalidError(f"Secret.from_local_environ: {missing} not set in this environment")
            return {k: os.environ[k] for k in self._keys}
        return {k: v for k, v in (self._values or {}).items() if v is not None}

    @staticmethod
    def from_name(
        name: str,
        *,
        environment_name: str | None = None,
        required_keys: list[str] = [],  # noqa: B006 - Modal's signature
        client: Any = None,
    ) -> Secret:
        """A secret stored under ``name`` (``pcompile secret create`` or the cloud's secret manager)."""
        if not isinstance(name, str) or not name:
            raise InvalidError(f"Secret.from_name needs a non-empty name, got {name!r}")
        return Secret(name, "named", required_keys=required_keys)

    @staticmethod
    def from_dict(env_dict: dict[str, str | None] = {}) -> Secret:  # noqa: B006 - Modal's signature
        """A secret defined in code; its values become secret config at deploy."""
        if not isinstance(env_dict, dict) or not all(isinstance(k, str) for k in env_dict):
            raise InvalidError(f"Secret.from_dict expects a dict of strings, got {type(env_dict).__name__}")
        site = caller_site()
        return Secret(_inline_name("env", site, sorted(env_dict)), "dict", values=dict(env_dict), site=site)

    @staticmethod
    def from_local_environ(env_keys: list[str]) -> Secret:
        """A secret made of these variables of the caller's environment."""
        site = caller_site()
        return Secret(
            _inline_name("environ", site, sorted(env_keys)), "local_environ", keys=env_keys, site=site
        )

    @staticmethod
    def from_dotenv(path: str | None = None, *, filename: str = ".env") -> Secret:
        """A secret read from a ``.env`` file (next to ``path``, or the working directory)."""
        site = caller_site()
        base = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
        if path and os.path.isdir(path):
            base = os.path.abspath(path)
        dotenv = os.path.join(base, filename)
        return Secret(_inline_name("dotenv", site, [filename]), "dotenv", path=dotenv, site=site)

    def hydrate(self, client: Any = None) -> Secret:
        """Nothing to hydrate: returns self."""
        return self


def _inline_name(prefix: str, site: CallSite, keys: list[str]) -> str:
    """A stable name for a secret defined in code: from where it is defined, never its values."""
    digest = hashlib.sha256(
        f"{os.path.basename(site.file)}:{site.line}:{','.join(keys)}".encode()
    ).hexdigest()
    return f"{prefix}-{digest[:10]}"


def _read_dotenv(path: str) -> dict[str, str]:
    """KEY=VALUE lines; comments, blank lines, ``export`` and quotes handled as dotenv does."""
    values: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise InvalidError(f"Secret.from_dotenv: {path} does not exist") from None
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values
