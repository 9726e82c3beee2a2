"""Calling deployed AWS functions from any Python process (the SDK's backend for AWS stacks).

:func:`from_stack` reads the deployment manifest (SSM parameter → S3 object) and
returns an :class:`AwsInvoker`:

* **Lambda** functions are invoked synchronously with the request envelope inline
  (inputs over the inline limit, or over Lambda's 6 MB payload together, are staged
  in S3 first; so are results too large to answer); ``map`` packs up to
  :data:`LAMBDA_BATCH` inputs per invoke, :data:`LAMBDA_PARALLEL` invokes at a time;
  ``spawn`` stages the call and invokes asynchronously, the function writing its
  results to S3.
* **Batch** functions get one job per call: the inputs are staged as at most 16
  objects (:mod:`pcompile.runtime.aws_calls`) and one ``SubmitJob`` starts an array
  job, so a 10,000- or 100,000-input ``map`` costs 17 requests besides polling; the
  tasks' result objects are streamed back as they appear (one listing per round), in
  input order or, with ``order_outputs=False``, in the order the tasks finish.

A ``FunctionCall`` id (``aws:<bucket>/<function>/<id>?n=..&k=..&m=..&job=..``) says where
the results are, so :meth:`AwsInvoker.get` works from another process. Inputs go under
the function's ``in`` prefix and results are read from its ``out`` prefix
(:mod:`pcompile.runtime.staging`), the only places its role may read and write.
Lookup, requests, outcomes, polling with backoff and cancellation come from
:mod:`pcompile.providers.invoker_core`, as on GCP. Every boto3 client honours
``PCOMPILE_AWS_ENDPOINT_URL`` (moto in tests); a stack's own endpoints (:func:`stack_endpoints`: an ``engine: simulate`` stack's
emulator and compute service) take precedence.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from pcompile.exception import InvokeError, NotFoundError, PlatformTimeoutError
from pcompile.providers import invoker_core as core
from pcompile.providers import job_start
from pcompile.providers.invoker import Target
from pcompile.providers.invoker_core import Backoff
from pcompile.providers.manifest import FunctionAddress, Manifest
from pcompile.providers.settings import StackSettings
from pcompile.runtime import aws_env, protocol, staging
from pcompile.runtime.aws_calls import Layout
from pcompile.runtime.storage_s3 import S3Storage, split_url

DEFAULT_MAX_TASKS = 64
LAMBDA_BATCH = 128  # most inputs per Invoke in a map (a 10,000-input map: 79 invokes)
LAMBDA_PARALLEL = 16
SYNC_PAYLOAD_LIMIT = 4 * 1024 * 1024  # Lambda accepts 6 MB; base64 and JSON add a third
ASYNC_PAYLOAD_LIMIT = 150 * 1024  # asynchronous invokes accept 256 KB
TIMED_OUT = b"Task timed out"  # how Lambda words a function it stopped at its timeout

__all__ = ["AwsInvoker", "Backoff", "InvokeError", "NotFoundError", "for_call", "from_stack"]


# --------------------------------------------------------------------------- transports


class LambdaTransport(Protocol):
    """Invokes a Lambda function with a JSON payload; returns the response payload."""

    def invoke(self, function: str, qualifier: str | None, payload: bytes, asynchronous: bool) -> bytes: ...


class BotoLambda:
    """The real transport: ``lambda:Invoke`` through boto3."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def invoke(self, function: str, qualifier: str | None, payload: bytes, asynchronous: bool) -> bytes:
        """Invoke; a function error (crash, timeout) raises :class:`InvokeError`."""
        extra = {"Qualifier": qualifier} if qualifier else {}
        kind = "Event" if asynchronous else "RequestResponse"
        response = self.client.invoke(FunctionName=function, InvocationType=kind, Payload=payload, **extra)
        body = response["Payload"].read() if "Payload" in response else b""
        if response.get("FunctionError"):
            failed = PlatformTimeoutError if TIMED_OUT in body else InvokeError
            raise failed(f"Lambda {function} failed ({response['FunctionError']}): {body[:2000]!r}")
        return body  # type: ignore[no-any-return]


