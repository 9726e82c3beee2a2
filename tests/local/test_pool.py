"""The local worker pools: calls, maps, errors, retries, kills, classes, generators."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from localhelp import fn, run_map, target

from pcompile.exception import ExecutionError, FunctionTimeoutError, NotFoundError

NO_RETRY = {"max_retries": 0, "initial_delay": 0.0, "backoff_coefficient": 1.0, "max_delay": 1.0}


def test_remote_returns_value_and_streams_logs(invoker_factory):
    inv = invoker_factory(fn("square"), fn("shout"))
    assert inv.call(target("square"), (7,), {}) == 49
    assert inv.call(target("shout"), ("world",), {}) == "world"
    inv.close()
    assert "[shout] hello world" in inv.lines


def test_remote_value_error_is_raised_as_value_error_with_remote_traceback(invoker_factory):
    inv = invoker_factory(fn("fail"))
    with pytest.raises(ValueError, match="bad input 3") as info:
        inv.call(target("fail"), (3,), {})
    cause = info.value.__cause__
    assert cause is not None and "local_plain.py" in str(cause) and "Remote traceback" in str(cause)


def test_keyword_only_and_default_arguments(invoker_factory):
    inv = invoker_factory(fn("add"))
    assert inv.call(target("add"), (1,), {"b": 2, "scale": 10}) == 30


def test_eight_mib_argument_round_trips_through_staging(invoker_factory, local_dir):
    inv = invoker_factory(fn("echo"), fn("length"))
    data = os.urandom(8 * 1024 * 1024)
    assert inv.call(target("length"), (data,), {}) == len(data)
    assert inv.call(target("echo"), (data,), {}) == data
    assert any((local_dir / "staging" / "blobs").iterdir())


def test_map_orders_outputs_and_returns_exceptions(invoker_factory):
    inv = invoker_factory(fn("square"), fn("fail"))
    assert run_map(inv, "square", list(range(500))) == [x * x for x in range(500)]
    assert sorted(run_map(inv, "square", list(range(50)), order_outputs=False)) == [x * x for x in range(50)]
    out = run_map(inv, "fail", [1, 2], return_exceptions=True)
    assert [type(e) for e in out] == [ValueError, ValueError]
    assert [str(e) for e in out] == ["bad input 1", "bad input 2"]
    with pytest.raises(ValueError):
        run_map(inv, "fail", [1, 2])


def test_retries_after_two_failures(invoker_factory, tmp_path):
    retries = {"max_retries": 3, "initial_delay": 0.0, "backoff_coefficient": 2.0, "max_delay": 60.0}
    inv = invoker_factory(fn("flaky", retries=retries))
    assert inv.call(target("flaky"), (str(tmp_path / "count"),), {}) == 3


def test_retries_exhausted_raise_the_last_error(invoker_factory, tmp_path):
    retries = {"max_retries": 1, "initial_delay": 0.0, "backoff_coefficient": 2.0, "max_delay": 60.0}
    inv = invoker_factory(fn("flaky", retries=retries))
    with pytest.raises(RuntimeError, match="attempt 2 fails"):
        inv.call(target("flaky"), (str(tmp_path / "count"),), {})


def test_worker_sigkill_mid_map_without_retries_fails_exactly_its_input(invoker_factory):
    inv = invoker_factory(fn("kill_on", max_containers=1))
    inputs = [((x, 37), {}) for x in range(200)]
    out = list(
        inv.map(
            target("kill_on"),
            inputs,
            order_outputs=True,
            return_exceptions=True,
            wrap_returned_exceptions=True,
        )
    )
    failed = [i for i, v in enumerate(out) if isinstance(v, BaseException)]
    assert failed == [37]
    assert isinstance(out[37], ExecutionError) and "SIGKILL" in str(out[37])
    assert [v for i, v in enumerate(out) if i != 37] == [x for x in range(200) if x != 37]


def test_worker_sigkill_is_retried_and_no_result_is_duplicated(invoker_factory, tmp_path):
    marker = tmp_path / "killed-once"
    retries = {"max_retries": 2, "initial_delay": 0.0, "backoff_coefficient": 1.0, "max_delay": 1.0}
    inv = invoker_factory(fn("kill_once", module="local_killer", qualname="kill_once", retries=retries))
    inputs = [((x, str(marker)), {}) for x in range(300)]
    out = list(
        inv.map(
            target("kill_once"),
            inputs,
            order_outputs=False,
            return_exceptions=False,
            wrap_returned_exceptions=True,
        )
    )
    assert marker.exists()
    assert sorted(out) == list(range(300))  # every input once: none lost, none duplicated


def test_generators_async_and_async_generators(invoker_factory):
    inv = invoker_factory(
        fn("countdown", is_generator=True),
        fn("async_double", is_async=True),
        fn("async_gen", is_async=True, is_generator=True),
    )
    assert list(inv.call_gen(target("countdown"), (3,), {})) == [3, 2, 1]
    assert inv.call(target("async_double"), (21,), {}) == 42
    assert list(inv.call_gen(target("async_gen"), (4,), {})) == [0, 1, 2, 3]


def test_batched_calls_receive_lists(invoker_factory):
    inv = invoker_factory(fn("batch_sum", batching={"max_batch_size": 4, "wait_ms": 100}))
    pairs = [((i, 10 * i), {}) for i in range(10)]
    out = list(
        inv.map(
            target("batch_sum"),
            pairs,
            order_outputs=True,
            return_exceptions=False,
            wrap_returned_exceptions=True,
        )
    )
    assert out == [11 * i for i in range(10)]


def test_concurrent_inputs_share_one_worker(invoker_factory, tmp_path):
    inv = invoker_factory(fn("rendezvous", concurrency={"max_inputs": 4}, max_containers=1))
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    seen = run_map(inv, "rendezvous", [(str(arrivals), 4)] * 4)
    # every input saw all four arrive: they ran at once, in one worker process
    assert len({pid for pid, _ in seen}) == 1
    assert [count for _, count in seen] == [4, 4, 4, 4]


def test_max_containers_limits_workers(invoker_factory):
    inv = invoker_factory(fn("sleepy", max_containers=2))
    pids = run_map(inv, "sleepy", [0.05] * 12)
    assert 1 <= len(set(pids)) <= 2


def test_timeout_is_enforced_per_input(invoker_factory):
    inv = invoker_factory(fn("sleepy", timeout=1))
    with pytest.raises(FunctionTimeoutError):
        inv.call(target("sleepy"), (5,), {})
    assert isinstance(inv.call(target("sleepy"), (0,), {}), int)


def test_class_enter_once_per_container_and_exit_at_shutdown(invoker_factory, tmp_path, monkeypatch):
    exit_file = tmp_path / "exit.txt"
    monkeypatch.setenv("COUNTER_EXIT_FILE", str(exit_file))
    cls = {
        "name": "Counter",
        "qualname": "Counter",
        "parameters": ["start"],
        "enter": ["setup"],
        "exit": ["teardown"],
    }
    inv = invoker_factory(
        fn("Counter.bump", qualname="Counter.bump", cls=cls, kind="method", max_containers=1)
    )
    t = target("Counter.bump", cls_params=(("start", 100),))
    assert inv.call(t, (1,), {}) == (101, 1)
    assert inv.call(t, (2,), {}) == (103, 1)
    other = target("Counter.bump", cls_params=(("start", 0),))
    assert inv.call(other, (5,), {}) == (5, 1)
    inv.close()
    assert sorted(exit_file.read_text().split("\n")[:-1]) == ["exit 103", "exit 5"]


def test_spawn_result_is_readable_from_another_process(invoker_factory, local_dir):
    inv = invoker_factory(fn("square"))
    call_id = inv.spawn(target("square"), (12,), {})
    assert inv.get(call_id, 30) == 144
    code = (
        "from pcompile.providers.local.invoker import StoredCalls\n"
        f"print(StoredCalls().get({call_id!r}, 0))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "144"


def test_spawn_map_and_cancel(invoker_factory):
    inv = invoker_factory(fn("sleepy", max_containers=1), fn("square"))
    call_id = inv.spawn_map(target("square"), [((i,), {}) for i in range(5)])
    assert [inv.get(call_id, 30, i) for i in range(5)] == [0, 1, 4, 9, 16]
    with pytest.raises(IndexError):
        inv.get(call_id, 0, 5)
    slow = inv.spawn_map(target("sleepy"), [((1,), {}) for _ in range(5)])
    inv.cancel(slow)
    with pytest.raises(ExecutionError, match="cancelled"):
        inv.get(slow, 30, 4)
    with pytest.raises(TimeoutError):
        inv.get(inv.spawn(target("sleepy"), (3,), {}), 0)


def test_unknown_function_is_a_clear_error(invoker_factory):
    inv = invoker_factory(fn("square"))
    with pytest.raises(NotFoundError, match="known: \\['square'\\]"):
        inv.call(target("nope"), (), {})


def test_import_error_in_user_module_fails_inputs_without_hanging(invoker_factory):
    inv = invoker_factory(fn("square", module="local_does_not_exist"))
    with pytest.raises(ModuleNotFoundError, match="local_does_not_exist"):
        inv.call(target("square"), (1,), {})


def test_volume_mount_path_reaches_the_volume_directory(invoker_factory, local_dir, tmp_path):
    mount = str(tmp_path / "mnt" / "weights")
    (tmp_path / "mnt").mkdir()
    inv = invoker_factory(
        fn("write_file", volumes={mount: "weights"}), fn("read_file", volumes={mount: "weights"})
    )
    inv.call(target("write_file"), (f"{mount}/a.txt", "hi"), {})
    assert (local_dir / "volumes" / "weights" / "a.txt").read_text() == "hi"
    assert inv.call(target("read_file"), (f"{mount}/a.txt",), {}) == "hi"


def test_volume_mount_shim_when_the_path_cannot_be_created(tmp_path):
    code = (
        "import os, sys\n"
        "from pcompile.runtime import mounts\n"
        f"how = mounts.apply({{'/proc/pcompile-test-mount': {str(tmp_path / 'vol')!r}}})\n"
        "open('/proc/pcompile-test-mount/x.txt', 'w').write('via shim')\n"
        "print(how['/proc/pcompile-test-mount'], sorted(os.listdir('/proc/pcompile-test-mount')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["shim", "['x.txt']"]
    assert (tmp_path / "vol" / "x.txt").read_text() == "via shim"


def test_worker_processes_stop_with_the_invoker(invoker_factory):
    inv = invoker_factory(fn("pid"))
    worker_pid = inv.call(target("pid"), (), {})
    inv.close()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(worker_pid, 0)
            time.sleep(0.05)


def test_killing_a_worker_from_outside_is_reported(invoker_factory):
    inv = invoker_factory(fn("sleepy"))
    call = inv.spawn(target("pid"), (), {}) if False else None  # noqa: F841 - placeholder for clarity
    worker_pid = inv.call(target("sleepy"), (0,), {})
    call_id = inv.spawn(target("sleepy"), (5,), {})
    time.sleep(1.0)
    os.kill(worker_pid, signal.SIGKILL)
    with pytest.raises(ExecutionError, match="SIGKILL"):
        inv.get(call_id, 30)


def test_current_input_id_and_is_local_inside_workers(invoker_factory):
    inv = invoker_factory(fn("input_id"))
    first, second = run_map(inv, "input_id", [1, 2])
    assert first[0].startswith("in-") and first[0] != second[0]
    assert first[1] is False


def test_line_atomic_stream_keeps_each_threads_lines_whole():
    import io
    import threading

    from pcompile.providers.local.pool import LineAtomicStream

    out = io.StringIO()
    stream = LineAtomicStream(out, threading.Lock())

    def writer(tag: str) -> None:
        for i in range(2000):
            stream.write(f"{tag}-{i}")  # print() writes the text, then the newline
            stream.write("\n")

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in ("main", "log")]
    # Switch threads as often as possible: on a plain stream this splits lines every run.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    expected = sorted(f"{tag}-{i}" for tag in ("main", "log") for i in range(2000))
    assert sorted(out.getvalue().splitlines()) == expected
