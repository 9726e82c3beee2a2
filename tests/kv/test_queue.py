"""The ``modal.Queue`` contract, on every backend (conftest.py's ``spec``)."""

from __future__ import annotations

import hashlib
import queue
import time

import pytest

import pcompile
from pcompile.exception import InvalidError


@pytest.fixture
def q(request: pytest.FixtureRequest, spec: tuple[str, str]) -> pcompile.Queue:
    """A queue no other test uses (servers live for the whole session)."""
    return pcompile.Queue.from_name("q-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16])


def test_fifo_get_and_get_many(q: pcompile.Queue) -> None:
    q.put("a")
    q.put_many(["b", "c", "d"])
    assert q.get() == "a"
    assert q.get_many(2) == ["b", "c"]
    assert q.get_many(10) == ["d"]
    assert q.get(block=False) is None
    assert q.get_many(3, block=False) == []


def test_empty_get_with_timeout_raises_within_bounds(q: pcompile.Queue) -> None:
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=1)
    assert 1.0 <= time.monotonic() - start < 2.0  # the bound: queue.Empty within 1-2 s
    with pytest.raises(queue.Empty):
        q.get_many(5, timeout=0.2)


def test_partitions_are_independent_fifos(q: pcompile.Queue) -> None:
    q.put(0)
    q.put(1, partition="foo")
    q.put(2, partition="bar")
    q.put(3, partition="foo")
    assert q.get(partition="bar") == 2
    assert q.len() == 1 and q.len(partition="foo") == 2 and q.len(total=True) == 3
    assert q.get_many(5, partition="foo") == [1, 3]
    assert q.get() == 0 and q.len(total=True) == 0


def test_iterate_does_not_remove_and_sees_late_items(q: pcompile.Queue) -> None:
    q.put_many([0, 1])
    assert list(q.iterate()) == [0, 1]
    assert q.len() == 2
    seen = []
    for value in q.iterate(item_poll_timeout=1.0):
        seen.append(value)
        if value == 1:
            q.put(2)  # arrives while the iterator polls
    assert seen == [0, 1, 2]


def test_clear_one_partition_or_all(q: pcompile.Queue) -> None:
    q.put_many([1, 2])
    q.put_many([3], partition="p")
    q.clear()
    assert q.len() == 0 and q.len(partition="p") == 1
    q.put(4)
    q.clear(all=True)
    assert q.len(total=True) == 0
    q.put(5)
    assert q.get() == 5  # usable after a clear


def test_partition_ttl_expires_the_partition(q: pcompile.Queue) -> None:
    q.put("short-lived", partition="t", partition_ttl=1)
    q.put("kept", partition="u")
    time.sleep(1.2)
    assert q.len(partition="t") == 0 and q.get(partition="t", block=False) is None
    assert q.len(total=True) == 1
    q.put("again", partition="t", partition_ttl=60)  # a new life of the partition starts empty
    assert q.get_many(5, partition="t", block=False) == ["again"]


def test_bad_partition_ttl_and_key_and_size_are_refused_at_the_call(
    q: pcompile.Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pcompile.providers import kv

    with pytest.raises(InvalidError, match=r"test_queue.py:\d+: partition_ttl=0 is out of range.*1 to 86400"):
        q.put(1, partition_ttl=0)
    with pytest.raises(InvalidError, match="partition_ttl=90000 is out of range"):
        q.put_many([1], partition_ttl=90_000)
    with pytest.raises(InvalidError, match="invalid partition ''"):
        q.get(partition="", block=False)
    with pytest.raises(InvalidError, match="at most 64 bytes"):
        q.len(partition="x" * 65)
    with pytest.raises(InvalidError, match="partition must be None when total=True"):
        q.len(partition="p", total=True)
    with pytest.raises(InvalidError, match="partition must be None when all=True"):
        q.clear(partition="p", all=True)
    monkeypatch.setattr(kv, "MAX_QUEUE_ITEM", 1_000)  # the 1 MiB check, made cheap
    with pytest.raises(InvalidError, match="the Queue item is .* over Modal's limit of 1,000 bytes"):
        q.put(b"x" * 2_000)
    assert q.len(total=True) == 0  # nothing half-written


def test_full_partition_raises_queue_full(q: pcompile.Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    from pcompile.providers import kv

    monkeypatch.setattr(kv, "MAX_PARTITION_ITEMS", 3)  # Modal's 5,000, made small
    q.put_many([1, 2, 3])
    with pytest.raises(queue.Full):
        q.put(4, block=False)
    with pytest.raises(queue.Full):
        q.put(4, timeout=0.2)
    assert q.get() == 1
    q.put(4, timeout=1)
    assert q.get_many(5) == [2, 3, 4]


def test_large_item_round_trips(q: pcompile.Queue) -> None:
    item = bytes(range(256)) * 4_000  # about 1 MB: chunked on DynamoDB
    q.put(item)
    assert q.len() == 1
    assert q.get() == item and q.len(total=True) == 0


def test_ephemeral_queue_is_dropped_at_exit(spec: tuple[str, str]) -> None:
    with pcompile.Queue.ephemeral() as eq:
        eq.put(1)
        again = pcompile.Queue.from_name(eq.name)
        assert again.len() == 1
    assert again.len(total=True) == 0
