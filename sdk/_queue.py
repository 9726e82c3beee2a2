"""``modal.Queue``: a named FIFO queue with partitions, shared by functions.

Operations delegate to ``pcompile._storage.queue_backend(name)``, a
``pcompile.providers.kv.QueueStore``: ``put_many(values, partition, partition_ttl, block,
timeout)`` (``queue.Full`` when the partition stays full), ``get_many(n, block, timeout,
partition) -> list`` (empty list when nothing arrived in time),
``len(partition, total) -> int``, ``clear(partition, all)``,
``iterate(partition, item_poll_timeout) -> Iterator`` (does not remove), ``drop()``.
Input Modal refuses (partition keys, ``partition_ttl``, sizes) is refused by the store
and raised here as ``InvalidError`` naming the user's call.
"""

from __future__ import annotations

import queue as stdlib_queue
from collections.abc import Iterator
from typing import Any

from pcompile._aio import aio_iter_method, aio_method
from pcompile._named import NamedStore
from pcompile._source import caller_site
from pcompile.exception import InvalidError


class store_errors:  # noqa: N801 - used like a function: ``with store_errors():``
    """A store's refusal of bad input (flagged ``kv_input``) as InvalidError at the user's call.

    A class, not ``contextlib.contextmanager``: the frames above ``__exit__`` are then the
    SDK's and the user's only, so ``caller_site`` finds the user's line.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, ValueError) and getattr(exc, "kv_input", False):
            site = caller_site()
            raise InvalidError(f"{site.file}:{site.line}: {exc}") from None


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
        """Add one value; ``queue.Full`` when the partition stays full (5,000 items) past ``timeout``."""
        with store_errors():
            self._b().put_many([v], partition, partition_ttl, block, timeout)

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
        with store_errors():
            self._b().put_many(list(vs), partition, partition_ttl, block, timeout)

    @aio_method
    def get(self, block: bool = True, timeout: float | None = None, *, partition: str | None = None) -> Any:
        """Remove and return the next value; ``queue.Empty`` after ``timeout``, None when not blocking."""
        with store_errors():
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
        with store_errors():
            items = list(self._b().get_many(n_values, block, timeout, partition))
        if not items and block:
            raise stdlib_queue.Empty()
        return items

    @aio_method
    def len(self, *, partition: str | None = None, total: bool = False) -> int:
        """Number of values in a partition, or in all with ``total=True``."""
        if partition is not None and total:
            raise InvalidError("Queue.len: partition must be None when total=True (Modal refuses both)")
        with store_errors():
            return int(self._b().len(partition, total))

    @aio_method
    def clear(self, *, partition: str | None = None, all: bool = False) -> None:
        """Remove every value of a partition, or of all with ``all=True``."""
        if partition is not None and all:
            raise InvalidError("Queue.clear: partition must be None when all=True (Modal refuses both)")
        with store_errors():
            self._b().clear(partition, all)

    @aio_iter_method
    def iterate(self, *, partition: str | None = None, item_poll_timeout: float = 0.0) -> Iterator[Any]:
        """Iterate over values without removing them."""
        with store_errors():
            self._b().len(partition, False)  # checks the partition at the call, not at first next()
        return iter(self._b().iterate(partition, item_poll_timeout))
