"""A pool of runtime worker processes serving one function (or one ``@app.cls`` instance).

Inputs wait in ``pending`` as runs (:class:`Input`: one input, or a map's batch with
consecutive seqs); one sender thread per worker moves chunks of them to its worker and
one reader thread per worker hands results to each input's :class:`Sink`. The pool
grows up to ``max_workers`` while inputs wait.

Chunks are adaptive. A function whose workers run one input at a time gets ``chunk``
frames: the size starts at one input and doubles while a chunk of the measured run
time stays under :data:`CHUNK_TARGET_S` (up to :data:`CHUNK_CAP`), and falls at once
to what fits that target when inputs turn slow, so slow inputs go one at a time. A
chunk's arguments are pickled once and its results come back in one frame; each input
still has its own timeout, retries and result (see ``pcompile.runtime.worker``).
Generators, ``@concurrent`` and ``@batched`` functions get their inputs one per seq in
``in`` frames, sized by run time.

Failures follow the function's ``Retries``: an input that raised is queued again
after Modal's backoff until it has no retries left. A worker that dies (SIGKILL,
segfault, ``os._exit``) leaves its unfinished inputs behind: the worker sends each
result as its input finishes (within a chunk: journals it in the shared file, read
here when the worker is gone) and keeps the seqs of its running inputs in a shared
slot file, so the pool knows exactly which inputs finished (delivered), which were
running (they count as a failed attempt) and which never started (queued again, no
attempt spent). Results are delivered once per input, so nothing is duplicated.

A worker that dies or fails before it is ready is replaced after a backoff; only
:data:`START_TRIES` start failures in a row fail the waiting inputs (with the
worker's error and the end of its stderr), and the next submission tries again.
A watchdog enforces timeouts from outside: a worker whose input runs past its
``timeout`` (plus :data:`TIMEOUT_GRACE` for the in-process alarm) is killed; that
input fails with ``FunctionTimeoutError`` (retried under its policy), the other
inputs it held go back to the queue, and a new worker takes over. A worker not
ready within ``startup_timeout`` (else ``timeout``, at least :data:`STARTUP_FLOOR`)
is killed as a start failure.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import marshal
import math
import operator
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pcompile.exception import ExecutionError, FunctionTimeoutError
from pcompile.runtime import protocol, staging
from pcompile.runtime.channel import Channel
from pcompile.runtime.execute import retry_delay
from pcompile.runtime.storage import open_storage

from . import gpus

LogSink = Callable[[str, str, bool], None]


@dataclass(frozen=True)
class WorkerSetup:
    """How workers of a function start in its image's environment (``providers/local/envs.py``)."""

    python: str
    env: dict[str, str] = field(default_factory=dict)
    mounts: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def environment(self, worker_env: dict[str, str]) -> dict[str, str]:
        """``worker_env`` with the image's variables over the caller's, but under secrets and
        runtime flags (keys whose value differs from ours), as a container's runtime env is."""
        ours = os.environ
        return {**worker_env, **{k: v for k, v in self.env.items() if worker_env.get(k) == ours.get(k)}}


# Set by `pcompile run`/`serve` while image environments are on; None: workers run here.
image_env_hook: Callable[[list[dict[str, Any]]], WorkerSetup | None] | None = None
# Set by `pcompile run --containers`: a providers.containers.ContainerWorkers that starts
# each worker inside its function's image instead of as a local process.
container_hook: Any = None
_SLOT = struct.Struct("q")
# The journal of a serial worker's slot file, as ``runtime/worker.py`` writes it: a head
# (first seq of the segment or -1, its inputs), record ends (u32, 0: none yet; flags for
# an error, a staged payload, a marshal or a typed value), one 8-byte value per record
# (an int or a float), then the records' bytes.
_JOURNAL_HEAD = struct.Struct("qq")
JOURNAL_AT = 4096
JOURNAL_ENTRIES = 4096
_ERROR, _STAGED, _MARSHAL, _INT, _FLOAT = 1 << 31, 1 << 30, 1 << 29, 1 << 28, 1 << 27
_FLAGS = _ERROR | _STAGED | _MARSHAL | _INT | _FLOAT
EACH = "/each"  # a chunk form's suffix, as ``runtime/worker.py`` reads it: one pickle per input
JOURNAL_BYTES = 8 << 20  # journal size (a sparse file: only what is written takes space)
CHUNK_TARGET_S = 0.02  # a chunk grows while its inputs take less than this together
CHUNK_CAP = 2048  # inputs per chunk at most (the worker's journal holds 4096)
PREFETCH_CHUNKS = 4  # chunks a worker may hold while inputs are fast (a late parent thread stalls no worker)
_first, _second = operator.itemgetter(0), operator.itemgetter(1)
_seq_lock = threading.Lock()
_seq_next = 0
START_TRIES = 3  # start failures in a row before the waiting inputs fail
START_BACKOFF = (0.1, 2.0)  # first delay before a replacement, and the cap (doubling)
TIMEOUT_GRACE = 0.5  # seconds past ``timeout`` before the watchdog kills the worker
WATCH_INTERVAL = 0.1
STARTUP_FLOOR = 60.0  # seconds a worker may take to be ready when no startup_timeout is set
READ_PAUSE = 0.001  # after a read of few results; a lone result is still read at once
STDERR_TAIL = 40  # lines of a worker's stderr kept for start-failure messages