class SubprocessLambda:
    """A fake Lambda service: each invoke runs the real handler in a fresh process with
    the function's environment (as the synthesized Lambda would have it)."""

    def __init__(self, environments: Mapping[str, Mapping[str, str]]) -> None:
        self.environments = {name: dict(env) for name, env in environments.items()}
        self.invocations = 0

    def invoke(self, function: str, qualifier: str | None, payload: bytes, asynchronous: bool) -> bytes:
        """Run ``pcompile.runtime.aws_lambda.handler`` on ``payload`` in a subprocess."""
        self.invocations += 1
        script = (
            "import json,sys; from pcompile.runtime.aws_lambda import handler; "
            "sys.stdout.write(json.dumps(handler(json.loads(sys.stdin.read()))))"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=payload,
            capture_output=True,
            env={**os.environ, **self.environments[function]},
            check=False,
        )
        if done.returncode:
            raise InvokeError(f"Lambda {function} failed: {done.stderr.decode()[-2000:]}")
        return b"" if asynchronous else done.stdout


# --------------------------------------------------------------------------- invoker


def client(session: Any, service: str, endpoints: Mapping[str, str] | None = None) -> Any:
    """A boto3 client of ``session`` at the endpoint override, if any: ``endpoints``' entry for
    the service (``AWS_ENDPOINT_URL_<SERVICE>``, else ``AWS_ENDPOINT_URL``), else ``PCOMPILE_AWS_ENDPOINT_URL``."""
    given = endpoints or {}
    url = given.get(f"AWS_ENDPOINT_URL_{service.upper()}") or given.get("AWS_ENDPOINT_URL")
    return session.client(service, endpoint_url=url or os.environ.get(aws_env.ENDPOINT_URL) or None)


