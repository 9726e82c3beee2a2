"""Calling deployed GCP functions from any Python process: the :class:`GcpInvoker`.

The deployment manifest (``gs://<staging>/manifests/<app>.json``) says where each
function lives:

* ``cloudrun``: ``POST <service_url>/invoke`` with a Google ID token for the service
  (audience = its URL) and a request envelope (:mod:`pcompile.runtime.gcp_container`);
  payloads over the inline limit are staged in the staging bucket. ``.map`` packs up
  to :data:`MAP_CHUNK` inputs per request, :data:`MAP_CONCURRENCY` requests at once;
* ``gcpbatch``: the function's job template is read from GCS and a job is created per
  call (google-cloud-batch); ``.map`` is one job whose ``taskCount`` tasks each run a
  slice of the inputs (``BATCH_TASK_INDEX``), staged as at most 16 objects (the plan of
  :class:`pcompile.runtime.aws_calls.Layout`, which AWS Batch uses too), so a
  10,000-input map costs 18 requests besides polling. Results are read back as they
  appear (one listing of the call's results per round), in input order or, with
  ``order_outputs=False``, in the order they finish.

Every ``spawn`` returns a durable id, ``gcp:<bucket>/<function>/<uuid>``: results are
objects ``fn/<function>/out/<uuid>/<index>.result`` (written only by the function;
inputs and this invoker's own records go under ``fn/<function>/in/<uuid>/``, see
:mod:`pcompile.runtime.staging`), so ``FunctionCall.from_id(id).get()`` works from
any process that can read the bucket. A Cloud Run spawn is carried by a
request this process keeps open (Cloud Run only guarantees CPU while a request is
open), so the spawning process must live until the call finishes; Batch spawns
need nothing from the caller.

Lookup, requests, outcomes, polling and cancellation come from
:mod:`pcompile.providers.invoker_core`, as on AWS, so both raise the same exceptions.
Side effects sit behind the small interfaces of :mod:`.clients` (tokens, HTTP,
Batch), which ships fakes; :func:`set_clients` swaps them for every invoker that
:func:`from_stack` and :func:`for_call` make.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.exception import InvokeError, NotFoundError, PlatformTimeoutError
from pcompile.providers import invoker_core as core
from pcompile.providers import job_start
from pcompile.providers.gcp import jobs, names
from pcompile.providers.gcp.clients import BatchJobs, Clients, HttpPost, TokenSource, google_clients
from pcompile.providers.invoker import Target
from pcompile.providers.manifest import FunctionAddress, Manifest
from pcompile.providers.settings import StackSettings
from pcompile.runtime import gcp_env, protocol, staging
from pcompile.runtime.aws_calls import Layout
from pcompile.runtime.gcp_batch import LAYOUT
from pcompile.runtime.gcp_container import call_key, result_key, task_key
from pcompile.runtime.storage import Storage
from pcompile.runtime.storage_gcs import GcsStorage, split_gs_url

ENVELOPE_TYPE = "application/x-pcompile-envelope"
CALL_PREFIX = "gcp:"
# Most inputs per Cloud Run request in a map (a 10,000-input map: 79 requests), and
# requests in flight at once.
MAP_CHUNK = 128
MAP_CONCURRENCY = 16
# A map on Batch runs at most this many tasks (each takes a slice of one staged chunk).
MAX_TASKS = 100
TERMINAL_FAILED = ("FAILED", "DELETION_IN_PROGRESS", "CANCELLED")

__all__ = ["CallRef", "GcpInvoker", "InvokeError", "NotFoundError", "for_call", "from_stack"]


# ------------------------------------------------------------------------- invoker


@dataclass(frozen=True)
class CallRef:
    """Where a spawned call's inputs and results live: its bucket, function and call id."""

    bucket: str
    function: str
    call: str

    @property
    def id(self) -> str:
        """The durable id handed to the user."""
        return f"{CALL_PREFIX}{self.bucket}/{self.function}/{self.call}"

    @classmethod
    def parse(cls, call_id: str) -> CallRef:
        """Read an id made by :attr:`id`."""
        parts = call_id.removeprefix(CALL_PREFIX).split("/")
        if not call_id.startswith(CALL_PREFIX) or len(parts) != 3:
            raise ValueError(f"not a GCP FunctionCall id: {call_id!r}")
        try:
            call_key(parts[1], parts[2], "call.json")
        except ValueError:
            raise ValueError(f"not a GCP FunctionCall id: {call_id!r}") from None
        return cls(*parts)

    def record(self, name: str) -> str:
        """Key of this invoker's own record ``name`` of the call (input side)."""
        return call_key(self.function, self.call, name)

    def result(self, index: int) -> str:
        """Key of the result of input ``index`` (written by the function)."""
        return result_key(self.function, self.call, index)

    def failure(self, index: int) -> str:
        """Key where this side records a platform failure of input ``index``."""
        return self.record(f"{index}.failed")


