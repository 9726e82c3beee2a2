"""The local worker process: ``python -m pcompile.runtime worker --in-fd R --out-fd W``.

Protocol (frames on :class:`~.channel.Channel`, tuples of plain values):

* pool -> worker: ``("init", {"v", "functions", "root", "cls_params", "mounts",
  "storage", "staging_prefix", "memory_mib", "backend"})`` once (``backend``: the invoker
  nested ``.remote`` calls use, a base64 pickled factory), then
  ``("in", [(seq, function, kind)], payload)`` where the payload holds a list of ``(args, kwargs)`` and ``kind`` is ``"call"`` or ``"gen"``,
  and finally ``("stop",)``;
* worker -> pool: ``("ready", pid)`` or ``("fatal", error)``, then per input
  ``("y", seq, item)`` for generator items and ``("res", [result, ...])`` (one result,
  or the outputs of one ``@batched`` call) where a result is ``("ok", seq, value, seconds)`` or ``("err", seq, error, seconds)``.
  Values are pickled bytes, or a staged payload dict when over the inline limit.

Each result is sent as soon as its input finishes, before the next input starts, so
a worker that dies loses only what was running. The sequence numbers of the running
inputs are kept in a shared file of 8-byte slots (``--slot``; one slot per input
that may run at once, -1 when free): when a worker is killed or stalls past its
timeout the pool knows which inputs were running, which finished and which never
started. How inputs are run follows the function: one at a time, ``@concurrent``
(threads for sync, tasks for async), or ``@batched``. ``init["memory_mib"]`` becomes
the process's address-space limit (``RLIMIT_AS``) before the user's code is imported.
"""

from __future__ import annotations

import argparse
import base64
import inspect
import mmap
import os
import pickle
import queue
import resource
import struct
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import protocol, staging
from .channel import Channel
from .execute import Container
from .storage import Storage, open_storage

if TYPE_CHECKING:  # asyncio (and concurrent.futures) load only for concurrent inputs: a start costs less
    import asyncio

PROTOCOL_VERSION = 1
try:
    from pcompile._context import set_current_input as _set_current_input
except ImportError:  # an SDK without input ids
    _set_current_input = None  # type: ignore[assignment]
_SLOT = struct.Struct("q")
Item = tuple[int, str, str, tuple[Any, ...], dict[str, Any]]


