"""The local worker process: ``python -m pcompile.runtime worker --in-fd R --out-fd W``.

Protocol (frames on :class:`~.channel.Channel`, tuples of plain values):

* pool -> worker: ``("init", {"v", "functions", "root", "cls_params", "mounts",
  "storage", "staging_prefix", "memory_mib", "backend", "journal"})`` once (``backend``: the invoker
  nested ``.remote`` calls use, a base64 pickled factory), then
  ``("in", [(seq, function, kind)], payload)`` where the payload holds a list of ``(args, kwargs)`` and ``kind`` is ``"call"`` or ``"gen"``,
  or ``("chunk", seq, count, function, form, payload)``: ``count`` calls with consecutive seqs from ``seq``, the
  payload one pickle of their arguments (``form`` ``"one"``: one positional value each,
  ``"args"``: args tuples, ``"kw"``: ``(args, kwargs)`` pairs), and finally ``("stop",)``;
* worker -> pool: ``("ready", pid)`` or ``("fatal", error)``, then per input
  ``("y", seq, item)`` for generator items and ``("res", [result, ...])`` (one result,
  or the outputs of one ``@batched`` call) where a result is ``("ok", seq, value, seconds)`` or ``("err", seq, error, seconds)``;
  per chunk ``("cres", seq, offset, values, errors, seconds)``: the results of its inputs
  ``offset`` on (``values[i]`` None where ``errors`` has ``(i, error)``; ``values`` is one
  pickle of the list of results when all are of immutable built-in types), one frame when
  the chunk ends, or several when it runs long or fills the journal.
  Values are pickled bytes, or a staged payload dict when over the inline limit.

Each result is sent as soon as its input finishes, before the next input starts, so
a worker that dies loses only what was running. The sequence numbers of the running
inputs are kept in a shared file of 8-byte slots (``--slot``; one slot per input
that may run at once, -1 when free): when a worker is killed or stalls past its
timeout the pool knows which inputs were running, which finished and which never
started. A chunk's results leave in one frame, so until then each finished input is
written to a journal in the same shared file (``init["journal"]`` bytes from
:data:`JOURNAL_AT`): the pool reads it when the worker dies, so only the input that was
running is executed again. Within a chunk each input still gets its own timeout (one
``SIGALRM`` per chunk, moved on to each input's deadline when it fires early, see
:class:`ChunkDeadline`). How inputs are run follows the function: one at a time, ``@concurrent``
(threads for sync, tasks for async), or ``@batched``. ``init["memory_mib"]`` becomes
the process's address-space limit (``RLIMIT_AS``) before the user's code is imported.
"""

from __future__ import annotations

import argparse
import base64
import inspect
import marshal
import mmap
import os
import pickle
import queue
import resource
import signal
import struct
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from pcompile.exception import FunctionTimeoutError

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
try:
    from pcompile._context import set_input_source as _set_input_source
except ImportError:  # an SDK that asks no source: chunks then set no per-input id
    _set_input_source = None  # type: ignore[assignment]
_SLOT = struct.Struct("q")
Item = tuple[int, str, str, tuple[Any, ...], dict[str, Any]]
Chunk = tuple[int, str, str, list[Any]]  # first seq, function, form, arguments
JOURNAL_AT = 4096  # offset of the journal in the slot file (the slots come first)
JOURNAL_HEAD = struct.Struct("qq")  # first seq of the segment (-1: none), its inputs
JOURNAL_ENTRIES = 4096  # record ends (u32) after the head, then one 8-byte value each
# flags on a record's end: its pickle is an error or a staged payload; or it is a marshal;
# or the record is its 8-byte value (an int that fits in 64 bits, a float), no bytes
JOURNAL_ERROR, JOURNAL_STAGED, JOURNAL_MARSHAL = 1 << 31, 1 << 30, 1 << 29
JOURNAL_INT, JOURNAL_FLOAT = 1 << 28, 1 << 27
_END = struct.Struct("I")
FLUSH_S = 0.05  # a chunk running longer sends what finished so far (results keep streaming)
# Results of these types are immutable and unpickle anywhere: a chunk of only them is sent
# as one pickle of the list (the pool unpickles it in one call), not one pickle each.
_ATOMIC = protocol.ATOMIC
_EMPTY: dict[str, Any] = {}
EACH = "/each"  # a chunk form's suffix: its arguments are one pickle per input


class Slots:
    """The shared file of running inputs: one 8-byte seq per slot, -1 when free."""

    def __init__(self, path: str, journal: int = 0) -> None:
        with open(path, "r+b") as fh:
            size = os.fstat(fh.fileno()).st_size
            self.map = mmap.mmap(fh.fileno(), size)
        count = 1 if journal else size // _SLOT.size  # a journal follows the one slot of a serial worker
        self.single = count == 1  # one input at a time: always slot 0
        self.journal = Journal(self.map, JOURNAL_AT, journal) if journal else None
        self.free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(count):
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


