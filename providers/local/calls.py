"""Durable results of spawned calls: ``.pcompile/local/calls/<call id>/``.

A call directory holds ``meta.json`` (``{"function", "inputs"}``) and one
``<index>.result`` envelope per finished input (``{"status": "ok"|"err", "data": ...}``),
so ``FunctionCall.from_id(id).get()`` works from any process on this machine. The
process that spawned the call also wakes in-process waiters without polling.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pcompile.exception import ExecutionError, FunctionTimeoutError, NotFoundError
from pcompile.runtime import protocol, staging
from pcompile.runtime.storage import DirectoryStorage

from .paths import sub

CALL_PREFIX = "fc-local-"


def new_call_id() -> str:
    """A fresh durable id; the prefix tells readers the result lives in the local call store."""
    return CALL_PREFIX + uuid.uuid4().hex


class CallRecord:
    """A spawned call being written by this process; it is the :class:`Sink` of its inputs."""

    def __init__(self, call_id: str, function: str, n_inputs: int | None) -> None:
        self.call_id = call_id
        self.dir = call_dir(call_id, create=True)
        self.cond = threading.Condition()
        self.done: set[int] = set()
        self.cancelled = False
        self.write_meta(function, n_inputs)

    def write_meta(self, function: str, n_inputs: int | None) -> None:
        """Record what the call is (``inputs`` None while a spawn_map is still submitting)."""
        DirectoryStorage(self.dir).put(
            "meta.json", json.dumps({"function": function, "inputs": n_inputs}).encode()
        )

    def deliver(self, index: int, status: str, data: Any) -> None:
        """Store one input's outcome (generator items are not stored); a staged result moves
        into the call's folder, so ``get`` works as often as asked and staging is emptied."""
        if status == "y":
            return
        with self.cond:
            if index in self.done:
                return
            if status == "ok" and isinstance(data, dict) and "ref" in data:
                data = inline_staged(data)
            DirectoryStorage(self.dir).put(
                f"{index}.result", protocol.dump_envelope({"status": status, "data": data})
            )
            self.done.add(index)
            self.cond.notify_all()

    def wait(self, index: int, timeout: float | None) -> bool:
        """Block until input ``index`` has a stored result; False on timeout."""
        with self.cond:
            return self.cond.wait_for(lambda: index in self.done, timeout)


def call_dir(call_id: str, create: bool = False) -> Path:
    """The directory of a call; ``NotFoundError`` for unknown ids."""
    if not call_id.startswith(CALL_PREFIX) or not call_id[len(CALL_PREFIX) :].isalnum():
        raise NotFoundError(f"{call_id!r} is not a local function call id")
    path = sub("calls") / call_id
    if create:
        path.mkdir(parents=True, exist_ok=True)
    elif not path.is_dir():
        raise NotFoundError(f"no function call {call_id!r} in {path.parent}")
    return path


def read_result(call_id: str, index: int, timeout: float | None, record: CallRecord | None = None) -> Any:
    """The outcome of input ``index``: its value, or the remote exception raised."""
    path = call_dir(call_id)
    store = DirectoryStorage(path)
    key = f"{index}.result"
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while not store.exists(key):
        meta = json.loads(store.get("meta.json"))
        if meta.get("inputs") is not None and index >= meta["inputs"]:
            raise IndexError(f"call {call_id} has {meta['inputs']} inputs; no index {index}")
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise FunctionTimeoutError(f"function call {call_id} has no result yet (waited {timeout:g} s)")
        if record is not None:
            record.wait(index, left)
        else:
            time.sleep(min(delay, left) if left is not None else delay)
            delay = min(delay * 2, 0.2)
    envelope = protocol.load_envelope(store.get(key))
    return decode(envelope["status"], envelope["data"], DirectoryStorage(sub("staging")))


def inline_staged(payload: dict[str, Any]) -> dict[str, Any]:
    """A staged payload as an inline one; the staged file is deleted."""
    staging = DirectoryStorage(sub("staging"))
    inline = {k: v for k, v in payload.items() if k not in ("ref", "size")}
    inline["inline"] = staging.get(payload["ref"])
    staging.delete(payload["ref"])
    return inline


def decode(status: str, data: Any, storage: Any, *, consume: bool = False) -> Any:
    """A worker's ``ok`` data as a value; an ``err`` as the raised exception. With
    ``consume``, a staged payload is deleted once read (its caller is its only reader)."""
    if status == "err":
        protocol.raise_error(data)
    if isinstance(data, dict):
        try:
            return staging.unpack(data, storage)
        finally:
            if consume and "ref" in data and storage is not None:
                storage.delete(data["ref"])
    return protocol.deserialize(data)


def cancelled_error() -> dict[str, Any]:
    """The stored outcome of a cancelled input."""
    return protocol.error_info(ExecutionError("the function call was cancelled"))