class Sink(Protocol):
    """Receives what happens to inputs: ``status`` is ``ok``, ``err`` or ``y`` (an item)."""

    def deliver(self, index: int, status: str, data: Any) -> None: ...


def _seqs(count: int) -> int:
    """The first of ``count`` fresh consecutive seqs."""
    global _seq_next
    with _seq_lock:
        first, _seq_next = _seq_next, _seq_next + count
    return first


class Input:
    """Inputs on their way through the pool: one, or a run of a map's inputs with
    consecutive seqs and sink indices, one function and kind and the same attempt
    count. A run is split into chunks when sent, and one of its inputs is split off
    when it fails (its retries are its own).

    ``items`` hold the arguments in ``form``: ``"kw"`` ``(args, kwargs)`` pairs, ``"args"``
    argument tuples, ``"one"`` single positional values (see
    :meth:`pcompile.providers.invoker.MapInputs.batches`)."""

    __slots__ = ("seq", "fname", "kind", "items", "form", "attempt", "sink", "index", "cancelled", "done")

    def __init__(self, fname: str, kind: str, args: Any, kwargs: Any, sink: Sink, index: int) -> None:
        self._set(fname, kind, [(args, kwargs)], sink, index, _seqs(1))

    def _set(
        self, fname: str, kind: str, items: list[Any], sink: Sink, index: int, seq: int, form: str = "kw"
    ) -> None:
        self.seq, self.fname, self.kind, self.items, self.form = seq, fname, kind, items, form
        self.sink, self.index = sink, index
        self.attempt = 0
        self.cancelled = False
        self.done = 0  # inputs at the front whose results were delivered (a chunk in flight)

    @classmethod
    def run(cls, fname: str, kind: str, items: list[Any], sink: Sink, index: int, form: str = "kw") -> Input:
        """``items`` (arguments in ``form``) as one run; input ``i`` has sink index ``index + i``."""
        run = cls.__new__(cls)
        run._set(fname, kind, items, sink, index, _seqs(len(items)), form)
        return run

    def __len__(self) -> int:
        return len(self.items)

    def part(self, start: int, stop: int) -> Input:
        """Inputs ``start`` to ``stop`` of this run as a run of their own (seqs kept)."""
        run = Input.__new__(Input)
        run._set(
            self.fname,
            self.kind,
            self.items[start:stop],
            self.sink,
            self.index + start,
            self.seq + start,
            self.form,
        )
        run.attempt = self.attempt
        return run

    def split(self, seqs: set[int]) -> tuple[list[Input], list[Input]]:
        """The undelivered inputs of this run: those with a seq in ``seqs`` one by one, and
        runs of the others."""
        hit: list[Input] = []
        rest: list[Input] = []
        start = self.done
        for seq in sorted(s for s in seqs if self.seq + self.done <= s < self.seq + len(self.items)):
            at = seq - self.seq
            if at > start:
                rest.append(self.part(start, at))
            hit.append(self.part(at, at + 1))
            start = at + 1
        if start < len(self.items):
            rest.append(self if start == 0 else self.part(start, len(self.items)))
        return hit, rest

    def pair(self, at: int) -> tuple[Any, Any]:
        """Input ``at``'s ``(args, kwargs)``."""
        item = self.items[at]
        return item if self.form == "kw" else ((item,), {}) if self.form == "one" else (item, {})

    def deliver_err(self, info: dict[str, Any]) -> None:
        """Every input of the run fails with ``info``."""
        for i in range(len(self.items)):
            self.sink.deliver(self.index + i, "err", info)


class LineAtomicStream:
    """A text stream that hands whole lines to the stream under it, one at a time.

    Worker log lines are printed from pump threads while the entrypoint prints from
    the main thread; ``print(x)`` is two writes (``x``, then the newline), so without
    this a log line could land in the middle of the entrypoint's line. Partial lines
    are kept per thread until their newline (or an explicit flush) arrives.
    """

    def __init__(self, raw: Any, lock: threading.Lock) -> None:
        self.raw = raw
        self.lock = lock
        self.partial = threading.local()

    def write(self, text: str) -> int:
        buffered = getattr(self.partial, "text", "") + text
        lines, newline, rest = buffered.rpartition("\n")
        if newline:
            with self.lock:
                self.raw.write(lines + newline)
                self.raw.flush()
        self.partial.text = rest
        return len(text)

    def flush(self) -> None:
        pending, self.partial.text = getattr(self.partial, "text", ""), ""
        with self.lock:
            if pending:
                self.raw.write(pending)
            self.raw.flush()

    def __getattr__(self, name: str) -> Any:
        # isatty, fileno, encoding ... answer as the real stream does (rich checks them).
        return getattr(self.raw, name)


@contextlib.contextmanager
def whole_lines() -> Iterator[None]:
    """Make ``sys.stdout`` and ``sys.stderr`` line-atomic for the duration (see above)."""
    saved = sys.stdout, sys.stderr
    lock = threading.Lock()
    sys.stdout, sys.stderr = LineAtomicStream(saved[0], lock), LineAtomicStream(saved[1], lock)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = saved


