"""The one staging layout: keys per function and direction, and the ids that point at them."""

from __future__ import annotations

import pytest

from pcompile.runtime import protocol, staging
from pcompile.runtime.aws_calls import Layout
from pcompile.runtime.gcp_container import call_key, result_key, task_key
from pcompile.runtime.storage import DirectoryStorage


def test_inputs_and_results_of_a_function_live_under_its_own_prefixes() -> None:
    assert staging.prefix("Model.embed", staging.INPUTS) == "fn/Model.embed/in"
    assert staging.prefix("Model.embed", staging.RESULTS) == "fn/Model.embed/out"
    layout = Layout.plan("square", "c0ffee", 40, 8)
    assert layout.chunk_key(0) == "fn/square/in/c0ffee/chunk-0.in"
    assert layout.out_key(3) == "fn/square/out/c0ffee/task-3.out"
    assert task_key("square", "c0ffee", 1) == "fn/square/in/c0ffee/task-1.in"
    assert call_key("square", "c0ffee", "call.json") == "fn/square/in/c0ffee/call.json"
    assert result_key("square", "c0ffee", 7) == "fn/square/out/c0ffee/7.result"


@pytest.mark.parametrize("name", ["", "../x", "a/b", "..", "a..b", " f", "f\n"])
def test_names_that_could_leave_the_prefix_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        staging.prefix(name, staging.INPUTS)
    with pytest.raises(ValueError):
        staging.key("f", staging.INPUTS, name or "/", "x")


def test_unknown_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="staging kind"):
        staging.prefix("f", "calls")


def test_aws_call_id_round_trips_and_rejects_foreign_layouts() -> None:
    layout = Layout.plan("Model.embed", "c0ffee", 10_000, 64)
    bucket, again, job = Layout.from_id(layout.to_id("bkt", "job-1"))
    assert (bucket, again, job) == ("bkt", layout, "job-1")
    for bad in ("aws:bkt/calls/c0ffee?n=1&k=1&m=1".replace("calls/", ""), "aws:bkt/../x/y?n=1&k=1&m=1"):
        with pytest.raises(ValueError):
            Layout.from_id(bad)


def test_large_payloads_are_staged_under_the_given_blob_prefix(tmp_path: object) -> None:
    storage = DirectoryStorage(str(tmp_path))
    payload = staging.pack(
        b"x" * (protocol.INLINE_LIMIT + 1), storage, blobs=staging.blobs("f", staging.RESULTS)
    )
    assert payload["ref"].startswith("fn/f/out/blobs/")
    assert staging.unpack(payload, storage) == b"x" * (protocol.INLINE_LIMIT + 1)


def test_a_staged_blob_whose_bytes_were_replaced_is_refused(tmp_path: object) -> None:
    storage = DirectoryStorage(str(tmp_path))
    payload = staging.pack(
        b"y" * (protocol.INLINE_LIMIT + 1), storage, blobs=staging.blobs("f", staging.INPUTS)
    )
    storage.put(payload["ref"], protocol.serialize("planted"))
    with pytest.raises(protocol.DeserializationError, match="does not match its sha256"):
        staging.unpack(payload, storage)


def test_an_answer_too_large_to_send_is_staged_under_the_functions_results(tmp_path: object) -> None:
    from pcompile.providers.invoker_core import answer_results
    from pcompile.runtime.container import RESPONSE_LIMIT, ContainerRuntime

    storage = DirectoryStorage(str(tmp_path))
    runtime = ContainerRuntime({"name": "f"}, storage, {})
    bigs = [
        {"status": "ok", "value": staging.pack(c * (protocol.INLINE_LIMIT - 100))} for c in (b"x", b"y", b"z")
    ]
    small = runtime.answer(bigs[:1])
    assert small == {"results": bigs[:1]}  # one inline result: sent as it is
    large = runtime.answer(bigs)  # together past the response limit
    assert 3 * protocol.INLINE_LIMIT > RESPONSE_LIMIT and set(large) == {"staged"}
    assert large["staged"]["ref"].startswith("fn/f/out/blobs/")
    assert answer_results(large, storage) == bigs
    assert answer_results(small, storage) == bigs[:1]