class AwsInvoker(core.CloudInvoker):
    """The :class:`~pcompile.providers.invoker.Invoker` of one deployed app on AWS: Lambda
    functions are invoked request by request, Batch functions spawned
    (:class:`~pcompile.providers.invoker_core.CloudInvoker` holds the shared methods)."""

    SERVERLESS = "lambda"
    CHUNK = LAMBDA_BATCH
    PARALLEL = LAMBDA_PARALLEL

    def __init__(
        self,
        manifest: Manifest,
        session: Any = None,
        *,
        lambda_transport: LambdaTransport | None = None,
        backoff: Backoff | None = None,
        endpoints: Mapping[str, str] | None = None,
        start_timeout_s: float = job_start.DEFAULT_START_TIMEOUT_S,
    ) -> None:
        if session is None:
            import boto3

            session = boto3.session.Session(region_name=manifest.region)
        self.manifest = manifest
        self.session = session
        self.s3 = client(session, "s3", endpoints)
        self.batch = client(session, "batch", endpoints)
        self.lambdas = lambda_transport or BotoLambda(client(session, "lambda", endpoints))
        self.backoff = backoff or Backoff()
        self.starts = job_start.StartWatch(start_timeout_s)
        self._stores: dict[str, S3Storage] = {}
        self._outs: dict[tuple[str, str], list[dict[str, Any]]] = {}

    # ---------------------------------------------------------------- helpers

    def storage(self, bucket: str | None = None) -> S3Storage:
        """The staging bucket (or another bucket, for ids from other deployments)."""
        name = bucket or self.manifest.staging["bucket"]
        if name not in self._stores:
            self._stores[name] = S3Storage(name, "", self.s3)
        return self._stores[name]

    def _results_storage(self) -> S3Storage:
        return self.storage()

    def _request(self, target: Target, kind: str, items: list[Any], first: int) -> dict[str, Any]:
        return core.request(target, kind, items, first, self.storage())

    # ---------------------------------------------------------------- lambda

    def _send(self, address: FunctionAddress, request: dict[str, Any]) -> list[dict[str, Any]]:
        """One synchronous invoke; requests over Lambda's payload limit stage their inputs."""
        envelope = protocol.dump_envelope(request)
        if len(envelope) > SYNC_PAYLOAD_LIMIT:  # many inputs, each under the inline limit
            items = staging.unpack(request["inputs"], self.storage())
            inputs = staging.pack_inputs(items, self.storage(), request["function"], limit=0)
            envelope = protocol.dump_envelope({**request, "inputs": inputs})
        payload = json.dumps({"pcompile": "invoke", "request": base64.b64encode(envelope).decode()}).encode()
        fn = address.addresses["function_name"]
        body = self.lambdas.invoke(fn, address.addresses.get("qualifier"), payload, asynchronous=False)
        answer = json.loads(body)
        return core.answer_results(
            protocol.load_envelope(base64.b64decode(answer["results"])), self.storage()
        )

    # ---------------------------------------------------------------- calls

    def _spawned_results(
        self, call_id: str, count: int, return_exceptions: bool, ordered: bool = True
    ) -> Iterator[Any]:
        """A Batch array job's outcomes, task by task as each task's results object appears."""
        bucket, layout, job = Layout.from_id(call_id)
        store = self.storage(bucket)
        names = {layout.out_key(task): task for task in range(layout.tasks)}
        where = staging.key(layout.function, staging.RESULTS, layout.call, "task-")

        def ready() -> list[int]:
            return [names[key] for key in store.list(where) if key in names]

        def read(task: int) -> list[Any]:
            results = protocol.load_envelope(store.get(layout.out_key(task)))["results"]
            return [self._outcome(result, return_exceptions) for result in results]

        check = self._checker(store, layout, job)
        yield from core.stream(ready, read, layout.tasks, ordered=ordered, backoff=self.backoff, check=check)

    def _spawn(self, target: Target, kind: str, items: list[Any]) -> str:
        address = self.address(target)
        most = int(address.addresses.get("max_tasks") or DEFAULT_MAX_TASKS)
        # Batch: array children; Lambda: one asynchronous invoke per task.
        layout = Layout.plan(target.function, core.new_call(), len(items), most)
        self._stage(target, kind, items, layout)
        bucket = self.manifest.staging["bucket"]
        if address.target == "lambda":
            self._start_lambda_tasks(address, layout)
            return layout.to_id(bucket, None)
        return layout.to_id(bucket, self._submit(target, address, layout))

    def _stage(self, target: Target, kind: str, items: list[Any], layout: Layout) -> None:
        def put(chunk: int) -> None:
            start, end = layout.chunk_range(chunk)
            request = self._request(target, kind, items[start:end], start)
            self.storage().put(layout.chunk_key(chunk), protocol.dump_envelope(request))

        with ThreadPoolExecutor(max_workers=layout.chunks) as pool:
            list(pool.map(put, range(layout.chunks)))

    def _start_lambda_tasks(self, address: FunctionAddress, layout: Layout) -> None:
        job = layout.to_id("-", None).removeprefix("aws:-/")
        for task in range(layout.tasks):
            event = json.dumps({"pcompile": "task", "job": job, "task": task}).encode()
            self.lambdas.invoke(
                address.addresses["function_name"], address.addresses.get("qualifier"), event, True
            )

    def _submit(self, target: Target, address: FunctionAddress, layout: Layout) -> str:
        job = layout.to_id("-", None).removeprefix("aws:-/")
        request: dict[str, Any] = {
            "jobName": f"{target.app}-{target.function}"[:120].replace(".", "-"),
            "jobQueue": address.addresses["job_queue"],
            "jobDefinition": address.addresses["job_definition"],
            "containerOverrides": {"environment": [{"name": aws_env.JOB, "value": job}]},
        }
        if layout.tasks > 1:
            request["arrayProperties"] = {"size": layout.tasks}
        return str(self.batch.submit_job(**request)["jobId"])

    # ---------------------------------------------------------------- results

    def get(self, call_id: str, timeout: float | None, index: int = 0) -> Any:
        """The result of input ``index`` of a spawned call; ``FunctionTimeoutError`` when it is
        not ready in time, the cancellation error when the call was cancelled before it."""
        bucket, layout, job = Layout.from_id(call_id)
        task, offset = layout.locate(index)
        results = self._task_results(bucket, layout, job, task, timeout)
        return self._outcome(results[offset])

    def _task_results(
        self, bucket: str, layout: Layout, job: str | None, task: int, timeout: float | None
    ) -> list[dict[str, Any]]:
        key = (bucket, layout.out_key(task))
        if key not in self._outs:
            data = self._poll(bucket, layout, job, task, timeout)
            self._outs[key] = protocol.load_envelope(data)["results"]
        return self._outs[key]

    def _poll(self, bucket: str, layout: Layout, job: str | None, task: int, timeout: float | None) -> bytes:
        store = self.storage(bucket)
        call_id = layout.to_id(bucket, job)
        check = self._checker(store, layout, job)

        def fetch() -> bytes | None:
            return core.first_stored(store, [layout.out_key(task)])

        return core.poll(fetch, timeout, self.backoff, what=f"function call {call_id}", check=check)

    def _checker(self, store: S3Storage, layout: Layout, job: str | None) -> Callable[[int], None]:
        """Between polling rounds: a cancelled call or a failed job ends the wait."""
        call_id = layout.to_id(store.bucket, job)

        def check(round_: int) -> None:
            if round_ % 5 == 0 and core.was_cancelled(store, layout.function, layout.call):
                raise core.cancelled(call_id)
            if job and round_ % 5 == 4:
                self._check_job(job)

        return check

    def _check_job(self, job: str) -> None:
        (desc,) = self.batch.describe_jobs(jobs=[job])["jobs"] or [{}]
        if desc.get("status") == "FAILED":
            raise InvokeError(f"Batch job {job} failed: {desc.get('statusReason', 'no reason given')}")
        self._check_started(job, desc)

    def _check_started(self, job: str, desc: dict[str, Any]) -> None:
        """A job still RUNNABLE (no capacity or quota) past the bound is reported, not waited on."""
        children = (desc.get("arrayProperties") or {}).get("statusSummary") or {}
        started = any(children.get(s) for s in job_start.AWS_STARTED_CHILDREN)
        created = desc.get("createdAt")
        self.starts.check(
            job,
            str(desc.get("status")),
            desc.get("status") in job_start.AWS_WAITING and not started,
            reason=str(desc.get("statusReason") or ""),
            since=created / 1000 if created else None,
            hint=job_start.AWS_HINT,
        )

    def cancel(self, call_id: str, terminate_containers: bool = False) -> None:
        """Record the cancel (unfinished inputs then read as cancelled) and stop a Batch job
        (Lambda invocations cannot be stopped once started)."""
        bucket, layout, job = Layout.from_id(call_id)
        core.mark_cancelled(self.storage(bucket), layout.function, layout.call)
        if job:
            self.batch.terminate_job(jobId=job, reason="cancelled from pcompile")


