"""Adaptive chunks of the local pool: fast inputs go many to a frame, slow ones one at a
time, and each input keeps its own result, error, retries, timeout and crash accounting.

Chunk sizes are read from the pool's ``chunk_sizes`` counter (size -> chunks sent), never
from a clock.
"""

from __future__ import annotations

import runpy

import pytest
from localhelp import FIXTURES, fn, target

from pcompile.exception import FunctionTimeoutError

FLAGS = {"order_outputs": True, "return_exceptions": False, "wrap_returned_exceptions": True}
RETRY = {"max_retries": 2, "initial_delay": 0.0, "backoff_coefficient": 1.0, "max_delay": 1.0}


def chunky(name: str, **extra):
    return fn(name, module="local_chunks", qualname=name, **extra)


def _map(inv, name, inputs, **flags):
    return list(inv.map(target(name), [(tuple(a), {}) for a in inputs], **{**FLAGS, **flags}))


def _sizes(inv, name):
    pool, _ = inv.pool_for(target(name))
    return pool, pool.chunk_sizes


def test_fast_inputs_go_in_chunks_that_grow_from_one(invoker_factory):
    inv = invoker_factory(fn("square", max_containers=2))
    out = _map(inv, "square", [(x,) for x in range(3000)])
    assert out == [x * x for x in range(3000)]
    pool, sizes = _sizes(inv, "square")
    assert {1, 2, 4} <= set(sizes)  # it starts at one input and doubles
    assert max(sizes) >= 64
    assert sum(sizes.values()) < 3000 // 10  # frames, not inputs
    assert sum(size * n for size, n in sizes.items()) == 3000  # each input sent once
    assert pool.chunk_size > 1


def test_slow_inputs_go_one_at_a_time(invoker_factory):
    inv = invoker_factory(chunky("nap_or_pid", max_containers=1))
    _map(inv, "nap_or_pid", [(0.05,)] * 8)
    pool, sizes = _sizes(inv, "nap_or_pid")
    assert dict(sizes) == {1: 8}
    assert pool.chunk_size == 1


def test_worker_killed_mid_chunk_runs_again_only_the_input_it_was_running(invoker_factory, tmp_path):
    log, marker = tmp_path / "log", tmp_path / "killed"
    inv = invoker_factory(
        fn("logged", module="local_hardening", qualname="logged", retries=RETRY, max_containers=1)
    )
    # warm: the chunk size grows, so the 300 inputs below go in a few big chunks
    _map(inv, "logged", [(x, str(tmp_path / "warm")) for x in range(3000)])
    pool, sizes = _sizes(inv, "logged")
    sizes.clear()
    out = _map(inv, "logged", [(x, str(log), 150, str(marker)) for x in range(300)])
    assert out == [x * x for x in range(300)]
    assert marker.exists()
    assert max(sizes) > 150  # input 150 was in the middle of a chunk when its worker died
    runs = log.read_text().split()
    assert len(runs) == 301  # the inputs before it in its chunk were not run again
    assert runs.count("150") == 2 and all(runs.count(str(x)) == 1 for x in range(300) if x != 150)


def test_results_journaled_in_every_record_kind_survive_a_kill(invoker_factory, tmp_path):
    # ints and floats are typed records, other atomic results marshals: the inputs that
    # finished before the kill come back from the journal as the values they returned
    kind_of = runpy.run_path(str(FIXTURES / "local_chunks.py"))["kind_of"]
    log, marker = tmp_path / "log", tmp_path / "killed"
    inv = invoker_factory(chunky("kinds_then_die", retries=RETRY, max_containers=1))
    _map(inv, "kinds_then_die", [(x, str(tmp_path / "warm")) for x in range(3000)])
    _, sizes = _sizes(inv, "kinds_then_die")
    sizes.clear()
    out = _map(inv, "kinds_then_die", [(x, str(log), 150, str(marker)) for x in range(300)])
    assert marker.exists() and max(sizes) > 150
    expected = [kind_of(x) for x in range(300)]
    assert [repr(v) for v in out] == [repr(v) for v in expected]  # repr: -0.0, types kept
    assert [type(v) for v in out] == [type(v) for v in expected]
    runs = log.read_text().split()
    assert runs.count("150") == 2 and len(runs) == 301


