"""The store interface behind ``modal.Dict`` and ``modal.Queue``, and Modal's semantics on top
of one small table primitive, shared by the cloud backends.

Two layers:

* :class:`DictStore` / :class:`QueueStore` are what ``sdk/_dict.py`` and ``sdk/_queue.py``
  call. The local SQLite store (:mod:`pcompile.providers.local.stores`) implements them
  directly; the clouds use :class:`TableDict` / :class:`TableQueue` here.
* :class:`Table` is the primitive a cloud gives: rows ``(pk, sk) -> attributes`` sorted by
  ``sk`` within ``pk``, conditional puts and deletes, and one atomic partition counter.
  DynamoDB (:mod:`pcompile.providers.aws.kv`) and Firestore (:mod:`pcompile.providers.gcp.kv`,
  with its in-library fake) implement it, so Modal's rules live once, here.

Modal's rules kept here (its guide, "Dicts and Queues"): Dict entries expire 7 days after
the last read or write; values are at most 100 MiB and an update at most 10,000 entries. A
Queue partition is cleared ``partition_ttl`` seconds (at most 24 h) after its last put; a
partition holds at most 5,000 items of at most 1 MiB; partition keys are 1-64 bytes; a
Queue has at most 100,000 partitions. Each item goes to exactly one getter: a getter owns
items only once its versioned conditional write of their page (:meth:`Table.swap`) succeeded.
"""

from __future__ import annotations

import hashlib
import pickle
import queue as stdlib_queue
import random
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from pcompile.runtime.protocol import deserialize, serialize

DICT_TTL = 7 * 24 * 3600
# A read moves a Dict entry's expiry only when it is more than a day old: reads stay reads.
DICT_TOUCH = 24 * 3600
MAX_DICT_VALUE = 100 * 2**20
MAX_DICT_UPDATE = 10_000
MAX_QUEUE_ITEM = 2**20
MAX_PARTITION_ITEMS = 5_000
MAX_PARTITIONS = 100_000
MAX_PARTITION_KEY = 64
MAX_PARTITION_TTL = 24 * 3600
DEFAULT_PARTITION_TTL = 24 * 3600
# Values above this travel in chunk rows (DynamoDB items hold 400 KB, Firestore documents 1 MiB).
INLINE = 300_000
# Queue items are stored this many bytes to a page: a get takes several with one write, and
# rewriting a page's rest stays cheap (DynamoDB bills writes per KB).
PAGE_BYTES = 64_000
_WINDOW = 8  # pages a getter looks at before picking another after a lost race
_META_TTL = MAX_PARTITION_TTL + 3600  # a counter row outlives the items it numbered
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_POLL = (0.005, 0.2)  # first and longest wait between polls of a blocking get


class KvInputError(ValueError):
    """A Dict/Queue call Modal would refuse (name, size, partition); the message holds the fix."""

    kv_input = True  # the SDK adds the user's call site to errors carrying this flag


class DictStore(Protocol):
    """What ``sdk/_dict.py`` calls; keys and values are Python objects (pickled inside)."""

    def get(self, key: Any, default: Any = None) -> Any: ...
    def put(self, key: Any, value: Any, skip_if_exists: bool = False) -> bool: ...
    def contains(self, key: Any) -> bool: ...
    def len(self) -> int: ...
    def pop(self, key: Any) -> Any: ...
    def delete(self, key: Any) -> None: ...
    def update(self, mapping: dict[Any, Any]) -> None: ...
    def clear(self) -> None: ...
    def keys(self) -> list[Any]: ...
    def values(self) -> list[Any]: ...
    def items(self) -> list[tuple[Any, Any]]: ...
    def drop(self) -> None: ...


class QueueStore(Protocol):
    """What ``sdk/_queue.py`` calls. ``get_many`` returns ``[]`` when nothing came in time;
    ``put_many`` raises ``queue.Full`` when the partition stays full past ``timeout``."""

    def put_many(
        self,
        values: list[Any],
        partition: str | None,
        partition_ttl: float,
        block: bool = True,
        timeout: float | None = None,
    ) -> None: ...
    def get_many(self, n: int, block: bool, timeout: float | None, partition: str | None) -> list[Any]: ...
    def len(self, partition: str | None, total: bool) -> int: ...
    def clear(self, partition: str | None, all: bool) -> None: ...
    def iterate(self, partition: str | None, item_poll_timeout: float) -> Iterator[Any]: ...
    def drop(self) -> None: ...


