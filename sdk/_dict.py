"""``modal.Dict``: a named key-value store shared by functions.

Every operation delegates to ``pcompile._storage.dict_backend(name)`` (SQLite
locally; DynamoDB / Firestore for deployed stacks), whose methods are:
``get(key, default)``, ``put(key, value, skip_if_exists) -> bool``, ``contains(key)``,
``len()``, ``pop(key)`` (KeyError when missing), ``delete(key)`` (KeyError when
missing), ``update(mapping)``, ``clear()``, ``keys()``, ``values()``, ``items()``, ``drop()``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from pcompile._aio import aio_iter_method, aio_method
from pcompile._source import CallSite, caller_site
from pcompile.exception import InvalidError

_MISSING = object()


class Dict:
    """A distributed dictionary (``modal.Dict``); get one with ``Dict.from_name``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Dict() is not allowed; use Dict.from_name(name, create_if_missing=True)")

    @classmethod
    def _make(cls, name: str, create_if_missing: bool) -> Dict:
        obj = cls.__new__(cls)
        obj.name = name
        obj.create_if_missing = create_if_missing
        obj._site = caller_site()
        return obj

    name: str
    create_if_missing: bool
    _site: CallSite

    def _b(self) -> Any:
        from pcompile import _storage

        return _storage.dict_backend(self.name)

    def __repr__(self) -> str:
        return f"Dict({self.name!r})"

    @classmethod
    def from_name(
        cls,
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        client: Any = None,
    ) -> Dict:
        """The dict called ``name``."""
        if not isinstance(name, str) or not name:
            raise InvalidError(f"Dict.from_name needs a non-empty name, got {name!r}")
        return cls._make(name, create_if_missing)

    @classmethod
    @contextlib.contextmanager
    def ephemeral(cls, **kwargs: Any) -> Iterator[Dict]:
        """A temporary dict, dropped when the block exits."""
        d = cls._make(f"ephemeral-{uuid.uuid4().hex[:12]}", True)
        try:
            yield d
        finally:
            d._b().drop()

    @classmethod
    def from_id(cls, dict_id: str, client: Any = None) -> Dict:
        """Dicts are addressed by name; the id is the name."""
        return cls._make(dict_id.removeprefix("di-"), False)

    @property
    def object_id(self) -> str:
        """Stable id of this dict."""
        return f"di-{self.name}"

    @aio_method
    def get(self, key: Any, default: Any = None) -> Any:
        """The value for ``key``, or ``default``."""
        return self._b().get(key, default)

    @aio_method
    def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool:
        """Store ``value``; with ``skip_if_exists`` keep an existing one. True when stored."""
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

    @aio_method
    def info(self) -> dict[str, Any]:
        """Name and id."""
        return {"name": self.name, "object_id": self.object_id}

    def __getitem__(self, key: Any) -> Any:
        value = self._b().get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self._b().put(key, value, False)

    def __delitem__(self, key: Any) -> None:
        self._b().delete(key)

    def __contains__(self, key: Any) -> bool:
        return bool(self._b().contains(key))

    def __len__(self) -> int:
        return int(self._b().len())

    def hydrate(self, client: Any = None) -> Dict:
        """Nothing to hydrate: returns self."""
        return self
