"""The three backends the invoker contract runs against, each with both sides real.

* ``local``: the :class:`~pcompile.providers.local.invoker.LocalInvoker` of ``pcompile
  run`` over ``contract_app.py``: worker pools of ``python -m pcompile.runtime worker``.
* ``aws``: moto server holding what the AWS program emits for the app (``sim_kit.deploy``,
  the real code bundle in S3), the production invoker of an ``engine: simulate`` stack
  (``providers.aws.invoker.from_stack``), and the simulated compute service that runs
  ``python -m pcompile.runtime lambda`` from what moto holds.
* ``gcp``: gcp-storage-emulator holding the synthesized buckets, the manifest and the
  job templates, one ``python -m pcompile.runtime http`` per Cloud Run service started
  with the service's synthesized environment, GCP Batch jobs run by
  :class:`ParallelBatchJobs` (each task ``python -m pcompile.runtime gcpbatch`` from the
  stored template, tasks side by side as Batch runs them), and the production
  :class:`GcpInvoker` with the HTTP client.

:func:`counting` counts the requests an invoker makes (botocore event hooks; the
``requests`` hooks of the GCS client and the invoker's own HTTP and Batch clients),
sorted into control-plane requests, result reads and polling.

Every server runs in its own process group and is stopped with it (``tests/servers.py``).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers import free_port, serving

from pcompile.providers.invoker import Target
from pcompile.providers.invoker_core import Backoff
from pcompile.providers.manifest import Manifest

HERE = Path(__file__).resolve().parent
APP_FILE = HERE / "contract_app.py"
APP = "pcompile-contract"
FAST = Backoff(first=0.05, factor=1.5, most=0.5)  # results are polled for, quickly


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` set for the block (a module-scoped monkeypatch)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def cwd(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class Backend:
    """One invoker under test and what the cases need around it."""

    name = ""
    invoker: Any

    def target(self, function: str) -> Target:
        """``function`` of the contract app."""
        return Target(APP, function)

    def reader(self, call_id: str) -> Any:
        """A fresh invoker that knows only ``call_id`` (``FunctionCall.from_id`` elsewhere)."""
        raise NotImplementedError

    def lookup(self, app_name: str) -> Any:
        """The invoker for ``app_name`` as ``Function.from_name`` finds it."""
        raise NotImplementedError

    @contextlib.contextmanager
    def max_tasks(self, tasks: int) -> Iterator[None]:
        """Batch maps run at most ``tasks`` tasks in the block (each then packs more inputs)."""
        yield


# --------------------------------------------------------------------------- local


class LocalBackend(Backend):
    """``pcompile run``'s worker pools."""

    name = "local"

    def __init__(self, stack: contextlib.ExitStack, root: Path) -> None:
        from pcompile.compiler import compile_file, ir
        from pcompile.providers.local.invoker import LocalInvoker

        stack.enter_context(environ(PCOMPILE_LOCAL_DIR=str(root / "local"), PCOMPILE_IMAGE_ENV="0"))
        spec = json.loads(ir.dumps(compile_file(APP_FILE)))["apps"][0]
        self.lines: list[str] = []
        self.invoker = LocalInvoker(
            spec, root=str(HERE), progress=False, log=lambda label, line, err: self.lines.append(line)
        )
        stack.callback(self.invoker.close)

    def reader(self, call_id: str) -> Any:
        from pcompile.providers.local.invoker import StoredCalls

        return StoredCalls()

    def lookup(self, app_name: str) -> Any:
        from pcompile.providers.local.invoker import from_deployment

        return from_deployment(app_name)


# --------------------------------------------------------------------------- aws


