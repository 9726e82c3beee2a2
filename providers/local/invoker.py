"""The local provider's :class:`~pcompile.providers.invoker.Invoker`: worker pools on this machine.

``pcompile run`` / ``with app.run():`` build a :class:`LocalInvoker` from the compiled
app (IR as plain dicts); every ``.remote``/``.map``/``.spawn`` goes to a :class:`Pool`
of ``python -m pcompile.runtime worker`` processes, one pool per function (per class
instance for ``@app.cls``), at most ``max_containers`` workers each.
:func:`from_deployment` reaches the functions of a running ``pcompile serve``.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import pickle
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pickle import loads as _loads
from typing import Any

from pcompile.exception import ExecutionError, InvalidError, NotFoundError
from pcompile.providers.invoker import MapInputs, Target
from pcompile.runtime import protocol
from pcompile.runtime.storage import DirectoryStorage

from . import calls, gpus
from .paths import local_dir, safe_name, sub
from .pool import FileLog, Input, LogSink, Pool
from .staging import RunStaging

EnvFor = Callable[[list[dict[str, Any]]], dict[str, str]]
MAP_WINDOW = 100_000  # inputs in flight per map; bounds memory for huge iterators
SUBMIT_BATCH = 4096  # inputs per run: a chunk never spans two
DEFAULT_MAX_WORKERS = max(4, os.cpu_count() or 1)


class _QueueSink:
    """Outcomes into a queue, read by the thread that called ``.remote``/``.map``."""

    def __init__(self) -> None:
        self.q: queue.SimpleQueue[tuple[int, str, Any]] = queue.SimpleQueue()

    def deliver(self, index: int, status: str, data: Any) -> None:
        self.q.put((index, status, data))

    def deliver_many(self, index: int, values: list[Any], decoded: bool = False) -> None:
        """The ``ok`` results of inputs ``index``, ``index + 1`` ... (one chunk) in one item:
        one pickle each, or (``decoded``) the values themselves."""
        self.q.put((index, "values" if decoded else "many", values))


class LocalInvoker:
    """Runs an app's functions in local worker pools (see the module docstring)."""

    def __init__(
        self,
        app: dict[str, Any],
        *,
        root: str | None = None,
        main_file: str | None = None,
        env_for: EnvFor | None = None,
        log: LogSink | None = None,
        progress: bool | None = None,
    ) -> None:
        self.app = app
        self.specs = {f["name"]: f for f in app.get("functions", ())}
        check_names(self.specs.values())
        self.root = root
        self.main_file = main_file
        self.env_for = env_for
        # Lines go to the terminal and, unless a sink is given, to the app's log files.
        folder = re.sub(r"[^A-Za-z0-9._-]", "_", str(app.get("name") or "app"))
        self.log = log or FileLog(sub("logs", folder))
        gpus.check_app(self.specs.values(), self.log)  # GPU counts, before anything runs
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.web_urls: dict[str, str] = {}
        self.staging = DirectoryStorage(sub("staging"))
        self._run: RunStaging | None = None  # this run's blob folder, made with the first pool
        self._run_lock = threading.Lock()
        self._pools: dict[tuple[Any, ...], Pool] = {}
        self._records: dict[str, tuple[Pool, calls.CallRecord]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # ----------------------------------------------------------------- pools

    def serves(self, app_name: str) -> bool:
        """Whether ``Function.from_name(app_name, ...)`` can use this invoker."""
        return bool(self.app.get("name") == app_name)

    def _spec(self, target: Target) -> dict[str, Any]:
        if target.app and target.app != self.app.get("name"):
            raise NotFoundError(f"app {target.app!r} is not running here (this is {self.app.get('name')!r})")
        try:
            spec = self.specs[target.function]
        except KeyError:
            raise NotFoundError(
                f"no function {target.function!r} in app {self.app.get('name')!r}; known: {sorted(self.specs)}"
            ) from None
        return _with_options(spec, dict(target.options))

    def pool_for(self, target: Target) -> tuple[Pool, str]:
        """The pool serving ``target`` (started on first use) and the function name."""
        spec = self._spec(target)
        cls = spec.get("cls")
        group = cls["qualname"] if cls else spec["name"]
        params_blob = protocol.serialize(dict(target.cls_params)) if target.cls_params else b""
        key = (group, params_blob, repr(sorted(target.options, key=lambda kv: kv[0])))
        with self._lock:
            if self._closed:
                raise ExecutionError("the app has stopped; start it again with `pcompile run` or `app.run()`")
            if key not in self._pools:
                self._pools[key] = self._new_pool(group, spec, target, params_blob)
            return self._pools[key], spec["name"]

    def members(self, group: str, first: str, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The function specs sharing containers with ``first`` (one class, or itself)."""
        members = [
            _with_options(s, options or {})
            for s in self.specs.values()
            if (s.get("cls") or {}).get("qualname", s["name"]) == group
        ]
        members.sort(key=lambda s: s["name"] != first)
        return members

    def worker_env(self, members: list[dict[str, Any]]) -> dict[str, str]:
        """Environment of a worker serving ``members``: ours, their secrets, runtime flags."""
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PCOMPILE_LOCAL_DIR": str(local_dir()),
            "PCOMPILE_WORKER": "1",
        }
        if self.env_for is not None:
            env.update(self.env_for(members))
        if memory_limit(members[0]):
            env.setdefault("MALLOC_ARENA_MAX", "2")  # fewer 64 MiB arena reservations under RLIMIT_AS
        return env

    def run_staging(self) -> RunStaging:
        """This run's staging folder (created, and dead runs swept, on first use)."""
        with self._run_lock:
            if self._run is None:
                self._run = RunStaging()
            return self._run

    def worker_init(self, members: list[dict[str, Any]], params_blob: bytes | None = None) -> dict[str, Any]:
        """The ``init`` frame for a worker serving ``members`` (see ``pcompile.runtime.worker``)."""
        return {
            "v": 1,
            "app": self.app,
            "functions": members,
            "root": self.root,
            "main_file": self.main_file,
            "cls_params": params_blob or None,
            "mounts": _mounts(members),
            "storage": f"file://{sub('staging')}",
            "staging_prefix": self.run_staging().prefix,
            "slot_dir": str(sub("workers")),
            "memory_mib": memory_limit(members[0]),
            # The worker's own backend for nested .remote calls: handed over, never imported by the
            # runtime; base64 because web workers get the frame as JSON.
            "backend": base64.b64encode(
                pickle.dumps(
                    functools.partial(LocalInvoker, self.app, root=self.root, main_file=self.main_file)
                )
            ).decode(),
        }

    def _new_pool(self, group: str, spec: dict[str, Any], target: Target, params_blob: bytes) -> Pool:
        members = self.members(group, spec["name"], dict(target.options))
        init = self.worker_init(members, params_blob)
        max_workers = spec.get("max_containers") or DEFAULT_MAX_WORKERS
        return Pool(
            group,
            members,
            init=init,
            env=self.worker_env(members),
            max_workers=int(max_workers),
            log=self.log,
        )

    def close(self) -> None:
        """Stop every pool (``@exit`` hooks run); later calls fail clearly; staged blobs go."""
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()
        with self._run_lock:
            run, self._run = self._run, None
        if run is not None:
            run.close()

    def __enter__(self) -> LocalInvoker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- Invoker

    def _decode(self, status: str, data: Any) -> Any:
        return calls.decode(status, data, self.staging, consume=True)

    def call(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run one input and return its value (or raise the remote exception)."""
        pool, name = self.pool_for(target)
        sink = _QueueSink()
        pool.submit([Input(name, "call", args, kwargs, sink, 0)])
        _, status, data = sink.q.get()
        return self._decode(status, data)

    def call_gen(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        """Run a generator input, yielding items as the worker produces them."""
        pool, name = self.pool_for(target)
        sink = _QueueSink()
        pool.submit([Input(name, "gen", args, kwargs, sink, 0)])
        while True:
            _, status, data = sink.q.get()
            if status != "y":
                self._decode(status, data)
                return
            yield self._decode("ok", data)

    def map(
        self,
        target: Target,
        inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]],
        *,
        order_outputs: bool,
        return_exceptions: bool,
        wrap_returned_exceptions: bool,
    ) -> Iterator[Any]:
        """Run many inputs; outputs in input order when ``order_outputs``."""
        # lists of outputs (one per chunk) flattened in C: no generator step per output
        return itertools.chain.from_iterable(
            self._map_lists(target, inputs, order_outputs, return_exceptions)
        )

    def _map_lists(
        self,
        target: Target,
        inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]],
        order_outputs: bool,
        return_exceptions: bool,
    ) -> Iterator[list[Any]]:
        pool, name = self.pool_for(target)
        if isinstance(inputs, MapInputs):  # the SDK's columns: no pair built per input
            total, batches = inputs.size(), inputs.batches(SUBMIT_BATCH)
        else:
            total = len(inputs) if hasattr(inputs, "__len__") else None  # type: ignore[arg-type]
            source = iter(inputs)
            batches = (("kw", b) for b in iter(lambda: list(itertools.islice(source, SUBMIT_BATCH)), []))
        sink = _QueueSink()
        submitted = received = next_index = 0
        exhausted = False
        held: dict[int, Any] = {}
        bar = _Progress(name, total) if self.progress else None
        try:
            while True:
                while not exhausted and submitted - received < MAP_WINDOW:
                    form, batch = next(batches, ("kw", []))
                    if batch:  # one run: the pool sends it in chunks
                        pool.submit([Input.run(name, "call", batch, sink, submitted, form)])
                    submitted += len(batch)
                    exhausted = len(batch) < SUBMIT_BATCH
                if exhausted and received == submitted:
                    return
                index, status, data = sink.q.get()
                if status == "values":
                    outs = data
                elif status == "many":
                    outs = self._decode_many(data)
                else:
                    outs = [self._outcome(status, data, return_exceptions)]
                received += len(outs)
                if bar is not None:
                    bar.advance(len(outs))
                if not order_outputs:
                    yield outs
                    continue
                held[index] = outs  # chunks never overlap: keyed by their first index
                while next_index in held:
                    outs = held.pop(next_index)
                    yield outs
                    next_index += len(outs)
        finally:
            if bar is not None:
                bar.close()
            if received < submitted:
                pool.cancel(lambda item: item.sink is sink)

    def _decode_many(self, values: list[Any]) -> list[Any]:
        """The values of a chunk: one C-level loop when all are inline pickles."""
        try:
            return [_loads(v) for v in values]
        except Exception:  # staged values, or one that does not unpickle here: one by one
            return [self._decode("ok", v) for v in values]

    def _outcome(self, status: str, data: Any, return_exceptions: bool) -> Any:
        if status == "ok" or not return_exceptions:
            return self._decode(status, data)
        return protocol.to_exception(data)

    def spawn(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Start one input; its id works with ``FunctionCall.from_id`` in any local process."""
        return self.spawn_map(target, [(args, kwargs)])

    def spawn_map(self, target: Target, inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]]) -> str:
        """Start many inputs under one durable call id."""
        pool, name = self.pool_for(target)
        call_id = calls.new_call_id()
        record = calls.CallRecord(call_id, name, None)
        items = list(inputs)
        record.write_meta(name, len(items))
        with self._lock:
            self._records[call_id] = (pool, record)
        runs = range(0, len(items), SUBMIT_BATCH)  # runs of a bounded size: splitting one copies it
        pool.submit([Input.run(name, "call", items[i : i + SUBMIT_BATCH], record, i) for i in runs])
        return call_id

    def get(self, call_id: str, timeout: float | None, index: int = 0) -> Any:
        """The result of input ``index`` of a spawned call."""
        entry = self._records.get(call_id)
        return calls.read_result(call_id, index, timeout, entry[1] if entry else None)

    def cancel(self, call_id: str, terminate_containers: bool = False) -> None:
        """Drop the call's waiting inputs; every unfinished input (running ones too, as on the
        clouds) then reads as cancelled. ``terminate_containers`` also kills the workers."""
        entry = self._records.get(call_id)
        if entry is None:
            cancel_stored(call_id)
            return
        pool, record = entry
        pool.cancel(lambda item: item.sink is record)
        meta = json.loads(DirectoryStorage(record.dir).get("meta.json"))
        for index in range(meta.get("inputs") or 0):
            record.deliver(index, "err", calls.cancelled_error())  # finished inputs keep their result
        if terminate_containers:
            pool.kill_all()

    def web_url(self, target: Target) -> str | None:
        """The URL ``pcompile serve`` gave a web function, or None."""
        self._spec(target)
        return self.web_urls.get(target.function)


def cancel_stored(call_id: str) -> None:
    """Cancel a call spawned by another process: unfinished inputs read as cancelled."""
    path = calls.call_dir(call_id)
    store = DirectoryStorage(path)
    meta = json.loads(store.get("meta.json"))
    for index in range(meta.get("inputs") or 0):
        if not store.exists(f"{index}.result"):
            store.put(
                f"{index}.result", protocol.dump_envelope({"status": "err", "data": calls.cancelled_error()})
            )


class StoredCalls:
    """A minimal invoker for ``FunctionCall.from_id`` in a process with no running app."""

    def get(self, call_id: str, timeout: float | None, index: int = 0) -> Any:
        """Read (waiting for) a stored result."""
        return calls.read_result(call_id, index, timeout)

    def cancel(self, call_id: str, terminate_containers: bool = False) -> None:
        """Mark the call's unfinished inputs as cancelled."""
        cancel_stored(call_id)


def _with_options(spec: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """A function spec with ``with_options`` overrides that matter locally applied."""
    if not options:
        return spec
    spec = dict(spec)
    for key in ("timeout", "max_containers"):
        if options.get(key) is not None:
            spec[key] = options[key]
    retries = options.get("retries")
    if retries is not None:
        spec["retries"] = _retries_dict(retries)
    return spec


def _retries_dict(retries: Any) -> dict[str, Any]:
    if isinstance(retries, int):
        return {"max_retries": retries, "initial_delay": 1.0, "backoff_coefficient": 1.0, "max_delay": 60.0}
    if isinstance(retries, dict):
        return retries
    fields = ("max_retries", "initial_delay", "backoff_coefficient", "max_delay")
    return {f: getattr(retries, f) for f in fields}


def memory_limit(spec: dict[str, Any]) -> int | None:
    """The hard memory limit in MiB: ``memory=N``, or the limit of ``memory=(request, limit)``."""
    memory = spec.get("memory")
    if isinstance(memory, list | tuple):
        return int(memory[1]) if len(memory) > 1 and memory[1] else None
    return int(memory) if memory else None


def check_names(specs: Iterable[dict[str, Any]]) -> None:
    """Refuse volume and secret names that are not valid object names before anything runs:
    a name becomes a path under ``.pcompile/local`` (``"../../x"`` must not leave it)."""
    for spec in specs:
        where = spec.get("source") or {}
        site = f" ({where['file']}:{where['line']})" if where.get("file") else ""
        named = [("volume", v) for v in (spec.get("volumes") or {}).values()]
        named += [("network file system", v) for v in (spec.get("network_file_systems") or {}).values()]
        named += [("secret", s) for s in spec.get("secrets") or ()]
        for what, name in named:
            try:
                safe_name(name, what)
            except ValueError as exc:
                raise InvalidError(f"function {spec['name']!r}{site}: {exc}") from None


def _mounts(members: list[dict[str, Any]]) -> dict[str, str]:
    """Mount path -> local directory for every volume, network file system and cloud bucket
    the functions mount. A ``CloudBucketMount`` is a local directory per bucket
    (``.pcompile/local/buckets/<bucket>``): this machine holds no cloud credentials, so the
    real bucket is mounted only where the function is deployed."""
    mounts: dict[str, str] = {}
    for spec in members:
        for path, volume in sorted((spec.get("volumes") or {}).items()):
            mounts[path] = str(sub("volumes", safe_name(volume, "volume")))
        for path, nfs in sorted((spec.get("network_file_systems") or {}).items()):
            mounts[path] = str(sub("volumes", safe_name(nfs, "network file system")))
        for path, bucket in sorted((spec.get("cloud_bucket_mounts") or {}).items()):
            mounts[path] = str(sub("buckets", safe_name(bucket["bucket_name"], "bucket")))
    return mounts


class _Progress:
    """A rich progress bar on stderr for maps that run longer than ``PROGRESS_AFTER_S``."""

    def __init__(self, name: str, total: int | None) -> None:
        self.name, self.total, self.count = name, total, 0
        self.started = time.monotonic()
        self.bar: Any = None

    def advance(self, count: int = 1) -> None:
        self.count += count
        if self.bar is None and time.monotonic() - self.started >= PROGRESS_AFTER_S:
            from rich.console import Console
            from rich.progress import Progress, TextColumn

            columns = (*Progress.get_default_columns(), TextColumn("{task.completed} done"))
            self.bar = Progress(*columns, console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(f"{self.name}.map", total=self.total, completed=self.count)
        elif self.bar is not None:
            self.bar.update(self.task, completed=self.count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


PROGRESS_AFTER_S = 2.0


def from_deployment(app_name: str) -> Any:
    """The invoker for an app served by a running ``pcompile serve`` on this machine."""
    from .control import ControlClient

    return ControlClient.for_app(app_name)