def print_log(label: str, line: str, is_err: bool) -> None:
    """Default log sink: the line on our stdout/stderr, prefixed with the function name."""
    stream = sys.stderr if is_err else sys.stdout
    stream.write(f"[{label}] {line}" if line.endswith("\n") else f"[{label}] {line}\n")
    stream.flush()


class FileLog:
    """Log sink for an app: the terminal (as :func:`print_log`) and, for ``pcompile logs``,
    ``logs/<app>/<pool label>.log`` under the local state directory."""

    def __init__(self, folder: Path, echo: LogSink = print_log) -> None:
        self.folder = folder
        self.echo = echo
        self.lock = threading.Lock()

    def __call__(self, label: str, line: str, is_err: bool) -> None:
        self.echo(label, line, is_err)
        with self.lock, open(self.folder / f"{label}.log", "a", encoding="utf-8") as handle:
            handle.write(line if line.endswith("\n") else line + "\n")


def describe_exit(rc: int | None) -> str:
    """``"signal SIGKILL"`` or ``"exit code 3"``."""
    if rc is not None and rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit code {rc}"


class Pool:
    """Worker processes for one group of functions that share containers."""

    def __init__(
        self,
        label: str,
        functions: list[dict[str, Any]],
        *,
        init: dict[str, Any],
        env: dict[str, str],
        max_workers: int,
        log: LogSink = print_log,
    ) -> None:
        self.label = label
        self.specs = {f["name"]: f for f in functions}
        first = functions[0]
        batching, concurrency = first.get("batching"), first.get("concurrency")
        self.concurrency = int(
            (batching or {}).get("max_batch_size") or (concurrency or {}).get("max_inputs") or 1
        )
        self.init = {**init, "functions": functions}
        self.env = env
        setup = image_env_hook(functions) if image_env_hook is not None else None
        self.python, self.cwd = (setup.python, setup.cwd) if setup else (sys.executable, None)
        if setup is not None:
            self.env = setup.environment(env)
            self.init["mounts"] = {**setup.mounts, **(init.get("mounts") or {})}
        app_uses_gpus = any(f.get("gpu") for f in (init.get("app") or {}).get("functions") or functions)
        self.gpus = gpus.probe() if app_uses_gpus else gpus.Found(())
        self.gpu_count = gpus.count_for(first, self.gpus)  # devices per worker; 0: none
        if not self.gpu_count:
            self.env = {**self.env, **gpus.cpu_env(self.gpus)}
        self.gpu_waiting = False  # logged once per wait: too few free devices for a new worker
        self.max_workers = max(1, max_workers)
        self.log = log
        self.storage = open_storage(init["storage"]) if init.get("storage") else None
        self.cond = threading.Condition()
        self.pending: collections.deque[Input] = collections.deque()
        self.pending_count = 0  # inputs in ``pending`` (runs hold many)
        self.workers: list[WorkerProc] = []
        self.avg_seconds: float | None = None
        # One input at a time per worker: calls go in adaptive chunks (module docstring).
        self.chunked = self.concurrency == 1 and not batching
        self.chunk_size = 1
        self.chunk_sizes: collections.Counter[int] = collections.Counter()  # sent: size -> chunks
        if self.chunked:
            self.init["journal"] = JOURNAL_BYTES
        self.start_failures = 0  # in a row, reset when a worker becomes ready
        self.start_after = 0.0  # monotonic time before which no worker is started (backoff)
        self.closed = False
        self.memory_mib = init.get("memory_mib")
        self.stopped = threading.Event()
        threading.Thread(target=self._watch, name=f"pcompile-watch-{label}", daemon=True).start()

    # ----------------------------------------------------------------- submitting

    def submit(self, inputs: list[Input]) -> None:
        """Queue inputs and make sure enough workers run."""
        with self.cond:
            self.pending.extend(inputs)
            self.pending_count += sum(len(i) for i in inputs)
            self._scale()
            self.cond.notify_all()

    def cancel(self, predicate: Callable[[Input], bool]) -> list[Input]:
        """Remove waiting inputs matching ``predicate``; returns them."""
        with self.cond:
            dropped = [i for i in self.pending if predicate(i)]
            for item in dropped:
                item.cancelled = True
            self.pending = collections.deque(i for i in self.pending if not i.cancelled)
            self.pending_count = sum(len(i) for i in self.pending)
        return dropped

    def take(self, count: int) -> Input:
        """The first ``count`` waiting inputs (at most the front run), as one run (lock held)."""
        front = self.pending[0]
        if count >= len(front):
            self.pending.popleft()
            taken = front
        else:
            taken = front.part(0, count)
            self.pending[0] = front.part(count, len(front))
        self.pending_count -= len(taken)
        return taken

    def _scale(self) -> None:
        """Start workers while inputs wait (call with the lock held)."""
        if self.closed or time.monotonic() < self.start_after:
            return
        busy = sum(w.held for w in self.workers) + self.pending_count
        wanted = min(self.max_workers, math.ceil(busy / self.concurrency))
        if self.avg_seconds is not None and self.avg_seconds < 0.005:
            wanted = min(wanted, os.cpu_count() or 1)  # more processes only add contention
        while len(self.workers) < wanted:
            ok, claim = self._claim_devices()
            if not ok:
                return
            try:
                self.workers.append(WorkerProc(self, claim))
            except BaseException:
                if claim is not None:
                    claim.release(wake=False)
                raise
        if self.gpu_count:
            gpus.stop_waiting(self)

    def _claim_devices(self) -> tuple[bool, gpus.Claim | None]:
        """Whether a new worker may start (lock held) and the devices it gets (None: it needs
        none); not when too few are free: the pool waits, woken when devices are given back."""
        if not self.gpu_count:
            return True, None
        claim = gpus.claim(self.gpu_count, self.gpus)
        if claim is not None:
            self.gpu_waiting = False
            return True, claim
        gpus.wait_for_devices(self, lambda: self._requeue([]))
        if not self.workers and not self.gpu_waiting:
            self.gpu_waiting = True
            self.log(
                self.label,
                f"waiting for {self.gpu_count} free GPU{'s' if self.gpu_count > 1 else ''}: the "
                f"{len(self.gpus.gpus)} here are held by other workers until they exit or idle",
                True,
            )
        return False, None

    def depth(self) -> int:
        """Inputs a worker may hold: its concurrency plus a prefetch sized by run time."""
        if self.avg_seconds is None:
            return self.concurrency + 4
        return self.concurrency + max(0, min(512, int(0.02 / max(self.avg_seconds, 1e-6))))

    # ----------------------------------------------------------------- outcomes

    def record_time(self, seconds: float, count: int = 1) -> None:
        """Track the mean run time of an input (drives prefetch depth and chunk size):
        ``seconds`` per input over ``count`` inputs weigh as ``count`` samples, so a chunk
        of thousands replaces what a few slow first inputs left (a worker's first call)."""
        avg = self.avg_seconds
        keep = 0.9 ** min(count, 64)
        self.avg_seconds = seconds if avg is None else avg * keep + seconds * (1 - keep)

    def adapt(self, seconds: float, count: int) -> None:
        """A chunk part of ``count`` inputs ran ``seconds``: the size grows to twice that
        part while twice it still fits :data:`CHUNK_TARGET_S` (so the prefetched chunks of
        one size double it once, not once each), and shrinks to what fits when it does not."""
        per_input = seconds / count
        size = self.chunk_size
        if per_input * count * 2 <= CHUNK_TARGET_S:
            self.chunk_size = max(size, min(CHUNK_CAP, count * 2))
        elif per_input * size > CHUNK_TARGET_S:
            self.chunk_size = max(1, int(CHUNK_TARGET_S / per_input))

    def fast(self) -> bool:
        """Whether inputs run far below the chunk target (a worker may then hold a second chunk)."""
        return self.avg_seconds is not None and self.avg_seconds * self.chunk_size < CHUNK_TARGET_S

    def failed(self, item: Input, info: dict[str, Any]) -> None:
        """An attempt failed: retry under the function's policy, or deliver the error."""
        retries = self.specs[item.fname].get("retries") or {}
        if item.cancelled or item.attempt >= int(retries.get("max_retries", 0)) or self.closed:
            item.deliver_err(info)
            return
        item.attempt += 1
        delay = retry_delay(retries, item.attempt)
        if delay <= 0:
            self._requeue([item])
        else:
            timer = threading.Timer(delay, self._requeue, args=([item],))
            timer.daemon = True
            timer.start()

    def _requeue(self, items: list[Input]) -> None:
        with self.cond:
            items = [i for i in items if not i.cancelled]
            self.pending.extendleft(reversed(items))
            self.pending_count += sum(len(i) for i in items)
            self._scale()
            self.cond.notify_all()

    def worker_exited(
        self, worker: WorkerProc, rc: int | None, running: set[int], journal: list[tuple[int, str, Any]]
    ) -> None:
        """A worker is gone: deliver what it finished, requeue what it never started, fail
        or retry what it ran.

        ``running`` are the seqs its slot file held, ``journal`` the results it finished
        but had not sent (seq, kind, data). A worker that never became ready is a start
        failure (:meth:`_start_failed`); one the watchdog stopped fails only its
        timed-out inputs and requeues the others.
        """
        doomed: list[Input] = []
        info: dict[str, Any] = {}
        with self.cond:
            if worker in self.workers:
                self.workers.remove(worker)
            unfinished = list(worker.outstanding.values())
            worker.outstanding.clear()
            worker.held = 0
            worker.dead = True
            if self.closed and not unfinished:
                return
            if not worker.ready:
                info, doomed = self._start_failed(worker, rc)
                unfinished = [i for i in unfinished if i not in doomed]
            recovered, unfinished = _recover(unfinished, journal)
            hits = worker.timed_out or running
            timed: list[Input] = []
            started: list[Input] = []
            fresh: list[Input] = []
            for run in unfinished:
                hit, rest = run.split(hits)
                (timed if worker.timed_out else started).extend(hit)
                fresh.extend(rest)
            self.pending.extendleft(reversed(fresh))
            self.pending_count += sum(len(i) for i in fresh)
            self._scale()
            self.cond.notify_all()
        for item, kind, data in recovered:
            if kind == "e":
                self.failed(item, data)
            else:
                item.sink.deliver(item.index, "ok", data)
        for item in doomed:
            item.deliver_err(info)
        for item in timed:
            self.failed(item, self._timeout_error(item))
        message = f"the worker running {self.label} exited with {describe_exit(rc)} while running this input"
        for item in started:
            self.failed(item, _exec_error(message + self._memory_hint()))

    def _start_failed(self, worker: WorkerProc, rc: int | None) -> tuple[dict[str, Any], list[Input]]:
        """Count a start failure (lock held): back off, or after :data:`START_TRIES` in a row
        return the error and the inputs it fails (all waiting ones); the count then resets."""
        self.start_failures += 1
        tail = worker.stderr_tail()
        info = worker.start_error or _exec_error(
            f"the worker for {self.label} exited with {describe_exit(rc)} before it was ready"
            + self._memory_hint()
            + (f"; the end of its stderr:\n{tail}" if tail else "; it wrote nothing to stderr")
        )
        if worker.start_error is not None and tail:
            info = {**info, "traceback": f"{info.get('traceback', '')}\nworker stderr:\n{tail}"}
        if self.start_failures < START_TRIES or any(w.ready and not w.dead for w in self.workers):
            # transient, or other workers serve the inputs meanwhile: replace it, later
            first, cap = START_BACKOFF
            delay = min(cap, first * 2 ** (self.start_failures - 1))
            self.start_after = time.monotonic() + delay
            timer = threading.Timer(delay + 0.005, self._requeue, args=([],))
            timer.daemon = True
            timer.start()
            return info, []
        self.start_failures = 0
        doomed = list(self.pending) + list(worker.outstanding.values())
        self.pending.clear()
        self.pending_count = 0
        return info, doomed

    def _memory_hint(self) -> str:
        if not self.memory_mib:
            return ""
        return f" (its memory limit is {self.memory_mib} MiB: if it ran out of memory, raise memory=...)"

    def _timeout_error(self, item: Input) -> dict[str, Any]:
        timeout = _timeout_of(self.specs[item.fname])
        return protocol.error_info(
            FunctionTimeoutError(
                f"{item.fname} timed out after {timeout:g} s; its worker was stopped (raise timeout=...)"
            )
        )

    # ----------------------------------------------------------------- watchdog

    def _watch(self) -> None:
        """Kill workers whose inputs run past their timeout, or that start too slowly."""
        first_seen: dict[tuple[WorkerProc, int], float] = {}
        while not self.stopped.wait(WATCH_INTERVAL):  # its own clock: pool.cond wakes too often
            with self.cond:
                workers = list(self.workers)
                if self.pending and not workers:
                    self._scale()  # a safety net for the backoff timer
            now = time.monotonic()
            if self.gpu_count:
                self._reclaim(workers, now)
            seen: dict[tuple[WorkerProc, int], float] = {}
            for worker in workers:
                if not worker.ready:
                    self._check_start(worker, now)
                    continue
                for seq in worker.running():
                    item = worker.holding(seq)
                    if item is None:
                        continue
                    since = seen[(worker, seq)] = first_seen.get((worker, seq), now)
                    timeout = _timeout_of(self.specs[item.fname])
                    if timeout and now - since > timeout + TIMEOUT_GRACE:
                        worker.time_out(seq)
            first_seen = seen

    def _reclaim(self, workers: list[WorkerProc], now: float) -> None:
        """Stop a worker idle for :data:`gpus.RECLAIM_IDLE_S` while another function waits
        for devices, so that its GPUs go to that function (Modal scales idle containers down)."""
        with self.cond:
            if self.pending:
                return
            gpus.stop_waiting(self)
            if not gpus.others_waiting(self):
                return
            idle = [w for w in workers if w.ready and not (w.dead or w.retiring or w.outstanding)]
            idle = [w for w in idle if now - w.idle_since > gpus.RECLAIM_IDLE_S]
            if not idle:
                return
            idle[0].retiring = True  # it takes no more inputs
            self.cond.notify_all()
        threading.Thread(target=idle[0].stop, args=(10.0,), daemon=True).start()

    def _check_start(self, worker: WorkerProc, now: float) -> None:
        spec = next(iter(self.specs.values()))
        # Modal falls back to ``timeout``; a local start also boots the interpreter, so the
        # fallback is at least a minute (a loaded laptop must not fail a timeout=1 function).
        limit = spec.get("startup_timeout") or max(_timeout_of(spec) or 0.0, STARTUP_FLOOR)
        if limit and now - worker.started > float(limit) + TIMEOUT_GRACE:
            worker.start_error = _exec_error(
                f"the worker for {self.label} was not ready within {float(limit):g} s; it was stopped "
                "(raise startup_timeout=..., or make imports and @enter faster)"
            )
            worker.kill()

    def close(self, grace: float = 10.0) -> None:
        """Stop every worker (running ``@exit`` hooks); waiting inputs fail as cancelled."""
        self.stopped.set()
        gpus.stop_waiting(self)
        with self.cond:
            self.closed = True
            workers = list(self.workers)
            waiting = list(self.pending)
            self.pending.clear()
            self.pending_count = 0
            self.cond.notify_all()
        for item in waiting:
            item.deliver_err(_exec_error("the app stopped before this input ran"))
        for worker in workers:
            worker.stop(grace)

    def kill_all(self) -> None:
        """SIGKILL every worker (``cancel(terminate_containers=True)``)."""
        with self.cond:
            workers = list(self.workers)
        for worker in workers:
            worker.kill()


