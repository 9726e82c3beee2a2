"""``Dict`` and ``Queue`` on SQLite: one database file per object, safe across processes.

These implement :class:`~pcompile.providers.kv.DictStore` and
:class:`~pcompile.providers.kv.QueueStore`, with the limits and input checks of
:mod:`pcompile.providers.kv` (the clouds' stores share them). Each operation runs in its
own transaction (``BEGIN IMMEDIATE`` where it reads then writes), so workers and the
caller can share a Dict or Queue. Keys and values are pickled (cloudpickle for values).
Expiry follows Modal: Dict entries expire 7 days after their last read or write; a Queue
partition expires ``partition_ttl`` seconds after its last ``put``. Blocking ``get``
polls with a short back-off.
"""

from __future__ import annotations

import contextlib
import pickle
import queue as stdlib_queue
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pcompile.providers import kv
from pcompile.runtime.protocol import deserialize, serialize

from .paths import safe_name, sub

DICT_TTL = float(kv.DICT_TTL)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class _Store:
    """A SQLite file under ``.pcompile/local/stores``."""

    kind = ""
    schema = ""

    def __init__(self, name: str) -> None:
        try:
            self.name = safe_name(name, self.kind)
        except ValueError as exc:
            raise kv.KvInputError(str(exc)) from None
        self.path = sub("stores") / f"{self.kind}-{self.name}.sqlite"
        conn = _connect(self.path)
        try:
            conn.executescript(self.schema)  # executescript manages its own transaction
        finally:
            conn.close()

    @contextlib.contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        conn = _connect(self.path)
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def drop(self) -> None:
        """Delete the store's files."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _key(key: Any) -> bytes:
    return kv.key_bytes(key)


class SqliteDict(_Store):
    """The local backend of ``modal.Dict`` (method names as ``sdk/_dict.py`` calls them)."""

    kind = "dict"
    schema = "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL, updated REAL NOT NULL);"

    def _live(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM kv WHERE updated < ?", (time.time() - DICT_TTL,))

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        now = time.time()
        with self._tx() as conn:
            row = conn.execute("SELECT v, updated FROM kv WHERE k = ?", (_key(key),)).fetchone()
            if row is not None and now - kv.DICT_TOUCH > row[1] >= now - DICT_TTL:
                # a read is activity too (Modal); moved at most once a day so reads stay cheap
                conn.execute("UPDATE kv SET updated = ? WHERE k = ?", (now, _key(key)))
        if row is None or row[1] < now - DICT_TTL:
            return default
        return deserialize(row[0])

    def put(self, key: Any, value: Any, skip_if_exists: bool = False) -> bool:
        """Set ``key``; with ``skip_if_exists`` keep an existing value and return False."""
        blob = kv.check_size(serialize(value), kv.MAX_DICT_VALUE, "the Dict value")
        with self._tx(immediate=True) as conn:
            self._live(conn)
            verb = "INSERT OR IGNORE" if skip_if_exists else "INSERT OR REPLACE"
            cur = conn.execute(
                f"{verb} INTO kv (k, v, updated) VALUES (?, ?, ?)", (_key(key), blob, time.time())
            )
            return cur.rowcount > 0

    def contains(self, key: Any) -> bool:
        """Whether ``key`` is set."""
        return bool(self.get(key, _ABSENT) is not _ABSENT)

    def len(self) -> int:
        """Number of live entries."""
        with self._tx(immediate=True) as conn:
            self._live(conn)
            return int(conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0])

    def pop(self, key: Any) -> Any:
        """Remove ``key`` and return its value; ``KeyError`` when absent."""
        with self._tx(immediate=True) as conn:
            self._live(conn)
            row = conn.execute("SELECT v FROM kv WHERE k = ?", (_key(key),)).fetchone()
            if row is None:
                raise KeyError(key)
            conn.execute("DELETE FROM kv WHERE k = ?", (_key(key),))
        return deserialize(row[0])

    def delete(self, key: Any) -> None:
        """Remove ``key``; ``KeyError`` when absent."""
        self.pop(key)

    def update(self, mapping: dict[Any, Any]) -> None:
        """Set several keys (at most 10,000) in one transaction."""
        kv.check_update(len(mapping))
        now = time.time()
        rows = [
            (_key(k), kv.check_size(serialize(v), kv.MAX_DICT_VALUE, "the Dict value"), now)
            for k, v in mapping.items()
        ]
        with self._tx(immediate=True) as conn:
            conn.executemany("INSERT OR REPLACE INTO kv (k, v, updated) VALUES (?, ?, ?)", rows)

    def clear(self) -> None:
        """Remove every entry."""
        with self._tx(immediate=True) as conn:
            conn.execute("DELETE FROM kv")

    def _rows(self) -> list[tuple[bytes, bytes]]:
        with self._tx(immediate=True) as conn:
            self._live(conn)
            return list(conn.execute("SELECT k, v FROM kv ORDER BY rowid"))

    def keys(self) -> list[Any]:
        """Keys, in insertion order."""
        return [pickle.loads(k) for k, _ in self._rows()]

    def values(self) -> list[Any]:
        """Values, in insertion order."""
        return [deserialize(v) for _, v in self._rows()]

    def items(self) -> list[tuple[Any, Any]]:
        """(key, value) pairs, in insertion order."""
        return [(pickle.loads(k), deserialize(v)) for k, v in self._rows()]


_ABSENT = object()


class SqliteQueue(_Store):
    """The local backend of ``modal.Queue`` (method names as ``sdk/_queue.py`` calls them)."""

    kind = "queue"
    schema = (
        "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, part TEXT NOT NULL, v BLOB NOT NULL);"
        "CREATE INDEX IF NOT EXISTS items_part ON items (part, id);"
        "CREATE TABLE IF NOT EXISTS parts (part TEXT PRIMARY KEY, expires REAL NOT NULL);"
    )

    @staticmethod
    def _part(partition: str | None) -> str:
        return "" if partition is None else f"p:{partition}"

    def _expire(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        conn.execute("DELETE FROM items WHERE part IN (SELECT part FROM parts WHERE expires < ?)", (now,))
        conn.execute("DELETE FROM parts WHERE expires < ?", (now,))

    def put_many(
        self,
        values: list[Any],
        partition: str | None,
        partition_ttl: float = kv.DEFAULT_PARTITION_TTL,
        block: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Append ``values`` to a partition and extend its expiry; ``queue.Full`` when the
        partition stays at Modal's 5,000 items past ``timeout``."""
        kv.check_partition(partition)
        kv.check_ttl(partition_ttl)
        part = self._part(partition)
        blobs = [(part, kv.check_size(serialize(v), kv.MAX_QUEUE_ITEM, "the Queue item")) for v in values]
        if len(blobs) > kv.MAX_PARTITION_ITEMS:
            raise kv.KvInputError(
                f"put_many of {len(blobs):,} items: a partition holds at most {kv.MAX_PARTITION_ITEMS:,}; "
                "put them in several calls as getters drain the queue"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while not self._append(blobs, part, partition_ttl):
            if not block or (deadline is not None and time.monotonic() + delay > deadline):
                raise stdlib_queue.Full(f"partition {partition!r} holds {kv.MAX_PARTITION_ITEMS:,} items")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _append(self, blobs: list[tuple[str, bytes]], part: str, partition_ttl: float) -> bool:
        with self._tx(immediate=True) as conn:
            self._expire(conn)
            held = conn.execute("SELECT COUNT(*) FROM items WHERE part = ?", (part,)).fetchone()[0]
            if held + len(blobs) > kv.MAX_PARTITION_ITEMS:
                return False
            conn.executemany("INSERT INTO items (part, v) VALUES (?, ?)", blobs)
            conn.execute(
                "INSERT OR REPLACE INTO parts (part, expires) VALUES (?, ?)",
                (part, time.time() + partition_ttl),
            )
        return True

    def _take(self, n: int, part: str) -> list[Any]:
        with self._tx(immediate=True) as conn:
            self._expire(conn)
            rows = conn.execute(
                "SELECT id, v FROM items WHERE part = ? ORDER BY id LIMIT ?", (part, n)
            ).fetchall()
            if rows:
                conn.execute(
                    f"DELETE FROM items WHERE id IN ({','.join('?' * len(rows))})", [r[0] for r in rows]
                )
        return [deserialize(v) for _, v in rows]

    def get_many(self, n: int, block: bool, timeout: float | None, partition: str | None) -> list[Any]:
        """Remove up to ``n`` values; when blocking wait for at least one (``[]`` on timeout)."""
        kv.check_partition(partition)
        part = self._part(partition)
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            items = self._take(n, part)
            if items or not block:
                return items
            if deadline is not None and time.monotonic() >= deadline:
                return []
            left = 0.1 if deadline is None else max(0.0, deadline - time.monotonic())
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.1)

    def len(self, partition: str | None, total: bool) -> int:
        """Values in a partition, or in all partitions when ``total``."""
        kv.check_partition(partition)
        with self._tx(immediate=True) as conn:
            self._expire(conn)
            if total:
                return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM items WHERE part = ?", (self._part(partition),)
                ).fetchone()[0]
            )

    def clear(self, partition: str | None, all: bool) -> None:
        """Empty a partition, or every partition when ``all``."""
        kv.check_partition(partition)
        with self._tx(immediate=True) as conn:
            if all:
                conn.execute("DELETE FROM items")
                conn.execute("DELETE FROM parts")
            else:
                conn.execute("DELETE FROM items WHERE part = ?", (self._part(partition),))

    def iterate(self, partition: str | None, item_poll_timeout: float) -> Iterator[Any]:
        """Values in order without removing them; waits ``item_poll_timeout`` for new ones."""
        kv.check_partition(partition)
        part, last = self._part(partition), 0
        idle_since = time.monotonic()
        while True:
            with self._tx() as conn:
                rows = conn.execute(
                    "SELECT id, v FROM items WHERE part = ? AND id > ? ORDER BY id", (part, last)
                ).fetchall()
            for row_id, blob in rows:
                last = row_id
                yield deserialize(blob)
            if rows:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= item_poll_timeout:
                return
            else:
                time.sleep(min(0.05, item_poll_timeout))
