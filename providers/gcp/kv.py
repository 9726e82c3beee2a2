"""``modal.Dict`` and ``modal.Queue`` on Firestore (native mode): the
:class:`~pcompile.providers.kv.Table` primitive on the stack's Firestore database, and the store
a deployed function opens from its environment.

The database is the stack's, ``pcompile-<stack>`` (:func:`pcompile.providers.gcp.names.firestore_database`,
created by ``pcompile bootstrap``); deployed functions get it in ``PCOMPILE_KV_DATABASE``.
Layout (docs/gcp.md): one collection per Dict or Queue, ``pcompile-<stack>-<kind>-<name>``
(ephemeral ones too: Firestore creates collections on first write, so nothing is declared
for them). One document per row; its id is the row's ``sk`` and it repeats ``sk`` as a field
so range queries use Firestore's automatic single-field index. ``expires_at`` (epoch
seconds) is what readers compare; every write also sets ``expire_time``, the same instant
as a timestamp, because a Firestore TTL policy sweeps only on a timestamp field (it deletes
up to a day late, so readers skip expired rows themselves).
A getter owns Queue items only when its transaction rewriting their page at the version
it read committed, so two getters never both win one item.

:mod:`.kv_fake` is the in-library fake of this class (same primitive, SQLite);
``tests/kv`` runs the contract suite on both, and on the Firestore emulator where one is
installed.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Mapping
from typing import Any

from pcompile.providers.kv import Row, Table, TableDict, TableQueue, check_name

ENV_CLOUD = "PCOMPILE_KV_CLOUD"
ENV_PREFIX = "PCOMPILE_KV_PREFIX"
ENV_PROJECT = "GOOGLE_CLOUD_PROJECT"
ENV_DATABASE = "PCOMPILE_KV_DATABASE"
_BATCH = 400  # Firestore commits at most 500 writes


def collection_name(prefix: str, kind: str, name: str) -> str:
    """The collection of a Dict/Queue (ephemeral ones included)."""
    return f"{prefix}-{kind}-{check_name(name, kind)}"


def _doc(attrs: Row, sk: str) -> dict[str, Any]:
    """The document of a row: its fields, ``sk``, and ``expire_time`` for the TTL policy."""
    data = {k: v for k, v in attrs.items() if k != "sk"}
    if "expires_at" in data:
        data["expire_time"] = datetime.datetime.fromtimestamp(float(data["expires_at"]), tz=datetime.UTC)
    return {**data, "sk": sk}


def _live(doc: Mapping[str, Any] | None, now: float) -> bool:
    return doc is not None and float(doc.get("expires_at", now + 1)) > now


class FirestoreTable:
    """Rows as Firestore documents (``pk`` is the collection)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _ref(self, pk: str, sk: str) -> Any:
        return self.client.collection(pk).document(sk)

    @staticmethod
    def _row(snap: Any) -> Row | None:
        if not snap.exists:
            return None
        data = dict(snap.to_dict() or {})
        data.pop("expire_time", None)
        data["sk"] = snap.id
        return data if _live(data, time.time()) else None

    def get(self, pk: str, sk: str) -> Row | None:
        """The live document, or None."""
        return self._row(self._ref(pk, sk).get())

    def put(self, pk: str, sk: str, attrs: Row, if_absent: bool = False) -> tuple[bool, Row | None]:
        """Write in a transaction (it reads the old document first); (written, old row)."""
        from google.cloud import firestore

        ref = self._ref(pk, sk)

        @firestore.transactional
        def run(tx: Any) -> tuple[bool, Row | None]:
            old = self._row(ref.get(transaction=tx))
            if if_absent and old is not None:
                return False, old
            tx.set(ref, _doc(attrs, sk))
            return True, old

        return run(self.client.transaction())  # type: ignore[no-any-return]

    def _commit(self, writes: list[tuple[str, Any, Row | None]]) -> None:
        for i in range(0, len(writes), _BATCH):
            batch = self.client.batch()
            for op, ref, data in writes[i : i + _BATCH]:
                batch.set(ref, data) if op == "set" else batch.delete(ref)
            batch.commit()

    def put_rows(self, pk: str, rows: list[tuple[str, Row]]) -> None:
        """Batched writes of new rows."""
        self._commit([("set", self._ref(pk, sk), _doc(a, sk)) for sk, a in rows])

    def set_expiry(self, pk: str, sks: list[str], expires_at: float) -> None:
        """Move ``expires_at`` of documents that still exist."""
        from google.api_core import exceptions

        for sk in sks:
            try:
                fields = _doc({"expires_at": expires_at}, sk)
                self._ref(pk, sk).update({k: v for k, v in fields.items() if k != "sk"})
            except exceptions.NotFound:
                pass

    def swap(self, pk: str, sk: str, ver: int, attrs: Row | None) -> bool:
        """Replace (or delete) the document in a transaction when its ``ver`` is ``ver``."""
        from google.api_core import exceptions
        from google.cloud import firestore

        ref = self._ref(pk, sk)

        @firestore.transactional
        def run(tx: Any) -> bool:
            row = self._row(ref.get(transaction=tx))
            if row is None or int(row.get("ver", 0)) != ver:
                return False
            tx.delete(ref) if attrs is None else tx.set(ref, _doc(attrs, sk))
            return True

        # One attempt: a transaction that lost to another getter is a lost race, and the
        # caller tries another page (retrying here made 20 getters abort each other).
        try:
            return run(self.client.transaction(max_attempts=1))  # type: ignore[no-any-return]
        except (ValueError, exceptions.Aborted, exceptions.Conflict):
            return False

    def delete_rows(self, pk: str, sks: list[str]) -> None:
        """Batched deletes."""
        self._commit([("delete", self._ref(pk, sk), None) for sk in sks])

    def _range(self, pk: str, prefix: str, after: str | None) -> Any:
        from google.cloud.firestore_v1.base_query import FieldFilter

        low = (
            FieldFilter("sk", ">", after)
            if after is not None and after >= prefix
            else FieldFilter("sk", ">=", prefix)
        )
        return (
            self.client.collection(pk)
            .where(filter=low)
            .where(filter=FieldFilter("sk", "<", prefix + "\x7f"))
            .order_by("sk")
        )

    def query(
        self,
        pk: str,
        prefix: str,
        after: str | None = None,
        limit: int | None = None,
        fields: list[str] | None = None,
    ) -> list[Row]:
        """Live documents under ``prefix`` after ``after``, ascending by ``sk``."""
        query = self._range(pk, prefix, after)
        if fields:
            query = query.select([*fields, "expires_at"])
        if limit:
            query = query.limit(limit)
        rows = [self._row(snap) for snap in query.stream()]
        return [r for r in rows if r is not None]

    def count(self, pk: str, prefix: str, after: str | None = None) -> int:
        """Live documents under ``prefix`` (only ``expires_at`` is read)."""
        now = time.time()
        snaps = self._range(pk, prefix, after).select(["expires_at"]).stream()
        return sum(1 for s in snaps if _live(s.to_dict() or {}, now))

    def bump(self, pk: str, sk: str, n: int, now: float, until: float, expires_at: float) -> int:
        """Reserve ``n`` numbers on the counter document in a transaction."""
        from google.cloud import firestore

        ref = self._ref(pk, sk)

        @firestore.transactional
        def run(tx: Any) -> int:
            row = self._row(ref.get(transaction=tx)) or {"seq": 0, "floor": 0, "until": 0.0}
            seq, floor = int(row["seq"]), int(row["floor"])
            if float(row["until"]) <= now:
                floor = seq
            tx.set(ref, _doc({"seq": seq + n, "floor": floor, "until": until, "expires_at": expires_at}, sk))
            return seq + 1

        return run(self.client.transaction())  # type: ignore[no-any-return]

    def drop(self, pk: str) -> None:
        """Delete every document of the collection."""
        refs = [snap.reference for snap in self.client.collection(pk).select([]).stream()]
        self._commit([("delete", ref, None) for ref in refs])