class AwsBackend(Backend):
    """moto + the simulated compute service + the production AWS invoker."""

    name = "aws"
    STACK = "contract"

    def __init__(self, stack: contextlib.ExitStack, root: Path) -> None:
        from simulate.sim_kit import CREDS, copy_app, deploy

        from pcompile.providers.aws import invoker as aws_invoker
        from pcompile.providers.simulate import compute

        url = stack.enter_context(serving_moto())
        # This process reads results (``for_call``) from moto with placeholder credentials;
        # runtimes get nothing from here but what the stack's compute service gives them.
        stack.enter_context(environ(**CREDS, PCOMPILE_AWS_ENDPOINT_URL=url, PCOMPILE_IMAGE_ENV="0"))
        self.root = root
        source = copy_app(APP_FILE, root / "src")
        self.deployed = deploy(source, url, self.STACK)
        shutil.rmtree(source.parent)  # code reaches the runtime only through the bundle in S3
        stack.callback(compute.stop_service, root, self.STACK)
        with cwd(root):
            self.invoker = aws_invoker.from_stack(APP, self.deployed.settings)
        self.invoker.backoff = FAST

    def reader(self, call_id: str) -> Any:
        from pcompile.providers.aws import invoker as aws_invoker

        return aws_invoker.for_call(call_id)

    def lookup(self, app_name: str) -> Any:
        from pcompile.providers.aws import invoker as aws_invoker

        with cwd(self.root):
            return aws_invoker.from_stack(app_name, self.deployed.settings)

    @contextlib.contextmanager
    def max_tasks(self, tasks: int) -> Iterator[None]:
        """The deployed ``max_tasks`` of every Batch function, lowered for the block."""
        batch = [a for a in self.invoker.manifest.functions.values() if a.target == "batch"]
        saved = [a.addresses.get("max_tasks") for a in batch]
        for address in batch:
            address.addresses["max_tasks"] = str(tasks)
        try:
            yield
        finally:
            for address, value in zip(batch, saved, strict=True):
                address.addresses["max_tasks"] = value


@contextlib.contextmanager
def serving_moto() -> Iterator[str]:
    from servers import moto_server

    with moto_server(no_docker=True) as url:
        yield url


# --------------------------------------------------------------------------- gcp

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value


def _plain(value: Any) -> Any:
    """A mocked input with Pulumi's secret wrapper removed."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


class GcpBackend(Backend):
    """gcp-storage-emulator + one ``http`` runtime per Cloud Run service + the GCP invoker."""

    name = "gcp"

    def __init__(self, stack: contextlib.ExitStack, root: Path) -> None:
        from pcompile.compiler import compile_file
        from pcompile.providers.gcp import clients as gc
        from pcompile.providers.gcp import invoker as gi
        from pcompile.providers.gcp import names
        from pcompile.providers.settings import StackSettings
        from pcompile.providers.synth import synthesize
        from pcompile.runtime.storage_gcs import GcsStorage, gcs_client

        self.settings = StackSettings(
            name="dev", cloud="gcp", region="us-central1", project="pcompile-contract"
        )
        host = stack.enter_context(storage_emulator())
        stack.enter_context(environ(STORAGE_EMULATOR_HOST=host, GOOGLE_CLOUD_PROJECT="pcompile-contract"))
        app = compile_file(APP_FILE).app()
        synth = synthesize("gcp", app, self.settings).to_json()
        self.resources: Callable[[str], list[dict[str, Any]]] = lambda token: [
            r["inputs"] for r in synth["resources"] if r["type"] == token
        ]
        client = gcs_client()
        for bucket in self.resources("gcp:storage/bucket:Bucket"):
            client.create_bucket(bucket["name"])
        self.bucket = names.staging_bucket("pcompile-contract", "dev", app.name)
        storage = GcsStorage(self.bucket)
        (obj,) = [
            o
            for o in self.resources("gcp:storage/bucketObject:BucketObject")
            if o["name"].startswith("manifests/")
        ]
        manifest = Manifest.loads(_plain(obj["content"]))
        for obj in self.resources("gcp:storage/bucketObject:BucketObject"):
            if obj["name"].startswith(names.TEMPLATES + "/"):  # GCP Batch job templates
                GcsStorage(obj["bucket"]).put(obj["name"], _plain(obj["content"]).encode())
        http = CloudRunHttp()
        for function, address in manifest.functions.items():
            if address.target != "cloudrun":
                continue
            url = stack.enter_context(self._serve(app.name, function, host))
            address.addresses["service_url"] = url
            http.timeouts[url] = float(self._service(app.name, function)["template"]["timeout"].rstrip("s"))
        storage.put(names.manifest_key(app.name), manifest.dumps().encode())
        runner = gc.subprocess_task_runner({"STORAGE_EMULATOR_HOST": host, "PYTHONPATH": _pythonpath()})
        self.batch = ParallelBatchJobs(runner)
        stack.callback(self.batch.close)
        self.clients = gc.Clients(tokens=gc.StaticTokens(), http=http, batch=self.batch)
        gi.set_clients(lambda: self.clients)
        stack.callback(gi.set_clients, None)
        self.invoker = gi.from_stack(APP, self.settings)
        self.invoker.backoff = FAST

    def _service(self, app_name: str, function: str) -> dict[str, Any]:
        """The synthesized Cloud Run service of ``function``."""
        from pcompile.providers.gcp import names

        wanted = names.service_name(app_name, function)
        (service,) = [s for s in self.resources("gcp:cloudrunv2/service:Service") if s["name"] == wanted]
        return service

    @contextlib.contextmanager
    def _serve(self, app_name: str, function: str, host: str) -> Iterator[str]:
        """``python -m pcompile.runtime http`` with the environment of the function's service."""
        service = self._service(app_name, function)
        env = {item["name"]: item["value"] for item in service["template"]["containers"][0]["envs"]}
        port = free_port()
        env.update(
            STORAGE_EMULATOR_HOST=host,
            PORT=str(port),
            PCOMPILE_HOST="127.0.0.1",
            PYTHONPATH=_pythonpath(),
        )
        url = f"http://127.0.0.1:{port}"
        with serving(
            [sys.executable, "-m", "pcompile.runtime", "http"], f"{url}/healthz", env=env, timeout=60
        ):
            yield url

    def reader(self, call_id: str) -> Any:
        from pcompile.providers.gcp import invoker as gi

        return gi.for_call(call_id)

    def lookup(self, app_name: str) -> Any:
        from pcompile.providers.gcp import invoker as gi

        return gi.from_stack(app_name, self.settings)

    @contextlib.contextmanager
    def max_tasks(self, tasks: int) -> Iterator[None]:
        """The invoker's most tasks per Batch job, lowered for the block."""
        from pcompile.providers.gcp import invoker as gi

        saved, gi.MAX_TASKS = gi.MAX_TASKS, tasks
        try:
            yield
        finally:
            gi.MAX_TASKS = saved


