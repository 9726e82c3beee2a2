"""``Dict`` and ``Queue`` on SQLite: one database file per object, safe across processes.

Each operation runs in its own transaction (``BEGIN IMMEDIATE`` where it reads then
writes), so workers and the caller can share a Dict or Queue. Keys and values are
pickled (cloudpickle for values). Expiry follows Modal: Dict entries expire 7 days
after their last write; a Queue partition expires ``partition_ttl`` seconds after
its last ``put``. Blocking ``get`` polls with a short back-off.
"""

from __future__ import annotations

import contextlib
import pickle
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pcompile.runtime.protocol import deserialize, serialize

from .paths import safe_name, sub

DICT_TTL = 7 * 24 * 3600.0


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
        self.name = safe_name(name, self.kind)
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
    return pickle.dumps(key, protocol=4)


class SqliteDict(_Store):
    """The local backend of ``modal.Dict`` (method names as ``sdk/_dict.py`` calls them)."""

    kind = "dict"
    schema = "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL, updated REAL NOT NULL);"

    def _live(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM kv WHERE updated < ?", (time.time() - DICT_TTL,))

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        with self._tx() as conn:
            row = conn.execute("SELECT v, updated FROM kv WHERE k = ?", (_key(key),)).fetchone()
        if row is None or row[1] < time.time() - DICT_TTL:
            return default
        return deserialize(row[0])

    def put(self, key: Any, value: Any, skip_if_exists: bool = False) -> bool:
        """Set ``key``; with ``skip_if_exists`` keep an existing value and return False."""
        blob = serialize(value)
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
        """Set several keys in one transaction."""
        now = time.time()
        rows = [(_key(k), serialize(v), now) for k, v in mapping.items()]
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

    def put_many(self, values: list[Any], partition: str | None, partition_ttl: float) -> None:
        """Append ``values`` to a partition and extend its expiry."""
        part = self._part(partition)
        blobs = [(part, serialize(v)) for v in values]
        with self._tx(immediate=True) as conn:
            self._expire(conn)
            conn.executemany("INSERT INTO items (part, v) VALUES (?, ?)", blobs)
            conn.execute(
                "INSERT OR REPLACE INTO parts (part, expires) VALUES (?, ?)",
                (part, time.time() + partition_ttl),
            )

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
        with self._tx(immediate=True) as conn:
            if all:
                conn.execute("DELETE FROM items")
                conn.execute("DELETE FROM parts")
            else:
                conn.execute("DELETE FROM items WHERE part = ?", (self._part(partition),))

    def iterate(self, partition: str | None, item_poll_timeout: float) -> Iterator[Any]:
        """Values in order without removing them; waits ``item_poll_timeout`` for new ones."""
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