class Journal:
    """The results of the running chunk that have not been sent yet, in the shared file.

    Layout (from ``offset``): the head (first seq of the segment, its number of inputs),
    :data:`JOURNAL_ENTRIES` record ends (u32, 0 until written), as many 8-byte values,
    then the records' bytes: a marshal or a pickle each. An int of 64 bits or a float is
    stored as its record's value (one typed store, the cheapest record there is: results
    of a hot map mostly are such numbers), anything else as bytes. A record's end is
    written after its value or bytes, so a worker killed at any instant leaves only whole
    records; the first input without one is the one running (which the pool reads too:
    no per-input slot write). The pool reads the records after the worker is gone
    (``providers/local/pool.py``).
    """

    def __init__(self, mapped: mmap.mmap, offset: int, size: int) -> None:
        self.map, self.offset = mapped, offset
        self.ends = offset + JOURNAL_HEAD.size
        values = self.ends + JOURNAL_ENTRIES * _END.size
        self.data = values + JOURNAL_ENTRIES * 8
        self.limit = offset + size - self.data
        # typed views: a record's end or value is one item store (the map stays open)
        self.end_view = memoryview(mapped)[self.ends : values].cast("I")
        self.ints = memoryview(mapped)[values : self.data].cast("q")
        self.floats = memoryview(mapped)[values : self.data].cast("d")
        self.base, self.size = -1, 0
        self.reset(-1, 0)

    def reset(self, seq: int, count: int) -> None:
        """Empty the journal for the next ``count`` inputs from ``seq`` (-1: none)."""
        JOURNAL_HEAD.pack_into(self.map, self.offset, -1, 0)
        if self.size:
            self.map[self.ends : self.ends + self.size * _END.size] = bytes(self.size * _END.size)
        self.size = min(count, JOURNAL_ENTRIES)
        self.base = seq
        JOURNAL_HEAD.pack_into(self.map, self.offset, seq, self.size)
        self.map.seek(self.data)

    def running(self) -> int | None:
        """The seq of the first input of the segment without a record (None: all have one)."""
        if self.base < 0:
            return None
        ends = struct.unpack_from(f"{self.size}I", self.map, self.ends)
        return next((self.base + i for i, end in enumerate(ends) if not end), None)


class ChunkDeadline:
    """Per-input timeouts for the inputs of a chunk with one ``SIGALRM`` per chunk.

    The timer is armed for ``timeout`` when the chunk starts; when it fires, the input
    running then raises :class:`FunctionTimeoutError` only if it has run ``timeout``
    seconds itself, else the timer is moved to that input's own deadline. Starting an
    input costs one clock read, not two ``setitimer`` calls.
    """

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.began = 0.0  # when the running input started; 0.0 between inputs (the alarm
        # raises only inside user code)
        self.previous: Any = None

    def __enter__(self) -> ChunkDeadline:
        if self.timeout and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        else:
            self.timeout = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)

    def _fire(self, signum: int, frame: Any) -> None:
        assert self.timeout
        inside = self.began > 0  # user code runs (the loop sets began to 0.0 between inputs)
        left = self.began + self.timeout - time.monotonic()
        if inside and left <= 0:
            signal.setitimer(signal.ITIMER_REAL, self.timeout)  # for the next input
            raise FunctionTimeoutError(f"function timed out after {self.timeout:g} s")
        # (a timer of under a microsecond would be no timer at all)
        signal.setitimer(signal.ITIMER_REAL, max(left, 0.001) if inside else self.timeout)


