"""Exactly-once delivery: 20 getters in different processes drain a 5,000-item queue.

On Google's Firestore emulator the same test runs smaller (3 getters, 150 items): the
emulator serialises transactions, and the full size ran past 300 s here (2026-12-01).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import queue

import pytest
from backends import install

import pcompile

ITEMS = 5_000
GETTERS = 20
SMALLER = {"gcp-emulator": (3, 150)}  # (getters, items)


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
    n_getters, n_items = SMALLER.get(spec[0], (GETTERS, ITEMS))
    name = "c-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    q = pcompile.Queue.from_name(name)
    for start in range(0, n_items, 500):
        q.put_many(list(range(start, min(start + 500, n_items))))
    assert q.len() == n_items
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    getters = [ctx.Process(target=_drain, args=(spec, name, out), daemon=True) for _ in range(n_getters)]
    try:
        for proc in getters:
            proc.start()
        results = [out.get(timeout=600) for _ in getters]
    finally:  # a failed or timed-out test leaves no getter behind
        for proc in getters:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=60)
    got = [item for batch in results for item in batch]
    assert len(got) == n_items, f"{len(got) - len(set(got))} duplicated, {n_items - len(set(got))} lost"
    assert sorted(got) == list(range(n_items))
    assert sum(1 for batch in results if batch) > 1  # the getters really competed
    assert q.len(total=True) == 0