# --------------------------------------------------------------------------- entry points


def read_manifest(
    app_name: str, settings: StackSettings, session: Any, endpoints: Mapping[str, str] | None = None
) -> Manifest:
    """Follow the SSM pointer ``/pcompile/<stack>/<app>/manifest`` to the manifest object."""
    from pcompile.providers.aws.program import manifest_parameter

    ssm = client(session, "ssm", endpoints)
    name = manifest_parameter(app_name, settings.name)
    try:
        url = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise core.not_deployed(app_name, settings.name, f"no SSM parameter {name}") from None
    bucket, key = split_url(url)
    body = client(session, "s3", endpoints).get_object(Bucket=bucket, Key=key)["Body"].read()
    return Manifest.loads(body.decode())


def stack_endpoints(settings: StackSettings) -> dict[str, str]:
    """The boto3 endpoints of a stack's clients: on an ``engine: simulate`` stack the emulator,
    with Lambda and Batch at the simulated compute service (started on first use); else the
    stack's ``endpoint_url`` for every service; else none (AWS itself)."""
    if settings.engine == "simulate":
        from pcompile.providers.simulate.compute import client_environment

        return client_environment(Path.cwd(), settings)
    return {"AWS_ENDPOINT_URL": settings.endpoint_url} if settings.endpoint_url else {}


def from_stack(app_name: str, settings: StackSettings) -> AwsInvoker:
    """The invoker for ``app_name`` deployed on an AWS stack."""
    import boto3

    endpoints = stack_endpoints(settings)
    session = boto3.session.Session(region_name=settings.region, **_emulator_credentials(settings))
    manifest = read_manifest(app_name, settings, session, endpoints)
    return AwsInvoker(
        manifest, session, endpoints=endpoints, start_timeout_s=job_start.start_timeout(settings)
    )


def _emulator_credentials(settings: StackSettings) -> dict[str, str]:
    """Placeholder credentials for a simulate stack: real ones never go to an emulator. Keys in
    the environment are the emulator's own then (an IAM-enforcing emulator needs its users')."""
    if settings.engine != "simulate" or os.environ.get("AWS_ACCESS_KEY_ID"):
        return {}
    return {"aws_access_key_id": "simulate", "aws_secret_access_key": "simulate"}


def for_call(call_id: str, session: Any = None) -> AwsInvoker:
    """An invoker that can only read results of ``aws:`` call ids (``FunctionCall.from_id``)."""
    bucket, _, _ = Layout.from_id(call_id)
    manifest = Manifest(app="", stack="", cloud="aws", region=None, functions={}, staging={"bucket": bucket})
    return AwsInvoker(manifest, session)