def _recover(
    unfinished: list[Input], journal: list[tuple[int, str, Any]]
) -> tuple[list[tuple[Input, str, Any]], list[Input]]:
    """Journal records of unfinished runs as (single input, kind, data); the runs then
    start after them (``done`` moved on)."""
    recovered: list[tuple[Input, str, Any]] = []
    for seq, kind, data in journal:
        for run in unfinished:
            at = seq - run.seq
            if at == run.done and at < len(run):
                recovered.append((run.part(at, at + 1), kind, data))
                run.done += 1
                break
    return recovered, [r for r in unfinished if r.done < len(r)]


def _wire(run: Input) -> tuple[str, list[Any]]:
    """A chunk's arguments in the smallest form the worker knows (see ``runtime/worker.py``):
    empty kwargs dicts and one-element args tuples cost as much to pickle as the values.

    One pickle of the chunk holds an object once, however many inputs name it; that is
    right only for immutable values. Arguments of other types go as one pickle per input
    (form ``.../each``), so each call gets its own copy, as separate calls would."""
    form, items = run.form, run.items
    if form == "kw" and not any(map(_second, items)):  # C-level loops: once per chunk of a hot map
        items = list(map(_first, items))
        form = "args"
    if form == "args" and set(map(len, items)) == {1}:
        form, items = "one", list(map(_first, items))
    if form == "one":
        values: Iterator[Any] = iter(items)
    elif form == "args":
        values = itertools.chain.from_iterable(items)
    else:
        args = itertools.chain.from_iterable(map(_first, items))
        values = itertools.chain(args, itertools.chain.from_iterable(map(dict.values, map(_second, items))))
    if set(map(type, values)) <= protocol.ATOMIC:
        return form, items
    return form + EACH, list(map(protocol.serialize_fast, items))