# -- validation (every backend calls these, so every cloud refuses the same input) -----------


class KvBackend(Protocol):
    """A cloud's Dict/Queue stores, as :meth:`pcompile.providers.registry.Provider.kv`
    hands them out (each cloud's ``kv`` module is one)."""

    def store_from_env(self, kind: str, name: str, environ: Mapping[str, str]) -> TableDict | TableQueue:
        """The store a deployed function opens for ``Dict/Queue.from_name(name)``."""
        ...

    def stack_store(self, kind: str, name: str, settings: Any) -> TableDict | TableQueue:
        """The store of ``name`` on a deployed stack (``pcompile dict|queue --stack``)."""
        ...

    def delete_object(self, kind: str, name: str, settings: Any) -> None:
        """Delete the object ``name`` of ``kind`` and its data."""
        ...

    def list_names(self, kind: str, settings: Any) -> list[str]:
        """Names of a stack's ``kind`` objects, sorted."""
        ...


def check_name(name: str, kind: str) -> str:
    """``name`` when Modal and every cloud accept it as a Dict/Queue name, else KvInputError."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    suggestion = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-._")[:63] or f"my-{kind}"
    raise KvInputError(
        f"invalid {kind} name {name!r}: a name starts with a letter or digit and has only letters, "
        f"digits, '.', '_' or '-' (at most 63 characters); rename it, e.g. {suggestion!r}"
    )


def check_partition(partition: str | None) -> None:
    """Modal's partition keys: None (the default partition) or 1-64 bytes of text."""
    if partition is None:
        return
    if not isinstance(partition, str) or not 1 <= len(partition.encode()) <= MAX_PARTITION_KEY:
        raise KvInputError(
            f"invalid partition {partition!r}: a partition key is a non-empty string of at most "
            f"{MAX_PARTITION_KEY} bytes; use a shorter key (or partition=None for the default one)"
        )


def check_ttl(partition_ttl: float) -> None:
    """``partition_ttl`` is 1 s to 24 h, as Modal's server accepts."""
    if isinstance(partition_ttl, bool) or not isinstance(partition_ttl, (int, float)):
        raise KvInputError(f"partition_ttl must be a number of seconds, got {partition_ttl!r}")
    if not 1 <= partition_ttl <= MAX_PARTITION_TTL:
        raise KvInputError(
            f"partition_ttl={partition_ttl!r} is out of range: a partition lives 1 to "
            f"{MAX_PARTITION_TTL} seconds (24 h) after its last put; pass a value in that range"
        )


def check_size(blob: bytes, limit: int, what: str) -> bytes:
    """``blob`` when it is within ``limit`` bytes, else KvInputError naming both sizes."""
    if len(blob) > limit:
        raise KvInputError(
            f"{what} is {len(blob):,} bytes pickled, over Modal's limit of {limit:,} bytes; store it "
            "in a Volume and put its path instead"
        )
    return blob


def check_update(count: int) -> None:
    """An update writes at most 10,000 entries (Modal's limit)."""
    if count > MAX_DICT_UPDATE:
        raise KvInputError(
            f"Dict.update got {count:,} entries, over Modal's limit of {MAX_DICT_UPDATE:,} per "
            "update; split it into several updates"
        )


def key_bytes(key: Any) -> bytes:
    """The pickled form of a Dict key (plain pickle: the same key gives the same bytes)."""
    try:
        return pickle.dumps(key, protocol=4)
    except Exception:
        return serialize(key)


def partition_code(partition: str | None) -> str:
    """A partition as row-key text that sorts, has no separator, and never meets another's."""
    return "d" if partition is None else "p" + partition.encode().hex()


def partition_of(code: str) -> str | None:
    """Inverse of :func:`partition_code`."""
    return None if code == "d" else bytes.fromhex(code[1:]).decode()


# -- the table primitive -------------------------------------------------------------------


