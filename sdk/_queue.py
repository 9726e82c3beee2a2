"""``modal.Queue``: a named FIFO queue with partitions, shared by functions.

Operations delegate to ``pcompile._storage.queue_backend(name)`` whose methods are:
``put_many(values, partition, partition_ttl)``, ``get_many(n, block, timeout,
partition) -> list`` (empty list when nothing arrived in time),
``len(partition, total) -> int``, ``clear(partition, all)``,
``iterate(partition, item_poll_timeout) -> Iterator`` (does not remove), ``drop()``.
"""

from __future__ import annotations

import contextlib
import queue as stdlib_queue
import uuid
from collections.abc import Iterator
from typing import Any

from pcompile._aio import aio_iter_method, aio_method
from pcompile._source import CallSite, caller_site
from pcompile.exception import InvalidError


class Queue:
    """A distributed queue (``modal.Queue``); get one with ``Queue.from_name``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Queue() is not allowed; use Queue.from_name(name, create_if_missing=True)")

    name: str
    create_if_missing: bool
    _site: CallSite

    @classmethod
    def _make(cls, name: str, create_if_missing: bool) -> Queue:
        obj = cls.__new__(cls)
        obj.name = name
        obj.create_if_missing = create_if_missing
        obj._site = caller_site()
        return obj

    def _b(self) -> Any:
        from pcompile import _storage

        return _storage.queue_backend(self.name)

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    @classmethod
    def from_name(
        cls,
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        client: Any = None,
    ) -> Queue:
        """The queue called ``name``."""
        if not isinstance(name, str) or not name:
            raise InvalidError(f"Queue.from_name needs a non-empty name, got {name!r}")
        return cls._make(name, create_if_missing)

    @classmethod
    @contextlib.contextmanager
    def ephemeral(cls, **kwargs: Any) -> Iterator[Queue]:
        """A temporary queue, dropped when the block exits."""
        q = cls._make(f"ephemeral-{uuid.uuid4().hex[:12]}", True)
        try:
            yield q
        finally:
            q._b().drop()

    @classmethod
    def from_id(cls, queue_id: str, client: Any = None) -> Queue:
        """Queues are addressed by name; the id is the name."""
        return cls._make(queue_id.removeprefix("qu-"), False)

    @property
    def object_id(self) -> str:
        """Stable id of this queue."""
        return f"qu-{self.name}"

    @aio_method
    def put(
        self,
        v: Any,
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
        partition_ttl: int = 86400,
    ) -> None:
        """Add one value."""
        self._b().put_many([v], partition, partition_ttl)

    @aio_method
    def put_many(
        self,
        vs: list[Any],
        block: bool = True,
        timeout: float | None = None,
        *,
        partition: str | None = None,
        partition_ttl: int = 86400,
    ) -> None:
        """Add several values, in order."""
        self._b().put_many(list(vs), partition, partition_ttl)

    @aio_method
    def get(self, block: bool = True, timeout: float | None = None, *, partition: str | None = None) -> Any:
        """Remove and return the next value; ``queue.Empty`` after ``timeout``, None when not blocking."""
        items = self._b().get_many(1, block, timeout, partition)
        if items:
            return items[0]
        if block:
            raise stdlib_queue.Empty()
        return None

    @aio_method
    def get_many(
        self, n_values: int, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> list[Any]:
        """Remove and return up to ``n_values`` values (at least one when blocking)."""
        items = list(self._b().get_many(n_values, block, timeout, partition))
        if not items and block:
            raise stdlib_queue.Empty()
        return items

    @aio_method
    def len(self, *, partition: str | None = None, total: bool = False) -> int:
        """Number of values in a partition, or in all with ``total=True``."""
        return int(self._b().len(partition, total))

    @aio_method
    def clear(self, *, partition: str | None = None, all: bool = False) -> None:
        """Remove every value of a partition, or of all with ``all=True``."""
        self._b().clear(partition, all)

    @aio_iter_method
    def iterate(self, *, partition: str | None = None, item_poll_timeout: float = 0.0) -> Iterator[Any]:
        """Iterate over values without removing them."""
        return iter(self._b().iterate(partition, item_poll_timeout))

    @aio_method
    def info(self) -> dict[str, Any]:
        """Name and id."""
        return {"name": self.name, "object_id": self.object_id}

    def hydrate(self, client: Any = None) -> Queue:
        """Nothing to hydrate: returns self."""
        return self