def _exec_error(message: str) -> dict[str, Any]:
    return protocol.error_info(ExecutionError(message))


def _timeout_of(spec: dict[str, Any]) -> float | None:
    value = spec.get("timeout")
    return float(value) if value else None


class WorkerProc:
    """One ``python -m pcompile.runtime worker`` process and its threads."""

    def __init__(self, pool: Pool, claim: gpus.Claim | None = None) -> None:
        self.pool = pool
        self.claim = claim  # the GPUs it holds until it exits
        self.outstanding: dict[int, Input] = {}  # sent and unfinished, by first seq
        self.held = 0  # inputs in ``outstanding`` not delivered yet
        self.ready = False
        self.dead = False
        self.retiring = False  # stopped to give its GPUs to another function
        self.started = self.idle_since = time.monotonic()
        self.start_error: dict[str, Any] | None = None  # the worker's "fatal" report
        self.timed_out: set[int] = set()
        self.stderr_lines: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.slot_fd, self.slot_path = tempfile.mkstemp(prefix="slot-", dir=pool.init.get("slot_dir"))
        os.write(self.slot_fd, _SLOT.pack(-1) * pool.concurrency)
        if pool.chunked:
            os.ftruncate(self.slot_fd, JOURNAL_AT + JOURNAL_BYTES)
            os.pwrite(self.slot_fd, _JOURNAL_HEAD.pack(-1, 0), JOURNAL_AT)  # no segment
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        cmd = [pool.python, "-m", "pcompile.runtime", "worker", "--in-fd", str(to_worker_r)]
        cmd += ["--out-fd", str(from_worker_w), "--slot", self.slot_path]
        env = {**pool.env, **claim.env()} if claim is not None else pool.env
        if container_hook is not None:
            self.proc = container_hook.popen(
                next(iter(pool.specs)),
                in_fd=to_worker_r,
                out_fd=from_worker_w,
                worker_args=["--slot", self.slot_path],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        else:
            self.proc = subprocess.Popen(
                cmd,
                pass_fds=(to_worker_r, from_worker_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=pool.cwd,
            )
        os.close(to_worker_r)
        os.close(from_worker_w)
        self.channel = Channel(from_worker_r, to_worker_w)
        self.channel.send(("init", pool.init))
        for target, name in ((self._read_results, "results"), (self._send_inputs, "inputs")):
            threading.Thread(target=target, name=f"pcompile-{name}-{self.proc.pid}", daemon=True).start()
        self.pumps = [
            threading.Thread(target=self._pump_log, args=(stream, is_err), daemon=True)
            for stream, is_err in ((self.proc.stdout, False), (self.proc.stderr, True))
        ]
        for pump in self.pumps:
            pump.start()

    def _pump_log(self, stream: Any, is_err: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            if is_err:
                self.stderr_lines.append(line.rstrip("\n"))
            self.pool.log(self.pool.label, line, is_err)

    def stderr_tail(self) -> str:
        """The last lines the worker wrote to stderr."""
        return "\n".join(self.stderr_lines)

    def holding(self, seq: int) -> Input | None:
        """The outstanding run that holds input ``seq``."""
        item = self.outstanding.get(seq)
        if item is None:
            for run in list(self.outstanding.values()):
                if run.seq <= seq < run.seq + len(run):
                    return run
        return item

    def _room(self) -> int:
        """Inputs this worker may take now (lock held): a chunk while it holds none (up to
        :data:`PREFETCH_CHUNKS` within its fair share when inputs are fast, so the next are
        on their way), else up to the pool's depth."""
        pool = self.pool
        if pool.chunked and pool.pending and pool.pending[0].kind == "call":
            if not self.outstanding:
                return pool.chunk_size
            if len(self.outstanding) >= (PREFETCH_CHUNKS if pool.fast() else 1):
                return 0
            # a prefetch stops at this worker's fair share of what is left: the sender that
            # wakes first would otherwise take every chunk while the other workers idle
            ready = [w for w in pool.workers if w.ready and not w.dead]
            fair = math.ceil((pool.pending_count + sum(w.held for w in ready)) / max(1, len(ready)))
            return max(0, min(pool.chunk_size, fair - self.held))
        return pool.depth() - self.held

    def _take_chunk(self) -> tuple[bool, list[Input]] | None:
        """The next inputs to send: (True, [one run]) for a ``chunk`` frame, or (False, single
        inputs) for an ``in`` frame; None when the worker is done."""
        pool = self.pool
        with pool.cond:
            while True:
                if pool.closed or self.dead or self.retiring:
                    return None
                if self.ready and pool.pending and (room := self._room()) > 0:
                    break
                pool.cond.wait()
            live = max(1, sum(1 for w in pool.workers if not w.dead))
            share = max(1, math.ceil(pool.pending_count / live))
            if pool.chunked and pool.pending[0].kind == "call":
                # the share keeps the workers balanced, but not below a tenth of the target
                # (the tail of a fast map would otherwise cost a round trip per halving)
                floor = int(CHUNK_TARGET_S / 10 / pool.avg_seconds) if pool.avg_seconds else 1
                chunk = [pool.take(min(room, max(share, floor)))]
                pool.chunk_sizes[len(chunk[0])] += 1
            else:
                chunk = [pool.take(1) for _ in range(min(room, share, pool.pending_count))]
            for item in chunk:
                self.outstanding[item.seq] = item
                self.held += len(item)
            return pool.chunked and chunk[0].kind == "call", chunk

    def _send_inputs(self) -> None:
        prefix = self.pool.init.get("staging_prefix")
        while (taken := self._take_chunk()) is not None:
            as_chunk, chunk = taken
            try:
                if as_chunk:
                    run = chunk[0]
                    form, values = _wire(run)
                    payload = self._payload(protocol.serialize_fast(values), prefix)
                    message: tuple[Any, ...] = ("chunk", run.seq, len(run), run.fname, form, payload)
                else:
                    payload = self._payload(protocol.serialize([i.pair(0) for i in chunk]), prefix)
                    message = ("in", [(i.seq, i.fname, i.kind) for i in chunk], payload)
            except Exception as exc:
                self._fail_unsendable(chunk, exc)
                continue
            try:
                self.channel.send(message)
            except OSError:
                return  # the reader sees the exit and requeues these inputs

    def _payload(self, data: bytes, prefix: str | None) -> dict[str, Any]:
        """Arguments as a payload: inline, or staged under a key of their own (the worker
        deletes it once read; a key is made only then)."""
        big = len(data) > protocol.INLINE_LIMIT and prefix
        key = f"{prefix}/{uuid.uuid4().hex}" if big else None
        return staging.pack_bytes(data, self.pool.storage, key=key)

    def _fail_unsendable(self, chunk: list[Input], exc: Exception) -> None:
        with self.pool.cond:
            for item in chunk:
                if self.outstanding.pop(item.seq, None) is not None:
                    self.held -= len(item)
        for item in chunk:
            item.deliver_err(protocol.error_info(exc))

    def _read_results(self) -> None:
        try:
            while True:
                results: list[tuple[str, int, Any, float]] = []
                for message in self.channel.recv_many():  # in order; results of a batch together
                    if message[0] == "res":
                        results.extend(message[1])
                        continue
                    if results:
                        self._results(results)
                        results = []
                    if message[0] == "cres":
                        self._chunk_results(*message[1:])
                    else:
                        self._message(message)
                if results:
                    self._results(results)
                if self.outstanding and 0 < len(results) < 64:
                    # a trickle while more is due: let results gather in the pipe rather than
                    # wake once per result (a lone .remote() result is read at once)
                    time.sleep(READ_PAUSE)
        except (EOFError, OSError):
            pass
        rc = self.proc.wait()
        self.channel.close()
        if not self.ready:
            for pump in self.pumps:  # its last stderr lines go into the start-failure message
                pump.join(1.0)
        if self.claim is not None:
            self.claim.release()  # first, so that its replacement can take the same devices
        self.pool.worker_exited(self, rc, self.running(), self.journal())
        fd, self.slot_fd = self.slot_fd, -1
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self.slot_path)

    def _message(self, message: tuple[Any, ...]) -> None:
        pool = self.pool
        kind = message[0]
        if kind == "y":
            item = self.outstanding.get(message[1])
            if item is not None:
                item.sink.deliver(item.index, "y", message[2])
        elif kind == "ready":
            with pool.cond:
                self.ready = True
                self.idle_since = time.monotonic()
                pool.start_failures = 0
                pool.cond.notify_all()
        elif kind == "fatal":
            self.start_error = message[1]

    def _results(self, results: list[tuple[str, int, Any, float]]) -> None:
        pool = self.pool
        pool.record_time(sum(r[3] for r in results) / len(results), len(results))
        with pool.cond:
            finished = [(r, self.outstanding.pop(r[1], None)) for r in results]
            self.held -= sum(1 for _, item in finished if item is not None)
            if not self.outstanding:
                self.idle_since = time.monotonic()
            if len(self.outstanding) <= pool.depth() // 2 and pool.pending:
                pool.cond.notify_all()
        for (status, _, data, _), item in finished:
            if item is None:
                continue
            if status == "ok":
                item.sink.deliver(item.index, "ok", data)
            else:
                pool.failed(item, data)

    def _chunk_results(
        self, seq: int, offset: int, values: list[Any] | bytes, errors: list[tuple[int, Any]], seconds: float
    ) -> None:
        """Results of inputs ``offset`` on of the chunk starting at ``seq`` (``values``: one
        pickle each, or one pickle of them all)."""
        pool = self.pool
        packed = values.__class__ is bytes  # one pickle of the list: all results are atomic
        if packed:
            values = pickle.loads(values)  # type: ignore[arg-type]  # built-in types only
        count = len(values)
        pool.record_time(seconds / count, count)
        with pool.cond:
            run = self.outstanding.get(seq)
            if run is None or offset != run.done:
                return  # delivered already (recovered from the journal)
            run.done = offset + count
            self.held -= count
            if run.done >= len(run):
                del self.outstanding[seq]
            if not self.outstanding:
                self.idle_since = time.monotonic()
            pool.adapt(seconds, count)
            pool.cond.notify_all()
        deliver_many = getattr(run.sink, "deliver_many", None)
        if not errors and count > 1 and deliver_many is not None:
            deliver_many(run.index + offset, values, packed)
            return
        if packed:  # one pickle each for a sink that stores each result
            values = [pickle.dumps(v, protocol=5) for v in values]
        failed = dict(errors)
        for i, data in enumerate(values):
            if i in failed:
                pool.failed(run.part(offset + i, offset + i + 1), failed[i])
            else:
                run.sink.deliver(run.index + offset + i, "ok", data)

    def _journal_ends(self) -> tuple[int, list[int]]:
        """The journal's segment: its first seq (-1: none) and its record ends."""
        base, size = _JOURNAL_HEAD.unpack(os.pread(self.slot_fd, _JOURNAL_HEAD.size, JOURNAL_AT))
        if base < 0 or not 0 < size <= JOURNAL_ENTRIES:
            return -1, []
        raw = os.pread(self.slot_fd, 4 * size, JOURNAL_AT + _JOURNAL_HEAD.size)
        return base, list(struct.unpack(f"{len(raw) // 4}I", raw[: len(raw) // 4 * 4]))

    def journal(self) -> list[tuple[int, str, Any]]:
        """The results the worker journaled but did not send, in order: (seq, kind, data)
        with kind ``o`` (value bytes), ``s`` (staged payload) or ``e`` (error info)."""
        if not self.pool.chunked or self.slot_fd < 0:
            return []
        try:
            base, ends = self._journal_ends()
            records: list[tuple[int, str, Any]] = []
            values_at = JOURNAL_AT + _JOURNAL_HEAD.size + 4 * JOURNAL_ENTRIES
            data_at = values_at + 8 * JOURNAL_ENTRIES
            start = 0
            for i, end in enumerate(ends):
                if not end:
                    break
                stop = end & ~_FLAGS
                kind = "e" if end & _ERROR else "s" if end & _STAGED else "o"
                if end & (_INT | _FLOAT):  # a typed value (no bytes), as the one pickle a sink takes
                    raw = os.pread(self.slot_fd, 8, values_at + 8 * i)
                    value = struct.unpack("q" if end & _INT else "d", raw)[0]
                    data = pickle.dumps(value, protocol=5)
                else:
                    data = os.pread(self.slot_fd, stop - start, data_at + start)
                if end & _MARSHAL:  # an atomic result: as the one pickle a sink takes
                    data = pickle.dumps(marshal.loads(data), protocol=5)
                records.append((base + i, kind, data if kind == "o" else pickle.loads(data)))
                start = stop
        except (OSError, struct.error, pickle.UnpicklingError, EOFError):
            return []
        return records

    def running(self) -> set[int]:
        """The seqs of the inputs the worker is running now (from its shared slot file)."""
        if self.dead and self.slot_fd < 0:
            return set()
        try:
            data = os.pread(self.slot_fd, _SLOT.size * self.pool.concurrency, 0)
        except OSError:
            return set()
        count = len(data) // _SLOT.size
        seqs = {seq for (seq,) in _SLOT.iter_unpack(data[: count * _SLOT.size]) if seq >= 0}
        if self.pool.chunked:  # a chunk's running input: the first without a journal record
            with contextlib.suppress(OSError, struct.error):
                base, ends = self._journal_ends()
                if 0 in ends:
                    seqs.add(base + ends.index(0))
        return seqs

    def time_out(self, seq: int) -> None:
        """Input ``seq`` ran past its timeout: stop the worker (the reader reports the rest)."""
        self.timed_out.add(seq)
        self.kill()

    def stop(self, grace: float) -> None:
        """Ask the worker to finish (``@exit`` hooks run), kill it after ``grace`` seconds."""
        try:
            self.channel.send(("stop",))
        except OSError:
            pass
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
        for pump in self.pumps:  # the last lines the worker printed are still in the pipes
            pump.join(5)

    def kill(self) -> None:
        """SIGKILL the worker process."""
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