Row = dict[str, Any]  # attributes; bytes under "v"/"k", numbers elsewhere; "sk" when returned


class Table(Protocol):
    """Rows of one Dict or Queue (``pk`` is its name) in one cloud table or collection.

    ``expires_at`` (epoch seconds) is the cloud's TTL attribute: rows past it are dropped by
    the cloud some time later, so ``get``, ``query`` and ``count`` never return them (nor does
    ``put(if_absent=True)`` count them as present). ``sk`` sorts as text.
    """

    def get(self, pk: str, sk: str) -> Row | None: ...
    def put(self, pk: str, sk: str, attrs: Row, if_absent: bool = False) -> tuple[bool, Row | None]:
        """Write a row; with ``if_absent`` only when none is live. Returns (written, old row)."""
        ...

    def put_rows(self, pk: str, rows: list[tuple[str, Row]]) -> None: ...
    def set_expiry(self, pk: str, sks: list[str], expires_at: float) -> None: ...
    def swap(self, pk: str, sk: str, ver: int, attrs: Row | None) -> bool:
        """Replace the live row whose ``ver`` is ``ver`` with ``attrs`` (delete it when None).
        True only for the one caller whose condition held: this is what makes each Queue item
        go to exactly one getter."""
        ...

    def delete_rows(self, pk: str, sks: list[str]) -> None: ...
    def query(
        self,
        pk: str,
        prefix: str,
        after: str | None = None,
        limit: int | None = None,
        fields: list[str] | None = None,
    ) -> list[Row]:
        """Rows whose sk starts with ``prefix`` (and sorts after ``after``), ascending; only
        ``fields`` (and ``sk``) when given."""
        ...

    def count(self, pk: str, prefix: str, after: str | None = None) -> int: ...
    def bump(self, pk: str, sk: str, n: int, now: float, until: float, expires_at: float) -> int:
        """Atomically reserve ``n`` sequence numbers on the counter row ``sk`` (attribute ``seq``)
        and set its ``until`` and ``expires_at``. When its ``until`` had passed (or the row is
        new), ``floor`` first moves to the old ``seq`` so the items of the partition's past life
        stay invisible. Returns the first reserved number."""
        ...

    def drop(self, pk: str) -> None: ...


def _live(row: Row | None, now: float) -> bool:
    return row is not None and float(row.get("expires_at", now + 1)) > now


# -- values that may span several rows ---------------------------------------------------------


def _value_attrs(table: Table, pk: str, blob: bytes, expires_at: float) -> Row:
    """Attributes holding ``blob``: inline, or chunk rows written first (readers never see half)."""
    if len(blob) <= INLINE:
        return {"v": blob}
    cid = uuid.uuid4().hex
    parts = [blob[i : i + INLINE] for i in range(0, len(blob), INLINE)]
    table.put_rows(
        pk, [(f"c#{cid}#{i:05d}", {"v": p, "expires_at": expires_at}) for i, p in enumerate(parts)]
    )
    return {"c": cid, "nc": len(parts)}


def _chunk_sks(row: Row) -> list[str]:
    return [f"c#{row['c']}#{i:05d}" for i in range(int(row["nc"]))] if row.get("c") else []


def _value(table: Table, pk: str, row: Row) -> bytes:
    if not row.get("c"):
        return bytes(row["v"])
    parts = table.query(pk, f"c#{row['c']}#")
    return b"".join(bytes(p["v"]) for p in parts)


def _drop_chunks(table: Table, pk: str, row: Row | None) -> None:
    if row is not None and row.get("c"):
        table.delete_rows(pk, _chunk_sks(row))


# -- Dict ------------------------------------------------------------------------------------


