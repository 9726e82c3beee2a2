"""What every cloud's :class:`~pcompile.providers.invoker.Invoker` shares, written once.

* **Address lookup**: :func:`address` finds a function in the deployment manifest,
  :func:`not_deployed` words the error for an app a stack does not hold; both raise
  :class:`~pcompile.exception.NotFoundError`, as Modal's client does.
* **Requests and outcomes**: :func:`request` builds the envelope body a function's
  runtime reads (its inputs staged under the function's own prefix by
  :func:`pcompile.runtime.staging.pack_inputs`, the one pack the runtime uses too),
  :func:`outcome` turns a result back into the value or the user's own exception.
* **Polling**: :func:`poll` waits for a stored result with :class:`Backoff` and raises
  :class:`~pcompile.exception.FunctionTimeoutError` (a builtin ``TimeoutError``) when
  ``timeout`` passes.
* **Call ids and cancellation**: :func:`new_call` makes the id part of a durable
  ``FunctionCall`` id; :func:`mark_cancelled` records a cancel next to the call's inputs
  (the caller's side of the staging layout), so a later ``get`` from any process
  raises :func:`cancelled` instead of waiting for a result that may never come.

The cloud invokers keep only what differs: how a call reaches the platform (Lambda,
Batch, Cloud Run, GCP Batch) and the shape of their ``FunctionCall`` ids.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pcompile.exception import ExecutionError, FunctionTimeoutError, NotFoundError
from pcompile.providers.invoker import Target
from pcompile.providers.manifest import FunctionAddress, Manifest
from pcompile.runtime import protocol, staging
from pcompile.runtime.storage import Storage

CANCELLED = "cancelled"


# --------------------------------------------------------------------------- lookup


def address(manifest: Manifest, target: Target) -> FunctionAddress:
    """Where ``target.function`` lives; ``NotFoundError`` names the functions that are deployed."""
    if target.app and manifest.app and target.app != manifest.app:
        raise NotFoundError(f"app {target.app!r} is not this deployment (it is app {manifest.app!r})")
    try:
        return manifest.functions[target.function]
    except KeyError:
        raise NotFoundError(
            f"app {manifest.app!r} on stack {manifest.stack!r} has no function "
            f"{target.function!r}; deployed: {sorted(manifest.functions)}"
        ) from None


def not_deployed(app_name: str, stack: str, missing: str) -> NotFoundError:
    """The error for an app that ``stack`` does not hold (``missing`` says what was looked for)."""
    return NotFoundError(
        f"app {app_name!r} is not deployed on stack {stack!r} ({missing}); "
        f"run `pcompile deploy FILE --stack {stack}`"
    )


# --------------------------------------------------------------------------- requests


def request(
    target: Target,
    kind: str,
    items: list[Any],
    first: int,
    storage: Storage | None,
    *,
    call: str | None = None,
    limit: int = staging.INLINE_LIMIT,
) -> dict[str, Any]:
    """The request envelope body for ``items`` (``(args, kwargs)`` pairs, the first being input
    ``first`` of the call); results go under call ``call`` when the runtime should store them."""
    return {
        "function": target.function,
        "kind": kind,
        "cls_params": dict(target.cls_params),
        "inputs": staging.pack_inputs(items, storage, target.function, limit=limit),
        "first": first,
        "call": call,
    }


def outcome(result: dict[str, Any], storage: Storage | None, return_exceptions: bool = False) -> Any:
    """A stored or returned result as its value; an error as the user's own exception
    (raised, or returned with ``return_exceptions``)."""
    if result["status"] == "ok":
        return staging.unpack(result["value"], storage)
    exc = protocol.to_exception(result["error"])
    if return_exceptions:
        return exc
    raise exc


def failure(exc: BaseException) -> dict[str, Any]:
    """A result that records a platform failure (read back by :func:`outcome` as ``exc``)."""
    return {"status": "error", "error": protocol.error_info(exc)}


def first_stored(store: Storage, keys: list[str]) -> bytes | None:
    """The first of ``keys`` that is stored (the user's own KeyError travels inside a result)."""
    for key in keys:
        try:
            return store.get(key)
        except KeyError:
            continue
    return None


# --------------------------------------------------------------------------- polling


@dataclass
class Backoff:
    """Polling delays: ``first`` seconds, times ``factor`` each round, at most ``most``."""

    first: float = 0.2
    factor: float = 1.5
    most: float = 5.0

    def delays(self) -> Iterator[float]:
        """An endless series of delays."""
        delay = self.first
        while True:
            yield delay
            delay = min(self.most, delay * self.factor)


def poll(
    fetch: Callable[[], bytes | None],
    timeout: float | None,
    backoff: Backoff,
    *,
    what: str,
    check: Callable[[int], None] | None = None,
) -> bytes:
    """``fetch()`` until it returns data; ``check(round)`` runs between rounds (it raises when
    the platform says the result will never come). ``FunctionTimeoutError`` once ``timeout``
    seconds have passed (``timeout=0``: look once)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for round_, delay in enumerate(backoff.delays()):
        data = fetch()
        if data is not None:
            return data
        if check is not None:
            check(round_)
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise FunctionTimeoutError(f"{what} has no result yet (waited {timeout:g} s)")
        time.sleep(delay if left is None else min(delay, left))
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- calls


def new_call() -> str:
    """A fresh call id (the unique part of every cloud's ``FunctionCall`` id)."""
    return uuid.uuid4().hex


def cancel_key(function: str, call: str) -> str:
    """Where a cancel of call ``call`` of ``function`` is recorded (the callers' side)."""
    return staging.key(function, staging.INPUTS, call, CANCELLED)


def mark_cancelled(store: Storage, function: str, call: str) -> None:
    """Record that call ``call`` was cancelled; results that never came read as cancelled."""
    store.put(cancel_key(function, call), b"cancelled from pcompile\n")


def was_cancelled(store: Storage, function: str, call: str) -> bool:
    """Whether :func:`mark_cancelled` ran for the call."""
    return store.exists(cancel_key(function, call))


def cancelled(call_id: str) -> ExecutionError:
    """The error ``get`` raises for an input that a cancel stopped before it finished
    (the local provider raises the same)."""
    return ExecutionError(f"the function call was cancelled ({call_id})")
