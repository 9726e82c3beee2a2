"""``modal.Queue``: a named FIFO queue with partitions, shared by functions.

Operations delegate to ``pcompile._storage.queue_backend(name)`` whose methods are:
``put_many(values, partition, partition_ttl)``, ``get_many(n, block, timeout,
partition) -> list`` (empty list when nothing arrived in time),
``len(partition, total) -> int``, ``clear(partition, all)``,
``iterate(partition, item_poll_timeout) -> Iterator`` (does not remove), ``drop()``.
"""

from __future__ import annotations

import queue as stdlib_queue
from collections.abc import Iterator
from typing import Any

from pcompile._aio import aio_iter_method, aio_method
from pcompile._named import NamedStore


class Queue(NamedStore):
    """A distributed queue (``modal.Queue``); get one with ``Queue.from_name``."""

    _KIND = "queue"
    _ID_PREFIX = "qu"

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