class TableDict:
    """``modal.Dict`` on a :class:`Table`: one row per key, ``k#<sha256 of the pickled key>``."""

    def __init__(self, table: Table, name: str) -> None:
        self.table, self.pk = table, name

    @staticmethod
    def clock() -> float:
        """Now (looked up at each call, so a test can move the clock)."""
        return time.time()

    @staticmethod
    def _sk(kb: bytes) -> str:
        return "k#" + hashlib.sha256(kb).hexdigest()

    def _row(self, key: Any) -> Row | None:
        row = self.table.get(self.pk, self._sk(key_bytes(key)))
        now = self.clock()
        if not _live(row, now):
            return None
        assert row is not None
        if float(row["expires_at"]) - now < DICT_TTL - DICT_TOUCH:  # a read is activity too
            expires = now + DICT_TTL
            self.table.set_expiry(self.pk, [row["sk"], *_chunk_sks(row)], expires)
        return row

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        row = self._row(key)
        return default if row is None else deserialize(_value(self.table, self.pk, row))

    def put(self, key: Any, value: Any, skip_if_exists: bool = False) -> bool:
        """Set ``key``; with ``skip_if_exists`` keep a live value and return False."""
        kb = key_bytes(key)
        blob = check_size(serialize(value), MAX_DICT_VALUE, "the Dict value")
        expires = self.clock() + DICT_TTL
        attrs = {
            "k": kb,
            "expires_at": expires,
            "ver": random.getrandbits(48),  # a fresh version per put: a racing pop never sees ABA
            **_value_attrs(self.table, self.pk, blob, expires),
        }
        written, old = self.table.put(self.pk, self._sk(kb), attrs, if_absent=skip_if_exists)
        _drop_chunks(self.table, self.pk, old if written else {**attrs, "sk": ""})
        return written

    def contains(self, key: Any) -> bool:
        """Whether ``key`` has a live value."""
        return self._row(key) is not None

    def len(self) -> int:
        """Number of live keys."""
        return self.table.count(self.pk, "k#")

    def pop(self, key: Any) -> Any:
        """Remove ``key`` and return its value; KeyError when absent (one popper wins)."""
        row = self._row(key)
        if row is None or not self.table.swap(self.pk, row["sk"], int(row.get("ver", 0)), None):
            raise KeyError(key)
        value = _value(self.table, self.pk, row)
        _drop_chunks(self.table, self.pk, row)
        return deserialize(value)

    def delete(self, key: Any) -> None:
        """Remove ``key``; KeyError when absent."""
        self.pop(key)

    def update(self, mapping: dict[Any, Any]) -> None:
        """Set every pair (at most 10,000)."""
        check_update(len(mapping))
        expires = self.clock() + DICT_TTL
        rows = []
        for key, value in mapping.items():
            kb = key_bytes(key)
            blob = check_size(serialize(value), MAX_DICT_VALUE, "the Dict value")
            attrs = {"k": kb, "expires_at": expires, "ver": random.getrandbits(48)}
            rows.append((self._sk(kb), {**attrs, **_value_attrs(self.table, self.pk, blob, expires)}))
        # Batched writes; chunks of values this replaces are left to their TTL (7 days).
        self.table.put_rows(self.pk, rows)

    def clear(self) -> None:
        """Remove every key."""
        self.table.drop(self.pk)

    def _rows(self) -> list[Row]:
        return self.table.query(self.pk, "k#")

    def keys(self) -> list[Any]:
        """Live keys (in key-hash order: stable, not insertion order)."""
        return [pickle.loads(bytes(r["k"])) for r in self._rows()]

    def values(self) -> list[Any]:
        """Live values, in the order of :meth:`keys`."""
        return [deserialize(_value(self.table, self.pk, r)) for r in self._rows()]

    def items(self) -> list[tuple[Any, Any]]:
        """Live (key, value) pairs, in the order of :meth:`keys`."""
        return [
            (pickle.loads(bytes(r["k"])), deserialize(_value(self.table, self.pk, r))) for r in self._rows()
        ]

    def drop(self) -> None:
        """Remove the Dict's rows (an ephemeral Dict at exit; ``pcompile dict delete``)."""
        self.table.drop(self.pk)


# -- Queue -----------------------------------------------------------------------------------


