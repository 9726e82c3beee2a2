"""One pack and one unpack of payloads (``pcompile.runtime.staging``) for callers and functions.

The invokers stage a request's inputs with :func:`staging.pack_inputs`, the runtime
its results with :func:`staging.pack_result`; both read with :func:`staging.unpack`.
``protocol`` no longer has payload functions of its own, so there is no second copy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pcompile.exception import DeserializationError
from pcompile.providers.invoker import Target
from pcompile.providers.invoker_core import outcome, request
from pcompile.runtime import protocol, staging
from pcompile.runtime.storage import DirectoryStorage

BIG = b"z" * (staging.INLINE_LIMIT + 1)


def test_protocol_has_no_second_copy_of_the_payload_functions() -> None:
    for name in ("pack", "pack_bytes", "unpack"):
        assert not hasattr(protocol, name)
        assert callable(getattr(staging, name))


def test_inputs_and_results_are_staged_under_the_functions_own_prefixes(tmp_path: Path) -> None:
    store = DirectoryStorage(tmp_path)
    inputs = staging.pack_inputs([((BIG,), {})], store, "Model.embed")
    result = staging.pack_result(BIG, store, "Model.embed")
    assert inputs["ref"].startswith("fn/Model.embed/in/blobs/")
    assert result["ref"].startswith("fn/Model.embed/out/blobs/")
    assert staging.unpack(inputs, store) == [((BIG,), {})]
    assert staging.unpack(result, store) == BIG
    assert "inline" in staging.pack_result(b"small", store, "Model.embed")


def test_a_limit_of_zero_stages_even_small_inputs(tmp_path: Path) -> None:
    store = DirectoryStorage(tmp_path)
    payload = staging.pack_inputs([((1,), {})], store, "f", limit=0)
    assert payload["ref"].startswith("fn/f/in/blobs/") and staging.unpack(payload, store) == [((1,), {})]


def test_a_replaced_blob_is_refused(tmp_path: Path) -> None:
    store = DirectoryStorage(tmp_path)
    payload = staging.pack_result(BIG, store, "f")
    store.put(payload["ref"], protocol.serialize("planted"))
    with pytest.raises(DeserializationError, match="does not match its sha256"):
        staging.unpack(payload, store)


def test_the_core_request_round_trips_through_the_runtime_side(tmp_path: Path) -> None:
    store = DirectoryStorage(tmp_path)
    body = request(
        Target("app", "f", cls_params=(("k", 1),)), "gen", [((BIG,), {"x": 2})], 7, store, call="c0"
    )
    assert {k: body[k] for k in ("function", "kind", "cls_params", "first", "call")} == {
        "function": "f",
        "kind": "gen",
        "cls_params": {"k": 1},
        "first": 7,
        "call": "c0",
    }
    assert staging.unpack(body["inputs"], store) == [((BIG,), {"x": 2})]
    ok = {"status": "ok", "value": staging.pack_result([1, 2], store, "f")}
    assert outcome(ok, store) == [1, 2]
    failed = {"status": "error", "error": protocol.error_info(KeyError("gone"))}
    assert isinstance(outcome(failed, store, return_exceptions=True), KeyError)
    with pytest.raises(KeyError, match="gone"):
        outcome(failed, store)
