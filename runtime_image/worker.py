"""The local worker process: ``python -m pcompile.runtime worker --in-fd R --out-fd W``.

Protocol (frames on :class:`~.channel.Channel`, tuples of plain values):

* pool -> worker: ``("init", {"v", "functions", "root", "cls_params", "mounts",
  "storage"})`` once, then ``("in", [(seq, function, kind)], payload)`` where the
  payload holds a list of ``(args, kwargs)`` and ``kind`` is ``"call"`` or ``"gen"``,
  and finally ``("stop",)``;
* worker -> pool: ``("ready", pid)`` or ``("fatal", error)``, then per input
  ``("y", seq, item)`` for generator items and ``("res", [result, ...])`` where a
  result is ``("ok", seq, value, seconds)`` or ``("err", seq, error, seconds)``.
  Values are pickled bytes, or a staged payload dict when over the inline limit.

Results are sent in groups while more inputs wait (and at once before idling). The
sequence number of the running input is kept in a shared 8-byte file (``--slot``),
so when a worker is killed the pool knows which input was running, which finished
and which never started. How inputs are run
follows the function: one at a time, ``@concurrent`` (threads for sync, tasks for
async), or ``@batched``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import mmap
import os
import queue
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import protocol
from .channel import Channel
from .execute import Container
from .storage import Storage, open_storage

PROTOCOL_VERSION = 1
try:
    from pcompile._context import set_current_input as _set_current_input
except ImportError:  # an SDK without input ids
    _set_current_input = None  # type: ignore[assignment]
_SLOT = struct.Struct("q")
Item = tuple[int, str, str, tuple[Any, ...], dict[str, Any]]


class Worker:
    """One worker: a container plus the channel it serves inputs on."""

    def __init__(self, channel: Channel, container: Container, storage: Storage | None) -> None:
        self.channel = channel
        self.container = container
        self.storage = storage
        self.work: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self.slot: mmap.mmap | None = None
        self._out: list[tuple[Any, ...]] = []
        self._out_since = 0.0
        self._out_lock = threading.Lock()

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
            values = protocol.unpack(payload, self.storage)
        except Exception as exc:
            for seq, _, _ in items:
                self._send_error(seq, exc, 0.0)
            return
        for (seq, name, kind), (args, kwargs) in zip(items, values, strict=True):
            self.work.put((seq, name, kind, tuple(args), dict(kwargs)))

    # ----------------------------------------------------------------- output side

    def _encode(self, value: Any) -> bytes | dict[str, Any]:
        data = protocol.serialize_fast(value)
        if len(data) <= protocol.INLINE_LIMIT:
            return data
        return protocol.pack_bytes(data, self.storage)

    def _send_ok(self, seq: int, value: Any, seconds: float) -> None:
        try:
            encoded = self._encode(value)
        except Exception as exc:
            self._send_error(seq, exc, seconds)
            return
        self._emit(("ok", seq, encoded, seconds))

    def _send_error(self, seq: int, exc: BaseException, seconds: float) -> None:
        self._emit(("err", seq, protocol.error_info(exc), seconds))

    def _emit(self, result: tuple[Any, ...]) -> None:
        """Queue a result; results go out together while more inputs wait (fewer frames),
        and at once when the worker is about to idle, after 256 results or 20 ms."""
        with self._out_lock:
            if not self._out:
                self._out_since = time.monotonic()
            self._out.append(result)
            if self.work.empty() or len(self._out) >= 256 or time.monotonic() - self._out_since > 0.02:
                self._flush_locked()

    def flush(self) -> None:
        """Send queued results now."""
        with self._out_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._out:
            out, self._out = self._out, []
            self.channel.send(("res", out))

    def _started(self, seq: int) -> None:
        """Record which input runs now, in shared memory the pool reads if we die, and
        for ``modal.current_input_id()``."""
        if self.slot is not None:
            _SLOT.pack_into(self.slot, 0, seq)
        if _set_current_input is not None:
            _set_current_input(None, f"in-{os.getpid()}-{seq}")

    # ----------------------------------------------------------------- running

    def handle(self, item: Item) -> None:
        """Run one input and send its result (and generator items)."""
        seq, name, kind, args, kwargs = item
        self._started(seq)
        start = time.perf_counter()
        try:
            if kind == "gen":
                for value in self.container.iterate(name, args, kwargs):
                    self.flush()
                    self.channel.send(("y", seq, self._encode(value)))
                result = None
            else:
                result = self.container.run(name, args, kwargs)
        except BaseException as exc:  # the user's failure is the result
            self._send_error(seq, exc, time.perf_counter() - start)
            return
        self._send_ok(seq, result, time.perf_counter() - start)

    def _flush_late(self) -> None:
        """Flusher thread: no result waits more than ~20 ms behind a long input."""
        while True:
            time.sleep(0.01)
            if self._out and time.monotonic() - self._out_since > 0.02:
                self.flush()

    def serve(self) -> None:
        """Run inputs until the pool says stop, in the function's concurrency mode."""
        reader = threading.Thread(target=self.read_inputs, name="pcompile-reader", daemon=True)
        reader.start()
        threading.Thread(target=self._flush_late, name="pcompile-flusher", daemon=True).start()
        spec = next(iter(self.container.specs.values()))
        batching = spec.get("batching")
        max_inputs = (spec.get("concurrency") or {}).get("max_inputs", 1)
        if batching:
            self._serve_batched(int(batching["max_batch_size"]), float(batching["wait_ms"]) / 1000)
        elif max_inputs > 1 and spec.get("is_async"):
            self.container.loop.run_until_complete(self._serve_async(max_inputs))
        elif max_inputs > 1:
            with ThreadPoolExecutor(max_inputs, thread_name_prefix="pcompile-input") as pool:
                for item in iter(self.work.get, None):
                    pool.submit(self.handle, item)
        else:
            for item in iter(self.work.get, None):
                self.handle(item)

    async def _serve_async(self, max_inputs: int) -> None:
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
        self._started(seq)
        start = time.perf_counter()
        fn = self.container.callable(name)
        timeout = self.container.spec(name).get("timeout")
        try:
            if kind == "gen":
                async for value in fn(*args, **kwargs):
                    self.flush()
                    self.channel.send(("y", seq, self._encode(value)))
                result = None
            elif inspect.iscoroutinefunction(fn):
                result = await asyncio.wait_for(fn(*args, **kwargs), timeout or None)
            else:
                result = fn(*args, **kwargs)
        except BaseException as exc:
            self._send_error(seq, _timeout_error(exc, timeout), time.perf_counter() - start)
        else:
            self._send_ok(seq, result, time.perf_counter() - start)
        finally:
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
        self._started(batch[0][0])
        start = time.perf_counter()
        try:
            outputs = self.container.run_batch(batch[0][1], [(args, kw) for _, _, _, args, kw in batch])
        except BaseException as exc:
            for seq, *_ in batch:
                self._send_error(seq, exc, time.perf_counter() - start)
            return
        for (seq, *_), value in zip(batch, outputs, strict=True):
            self._send_ok(seq, value, time.perf_counter() - start)


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
    if init.get("app"):
        _install_nested_backend(init)
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