class _Segment:
    """The inputs of a chunk since its last frame: their results and their journal records
    (the slow paths of :meth:`Worker._run_chunk`)."""

    def __init__(self, worker: Worker, seq0: int, journal: Journal, count: int) -> None:
        self.worker, self.seq0, self.journal, self.count = worker, seq0, journal, count
        self.sent = 0  # inputs of the chunk whose results left in earlier frames
        self.start = time.monotonic()
        self._begin(seq0, count)

    def _begin(self, seq: int, left: int) -> None:
        self.journal.reset(seq, left)
        self.pos = 0  # bytes of records written in the segment
        self.raw: list[Any] | None = []  # the results, while all are atomic
        self.out: list[Any] = []  # else one pickle each (or a staged payload; None: an error)
        self.errors: list[tuple[int, Any]] = []

    def flush(self, i: int, now: float, last: bool = False) -> None:
        """Send the results of inputs ``sent`` to ``i`` (not ``i``); once they are out of
        this process the journal starts over (for the rest of the chunk, unless ``last``)."""
        held = self.raw if self.raw is not None else self.out
        if held:
            values: Any = pickle.dumps(self.raw, protocol=5) if self.raw is not None else self.out
            self.worker._emit_chunk(self.seq0, self.sent, values, self.errors, now - self.start)
        self.sent, self.start = i, now
        if last:
            self.journal.reset(-1, 0)
        else:
            self._begin(self.seq0 + i, self.count - i)

    def _record(self, i: int, data: bytes, flag: int) -> None:
        """Journal input ``i``'s record (flushing first when it does not fit)."""
        if i - self.sent == self.journal.size or self.pos + len(data) > self.journal.limit:
            self.flush(i, time.monotonic())
            if len(data) > self.journal.limit:
                data, flag = (
                    pickle.dumps(self._info(ValueError("a result too big for the journal"))),
                    JOURNAL_ERROR,
                )
        self.journal.map.write(data)
        self.pos += len(data)
        self.journal.end_view[i - self.sent] = self.pos | flag

    def _info(self, exc: BaseException) -> dict[str, Any]:
        return self.worker._error_info(exc)

    def _held(self) -> list[Any]:
        """The results so far as ``out`` holds them (one pickle each): no longer all atomic."""
        if self.raw is not None:
            failed = {i for i, _ in self.errors}
            self.out = [None if k in failed else pickle.dumps(v, protocol=5) for k, v in enumerate(self.raw)]
            self.raw = None
        return self.out

    def error(self, i: int, exc: BaseException) -> None:
        """Input ``i`` raised."""
        info = self._info(exc)
        self._record(i, pickle.dumps(info, protocol=5), JOURNAL_ERROR)
        held = self.raw if self.raw is not None else self.out
        self.errors.append((len(held), info))
        held.append(None)

    def other(self, i: int, result: Any) -> None:
        """Input ``i`` returned ``result``, not atomic (or the journal was full)."""
        if self.raw is not None and result.__class__ in _ATOMIC:
            self._record(i, marshal.dumps(result), JOURNAL_MARSHAL)
            self.raw.append(result)
            return
        try:
            data: Any = pickle.dumps(result, protocol=5)
            if len(data) > protocol.INLINE_LIMIT:
                raise OverflowError
        except BaseException:  # cloudpickle, or staged when big
            try:
                data = self.worker._encode(result)
            except BaseException as exc:
                self.error(i, exc)
                return
        if data.__class__ is bytes:
            self._record(i, data, 0)
        else:
            self._record(i, pickle.dumps(data, protocol=5), JOURNAL_STAGED)
        self._held().append(data)  # after the record: a full journal starts a new segment


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
        self._id_source: Any = None
        self._private: Journal | None = None

    # ----------------------------------------------------------------- input side

    def read_inputs(self) -> None:
        """Reader thread: turn ``in`` frames into work items until ``stop`` or EOF."""
        try:
            while True:
                message = self.channel.recv()
                if message[0] == "chunk":
                    self._enqueue_chunk(*message[1:])
                    continue
                if message[0] != "in":
                    break
                self._enqueue(message[1], message[2])
        except (EOFError, OSError):
            pass
        self.work.put(None)

    def _enqueue_chunk(self, seq: int, count: int, name: str, form: str, payload: dict[str, Any]) -> None:
        try:
            values = staging.unpack(payload, self.storage)
        except Exception as exc:
            info = self._error_info(exc)
            self._emit_chunk(seq, 0, [None] * count, [(i, info) for i in range(count)], 0.0)
            return
        finally:
            if "ref" in payload and self.storage is not None:
                self.storage.delete(payload["ref"])
        self.work.put((seq, name, form, values))  # type: ignore[arg-type]

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
        self._emit(("err", seq, self._error_info(exc), seconds))

    def _error_info(self, exc: BaseException) -> dict[str, Any]:
        return protocol.error_info(out_of_memory(exc, self.memory_mib))

    def _emit_chunk(
        self, seq: int, offset: int, values: list[Any] | bytes, errors: list[tuple[int, Any]], seconds: float
    ) -> None:
        self.channel.send(("cres", seq, offset, values, errors, seconds))

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
                if len(item) == 4:
                    self.run_chunk(item)  # type: ignore[arg-type]
                else:
                    self.handle(item)

    def run_chunk(self, chunk: Chunk) -> None:
        """Run the inputs of a chunk in order; their results leave in one frame at the end
        (or every :data:`FLUSH_S` seconds), each journaled in shared memory as it finishes."""
        seq0, name, form, values = chunk
        journal = self._journal()
        self._input_ids(journal)
        try:
            fn = self.container.callable(name)
        except BaseException as exc:
            info = self._error_info(exc)
            self._emit_chunk(seq0, 0, [None] * len(values), [(i, info) for i in range(len(values))], 0.0)
            return
        if inspect.iscoroutinefunction(fn):  # its loop enforces the timeout per input

            def fn(*args: Any, **kwargs: Any) -> Any:
                return self.container.run(name, args, kwargs)

            timeout = None
        else:
            timeout = self.container.spec(name).get("timeout")
        with ChunkDeadline(timeout) as clock:
            self._run_chunk(seq0, fn, form, values, journal, clock)

    def _run_chunk(
        self, seq0: int, fn: Any, form: str, values: list[Any], journal: Journal, clock: ChunkDeadline
    ) -> None:
        # The hot loop of a local map, kept to locals and few steps per input: one clock
        # read, the call and its journal record: an int or float is one typed store of
        # its value, another result of a built-in immutable type a marshal written to the
        # map (anything else a pickle, off the fast path), then the record's end. The slot
        # is not touched (the journal says which input runs); errors, other results and a
        # full journal leave the fast path. While every result is atomic the chunk keeps
        # the values themselves (sent as one pickle of the list); from the first other
        # result, one pickle each.
        each = form.endswith(EACH)  # one pickle per input: unpickled just before its call
        form = form.removesuffix(EACH)
        if form == "one":
            run = fn
        elif form == "args":

            def run(args: Any) -> Any:
                return fn(*args)
        else:

            def run(pair: Any) -> Any:
                return fn(*pair[0], **pair[1])

        if each:
            deserialize = protocol.deserialize

            def call(data: Any) -> Any:
                return run(deserialize(data))
        else:
            call = run

        seg = _Segment(self, seq0, journal, len(values))
        monotonic, mdumps, atomic = time.monotonic, marshal.dumps, _ATOMIC
        ends, ints, floats = journal.end_view, journal.ints, journal.floats
        write = journal.map.write
        flush_at = seg.start + FLUSH_S
        raw: list[Any] | None = seg.raw
        base = 0  # the chunk index of the segment's first record (``seg.sent``)
        cut = journal.size  # the journal's segment holds this many records
        for i, value in enumerate(values):
            now = monotonic()
            if now > flush_at or i == cut:  # slow inputs (results keep streaming), or a full journal
                seg.flush(i, now)
                raw, flush_at, base, cut = seg.raw, now + FLUSH_S, i, i + journal.size
            clock.began = now
            try:
                result = call(value)
            except BaseException as exc:  # the user's failure is this input's result
                clock.began = 0.0
                seg.error(i, exc)
                raw, base = seg.raw, seg.sent
                cut = base + journal.size
                continue
            clock.began = 0.0
            if raw is not None:
                kind = result.__class__
                if kind is int:
                    try:
                        ints[i - base] = result
                    except (OverflowError, ValueError):  # beyond 64 bits: a marshal below
                        pass
                    else:
                        ends[i - base] = seg.pos | JOURNAL_INT
                        raw.append(result)
                        continue
                elif kind is float:
                    floats[i - base] = result
                    ends[i - base] = seg.pos | JOURNAL_FLOAT
                    raw.append(result)
                    continue
                if kind in atomic:
                    data = mdumps(result)
                    try:
                        write(data)
                    except ValueError:  # the journal is full: send what is here, then add it
                        seg.flush(i, monotonic())
                        seg.other(i, result)
                        raw, base = seg.raw, seg.sent
                        cut = base + journal.size
                        continue
                    seg.pos += len(data)
                    ends[i - base] = seg.pos | JOURNAL_MARSHAL
                    raw.append(result)
                    continue
            seg.other(i, result)
            raw, base = seg.raw, seg.sent
            cut = base + journal.size
        seg.flush(len(values), monotonic(), last=True)

    def _journal(self) -> Journal:
        """The shared journal, or (a worker started without ``--slot``) a private one."""
        if self.slots is not None and self.slots.journal is not None:
            return self.slots.journal
        if self._private is None:
            size = 1 << 20
            self._private = Journal(mmap.mmap(-1, JOURNAL_AT + size), JOURNAL_AT, size)
        return self._private

    def _input_ids(self, journal: Journal) -> None:
        """``modal.current_input_id()`` inside a chunk: asked of the journal when called,
        so running an input costs no id of its own."""
        if _set_input_source is None:
            return
        if _set_current_input is not None:
            _set_current_input(None, None)
        if self._id_source is None:
            pid = self.pid

            def source() -> str | None:
                seq = journal.running()
                return None if seq is None else f"in-{pid}-{seq}"

            self._id_source = source
            _set_input_source(source)

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
        worker.slots = Slots(opts.slot, int(init.get("journal") or 0))
    channel.send(("ready", os.getpid()))
    try:
        worker.serve()
    finally:
        container.stop()
    sys.stdout.flush()
    return 0