class Slots:
    """The shared file of running inputs: one 8-byte seq per slot, -1 when free."""

    def __init__(self, path: str) -> None:
        with open(path, "r+b") as fh:
            size = os.fstat(fh.fileno()).st_size
            self.map = mmap.mmap(fh.fileno(), size)
        self.single = size // _SLOT.size == 1  # one input at a time: always slot 0
        self.free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(size // _SLOT.size):
            self.free.put(index)

    def claim(self, seq: int) -> int | None:
        """Record ``seq`` as running; returns its slot (None when all are taken)."""
        if self.single:
            _SLOT.pack_into(self.map, 0, seq)
            return 0
        try:
            index = self.free.get_nowait()
        except queue.Empty:
            return None
        _SLOT.pack_into(self.map, index * _SLOT.size, seq)
        return index

    def release(self, index: int | None) -> None:
        """The input in slot ``index`` finished (its result is already sent)."""
        if index is not None:
            _SLOT.pack_into(self.map, index * _SLOT.size, -1)
            if not self.single:
                self.free.put(index)


class Worker:
    """One worker: a container plus the channel it serves inputs on."""

    def __init__(
        self,
        channel: Channel,
        container: Container,
        storage: Storage | None,
        *,
        staging_prefix: str | None = None,
        memory_mib: int | None = None,
    ) -> None:
        self.channel = channel
        self.container = container
        self.storage = storage
        self.staging_prefix = staging_prefix
        self.memory_mib = memory_mib
        self.work: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self.slots: Slots | None = None
        self.pid = os.getpid()

    # ----------------------------------------------------------------- input side

    def read_inputs(self) -> None:
        """Reader thread: turn ``in`` frames into work items until ``stop`` or EOF."""
        try:
            while True:
                message = self.channel.recv()
                if message[0] != "in":
                    break
                self._enqueue(message[1], message[2])
        except (EOFError, OSError):
            pass
        self.work.put(None)

    def _enqueue(self, items: list[tuple[int, str, str]], payload: dict[str, Any]) -> None:
        try:
            values = staging.unpack(payload, self.storage)
        except Exception as exc:
            for seq, _, _ in items:
                self._send_error(seq, exc, 0.0)
            return
        finally:
            if "ref" in payload and self.storage is not None:
                self.storage.delete(payload["ref"])  # this worker was its only reader
        for (seq, name, kind), (args, kwargs) in zip(items, values, strict=True):
            self.work.put((seq, name, kind, tuple(args), dict(kwargs)))

    # ----------------------------------------------------------------- output side

    def _encode(self, value: Any) -> bytes | dict[str, Any]:
        data = protocol.serialize_fast(value)
        if len(data) <= protocol.INLINE_LIMIT:
            return data
        # a key of its own (not the content hash): the reader deletes it once read
        key = f"{self.staging_prefix}/{uuid.uuid4().hex}" if self.staging_prefix else None
        return staging.pack_bytes(data, self.storage, key=key)

    def _send_ok(self, seq: int, value: Any, seconds: float) -> None:
        try:
            encoded = self._encode(value)
        except Exception as exc:
            self._send_error(seq, exc, seconds)
            return
        if isinstance(encoded, bytes):
            self.channel.send_ok(seq, encoded, seconds)  # sent now: a result kept here dies with us
        else:
            self._emit(("ok", seq, encoded, seconds))

    def _send_error(self, seq: int, exc: BaseException, seconds: float) -> None:
        exc = out_of_memory(exc, self.memory_mib)
        self._emit(("err", seq, protocol.error_info(exc), seconds))

    def _emit(self, result: tuple[Any, ...]) -> None:
        """Send a result now: a result still in this process dies with it."""
        self.channel.send(("res", [result]))

    def _started(self, seq: int) -> int | None:
        """Record which input runs now, in shared memory the pool reads (if we die or stall),
        and for ``modal.current_input_id()``; returns the slot to release when it is done."""
        if _set_current_input is not None:
            _set_current_input(None, f"in-{self.pid}-{seq}")
        return self.slots.claim(seq) if self.slots is not None else None

    def _finished(self, slot: int | None) -> None:
        if self.slots is not None:
            self.slots.release(slot)

    # ----------------------------------------------------------------- running

    def handle(self, item: Item) -> None:
        """Run one input and send its result (and generator items)."""
        seq, name, kind, args, kwargs = item
        slot = self._started(seq)
        start = time.perf_counter()
        try:
            if kind == "gen":
                for value in self.container.iterate(name, args, kwargs):
                    self.channel.send(("y", seq, self._encode(value)))
                result = None
            else:
                result = self.container.run(name, args, kwargs)
        except BaseException as exc:  # the user's failure is the result
            self._send_error(seq, exc, time.perf_counter() - start)
        else:
            self._send_ok(seq, result, time.perf_counter() - start)
        finally:
            self._finished(slot)

    def serve(self) -> None:
        """Run inputs until the pool says stop, in the function's concurrency mode."""
        reader = threading.Thread(target=self.read_inputs, name="pcompile-reader", daemon=True)
        reader.start()
        spec = next(iter(self.container.specs.values()))
        batching = spec.get("batching")
        max_inputs = (spec.get("concurrency") or {}).get("max_inputs", 1)
        if batching:
            self._serve_batched(int(batching["max_batch_size"]), float(batching["wait_ms"]) / 1000)
        elif max_inputs > 1 and spec.get("is_async"):
            self.container.loop.run_until_complete(self._serve_async(max_inputs))
        elif max_inputs > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_inputs, thread_name_prefix="pcompile-input") as pool:
                for item in iter(self.work.get, None):
                    pool.submit(self.handle, item)
        else:
            for item in iter(self.work.get, None):
                self.handle(item)

    async def _serve_async(self, max_inputs: int) -> None:
        import asyncio

        limit = asyncio.Semaphore(max_inputs)
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        while (item := await loop.run_in_executor(None, self.work.get)) is not None:
            await limit.acquire()
            task = loop.create_task(self._handle_async(item, limit))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def _handle_async(self, item: Item, limit: asyncio.Semaphore) -> None:
        seq, name, kind, args, kwargs = item
        slot = self._started(seq)
        start = time.perf_counter()
        fn = self.container.callable(name)
        timeout = self.container.spec(name).get("timeout")
        try:
            if kind == "gen":
                async for value in fn(*args, **kwargs):
                    self.channel.send(("y", seq, self._encode(value)))
                result = None
            elif inspect.iscoroutinefunction(fn):
                import asyncio

                result = await asyncio.wait_for(fn(*args, **kwargs), timeout or None)
            else:
                result = fn(*args, **kwargs)
        except BaseException as exc:
            self._send_error(seq, _timeout_error(exc, timeout), time.perf_counter() - start)
        else:
            self._send_ok(seq, result, time.perf_counter() - start)
        finally:
            self._finished(slot)
            limit.release()

    def _serve_batched(self, max_size: int, wait_s: float) -> None:
        while (first := self.work.get()) is not None:
            batch, stopping = [first], False
            until = time.monotonic() + wait_s
            while len(batch) < max_size and (left := until - time.monotonic()) > 0:
                try:
                    item = self.work.get(timeout=left)
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._run_batch(batch)
            if stopping:
                return

    def _run_batch(self, batch: list[Item]) -> None:
        slots = [self._started(seq) for seq, *_ in batch]
        start = time.perf_counter()
        try:
            outputs = self.container.run_batch(batch[0][1], [(args, kw) for _, _, _, args, kw in batch])
        except BaseException as exc:
            for seq, *_ in batch:
                self._send_error(seq, exc, time.perf_counter() - start)
        else:
            for (seq, *_), value in zip(batch, outputs, strict=True):
                self._send_ok(seq, value, time.perf_counter() - start)
        finally:
            for slot in slots:
                self._finished(slot)


