"""``modal.Dict``: a named key-value store shared by functions.

Every operation delegates to ``pcompile._storage.dict_backend(name)``, a
``pcompile.providers.kv.DictStore`` (SQLite locally; DynamoDB / Firestore inside a
deployed function), whose methods are:
``get(key, default)``, ``put(key, value, skip_if_exists) -> bool``, ``contains(key)``,
``len()``, ``pop(key)`` (KeyError when missing), ``delete(key)`` (KeyError when
missing), ``update(mapping)``, ``clear()``, ``keys()``, ``values()``, ``items()``, ``drop()``.
A value over Modal's size limit is refused by the store and raised as ``InvalidError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pcompile._aio import aio_iter_method, aio_method
from pcompile._named import NamedStore
from pcompile._queue import store_errors

_MISSING = object()


class Dict(NamedStore):
    """A distributed dictionary (``modal.Dict``); get one with ``Dict.from_name``."""

    _KIND = "dict"
    _ID_PREFIX = "di"

    @aio_method
    def get(self, key: Any, default: Any = None) -> Any:
        """The value for ``key``, or ``default``."""
        return self._b().get(key, default)

    @aio_method
    def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool:
        """Store ``value``; with ``skip_if_exists`` keep an existing one. True when stored."""
        with store_errors():
            return bool(self._b().put(key, value, skip_if_exists))

    @aio_method
    def contains(self, key: Any) -> bool:
        """Whether ``key`` is present."""
        return bool(self._b().contains(key))

    @aio_method
    def len(self) -> int:
        """Number of keys."""
        return int(self._b().len())

    @aio_method
    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove and return the value for ``key`` (``default`` or KeyError when missing)."""
        try:
            return self._b().pop(key)
        except KeyError:
            if default is _MISSING:
                raise
            return default

    @aio_method
    def update(self, other: Any = None, /, **kwargs: Any) -> None:
        """Store every pair of ``other`` and ``kwargs``."""
        with store_errors():
            self._b().update({**dict(other or {}), **kwargs})

    @aio_method
    def clear(self) -> None:
        """Remove every key."""
        self._b().clear()

    @aio_iter_method
    def keys(self) -> Iterator[Any]:
        """The keys."""
        return iter(self._b().keys())

    @aio_iter_method
    def values(self) -> Iterator[Any]:
        """The values."""
        return iter(self._b().values())

    @aio_iter_method
    def items(self) -> Iterator[tuple[Any, Any]]:
        """The (key, value) pairs."""
        return iter(self._b().items())

    def __getitem__(self, key: Any) -> Any:
        value = self._b().get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        with store_errors():
            self._b().put(key, value, False)

    def __delitem__(self, key: Any) -> None:
        self._b().delete(key)

    def __contains__(self, key: Any) -> bool:
        return bool(self._b().contains(key))

    def __len__(self) -> int:
        return int(self._b().len())