class GcpInvoker(core.CloudInvoker):
    """The :class:`~pcompile.providers.invoker.Invoker` for one app deployed on GCP: Cloud Run
    functions are called request by request, GCP Batch functions spawned as jobs
    (:class:`~pcompile.providers.invoker_core.CloudInvoker` holds the shared methods)."""

    SERVERLESS = "cloudrun"
    CHUNK = MAP_CHUNK
    PARALLEL = MAP_CONCURRENCY

    def __init__(
        self,
        manifest: Manifest,
        storage: Storage,
        *,
        tokens: TokenSource,
        http: HttpPost,
        batch: BatchJobs,
        poll_s: float = 1.0,
        start_timeout_s: float = job_start.DEFAULT_START_TIMEOUT_S,
    ) -> None:
        self.manifest = manifest
        self.starts = job_start.StartWatch(start_timeout_s)
        self.storage = storage
        self.bucket = manifest.staging["bucket"]
        self.tokens = tokens
        self.http = http
        self.batch = batch
        self.poll_s = poll_s
        self.backoff = core.Backoff(first=min(0.2, poll_s), factor=1.5, most=poll_s)
        self._templates: dict[str, dict[str, Any]] = {}
        self._jobs: dict[str, str] = {}
        self._threads: list[threading.Thread] = []

    # ----------------------------------------------------------------- helpers

    def _request(self, target: Target, kind: str, inputs: list[Any], first: int, call: str | None) -> bytes:
        return protocol.dump_envelope(core.request(target, kind, inputs, first, self.storage, call=call))

    def _post(self, address: FunctionAddress, body: bytes) -> list[dict[str, Any]]:
        url = address.addresses["service_url"].rstrip("/")
        headers = {
            "Authorization": f"Bearer {self.tokens.id_token(url)}",
            "Content-Type": ENVELOPE_TYPE,
        }
        status, data = self.http.post(f"{url}/invoke", body, headers, None)
        if status == 504:  # Cloud Run stopped the request at the service's timeout
            raise PlatformTimeoutError(f"{url}/invoke timed out (HTTP 504): {data[:500]!r}")
        if status != 200:
            raise InvokeError(f"{url}/invoke answered HTTP {status}: {data[:500]!r}")
        return core.answer_results(protocol.load_envelope(data), self.storage)

    def _results_storage(self) -> Storage:
        return self.storage

    def _send(self, address: FunctionAddress, request: dict[str, Any]) -> list[dict[str, Any]]:
        """One ``POST /invoke`` of a request."""
        return self._post(address, protocol.dump_envelope(request))

    def _spawned_results(
        self, call_id: str, count: int, return_exceptions: bool, ordered: bool = True
    ) -> Iterator[Any]:
        """A call's outcomes input by input as their result objects appear (a platform failure
        too, when asked)."""
        ref = CallRef.parse(call_id)
        store = self._store(ref)
        results = f"{staging.prefix(ref.function, staging.RESULTS)}/{ref.call}/"
        failures = f"{staging.prefix(ref.function, staging.INPUTS)}/{ref.call}/"
        batch = ref.id in self._jobs  # a Batch job of this invoker: no failure records to list

        lister = getattr(store, "list", None)

        def ready() -> set[int]:
            if lister is None:  # a storage that cannot list: look input by input
                return {
                    i for i in range(count) if store.exists(ref.result(i)) or store.exists(ref.failure(i))
                }
            found = _indices(lister(results), results, ".result")
            return found if batch else found | _indices(lister(failures), failures, ".failed")

        def read(index: int) -> list[Any]:
            data = core.first_stored(store, [ref.result(index), ref.failure(index)])
            if data is None:  # listed a moment ago; objects are not deleted
                raise InvokeError(f"result {index} of {call_id} disappeared")
            try:
                return [self._outcome(protocol.load_envelope(data))]
            except Exception as exc:
                if not return_exceptions:
                    raise
                return [exc]

        ended: list[str] = []

        def check(_: int) -> None:
            if core.was_cancelled(store, ref.function, ref.call):
                raise core.cancelled(call_id)
            if ended:  # listed once more after the job ended: the rest will never come
                raise InvokeError(f"Batch job {ended[0]} ended without a result for every input of {call_id}")
            job, state = self._job_state(ref, store)
            if state in (*TERMINAL_FAILED, "SUCCEEDED"):
                ended.append(f"{job} ({state})")

        yield from core.stream(ready, read, count, ordered=ordered, backoff=self.backoff, check=check)

    # ----------------------------------------------------------------- spawning

    def _spawn(self, target: Target, kind: str, items: list[Any]) -> str:
        ref = CallRef(self.bucket, target.function, core.new_call())
        address = self.address(target)
        meta: dict[str, Any] = {"function": target.function, "target": address.target, "n": len(items)}
        if address.target == self.SERVERLESS:
            self.storage.put(ref.record("call.json"), json.dumps(meta, sort_keys=True).encode())
            self._background(lambda: self._carry(target, kind, items, ref))
            return ref.id
        meta["job"] = self._create_job(target, address, kind, items, ref)
        self._jobs[ref.id] = meta["job"]
        self.storage.put(ref.record("call.json"), json.dumps(meta, sort_keys=True).encode())
        return ref.id

    def _carry(self, target: Target, kind: str, items: list[Any], ref: CallRef) -> None:
        """Run a spawned Cloud Run call; if the platform fails, store that as each missing result."""
        try:
            list(self._run(target, self.address(target), kind, items, call=ref.call))
        except Exception as exc:
            failure = core.failure(InvokeError(f"call {ref.id} failed: {exc}"))
            for index in range(len(items)):
                if not self.storage.exists(ref.result(index)):
                    self.storage.put(ref.failure(index), protocol.dump_envelope(failure))

    def _background(self, work: Callable[[], Any]) -> None:
        thread = threading.Thread(target=work, daemon=True, name="pcompile-gcp-spawn")
        thread.start()
        self._threads.append(thread)

    def _create_job(
        self, target: Target, address: FunctionAddress, kind: str, items: list[Any], ref: CallRef
    ) -> str:
        layout = Layout.plan(ref.function, ref.call, len(items), MAX_TASKS)

        def put(chunk: int) -> None:  # chunk j's request is the object task j of a 1:1 plan reads
            start, end = layout.chunk_range(chunk)
            body = self._request(target, kind, items[start:end], start, ref.call)
            self.storage.put(task_key(ref.function, ref.call, chunk), body)

        with ThreadPoolExecutor(max_workers=layout.chunks) as pool:
            list(pool.map(put, range(layout.chunks)))
        call_env = {gcp_env.CALL: ref.call, LAYOUT: layout.shape}
        job = jobs.for_call(self._template(address), call_env=call_env, task_count=layout.tasks)
        parent = f"projects/{address.addresses['project']}/locations/{address.addresses['region']}"
        job_id = f"{names.slug(target.function)[:40]}-{ref.call[:16]}"
        return self.batch.create(parent, letter_first_id(job_id), job)

    def _template(self, address: FunctionAddress) -> dict[str, Any]:
        url = address.addresses["job_template"]
        if url not in self._templates:
            bucket, key = split_gs_url(url)
            store = self.storage if bucket == self.bucket else GcsStorage(bucket)
            self._templates[url] = json.loads(store.get(key))
        return self._templates[url]

    def get(self, call_id: str, timeout: float | None, index: int = 0) -> Any:
        """The result of input ``index`` of a spawned call; ``FunctionTimeoutError`` when it is
        not ready in time, the cancellation error when the call was cancelled before it."""
        ref = CallRef.parse(call_id)
        store = self._store(ref)

        def check(_: int) -> None:
            if core.was_cancelled(store, ref.function, ref.call):
                raise core.cancelled(call_id)
            self._check_job(ref, store, index)

        def fetch() -> bytes | None:
            return core.first_stored(store, [ref.result(index), ref.failure(index)])

        data = core.poll(
            fetch, timeout, self.backoff, what=f"function call {call_id} input {index}", check=check
        )
        return self._outcome(protocol.load_envelope(data))

    def _store(self, ref: CallRef) -> Storage:
        return self.storage if ref.bucket == self.bucket else GcsStorage(ref.bucket)

    def _check_job(self, ref: CallRef, store: Storage, index: int) -> None:
        """A Batch job that ended without writing this result will never write it."""
        job, state = self._job_state(ref, store)
        if state in (*TERMINAL_FAILED, "SUCCEEDED"):
            try:
                store.get(ref.result(index))  # it may have landed since the last look
            except KeyError:
                raise InvokeError(
                    f"Batch job {job} ended ({state}) without a result for input {index}"
                ) from None

    def _job_state(self, ref: CallRef, store: Storage) -> tuple[str | None, str]:
        """The call's Batch job and its state ("" for a Cloud Run call); a job still waiting
        for capacity past the bound is reported."""
        job = self._jobs.get(ref.id)
        if job is None:
            try:
                job = json.loads(store.get(ref.record("call.json"))).get("job")
            except KeyError:
                raise NotFoundError(
                    f"no function call {ref.id} (no gs://{ref.bucket}/{ref.record('call.json')})"
                ) from None
            if job:
                self._jobs[ref.id] = job
        state = self.batch.state(job) if job else ""
        if job:
            self._check_started(job, state)
        return job, state

    def _check_started(self, job: str, state: str) -> None:
        """A job still QUEUED or SCHEDULED (no GPU quota or capacity) past the bound is reported."""
        reason = getattr(self.batch, "reason", None)  # the last status event, where the client has it
        waiting = state in job_start.GCP_WAITING
        self.starts.check(
            job, state, waiting, reason=reason(job) if waiting and reason else "", hint=job_start.GCP_HINT
        )

    def cancel(self, call_id: str, terminate_containers: bool = False) -> None:
        """Record the cancel (unfinished inputs then read as cancelled) and delete the call's
        Batch job (Cloud Run requests run to completion)."""
        ref = CallRef.parse(call_id)
        store = self._store(ref)
        core.mark_cancelled(store, ref.function, ref.call)
        job = self._jobs.get(ref.id)
        if job is None:
            try:
                job = json.loads(store.get(ref.record("call.json"))).get("job")
            except KeyError:
                raise NotFoundError(f"no function call {ref.id}") from None
        if job:
            self.batch.delete(job)

    def wait_spawned(self, timeout: float | None = None) -> None:
        """Block until the Cloud Run requests carrying this process's spawns have returned."""
        for thread in self._threads:
            thread.join(timeout)


