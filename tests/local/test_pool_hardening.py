"""The local pool survives crashes at start, hangs, memory blow-ups and large payloads."""

from __future__ import annotations

import os
import time

import pytest
from localhelp import fn, run_map, target

from pcompile.exception import ExecutionError, FunctionTimeoutError
from pcompile.providers.local import pool as pool_module
from pcompile.providers.local.staging import RunStaging, sweep

RETRY = {"max_retries": 2, "initial_delay": 0.0, "backoff_coefficient": 1.0, "max_delay": 1.0}


def hard(name: str, **extra):
    return fn(name, module="local_hardening", qualname=name, **extra)


# ----------------------------------------------------------------------- start failures


def test_worker_killed_before_ready_is_replaced_and_later_calls_work(invoker_factory, tmp_path, monkeypatch):
    marker = tmp_path / "died"
    monkeypatch.setenv("DIES_AT_START_MARKER", str(marker))
    inv = invoker_factory(fn("square", module="local_dies_at_start", max_containers=1))
    assert run_map(inv, "square", list(range(50))) == [x * x for x in range(50)]
    assert marker.exists()  # the first worker did die at start
    assert inv.call(target("square"), (9,), {}) == 81


def test_repeatable_start_failure_fails_after_n_tries_with_the_workers_stderr(
    invoker_factory, tmp_path, monkeypatch
):
    count = tmp_path / "starts"
    monkeypatch.setenv("NEVER_STARTS_COUNT", str(count))
    inv = invoker_factory(fn("square", module="local_never_starts", max_containers=1))
    with pytest.raises(ExecutionError, match="exit code 3 before it was ready") as info:
        inv.call(target("square"), (1,), {})
    assert "boom: the license server is unreachable" in str(info.value)
    assert count.read_text().count("start") == pool_module.START_TRIES
    with pytest.raises(ExecutionError, match="license server"):  # not stuck: a later call tries again
        inv.call(target("square"), (2,), {})
    assert count.read_text().count("start") == 2 * pool_module.START_TRIES


def test_worker_not_ready_within_startup_timeout_is_stopped(invoker_factory, monkeypatch):
    monkeypatch.setenv("SLOW_START_SECONDS", "60")
    inv = invoker_factory(fn("square", module="local_slow_start", startup_timeout=1, max_containers=1))
    start = time.monotonic()
    with pytest.raises(ExecutionError, match="not ready within 1 s"):
        inv.call(target("square"), (1,), {})
    assert time.monotonic() - start < 30  # three tries of ~1.5 s, not 60 s each


# ----------------------------------------------------------------------- results leave at once


def test_only_the_running_input_is_executed_again_after_a_kill(invoker_factory, tmp_path):
    log, marker = tmp_path / "log", tmp_path / "killed"
    inv = invoker_factory(hard("logged", retries=RETRY, max_containers=1))
    inputs = [((x, str(log), 150, str(marker)), {}) for x in range(300)]
    flags = {"order_outputs": True, "return_exceptions": False, "wrap_returned_exceptions": True}
    assert list(inv.map(target("logged"), inputs, **flags)) == [x * x for x in range(300)]
    assert marker.exists()
    runs = log.read_text().split()
    assert len(runs) == 301  # 300 inputs, plus input 150 once more: it was running at the kill
    assert runs.count("150") == 2


# ----------------------------------------------------------------------- timeouts from outside


def test_timeout_stops_a_c_level_loop_and_the_next_call_succeeds(invoker_factory):
    inv = invoker_factory(hard("spin", timeout=2))
    assert inv.call(target("spin"), (10,), {}) == 45  # a warm worker: the clock starts with the input
    start = time.monotonic()
    with pytest.raises(FunctionTimeoutError, match="timed out after 2 s"):
        inv.call(target("spin"), (10**11,), {})
    assert time.monotonic() - start < 4
    assert inv.call(target("spin"), (1000,), {}) == sum(range(1000))


def test_timeout_holds_when_the_function_catches_it(invoker_factory):
    inv = invoker_factory(hard("stubborn", timeout=1))
    start = time.monotonic()
    with pytest.raises(FunctionTimeoutError):
        inv.call(target("stubborn"), (30,), {})
    assert time.monotonic() - start < 10
    assert inv.call(target("stubborn"), (0,), {}) == "finished"


def test_concurrent_input_past_its_timeout_fails_alone(invoker_factory):
    inv = invoker_factory(hard("nap", timeout=1, concurrency={"max_inputs": 4}, max_containers=1))
    flags = {"order_outputs": True, "return_exceptions": True, "wrap_returned_exceptions": True}
    inputs = [((s,), {}) for s in (0.1, 30, 0.2, 0.3, 0.1, 0.2)]
    start = time.monotonic()
    out = list(inv.map(target("nap"), inputs, **flags))
    assert time.monotonic() - start < 15
    assert isinstance(out[1], FunctionTimeoutError)
    assert [v for i, v in enumerate(out) if i != 1] == [0.1, 0.2, 0.3, 0.1, 0.2]


# ----------------------------------------------------------------------- memory


def test_memory_limit_is_a_hard_limit_with_a_clear_error(invoker_factory):
    inv = invoker_factory(hard("allocate", memory=[256, 512], max_containers=1))
    with pytest.raises(MemoryError, match="memory limit of 512 MiB.*raise the limit"):
        inv.call(target("allocate"), (1024,), {})
    assert isinstance(inv.call(target("allocate"), (16,), {}), int)  # the worker goes on


# ----------------------------------------------------------------------- staged blobs


def _blobs(local_dir):
    root = local_dir / "staging" / "blobs"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_staged_blobs_are_deleted_when_their_call_completes(invoker_factory, local_dir):
    inv = invoker_factory(fn("length"), hard("big"))
    for _ in range(2):
        assert inv.call(target("length"), (b"y" * (8 << 20),), {}) == 8 << 20
        assert len(inv.call(target("big"), (8 << 20,), {})) == 8 << 20
        assert _blobs(local_dir) == []
    call_id = inv.spawn(target("big"), (5 << 20,), {})
    assert len(inv.get(call_id, 60)) == 5 << 20
    assert len(inv.get(call_id, 60)) == 5 << 20  # read twice: the result lives with the call
    assert _blobs(local_dir) == []


def test_sweep_removes_leftovers_of_dead_runs_only(local_dir):
    staging = local_dir / "staging"
    dead = staging / "blobs" / "123-dead"
    dead.mkdir(parents=True)
    (dead / "leftover").write_bytes(b"x" * 100)
    (staging / "runs").mkdir(parents=True)
    (staging / "runs" / "456-dead.lock").write_text("")  # a lock nobody holds
    live = RunStaging()
    (staging / live.prefix).mkdir(parents=True)
    (staging / live.prefix / "in-flight").write_bytes(b"y")
    assert not dead.exists() and not (staging / "runs" / "456-dead.lock").exists()
    assert sweep(staging) == []  # the live run holds its lock
    assert (staging / live.prefix / "in-flight").exists()
    live.close()
    assert not (staging / live.prefix).exists()
    assert os.listdir(staging / "runs") == []
