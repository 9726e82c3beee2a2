"""Backends behind ``Dict``, ``Queue`` and ``Volume`` client objects.

The SDK objects forward every method to the object returned here. Locally those are
SQLite files and directories under ``.pcompile/local`` (see
:mod:`pcompile.providers.local.stores` and :mod:`pcompile.providers.local.volumes`).
A provider can install other backends for its stack with :func:`set_factory`
(``kind`` is ``"dict"``, ``"queue"`` or ``"volume"``; the factory takes the name).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_DEFAULTS = {
    "dict": "pcompile.providers.registry:dict_store",
    "queue": "pcompile.providers.registry:queue_store",
    "volume": "pcompile.providers.registry:volume_store",
}
_factories: dict[str, Callable[[str], Any]] = {}


def set_factory(kind: str, factory: Callable[[str], Any] | None) -> None:
    """Use ``factory(name)`` for ``kind`` objects in this process (None restores local)."""
    if kind not in _DEFAULTS:
        raise ValueError(f"unknown storage kind {kind!r}; known: {sorted(_DEFAULTS)}")
    if factory is None:
        _factories.pop(kind, None)
    else:
        _factories[kind] = factory


def _make(kind: str, name: str) -> Any:
    factory = _factories.get(kind)
    if factory is None:
        module, _, attr = _DEFAULTS[kind].partition(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(name)


def dict_backend(name: str) -> Any:
    """The backend of ``Dict.from_name(name)``."""
    return _make("dict", name)


def queue_backend(name: str) -> Any:
    """The backend of ``Queue.from_name(name)``."""
    return _make("queue", name)


def volume_backend(name: str) -> Any:
    """The backend of ``Volume.from_name(name)``."""
    return _make("volume", name)