def _indices(keys: Iterable[str], under: str, suffix: str) -> set[int]:
    """Input indices of the ``<index><suffix>`` objects among ``keys`` (listed ``under``)."""
    names = (key[len(under) :] for key in keys if key.endswith(suffix))
    return {int(name[: -len(suffix)]) for name in names if name[: -len(suffix)].isdigit()}


def letter_first_id(job_id: str) -> str:
    """Batch job ids: lower-case, start with a letter, at most 63 characters."""
    return names.letter_first(job_id.lower())[:63]


# ------------------------------------------------------------------------- lookup


def read_manifest(storage: Storage, app_name: str, stack: str = "", bucket: str = "") -> Manifest:
    """The manifest of ``app_name`` from the staging bucket; ``NotFoundError`` when there is none."""
    key = names.manifest_key(app_name)
    try:
        return Manifest.loads(storage.get(key).decode())
    except KeyError:
        where = f"gs://{bucket}/{key}" if bucket else f"{key} in staging"
        raise core.not_deployed(app_name, stack or "this stack", f"no {where}") from None


_clients_factory: Callable[[], Clients] = google_clients


def set_clients(factory: Callable[[], Clients] | None) -> None:
    """Use ``factory()`` for invokers made by :func:`from_stack` (None restores the Google clients);
    how tests and emulators reach the SDK path without credentials."""
    global _clients_factory
    _clients_factory = factory or google_clients


