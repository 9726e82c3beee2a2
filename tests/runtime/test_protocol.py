"""The wire protocol: envelopes, payload staging, errors, unpickling diagnostics."""

from __future__ import annotations

import pickle
import sys

import pytest

from pcompile.exception import DeserializationError, RemoteError, VersionError
from pcompile.runtime import protocol, staging
from pcompile.runtime.execute import retry_delay
from pcompile.runtime.storage import DirectoryStorage, open_storage


def test_envelope_round_trip_and_version_check():
    body = {"status": "ok", "data": b"\x00\x01", "n": 3}
    data = protocol.dump_envelope(body)
    assert protocol.load_envelope(data) == body
    newer = data[:3] + bytes([protocol.ENVELOPE_VERSION + 1]) + data[4:]
    with pytest.raises(VersionError, match="newer than this runtime"):
        protocol.load_envelope(newer)
    with pytest.raises(VersionError, match="magic"):
        protocol.load_envelope(b"garbage")


def test_small_payloads_are_inline_and_large_ones_staged(tmp_path):
    storage = DirectoryStorage(tmp_path)
    small = staging.pack({"x": 1}, storage)
    assert "inline" in small and small["py"] == protocol.PYTHON_VERSION
    big_value = b"x" * (protocol.INLINE_LIMIT + 1)
    big = staging.pack(big_value, storage)
    assert "ref" in big and storage.exists(big["ref"])
    assert staging.unpack(big, storage) == big_value
    with pytest.raises(DeserializationError, match="no storage"):
        staging.unpack(big, None)


def test_lambdas_and_closures_travel_by_value():
    offset = 5
    payload = staging.pack(lambda x: x + offset)
    assert staging.unpack(payload)(1) == 6


def test_missing_module_is_named(tmp_path, monkeypatch):
    (tmp_path / "gone_module_xy.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import gone_module_xy

    data = pickle.dumps(gone_module_xy.Thing())
    monkeypatch.delitem(sys.modules, "gone_module_xy")
    (tmp_path / "gone_module_xy.py").unlink()
    with pytest.raises(DeserializationError, match="module 'gone_module_xy' is not installed"):
        protocol.deserialize(data)


def test_version_mismatch_is_named():
    origin = {"py": "3.99", "cp": "9.9.9"}
    with pytest.raises(DeserializationError, match="Python 3.99 / cloudpickle 9.9.9"):
        protocol.deserialize(b"not a pickle", origin)


def test_errors_round_trip_as_their_own_type_with_remote_traceback():
    try:
        raise ValueError("remote boom")
    except ValueError as exc:
        info = protocol.error_info(exc)
    assert info["type"] == "builtins.ValueError" and "remote boom" in info["traceback"]
    rebuilt = protocol.to_exception(info)
    assert type(rebuilt) is ValueError and str(rebuilt) == "remote boom"
    assert "Remote traceback" in str(rebuilt.__cause__)


def test_unpicklable_errors_become_remote_error():
    class Local(Exception):
        def __reduce__(self):
            raise TypeError("nope")

    info = protocol.error_info(Local("odd"))
    assert info["pickled"] is None
    rebuilt = protocol.to_exception(info)
    assert isinstance(rebuilt, RemoteError) and "odd" in str(rebuilt)


def test_modal_retry_backoff():
    policy = {"initial_delay": 1.0, "backoff_coefficient": 2.0, "max_delay": 5.0}
    assert [retry_delay(policy, n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert retry_delay({"initial_delay": 0.0}, 3) == 0.0


def test_storage_by_url_and_key_safety(tmp_path):
    storage = open_storage(f"file://{tmp_path}")
    storage.put("a/b", b"1")
    assert storage.get("a/b") == b"1" and storage.exists("a/b")
    storage.delete("a/b")
    assert not storage.exists("a/b")
    with pytest.raises(KeyError):
        storage.get("a/b")
    with pytest.raises(ValueError, match="relative"):
        storage.put("../x", b"")
    with pytest.raises(ValueError, match="unknown storage scheme"):
        open_storage("ftp://x")