def _pythonpath() -> str:
    """The contract app's folder first (the runtimes import it as the bundle would hold it)."""
    return os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])


class ParallelBatchJobs:
    """GCP Batch's three calls for the invoker (no Batch emulator exists): ``create`` starts
    the job's tasks side by side, up to its ``parallelism``, each task run by ``runner``
    (the runtime's ``gcpbatch`` mode in a subprocess, :func:`subprocess_task_runner`); the
    state goes QUEUED, RUNNING, then SUCCEEDED or FAILED as Batch reports it."""

    def __init__(self, runner: Callable[[dict[str, Any], int], int]) -> None:
        self.runner = runner
        self.states: dict[str, str] = {}
        self.created = 0
        self._lock = threading.Lock()
        self._pools: dict[str, ThreadPoolExecutor] = {}

    def create(self, parent: str, job_id: str, job: dict[str, Any]) -> str:
        """Record ``job`` and start running its tasks in the background."""
        name = f"{parent}/jobs/{job_id}"
        group = job["taskGroups"][0]
        count, parallel = int(group["taskCount"]), int(group.get("parallelism") or group["taskCount"])
        with self._lock:
            self.created += 1
            self.states[name] = "QUEUED"
        pool = ThreadPoolExecutor(max_workers=min(parallel, 8), thread_name_prefix="gcp-batch-task")
        self._pools[name] = pool
        threading.Thread(target=self._carry, args=(pool, name, job, count), daemon=True).start()
        return name

    def _carry(self, pool: ThreadPoolExecutor, name: str, job: dict[str, Any], count: int) -> None:
        self.states[name] = "RUNNING"
        futures = [pool.submit(self._task, job, index) for index in range(count)]
        codes = [1 if f.cancelled() else f.result() for f in wait(futures).done]
        if self.states[name] == "RUNNING":
            self.states[name] = "SUCCEEDED" if not any(codes) else "FAILED"

    def _task(self, job: dict[str, Any], index: int) -> int:
        """One task's exit code; a task that could not run or finish (its runner's timeout) fails."""
        try:
            return self.runner(job, index)
        except Exception:
            return 1

    def state(self, name: str) -> str:
        """The job's state."""
        return self.states[name]

    def delete(self, name: str) -> None:
        """Mark the job deleted: its running tasks finish, no new ones start."""
        self.states[name] = "DELETION_IN_PROGRESS"
        if name in self._pools:
            self._pools[name].shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop starting tasks and wait for the ones still running."""
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)


class CloudRunHttp:
    """The invoker's HTTP client with Cloud Run's request timeout played in front of each
    service (the synthesized ``template.timeout``): past it, Cloud Run answers 504."""

    def __init__(self) -> None:
        from pcompile.providers.gcp.clients import HttpxPost

        self.inner = HttpxPost()
        self.timeouts: dict[str, float] = {}

    def post(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float | None
    ) -> tuple[int, bytes]:
        """POST through to the runtime; 504 when the service's timeout passes first."""
        import httpx

        service = url.rsplit("/", 1)[0]
        try:
            return self.inner.post(url, body, headers, self.timeouts.get(service, timeout))
        except httpx.ReadTimeout:
            return 504, b"upstream request timeout"


