"""The invoker contract: the same cases, the same answers and the same exceptions on every
backend (``conftest.backend``: local worker pools, AWS on moto, GCP on the storage emulator).

What a case asserts is what Modal's client does: values round-trip, a generator's items
arrive in order, ``map`` keeps input order (or not) and returns the user's exceptions
when asked, a spawned call is read back by id from a fresh invoker, ``get`` past its
timeout raises ``FunctionTimeoutError`` (also a builtin ``TimeoutError``), an unknown app
or function is ``NotFoundError``, a remote failure is the user's own exception type with
its message, and a cancelled call reads as cancelled.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from contract_kit import Backend

from pcompile.exception import ExecutionError, FunctionTimeoutError, NotFoundError
from pcompile.exception import TimeoutError as PcompileTimeoutError

pytestmark = pytest.mark.timeout(600)
MAP = {"return_exceptions": False, "wrap_returned_exceptions": False}


def user_error() -> type[Exception]:
    """The app's ``ContractError`` as this process knows it: the compiler loads the app file as
    module ``contract_app`` (as ``pcompile run`` loads the user's file), so that module's class."""
    return sys.modules["contract_app"].ContractError  # type: ignore[no-any-return]


def _map(backend: Backend, function: str, inputs: list[Any], **flags: Any) -> list[Any]:
    options = {"order_outputs": True, **MAP, **flags}
    return list(backend.invoker.map(backend.target(function), [((x,), {}) for x in inputs], **options))


def test_a_value_round_trips(backend: Backend) -> None:
    assert backend.invoker.call(backend.target("square"), (7,), {}) == 49
    value = {"ints": [1, -2, 3], "float": 2.5, "none": None, "bytes": b"\x00\xff", "tuple": (1, "a")}
    assert backend.invoker.call(backend.target("echo"), (value,), {}) == value


def test_a_large_value_round_trips_through_staging(backend: Backend) -> None:
    text = "x" * (3 * 1024 * 1024)  # over the inline limit both ways
    assert backend.invoker.call(backend.target("echo"), (text,), {}) == text


def test_a_generator_yields_its_items_in_order(backend: Backend) -> None:
    assert list(backend.invoker.call_gen(backend.target("count"), (5,), {})) == [0, 1, 2, 3, 4]
    assert list(backend.invoker.call_gen(backend.target("count"), (0,), {})) == []


def test_map_keeps_input_order(backend: Backend) -> None:
    assert _map(backend, "square", list(range(40))) == [i * i for i in range(40)]
    assert _map(backend, "square", []) == []


def test_map_returns_the_users_exceptions_in_order(backend: Backend) -> None:
    out = _map(backend, "even_square", list(range(6)), return_exceptions=True)
    assert [v for v in out[::2]] == [0, 4, 16]
    assert [type(e) for e in out[1::2]] == [user_error()] * 3
    assert [str(e) for e in out[1::2]] == ["odd input 1", "odd input 3", "odd input 5"]


def test_unordered_map_returns_every_output(backend: Backend) -> None:
    out = _map(backend, "even_square", list(range(10)), order_outputs=False, return_exceptions=True)
    assert sorted(v for v in out if isinstance(v, int)) == [0, 4, 16, 36, 64]
    assert sorted(str(e) for e in out if isinstance(e, user_error())) == [
        f"odd input {i}" for i in (1, 3, 5, 7, 9)
    ]
    assert len(out) == 10


def test_map_without_return_exceptions_raises_the_users_exception(backend: Backend) -> None:
    with pytest.raises(user_error(), match="odd input 1"):
        _map(backend, "even_square", [0, 1, 2])


def test_spawn_then_get_from_a_fresh_invoker(backend: Backend) -> None:
    call_id = backend.invoker.spawn(backend.target("square"), (12,), {})
    assert isinstance(call_id, str) and call_id
    assert backend.invoker.get(call_id, timeout=120) == 144
    assert backend.reader(call_id).get(call_id, timeout=120) == 144  # another process, by id alone


def test_spawn_map_results_are_read_by_index(backend: Backend) -> None:
    call_id = backend.invoker.spawn_map(backend.target("square"), [((i,), {}) for i in range(5)])
    assert [backend.reader(call_id).get(call_id, timeout=120, index=i) for i in (4, 0, 2)] == [16, 0, 4]


def test_get_past_its_timeout_raises_function_timeout_error(backend: Backend) -> None:
    call_id = backend.invoker.spawn(backend.target("nap"), (60,), {})
    try:
        for timeout in (0, 0.3):
            with pytest.raises(FunctionTimeoutError) as caught:
                backend.invoker.get(call_id, timeout=timeout)
            # Modal's class tree: catching the builtin or pcompile's TimeoutError works too.
            assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, PcompileTimeoutError)
            assert call_id in str(caught.value)
        with pytest.raises(FunctionTimeoutError):
            backend.reader(call_id).get(call_id, timeout=0)
    finally:
        backend.invoker.cancel(call_id)


def test_an_unknown_function_is_not_found(backend: Backend) -> None:
    target = backend.target("no_such_function")
    with pytest.raises(NotFoundError, match="no_such_function"):
        backend.invoker.call(target, (1,), {})
    with pytest.raises(NotFoundError, match="no_such_function"):
        backend.invoker.spawn(target, (1,), {})
    with pytest.raises(NotFoundError, match="no_such_function"):
        list(backend.invoker.map(target, [((1,), {})], order_outputs=True, **MAP))


def test_an_unknown_app_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFoundError, match="'no-such-app'"):
        backend.lookup("no-such-app")


def test_a_remote_failure_is_the_users_own_exception(backend: Backend) -> None:
    with pytest.raises(user_error(), match="^boom: the message survives$") as caught:
        backend.invoker.call(backend.target("fail"), ("boom: the message survives",), {})
    assert type(caught.value) is user_error()
    assert "Remote traceback" in str(caught.value.__cause__)  # where it failed, on the other side
    call_id = backend.invoker.spawn(backend.target("fail"), ("spawned",), {})
    with pytest.raises(user_error(), match="^spawned$"):
        backend.reader(call_id).get(call_id, timeout=120)


def test_a_cancelled_call_reads_as_cancelled(backend: Backend) -> None:
    call_id = backend.invoker.spawn(backend.target("nap"), (60,), {})
    backend.invoker.cancel(call_id)
    with pytest.raises(ExecutionError, match="cancelled"):
        backend.invoker.get(call_id, timeout=30)
    with pytest.raises(ExecutionError, match="cancelled"):
        backend.reader(call_id).get(call_id, timeout=30)


def test_a_call_cancelled_after_it_finished_keeps_its_result(backend: Backend) -> None:
    call_id = backend.invoker.spawn(backend.target("square"), (3,), {})
    assert backend.invoker.get(call_id, timeout=120) == 9
    backend.invoker.cancel(call_id)
    assert backend.reader(call_id).get(call_id, timeout=30) == 9


def test_a_function_past_its_timeout_raises_function_timeout_error(backend: Backend) -> None:
    with pytest.raises(FunctionTimeoutError, match="timed out"):
        backend.invoker.call(backend.target("overrun"), (), {})


# --------------------------------------------------------------------------- packed maps
# Each cloud case runs on both of the cloud's targets: the serverless one (Lambda, Cloud Run)
# and Batch (AWS Batch, GCP Batch), whose functions are named ``batch_*``.

TARGETS = ["serverless", "batch"]


def _cloud(backend: Backend) -> None:
    if backend.name == "local":
        pytest.skip("a cloud case: the local provider makes no cloud requests")


def _on(target: str, function: str) -> str:
    return f"batch_{function}" if target == "batch" else function


@pytest.mark.parametrize("target", TARGETS)
def test_map_order_ordered_and_as_completed(backend: Backend, target: str, tmp_path: Any) -> None:
    """The first input finishes last (it waits for the others to finish): ``order_outputs``
    keeps it first; ``order_outputs=False`` yields it when it comes, last."""
    _cloud(backend)
    tokens = ["last", "a", "b", "c"]
    for ordered in (True, False):
        folder = tmp_path / f"ordered-{ordered}"
        folder.mkdir()
        items = [((t, str(folder), 3), {}) for t in tokens]
        fn = backend.target(_on(target, "arrive"))
        out = list(backend.invoker.map(fn, items, order_outputs=ordered, **MAP))
        if ordered:
            assert out == tokens
        else:
            assert sorted(out[:3]) == ["a", "b", "c"] and out[3] == "last"


@pytest.mark.parametrize("target", TARGETS)
def test_map_returns_each_inputs_exception_from_packed_requests(backend: Backend, target: str) -> None:
    """Many inputs per request or task: each input still settles on its own."""
    _cloud(backend)
    n = 200
    with backend.max_tasks(4):  # Batch: about 50 inputs per task
        out = _map(backend, _on(target, "even_square"), list(range(n)), return_exceptions=True)
    assert out[::2] == [i * i for i in range(0, n, 2)]
    assert [type(e) for e in out[1::2]] == [user_error()] * (n // 2)
    assert [str(e) for e in out[1::2]] == [f"odd input {i}" for i in range(1, n, 2)]


@pytest.mark.parametrize("target", TARGETS)
def test_a_map_packs_its_inputs_into_few_control_plane_requests(backend: Backend, target: str) -> None:
    """1,000 inputs cost at most 20 control-plane requests (one per 50 inputs), counted at the
    invoker's real clients against the emulators; result reads and polling apart."""
    _cloud(backend)
    from contract_kit import CONTROL, counting

    with backend.max_tasks(4), counting(backend) as seen:
        out = _map(backend, _on(target, "even_square"), list(range(0, 2000, 2)))
    assert out == [i * i for i in range(0, 2000, 2)]
    assert 1 <= seen.total(CONTROL) <= 20, seen.to_json()