def test_timeout_fires_per_input_inside_a_chunk(invoker_factory):
    inv = invoker_factory(chunky("nap_or_pid", timeout=1, max_containers=1))
    _map(inv, "nap_or_pid", [(0,)] * 2000)  # warm: big chunks
    pool, sizes = _sizes(inv, "nap_or_pid")
    sizes.clear()
    inputs = [(0,)] * 50 + [(30,)] + [(0,)] * 50
    out = _map(inv, "nap_or_pid", inputs, return_exceptions=True)
    assert max(sizes) > 50  # the slow input shared its chunk with fast ones
    assert isinstance(out[50], FunctionTimeoutError)
    pids = {v for i, v in enumerate(out) if i != 50}
    assert len(pids) == 1 and all(isinstance(p, int) for p in pids)  # the in-worker alarm: no kill


def test_exceptions_are_per_input_in_order_and_in_completion_order(invoker_factory):
    inv = invoker_factory(chunky("odd_fails", max_containers=2))
    _map(inv, "odd_fails", [(0,)] * 2000)  # warm: big chunks
    out = _map(inv, "odd_fails", [(x,) for x in range(1000)], return_exceptions=True)
    assert [v for v in out[::2]] == [x * x for x in range(0, 1000, 2)]
    assert all(isinstance(v, ValueError) and str(v) == f"odd input {x}" for x, v in enumerate(out) if x % 2)
    unordered = _map(
        inv, "odd_fails", [(x,) for x in range(1000)], return_exceptions=True, order_outputs=False
    )
    assert sorted(v for v in unordered if isinstance(v, int)) == [x * x for x in range(0, 1000, 2)]
    assert sorted(str(v) for v in unordered if isinstance(v, ValueError)) == sorted(
        f"odd input {x}" for x in range(1, 1000, 2)
    )
    with pytest.raises(ValueError, match="odd input"):
        _map(inv, "odd_fails", [(x,) for x in range(1000)])
    _, sizes = _sizes(inv, "odd_fails")
    assert max(sizes) > 1


def test_retries_stay_per_input_within_a_chunk(invoker_factory, tmp_path):
    inv = invoker_factory(chunky("fails_once_each", retries=RETRY, max_containers=1))
    _map(inv, "fails_once_each", [(x, str(tmp_path)) for x in range(-500, 0)])  # warm: big chunks
    (tmp_path / "attempts").unlink()
    _, sizes = _sizes(inv, "fails_once_each")
    sizes.clear()
    out = _map(inv, "fails_once_each", [(x, str(tmp_path)) for x in range(200)])
    assert out == list(range(200))
    assert max(sizes) > 1
    attempts = (tmp_path / "attempts").read_text().split()
    assert sorted(attempts, key=int) == sorted([str(x) for x in range(200)] * 2, key=int)  # twice each


def test_every_input_of_a_chunk_has_its_own_input_id(invoker_factory):
    inv = invoker_factory(chunky("input_id", max_containers=1))
    out = _map(inv, "input_id", [(x,) for x in range(2000)])
    assert [x for _, x in out] == list(range(2000))
    ids = [i for i, _ in out]
    assert all(i and i.startswith("in-") for i in ids) and len(set(ids)) == 2000
    _, sizes = _sizes(inv, "input_id")
    assert max(sizes) > 1


def test_mutable_results_are_each_their_own(invoker_factory):
    inv = invoker_factory(chunky("listed", max_containers=1))
    out = _map(inv, "listed", [(x,) for x in range(1000)])
    assert out == [[x, {"x": x}] for x in range(1000)]
    out[0][1]["x"] = "changed"
    assert out[1] == [1, {"x": 1}]


def test_results_that_change_kind_within_a_chunk(invoker_factory):
    inv = invoker_factory(chunky("mixed", max_containers=1))
    _map(inv, "mixed", [(x,) for x in range(1, 3000, 3)])  # warm on atomic results: big chunks
    out = _map(inv, "mixed", [(x,) for x in range(3000)])
    assert out == [[x] if x % 3 == 0 else x for x in range(3000)]
    _, sizes = _sizes(inv, "mixed")
    assert max(sizes) > 1