class TableQueue:
    """``modal.Queue`` on a :class:`Table`.

    Rows: ``m#<partition>`` is a partition's counter (``seq``, ``floor``, and ``until``: the
    partition's expiry, set by every put). Items live in pages: ``i#<partition>#<seq:016d>``
    holds consecutive items (``vs``, at most :data:`PAGE_BYTES` of them, or one chunked
    item), ``first`` (the sequence number of ``vs[0]``), ``n`` and a version ``ver``. A getter
    takes items from the front of a page by a :meth:`Table.swap` on its version, so one write
    hands several items to exactly one getter. Each page expires ``partition_ttl`` after its
    own put; pages at or below ``floor`` belong to an expired life of the partition and are
    never read. A counter row outlives every page it numbered (its ``expires_at`` is 25 h
    after the last put), so numbers are never reused.
    """

    def __init__(self, table: Table, name: str) -> None:
        self.table, self.pk = table, name

    @staticmethod
    def clock() -> float:
        """Now (looked up at each call, so a test can move the clock)."""
        return time.time()

    def _meta(self, code: str) -> Row | None:
        row = self.table.get(self.pk, f"m#{code}")
        return row if row is not None and float(row["until"]) > self.clock() else None

    def _metas(self) -> list[Row]:
        now = self.clock()
        return [m for m in self.table.query(self.pk, "m#") if float(m["until"]) > now]

    def _after(self, code: str, meta: Row) -> str:
        return f"i#{code}#{int(meta.get('floor', 0)):016d}"

    def put_many(
        self,
        values: list[Any],
        partition: str | None,
        partition_ttl: float = DEFAULT_PARTITION_TTL,
        block: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Append ``values`` in order; ``queue.Full`` when the partition stays full."""
        check_partition(partition)
        check_ttl(partition_ttl)
        blobs = [check_size(serialize(v), MAX_QUEUE_ITEM, "the Queue item") for v in values]
        if not blobs:
            return
        code = partition_code(partition)
        self._wait_for_room(code, partition, len(blobs), block, timeout)
        now = self.clock()
        expires = now + partition_ttl
        first = self.table.bump(self.pk, f"m#{code}", len(blobs), now, expires, now + _META_TTL)
        rows = []
        for offset, page in _pages(blobs):
            seq = first + offset
            attrs = {"vs": _frame(page)} if len(page) > 1 or len(page[0]) <= INLINE else {}
            if not attrs:
                attrs = _value_attrs(self.table, self.pk, page[0], expires)
            rows.append(
                (
                    f"i#{code}#{seq:016d}",
                    {"first": seq, "n": len(page), "ver": 0, "expires_at": expires, **attrs},
                )
            )
        self.table.put_rows(self.pk, rows)

    def _wait_for_room(
        self, code: str, partition: str | None, n: int, block: bool, timeout: float | None
    ) -> None:
        if n > MAX_PARTITION_ITEMS:
            raise KvInputError(
                f"put_many of {n:,} items: a partition holds at most {MAX_PARTITION_ITEMS:,}; "
                "put them in several calls as getters drain the queue"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in _backoff():
            if self._count(code) + n <= MAX_PARTITION_ITEMS:
                return
            if not block or (deadline is not None and time.monotonic() + delay > deadline):
                raise stdlib_queue.Full(f"partition {partition!r} holds {MAX_PARTITION_ITEMS:,} items")
            time.sleep(delay)

    def _count(self, code: str) -> int:
        meta = self._meta(code)
        if meta is None:
            return 0
        return sum(
            int(r["n"])
            for r in self.table.query(self.pk, f"i#{code}#", self._after(code, meta), fields=["n"])
        )

    def _take(self, code: str, n: int) -> list[Any]:
        """Take up to ``n`` items from the first pages. Pages are tried in order (FIFO); after
        a lost race a random page of the window is tried, so 20 getters spread out instead of
        all fighting over the head page."""
        meta = self._meta(code)
        if meta is None:
            return []
        window = self.table.query(self.pk, f"i#{code}#", self._after(code, meta), limit=_WINDOW)
        won: list[tuple[int, bytes]] = []
        lost = False
        while window and len(won) < n:
            page = window.pop(random.randrange(len(window)) if lost else 0)
            got = self._take_page(page, n - len(won))
            lost = got is None
            won += got or []
        won.sort()
        return [deserialize(blob) for _, blob in won]

    def _take_page(self, page: Row, n: int) -> list[tuple[int, bytes]] | None:
        """(seq, item) pairs taken from the front of ``page``, or None when another getter
        changed the page first."""
        first, ver = int(page["first"]), int(page["ver"])
        if "vs" not in page:  # one chunked item
            if not self.table.swap(self.pk, page["sk"], ver, None):
                return None
            blob = _value(self.table, self.pk, page)
            _drop_chunks(self.table, self.pk, page)
            return [(first, blob)]
        items = _unframe(bytes(page["vs"]))
        taken, rest = items[:n], items[n:]
        attrs = None
        if rest:
            attrs = {k: v for k, v in page.items() if k != "sk"}
            attrs.update(vs=_frame(rest), first=first + len(taken), n=len(rest), ver=ver + 1)
        if not self.table.swap(self.pk, page["sk"], ver, attrs):
            return None
        return [(first + i, blob) for i, blob in enumerate(taken)]

    def get_many(self, n: int, block: bool, timeout: float | None, partition: str | None) -> list[Any]:
        """Remove up to ``n`` values; when blocking wait for at least one (``[]`` on timeout)."""
        check_partition(partition)
        code = partition_code(partition)
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in _backoff():
            items = self._take(code, max(1, n))
            if items or not block:
                return items
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                delay = min(delay, left)
            time.sleep(delay)
        return []  # pragma: no cover - _backoff never ends

    def len(self, partition: str | None, total: bool) -> int:
        """Values in a partition, or in every live partition with ``total``."""
        check_partition(partition)
        if not total:
            return self._count(partition_code(partition))
        return sum(self._count(m["sk"][2:]) for m in self._metas())

    def clear(self, partition: str | None, all: bool) -> None:
        """Empty a partition, or every partition with ``all``."""
        check_partition(partition)
        if all:
            self.table.drop(self.pk)
            return
        rows = self.table.query(self.pk, f"i#{partition_code(partition)}#")
        self.table.delete_rows(self.pk, [r["sk"] for r in rows])
        for row in rows:
            _drop_chunks(self.table, self.pk, row)

    def iterate(self, partition: str | None, item_poll_timeout: float) -> Iterator[Any]:
        """Values in order without removing them; waits ``item_poll_timeout`` for new ones."""
        check_partition(partition)
        code = partition_code(partition)
        last = 0  # the sequence number of the last value yielded
        idle_since = time.monotonic()
        while True:
            fresh = list(self._values_after(code, last))
            for seq, value in fresh:
                last = seq
                yield value
            if fresh:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= item_poll_timeout:
                return
            else:
                time.sleep(min(0.05, item_poll_timeout))

    def _values_after(self, code: str, last: int) -> Iterator[tuple[int, Any]]:
        meta = self._meta(code)
        if meta is None:
            return
        for page in self.table.query(self.pk, f"i#{code}#", self._after(code, meta)):
            first = int(page["first"])
            if "vs" not in page:
                if first > last:
                    yield first, deserialize(_value(self.table, self.pk, page))
                continue
            for i, blob in enumerate(_unframe(bytes(page["vs"]))):
                if first + i > last:
                    yield first + i, deserialize(bytes(blob))

    def partitions(self) -> list[str | None]:
        """Live partitions (for ``pcompile queue``), default first."""
        return [partition_of(m["sk"][2:]) for m in self._metas()]

    def drop(self) -> None:
        """Remove every row of the Queue."""
        self.table.drop(self.pk)


def _frame(blobs: list[bytes]) -> bytes:
    """Items of a page as one binary attribute (length-prefixed): one value for the store to
    handle, not a list of thousands."""
    return b"".join(len(b).to_bytes(4, "big") + b for b in blobs)


def _unframe(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        size = int.from_bytes(data[i : i + 4], "big")
        out.append(data[i + 4 : i + 4 + size])
        i += 4 + size
    return out


def _pages(blobs: list[bytes]) -> Iterator[tuple[int, list[bytes]]]:
    """(offset, consecutive items) groups of at most PAGE_BYTES; a bigger item is alone."""
    start, size = 0, 0
    for i, blob in enumerate(blobs):
        if i > start and size + len(blob) > PAGE_BYTES:
            yield start, blobs[start:i]
            start, size = i, 0
        size += len(blob)
    yield start, blobs[start:]


def _backoff() -> Iterator[float]:
    delay = _POLL[0]
    while True:
        yield delay
        delay = min(delay * 2, _POLL[1])
