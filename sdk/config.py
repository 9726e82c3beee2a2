"""``modal.config``: the names Modal programs read, with local values.

pcompile reads its own settings from stack files; this module exists so programs that
look at Modal's client configuration (``modal.config._profile`` in a URL,
``modal.config.config.get("environment")``, ``modal.config.logger``) still load. Values
come from ``MODAL_<KEY>`` environment variables, as in Modal, else Modal's defaults;
there is no ``~/.modal.toml`` and no token: nothing here reaches Modal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any


def _to_boolean(value: object) -> bool:
    return str(value).lower() not in ("", "0", "false")


def _upper(value: object) -> str:
    return str(value).upper()


def _optional_float(value: object) -> float | None:
    return float(str(value)) if value not in (None, "") else None


# Modal's user-facing settings (``modal/config.py`` _SETTINGS, 1.6.4): key -> (default, transform).
_SETTINGS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "server_url": ("https://api.modal.com", str),
    "token_id": (None, str),
    "token_secret": (None, str),
    "loglevel": ("WARNING", _upper),
    "log_format": ("STRING", _upper),
    "log_pattern": (None, str),
    "environment": (None, str),
    "dev_suffix": ("", str),
    "traceback": (False, _to_boolean),
    "build_validation": ("error", str),
    "image_builder_version": (None, str),
    "force_build": (False, _to_boolean),
    "ignore_cache": (False, _to_boolean),
    "logs_timeout": (10.0, float),
    "serve_timeout": (None, _optional_float),
    "max_throttle_wait": (None, lambda v: int(v) if v else None),
}

user_config_path: str = os.environ.get("MODAL_CONFIG_PATH") or os.path.expanduser("~/.modal.toml")
_user_config: dict[str, dict[str, Any]] = {}  # no Modal config file is read
_profile: str = os.environ.get("MODAL_PROFILE") or "default"


class Config:
    """Modal's settings object: ``config.get(key)`` / ``config[key]``, env first, then defaults."""

    def __init__(self) -> None:
        self._overrides: dict[str, Any] = {}

    def get(self, key: str, *, profile: str | None = None, use_env: bool = True) -> Any:
        """The value of ``key``: a local override, ``MODAL_<KEY>``, or Modal's default."""
        default, transform = _SETTINGS.get(key, (None, str))
        if key in self._overrides:
            return transform(self._overrides[key])
        raw = os.environ.get(f"MODAL_{key.upper()}") if use_env else None
        return default if raw is None else transform(raw)

    def override_locally(self, key: str, value: str) -> None:
        """Set ``key`` for this process (Modal sets ``MODAL_<KEY>`` too)."""
        self._overrides[key] = value
        os.environ[f"MODAL_{key.upper()}"] = str(value)

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def __contains__(self, key: object) -> bool:
        return key in _SETTINGS or key in self._overrides

    def __repr__(self) -> str:
        return repr(self.to_dict())

    def to_dict(self, *, include_internal: bool = False) -> dict[str, Any]:
        """Every known setting with its current value, sorted by key."""
        return {key: self.get(key) for key in sorted(_SETTINGS)}


config = Config()
logger = logging.getLogger("modal-client")


def config_profiles() -> list[str]:
    """Modal profiles known here: only the active one (no ``~/.modal.toml`` is read)."""
    return [_profile]


def config_set_active_profile(profile: str) -> None:
    """Make ``profile`` the active profile for this process."""
    global _profile
    _profile = profile


__all__ = ["Config", "config", "config_profiles", "config_set_active_profile", "logger", "user_config_path"]
