"""The in-library fake of the Firestore store: the :class:`~pcompile.providers.kv.Table`
primitive on one SQLite file, safe across processes.

It keeps what the Firestore backend relies on: one document per row, documents of at most
1 MiB (Firestore's limit), and atomic conditional writes (a Firestore transaction or a
precondition). Each call is one ``BEGIN IMMEDIATE`` transaction, so claims by concurrent
getters in different processes are exactly-once as they are on Firestore. It does not model
Firestore's latency, its write-rate limits per document, or its index rules: those are
unverified against the fake (docs/gcp.md).
"""

from __future__ import annotations

import contextlib
import pickle
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from pcompile.providers.kv import Row

MAX_DOCUMENT = 2**20 - 89  # Firestore: 1 MiB per document, less the name overhead of a small id
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rows (pk TEXT NOT NULL, sk TEXT NOT NULL, attrs BLOB NOT NULL,"
    " expires_at REAL, PRIMARY KEY (pk, sk)) WITHOUT ROWID"
)


def _live_sql(now: float) -> tuple[str, tuple[float]]:
    return "(expires_at IS NULL OR expires_at > ?)", (now,)


class FakeFirestoreTable:
    """Rows of every collection in one SQLite file (``pk`` plays the collection)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with self._tx() as conn:
            conn.execute(_SCHEMA)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    @staticmethod
    def _blob(attrs: Row) -> bytes:
        blob = pickle.dumps({k: v for k, v in attrs.items() if k != "sk"}, protocol=5)
        if len(blob) > MAX_DOCUMENT:
            raise ValueError(f"document of {len(blob)} bytes is over Firestore's 1 MiB limit")
        return blob

    @staticmethod
    def _row(sk: str, blob: bytes) -> Row:
        return {**pickle.loads(blob), "sk": sk}

    def _get(self, conn: sqlite3.Connection, pk: str, sk: str) -> Row | None:
        where, args = _live_sql(time.time())
        found = conn.execute(
            f"SELECT attrs FROM rows WHERE pk=? AND sk=? AND {where}", (pk, sk, *args)
        ).fetchone()
        return None if found is None else self._row(sk, found[0])

    def _write(self, conn: sqlite3.Connection, pk: str, sk: str, attrs: Row) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO rows (pk, sk, attrs, expires_at) VALUES (?, ?, ?, ?)",
            (pk, sk, self._blob(attrs), attrs.get("expires_at")),
        )

    def get(self, pk: str, sk: str) -> Row | None:
        """The live row, or None."""
        with self._tx() as conn:
            return self._get(conn, pk, sk)

    def put(self, pk: str, sk: str, attrs: Row, if_absent: bool = False) -> tuple[bool, Row | None]:
        """Write (only when absent with ``if_absent``); (written, old live row)."""
        with self._tx() as conn:
            old = self._get(conn, pk, sk)
            if if_absent and old is not None:
                return False, old
            self._write(conn, pk, sk, attrs)
            return True, old

    def put_rows(self, pk: str, rows: list[tuple[str, Row]]) -> None:
        """Write several rows in one transaction."""
        with self._tx() as conn:
            for sk, attrs in rows:
                self._write(conn, pk, sk, attrs)

    def set_expiry(self, pk: str, sks: list[str], expires_at: float) -> None:
        """Move the expiry of existing rows."""
        with self._tx() as conn:
            for sk in sks:
                row = self._get(conn, pk, sk)
                if row is not None:
                    self._write(conn, pk, sk, {**row, "expires_at": expires_at})

    def swap(self, pk: str, sk: str, ver: int, attrs: Row | None) -> bool:
        """Replace (or delete) the live row when its ``ver`` is ``ver``, atomically."""
        with self._tx() as conn:
            row = self._get(conn, pk, sk)
            if row is None or int(row.get("ver", 0)) != ver:
                return False
            if attrs is None:
                conn.execute("DELETE FROM rows WHERE pk=? AND sk=?", (pk, sk))
            else:
                self._write(conn, pk, sk, attrs)
            return True

    def delete_rows(self, pk: str, sks: list[str]) -> None:
        """Delete rows, present or not."""
        with self._tx() as conn:
            conn.executemany("DELETE FROM rows WHERE pk=? AND sk=?", [(pk, sk) for sk in sks])

    def _select(
        self, conn: sqlite3.Connection, what: str, pk: str, prefix: str, after: str | None
    ) -> sqlite3.Cursor:
        where, args = _live_sql(time.time())
        # Every sk is ASCII, so prefix + "\x7f" bounds the prefix's range.
        low = max(prefix, after or "")
        cmp = ">" if after is not None and after >= prefix else ">="
        sql = f"SELECT {what} FROM rows WHERE pk=? AND sk {cmp} ? AND sk < ? AND {where} ORDER BY sk"
        return conn.execute(sql, (pk, low, prefix + "\x7f", *args))

    def query(
        self,
        pk: str,
        prefix: str,
        after: str | None = None,
        limit: int | None = None,
        fields: list[str] | None = None,
    ) -> list[Row]:
        """Live rows under ``prefix`` after ``after``, ascending (all fields: a projection
        saves nothing here)."""
        with self._tx() as conn:
            rows = self._select(conn, "sk, attrs", pk, prefix, after)
            found = rows.fetchmany(limit) if limit else rows.fetchall()
        return [self._row(sk, blob) for sk, blob in found]

    def count(self, pk: str, prefix: str, after: str | None = None) -> int:
        """Number of live rows under ``prefix`` after ``after``."""
        with self._tx() as conn:
            return len(self._select(conn, "sk", pk, prefix, after).fetchall())

    def bump(self, pk: str, sk: str, n: int, now: float, until: float, expires_at: float) -> int:
        """Reserve ``n`` numbers on the counter row (see the Table protocol)."""
        with self._tx() as conn:
            row = self._get(conn, pk, sk) or {"seq": 0, "floor": 0, "until": 0.0}
            seq, floor = int(row["seq"]), int(row["floor"])
            if float(row["until"]) <= now:
                floor = seq
            self._write(
                conn, pk, sk, {"seq": seq + n, "floor": floor, "until": until, "expires_at": expires_at}
            )
            return seq + 1

    def drop(self, pk: str) -> None:
        """Delete every row of ``pk``."""
        with self._tx() as conn:
            conn.execute("DELETE FROM rows WHERE pk=?", (pk,))