def limit_memory(mib: int | None) -> None:
    """Make ``memory=`` a hard limit: the address space of this process (``RLIMIT_AS``)."""
    if mib:
        limit = int(mib) << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def out_of_memory(exc: BaseException, mib: int | None) -> BaseException:
    """A ``MemoryError`` under a limit, as one that names the limit and the fix."""
    if not mib or not isinstance(exc, MemoryError) or str(exc).startswith("out of memory"):
        return exc
    error = MemoryError(
        f"out of memory: the function exceeded its memory limit of {mib} MiB (the address space of "
        f"its worker, from memory=...); raise the limit, e.g. memory=(request, {2 * int(mib)})"
    )
    error.__cause__ = exc
    return error


def _timeout_error(exc: BaseException, timeout: float | None) -> BaseException:
    if isinstance(exc, TimeoutError) and timeout:
        from pcompile.exception import FunctionTimeoutError

        return FunctionTimeoutError(f"function timed out after {timeout:g} s")
    return exc


def setup(init: dict[str, Any]) -> Container:
    """Prepare this process as the init frame says: paths, ``modal`` alias, mounts, container."""
    if init.get("v", 1) > PROTOCOL_VERSION:
        raise protocol.VersionError(
            f"worker protocol {init['v']} is newer than this runtime; upgrade pcompile"
        )
    root = init.get("root")
    if root and root not in sys.path:
        sys.path.insert(0, root)
    try:
        from pcompile import _modal_alias

        _modal_alias.install()
    except ImportError:
        pass
    if init.get("main_file"):
        _load_main(init["main_file"])
    from . import mounts

    mounts.apply(init.get("mounts") or {})
    if init.get("backend"):
        _install_nested_backend(init["backend"])
    params = protocol.deserialize(init["cls_params"]) if init.get("cls_params") else {}
    container = Container(init["functions"], params)
    container.start()
    return container


def _load_main(path: str) -> None:
    """Import the caller's ``__main__`` file as ``__mp_main__`` (as multiprocessing does),
    so functions defined in a script run with ``python script.py`` resolve here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("__mp_main__", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["__mp_main__"] = module
    spec.loader.exec_module(module)
    sys.modules["__main__"] = module


def _install_nested_backend(blob: str) -> None:
    """Let functions call other functions of the app (``.remote`` inside a worker).

    ``blob`` is a base64 pickled no-argument factory of the backend, made by whoever
    started this worker (the local provider), so the runtime never imports a provider.
    It is unpickled on the first nested call, not at start: most functions make none,
    and importing the provider (its pool, GPU probe, subprocess) was a tenth of a
    worker's start. A worker whose environment cannot import the provider still runs
    its own function; only its nested calls fail, saying why.
    """
    from pcompile import _invocation

    if _invocation.active_backend() is None:
        _invocation.set_backend(_NestedBackend(blob))  # type: ignore[arg-type]


class _NestedBackend:
    """The backend for nested calls, built from its pickled factory on first use."""

    def __init__(self, blob: str) -> None:
        self._blob = blob
        self._built: Any = None
        self._lock = threading.Lock()

    def _backend(self) -> Any:
        with self._lock:
            if self._built is None:
                try:
                    factory = pickle.loads(base64.b64decode(self._blob))
                except ImportError as exc:
                    from pcompile.exception import ExecutionError

                    raise ExecutionError(
                        f"a call to another function from inside a worker needs the provider that "
                        f"started the worker, which this environment cannot import: {exc}"
                    ) from None
                self._built = factory()
        return self._built

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend(), name)


def main(argv: list[str]) -> int:
    """Entry point of the ``worker`` mode."""
    parser = argparse.ArgumentParser(prog="python -m pcompile.runtime worker")
    parser.add_argument("--in-fd", type=int, required=True)
    parser.add_argument("--out-fd", type=int, required=True)
    parser.add_argument("--slot", help="file of 8 bytes: the seq of the running input")
    opts = parser.parse_args(argv)
    channel = Channel(opts.in_fd, opts.out_fd)
    init = channel.recv()[1]
    memory_mib = init.get("memory_mib")
    try:
        limit_memory(memory_mib)
        container = setup(init)
    except BaseException as exc:
        channel.send(("fatal", protocol.error_info(out_of_memory(exc, memory_mib))))
        return 1
    storage = open_storage(init["storage"]) if init.get("storage") else None
    worker = Worker(
        channel, container, storage, staging_prefix=init.get("staging_prefix"), memory_mib=memory_mib
    )
    if opts.slot:
        worker.slots = Slots(opts.slot)
    channel.send(("ready", os.getpid()))
    try:
        worker.serve()
    finally:
        container.stop()
    sys.stdout.flush()
    return 0