def from_stack(app_name: str, settings: StackSettings) -> GcpInvoker:
    """The invoker for ``app_name`` deployed on a GCP stack."""
    project = settings.project
    if not project:
        raise UserError(
            f"stack {settings.name!r} has no GCP project, so its deployments cannot be found",
            fix="add `project: <your-project-id>` to the stack file",
        )
    simulated = None
    if settings.engine == "simulate":  # the loopback Cloud Run / Batch of `engine: simulate`
        from pcompile.providers.simulate.gcp_compute import simulated_clients

        simulated = simulated_clients(settings)
    bucket = settings.extra.get("staging_bucket") or names.staging_bucket(project, settings.name, app_name)
    storage = GcsStorage(bucket)
    manifest = read_manifest(storage, app_name, settings.name, bucket)
    clients = simulated or _clients_factory()
    return GcpInvoker(
        manifest,
        storage,
        tokens=clients.tokens,
        http=clients.http,
        batch=clients.batch,
        start_timeout_s=job_start.start_timeout(settings),
    )


def for_call(call_id: str) -> GcpInvoker:
    """An invoker that reads (``get``) and stops (``cancel``) one spawned call by its id alone,
    for ``FunctionCall.from_id`` in a process that never looked the app up."""
    ref = CallRef.parse(call_id)
    manifest = Manifest(
        app="", stack="", cloud="gcp", region=None, functions={}, staging={"bucket": ref.bucket}
    )
    clients = _clients_factory()
    return GcpInvoker(
        manifest, GcsStorage(ref.bucket), tokens=clients.tokens, http=clients.http, batch=clients.batch
    )
