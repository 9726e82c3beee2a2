"""Backends behind ``Dict``, ``Queue`` and ``Volume`` client objects.

The SDK objects forward every method to the object returned here. Locally those are
SQLite files and directories under ``.pcompile/local`` (see
:mod:`pcompile.providers.local.stores` and :mod:`pcompile.providers.local.volumes`).
A provider can install other backends for its stack with :func:`set_factory`
(``kind`` is ``"dict"``, ``"queue"`` or ``"volume"``; the factory takes the name).
Inside a deployed function, Dicts and Queues reach the cloud store that the program named
in ``PCOMPILE_KV_CLOUD`` (see :func:`_cloud_kv_factory`).
"""

from __future__ import annotations

import importlib
import os
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


# Set by the AWS/GCP programs on every function (with PCOMPILE_KV_PREFIX, the stack's table
# or collection prefix); read by ``pcompile.providers.<cloud>.kv.store_from_env``.
KV_CLOUD = "PCOMPILE_KV_CLOUD"


def _cloud_kv_factory(kind: str) -> Callable[[str], Any] | None:
    """The deployed stack's Dict/Queue store, when the environment names the cloud holding it.

    The one place the SDK picks a cloud store: it asks the provider registry (the SDK's
    only door into providers) for the cloud's store.
    """
    cloud = os.environ.get(KV_CLOUD)
    if not cloud or kind not in ("dict", "queue"):
        return None
    from pcompile.providers import registry

    backend = registry.get(cloud).kv()
    return lambda name: backend.store_from_env(kind, name, os.environ)


def _make(kind: str, name: str) -> Any:
    factory = _factories.get(kind) or _cloud_kv_factory(kind)
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
