"""Exactly-once delivery: 20 getters in different processes drain a 5,000-item queue."""

from __future__ import annotations

import hashlib
import multiprocessing
import queue

import pytest
from backends import install

import pcompile

ITEMS = 5_000
GETTERS = 20


def _drain(spec: tuple[str, str], name: str, out: multiprocessing.Queue) -> None:
    """One getter: take batches until the queue is empty, then report what it got."""
    install(spec)
    q = pcompile.Queue.from_name(name)
    got: list[int] = []
    while True:
        try:
            got += q.get_many(25, timeout=0.5)
        except queue.Empty:
            if q.len() == 0:
                break
    out.put(got)


def test_twenty_getters_in_processes_each_item_exactly_once(
    spec: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    name = "c-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    q = pcompile.Queue.from_name(name)
    for start in range(0, ITEMS, 500):
        q.put_many(list(range(start, start + 500)))
    assert q.len() == ITEMS
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    getters = [ctx.Process(target=_drain, args=(spec, name, out)) for _ in range(GETTERS)]
    for proc in getters:
        proc.start()
    results = [out.get(timeout=600) for _ in getters]
    for proc in getters:
        proc.join(timeout=60)
    got = [item for batch in results for item in batch]
    assert len(got) == ITEMS, f"{len(got) - len(set(got))} duplicated, {ITEMS - len(set(got))} lost"
    assert sorted(got) == list(range(ITEMS))
    assert sum(1 for batch in results if batch) > 1  # the getters really competed
    assert q.len(total=True) == 0
