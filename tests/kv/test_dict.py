"""The ``modal.Dict`` contract, on every backend (conftest.py's ``spec``)."""

from __future__ import annotations

import hashlib
import time

import pytest

import pcompile
from pcompile.exception import InvalidError


@pytest.fixture
def name(request: pytest.FixtureRequest, spec: tuple[str, str]) -> str:
    """A name no other test uses (servers live for the whole session)."""
    return "d-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]


def test_items_and_operators(name: str) -> None:
    d = pcompile.Dict.from_name(name, create_if_missing=True)
    d["a"] = 1
    d[("t", 2)] = {"nested": [1, 2]}
    assert d["a"] == 1 and d[("t", 2)] == {"nested": [1, 2]}
    assert "a" in d and d.contains(("t", 2)) and "zz" not in d
    assert len(d) == 2 and d.len() == 2
    assert d.get("missing") is None and d.get("missing", 7) == 7
    with pytest.raises(KeyError):
        d["missing"]
    del d["a"]
    assert "a" not in d
    with pytest.raises(KeyError):
        del d["a"]


def test_put_skip_if_exists_pop_update_clear(name: str) -> None:
    d = pcompile.Dict.from_name(name, create_if_missing=True)
    assert d.put("k", "first") is True
    assert d.put("k", "second", skip_if_exists=True) is False
    assert d["k"] == "first"
    assert d.put("k", "third") is True and d["k"] == "third"
    assert d.pop("k") == "third" and "k" not in d
    assert d.pop("k", "dflt") == "dflt"
    with pytest.raises(KeyError):
        d.pop("k")
    d.update({"x": 1, "y": 2}, z=3)
    assert sorted(d.keys()) == ["x", "y", "z"]
    assert sorted(d.values()) == [1, 2, 3]
    assert sorted(d.items()) == [("x", 1), ("y", 2), ("z", 3)]
    d.clear()
    assert d.len() == 0 and list(d.keys()) == []


def test_pickled_keys_and_values(name: str) -> None:
    d = pcompile.Dict.from_name(name, create_if_missing=True)
    d[frozenset({1, 2})] = lambda x: x + 1  # cloudpickled value, pickled key
    d[3.5] = b"\x00\xff"
    assert d[frozenset({2, 1})](1) == 2 and d[3.5] == b"\x00\xff"


def test_large_value_round_trips_and_over_limit_is_refused(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pcompile.providers import kv

    d = pcompile.Dict.from_name(name, create_if_missing=True)
    big = bytes(range(256)) * 4_000  # 1 MB: several DynamoDB items, one Firestore document
    d["big"] = big
    assert d["big"] == big and d.len() == 1
    d["big"] = b"small"  # overwriting a chunked value leaves no chunk behind
    assert d["big"] == b"small" and d.len() == 1
    monkeypatch.setattr(kv, "MAX_DICT_VALUE", 1_000)  # the same check as at 100 MiB, made cheap
    with pytest.raises(InvalidError, match=r"test_dict.py:\d+: the Dict value is .* over Modal's limit"):
        d["huge"] = b"x" * 2_000
    assert "huge" not in d


def test_update_over_limit_is_refused(name: str) -> None:
    d = pcompile.Dict.from_name(name, create_if_missing=True)
    with pytest.raises(InvalidError, match="limit of 10,000 per update"):
        d.update({i: i for i in range(10_001)})


def test_invalid_name_is_refused_at_the_call() -> None:
    with pytest.raises(
        InvalidError, match=r"test_dict.py:\d+: invalid Dict name 'a/b'.*rename it, e.g. 'a-b'"
    ):
        pcompile.Dict.from_name("a/b")


def test_ephemeral_is_dropped_at_exit(spec: tuple[str, str]) -> None:
    with pcompile.Dict.ephemeral() as d:
        d["x"] = 1
        assert d["x"] == 1
        again = pcompile.Dict.from_name(d.name)
        assert again["x"] == 1
    assert again.get("x") is None


def test_idle_entries_expire(name: str, spec: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry last touched more than 7 days ago is gone (the clock is moved, not waited)."""
    d = pcompile.Dict.from_name(name, create_if_missing=True)
    d["old"] = 1
    d["fresh"] = 2
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 6 * 86400)
    assert d["fresh"] == 2  # a read 6 days on is activity: it restarts fresh's 7 days
    monkeypatch.setattr(time, "time", lambda: real() + 8 * 86400)
    assert d.get("old") is None and "old" not in d
    assert d["fresh"] == 2 and d.len() == 1