def firestore_client(project: str | None = None, database: str | None = None) -> Any:
    """A Firestore client (``FIRESTORE_EMULATOR_HOST`` is honoured by the library itself)."""
    from google.cloud import firestore

    kwargs: dict[str, Any] = {"project": project or os.environ.get(ENV_PROJECT)}
    if database:
        kwargs["database"] = database
    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        kwargs["credentials"] = AnonymousCredentials()
    return firestore.Client(**kwargs)


def open_store(kind: str, name: str, prefix: str, table: Table) -> TableDict | TableQueue:
    """The Dict (``kind="dict"``) or Queue store of ``name`` in collection-per-object layout."""
    store = TableDict if kind == "dict" else TableQueue
    return store(table, collection_name(prefix, kind, name))


_CLIENTS: dict[tuple[str | None, str | None], FirestoreTable] = {}


def store_from_env(kind: str, name: str, environ: Mapping[str, str] = os.environ) -> TableDict | TableQueue:
    """The store a deployed function opens for ``Dict/Queue.from_name(name)`` (one client a process)."""
    key = (environ.get(ENV_PROJECT), environ.get(ENV_DATABASE))
    if key not in _CLIENTS:
        _CLIENTS[key] = FirestoreTable(firestore_client(*key))
    return open_store(kind, name, environ[ENV_PREFIX], _CLIENTS[key])


def stack_prefix(stack: str) -> str:
    """The collection prefix of a stack's Dicts and Queues."""
    return f"pcompile-{stack}"


def _stack_table(settings: Any) -> FirestoreTable:
    """The stack's database (bootstrap's ``pcompile-<stack>``), which deployed functions use."""
    from pcompile.providers.gcp import names

    return FirestoreTable(firestore_client(settings.project, names.firestore_database(settings.name)))


def stack_store(kind: str, name: str, settings: Any) -> TableDict | TableQueue:
    """The store of ``name`` on a deployed stack, for ``pcompile dict|queue --stack`` (a
    collection that does not exist reads as empty, as Firestore has no empty collections)."""
    return open_store(kind, name, stack_prefix(settings.name), _stack_table(settings))


def delete_object(kind: str, name: str, settings: Any) -> None:
    """``pcompile dict|queue delete NAME --stack S``: every document of its collection goes
    (a Firestore collection exists only while it has documents)."""
    stack_store(kind, name, settings).drop()


def list_names(kind: str, settings: Any) -> list[str]:
    """Names of a stack's ``kind`` objects (its collections), sorted."""
    start = f"{stack_prefix(settings.name)}-{kind}-"
    ids = [c.id for c in _stack_table(settings).client.collections()]
    return sorted(i[len(start) :] for i in ids if i.startswith(start))