def _install_nested_backend(init: dict[str, Any]) -> None:
    """Let functions call other functions of the app (``.remote`` inside a worker)."""
    try:
        from pcompile import _invocation
        from pcompile.providers.local.invoker import LocalInvoker
    except ImportError:
        return
    if _invocation.active_backend() is None:
        _invocation.set_backend(
            LocalInvoker(init["app"], root=init.get("root"), main_file=init.get("main_file"))
        )


def main(argv: list[str]) -> int:
    """Entry point of the ``worker`` mode."""
    parser = argparse.ArgumentParser(prog="python -m pcompile.runtime worker")
    parser.add_argument("--in-fd", type=int, required=True)
    parser.add_argument("--out-fd", type=int, required=True)
    parser.add_argument("--slot", help="file of 8 bytes: the seq of the running input")
    opts = parser.parse_args(argv)
    channel = Channel(opts.in_fd, opts.out_fd)
    init = channel.recv()[1]
    try:
        container = setup(init)
    except BaseException as exc:
        channel.send(("fatal", protocol.error_info(exc)))
        return 1
    storage = open_storage(init["storage"]) if init.get("storage") else None
    channel.send(("ready", os.getpid()))
    worker = Worker(channel, container, storage)
    if opts.slot:
        with open(opts.slot, "r+b") as fh:
            worker.slot = mmap.mmap(fh.fileno(), _SLOT.size)
    try:
        worker.serve()
    finally:
        worker.flush()
        container.stop()
    sys.stdout.flush()
    return 0