@contextlib.contextmanager
def storage_emulator() -> Iterator[str]:
    """gcp-storage-emulator on a free loopback port, in its own process group; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "gcp_storage_emulator", "start", "-H", "127.0.0.1", "--port", str(port)]
    with serving([*argv, "--in-memory"], f"{url}/storage/v1/b?project=p", timeout=30):
        yield url


# --------------------------------------------------------------------------- counting

CONTROL = "control"  # requests that hand work over: staging puts, Invoke, SubmitJob, /invoke, jobs.create
READS = "reads"  # result objects fetched
POLLS = "polls"  # listings, existence and job-status checks while waiting
AWS_KINDS = {"PutObject": CONTROL, "Invoke": CONTROL, "SubmitJob": CONTROL, "GetObject": READS}


@dataclass
class Requests:
    """Requests an invoker made, by kind (:data:`CONTROL`, :data:`READS`, :data:`POLLS`) and name."""

    counts: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: {k: collections.Counter() for k in (CONTROL, READS, POLLS)}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, name: str) -> None:
        """Count one request."""
        with self.lock:
            self.counts[kind][name] += 1

    def total(self, kind: str) -> int:
        """How many requests of ``kind``."""
        return sum(self.counts[kind].values())

    def to_json(self) -> dict[str, Any]:
        """Totals and the requests by name, per kind (sorted)."""
        return {
            k: {"total": self.total(k), "by_name": dict(sorted(c.items()))} for k, c in self.counts.items()
        }


@contextlib.contextmanager
def counting(backend: Backend) -> Iterator[Requests]:
    """Count the requests ``backend.invoker`` makes in the block, at its real clients."""
    seen = Requests()
    with _count_aws(backend.invoker, seen) if backend.name == "aws" else _count_gcp(backend.invoker, seen):
        yield seen


@contextlib.contextmanager
def _count_aws(invoker: Any, seen: Requests) -> Iterator[None]:
    """botocore's ``before-call`` event on the invoker's S3, Batch and Lambda clients."""

    def hook(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        seen.add(AWS_KINDS.get(operation, POLLS), operation)

    clients = [invoker.s3, invoker.batch, invoker.lambdas.client]
    for client in clients:
        client.meta.events.register("before-call", hook, unique_id="pcompile-count")
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-call", unique_id="pcompile-count")


@contextlib.contextmanager
def _count_gcp(invoker: Any, seen: Requests) -> Iterator[None]:
    """The ``requests`` response hook of the GCS client's session, and the invoker's Cloud
    Run HTTP client and Batch client wrapped to count the calls they pass through."""

    def hook(response: Any, *args: Any, **kwargs: Any) -> None:
        request = response.request
        path, _, query = request.url.partition("?")
        if request.method == "POST" and "/upload/" in path:
            seen.add(CONTROL, "objects.insert")
        elif "alt=media" in query:
            seen.add(READS, "objects.get")
        elif path.endswith("/o"):
            seen.add(POLLS, "objects.list")
        else:
            seen.add(POLLS, f"objects.{request.method.lower()}")

    session = invoker.storage.client._http  # google-cloud-storage's requests session
    hooks = session.hooks["response"]
    hooks.append(hook)
    http, batch = invoker.http, invoker.batch
    invoker.http, invoker.batch = (
        _Counted(http, seen, {"post": CONTROL}),
        _Counted(batch, seen, {"create": CONTROL, "state": POLLS, "delete": CONTROL}),
    )
    try:
        yield
    finally:
        hooks.remove(hook)
        invoker.http, invoker.batch = http, batch


class _Counted:
    """A client whose calls of the methods in ``kinds`` are counted before they go through."""

    def __init__(self, inner: Any, seen: Requests, kinds: dict[str, str]) -> None:
        self._inner, self._seen, self._kinds = inner, seen, kinds

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in self._kinds:
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._seen.add(self._kinds[name], name)
            return value(*args, **kwargs)

        return counted


BACKENDS: dict[str, type[Backend]] = {"local": LocalBackend, "aws": AwsBackend, "gcp": GcpBackend}
