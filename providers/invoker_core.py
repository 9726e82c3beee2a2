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
  ``timeout`` passes; :func:`stream` reads a spawned map's results as they appear (one
  listing of the call's results prefix per round, not one request per input), in input
  order or in completion order.
* **Call ids and cancellation**: :func:`new_call` makes the id part of a durable
  ``FunctionCall`` id; :func:`mark_cancelled` records a cancel next to the call's inputs
  (the caller's side of the staging layout), so a later ``get`` from any process
  raises :func:`cancelled` instead of waiting for a result that may never come.

* **The Invoker methods themselves**: :class:`CloudInvoker` answers ``call``,
  ``call_gen``, ``map``, ``spawn``, ``spawn_map`` and ``web_url`` for both clouds: a
  function on the cloud's serverless target is called in packed requests of many
  inputs (:meth:`CloudInvoker.chunk_size`), several at once; any other is spawned and
  its results streamed back as they are stored.

The cloud invokers keep only what differs: how a request reaches the platform (Lambda,
Batch, Cloud Run, GCP Batch) and the shape of their ``FunctionCall`` ids.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from pcompile.exception import ExecutionError, FunctionTimeoutError, NotFoundError
from pcompile.providers.invoker import Target
from pcompile.providers.manifest import FunctionAddress, Manifest
from pcompile.runtime import protocol, staging
from pcompile.runtime.storage import Storage

CANCELLED = "cancelled"
Inputs = Iterable[tuple[tuple[Any, ...], dict[str, Any]]]


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


def answer_results(body: dict[str, Any], storage: Storage | None) -> list[dict[str, Any]]:
    """The results in a function's synchronous answer (:meth:`ContainerRuntime.answer
    <pcompile.runtime.container.ContainerRuntime.answer>`): inline, or staged when large."""
    if "staged" in body:
        results: list[dict[str, Any]] = staging.unpack(body["staged"], storage)
        return results
    return body["results"]  # type: ignore[no-any-return]


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


def stream(
    ready: Callable[[], Iterable[int]],
    read: Callable[[int], list[Any]],
    units: int,
    *,
    ordered: bool,
    backoff: Backoff,
    check: Callable[[int], None],
) -> Iterator[Any]:
    """The items of ``units`` result objects (``read(unit)``) as they are stored: ``ready()``
    names the units stored so far (one listing per round), ``check(round)`` raises when the
    platform says the rest will never come. In unit order, or in completion order."""
    seen: set[int] = set()
    held: dict[int, list[Any]] = {}
    following = 0
    delays = backoff.delays()
    for round_ in range(2**62):
        fresh = sorted(set(ready()) - seen)
        for unit in fresh:
            seen.add(unit)
            if ordered:
                held[unit] = read(unit)
            else:
                yield from read(unit)
        while following in held:
            yield from held.pop(following)
            following += 1
        if len(seen) == units:
            return
        if fresh:
            delays = backoff.delays()  # results are arriving: look again soon
        check(round_)
        time.sleep(next(delays))


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


# --------------------------------------------------------------------------- invoker


class CloudInvoker:
    """The :class:`~pcompile.providers.invoker.Invoker` methods every cloud answers alike.

    A subclass sets :attr:`SERVERLESS` (the placement target called request by request),
    :attr:`CHUNK` and :attr:`PARALLEL` (most inputs per request in a map, requests in
    flight), and implements :meth:`_send` (one request to a serverless function),
    :meth:`_spawn` (start a call, return its id), :meth:`_spawned_results` (a spawned
    map's outcomes, in input or completion order), :meth:`get`, :meth:`cancel` and
    :meth:`_results_storage`.
    """

    SERVERLESS = ""
    CHUNK = 128
    PARALLEL = 16
    manifest: Manifest

    # ---------------------------------------------------------------- what a cloud provides

    def _send(self, address: FunctionAddress, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Send one request envelope body (:func:`request`) to a serverless function; its results."""
        raise NotImplementedError

    def _spawn(self, target: Target, kind: str, items: list[Any]) -> str:
        """Start a call of ``items``; its durable id."""
        raise NotImplementedError

    def _spawned_results(
        self, call_id: str, count: int, return_exceptions: bool, ordered: bool = True
    ) -> Iterator[Any]:
        """The outcomes of the ``count`` inputs of a spawned call as they are stored: in input
        order, or (not ``ordered``) in the order they finish."""
        raise NotImplementedError

    def _results_storage(self) -> Storage:
        """Where staged results of this invoker's own calls are read."""
        raise NotImplementedError

    def get(self, call_id: str, timeout: float | None, index: int = 0) -> Any:
        """The result of input ``index`` of a spawned call."""
        raise NotImplementedError

    # ---------------------------------------------------------------- shared

    def address(self, target: Target) -> FunctionAddress:
        """Where ``target.function`` lives; ``NotFoundError`` names the deployed functions."""
        return address(self.manifest, target)

    def chunk_size(self, count: int) -> int:
        """Inputs per request for a map of ``count``: spread over :attr:`PARALLEL` requests, at
        most :attr:`CHUNK` each (a few inputs still run side by side; a 10,000-input map is
        ``ceil(10000 / CHUNK)`` requests)."""
        return max(1, min(self.CHUNK, math.ceil(count / self.PARALLEL)))

    def _outcome(self, result: dict[str, Any], return_exceptions: bool = False) -> Any:
        return outcome(result, self._results_storage(), return_exceptions)

    def _run_one(
        self,
        target: Target,
        address: FunctionAddress,
        kind: str,
        items: list[Any],
        first: int,
        call: str | None = None,
    ) -> list[dict[str, Any]]:
        """The results of one request of ``items`` (input ``first`` on); with ``call``, the
        function also stores them under that spawned call."""
        body = request(target, kind, items, first, self._results_storage(), call=call)
        return self._send(address, body)

    def _run(
        self,
        target: Target,
        address: FunctionAddress,
        kind: str,
        items: list[Any],
        ordered: bool = True,
        call: str | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Results of ``items`` request by request: in input order, or as requests finish."""
        size = self.chunk_size(len(items))
        chunks = [(i, items[i : i + size]) for i in range(0, len(items), size)]
        if len(chunks) == 1:
            yield self._run_one(target, address, kind, items, 0, call)
            return
        with ThreadPoolExecutor(max_workers=self.PARALLEL) as pool:
            futures = [
                pool.submit(self._run_one, target, address, kind, c, first, call) for first, c in chunks
            ]
            for future in futures if ordered else as_completed(futures):
                yield future.result()

    def call(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run one input and return its value, or raise the remote exception."""
        found = self.address(target)
        if found.target == self.SERVERLESS:
            (result,) = self._run_one(target, found, "call", [(args, kwargs)], 0)
            return self._outcome(result)
        return self.get(self._spawn(target, "call", [(args, kwargs)]), None)

    def call_gen(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        """A generator's items (collected remotely, then yielded here)."""
        found = self.address(target)
        if found.target == self.SERVERLESS:
            (result,) = self._run_one(target, found, "gen", [(args, kwargs)], 0)
            yield from self._outcome(result)
            return
        yield from self.get(self._spawn(target, "gen", [(args, kwargs)]), None)

    def map(
        self,
        target: Target,
        inputs: Inputs,
        *,
        order_outputs: bool,
        return_exceptions: bool,
        wrap_returned_exceptions: bool,
    ) -> Iterator[Any]:
        """Serverless: packed requests (:meth:`chunk_size`), :attr:`PARALLEL` at once; otherwise
        one spawned call whose results are streamed back as they are stored. Outputs come in
        input order when ``order_outputs``, else as they finish."""
        items = [(tuple(a), dict(k)) for a, k in inputs]
        if not items:
            return
        found = self.address(target)
        if found.target == self.SERVERLESS:
            for results in self._run(target, found, "call", items, order_outputs):
                for result in results:
                    yield self._outcome(result, return_exceptions)
            return
        call_id = self._spawn(target, "call", items)
        yield from self._spawned_results(call_id, len(items), return_exceptions, order_outputs)

    def spawn(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Start one input; the id finds its result from any process."""
        return self._spawn(target, "call", [(args, kwargs)])

    def spawn_map(self, target: Target, inputs: Inputs) -> str:
        """Start many inputs under one id (``FunctionCall.get(index=i)``)."""
        return self._spawn(target, "call", [(tuple(a), dict(k)) for a, k in inputs])

    def web_url(self, target: Target) -> str | None:
        """The URL of a web function (None for others)."""
        return self.address(target).web_url
