"""Calling deployed AWS functions from any Python process (the SDK's backend for AWS stacks).

:func:`from_stack` reads the deployment manifest (SSM parameter → S3 object) and
returns an :class:`AwsInvoker`:

* **Lambda** functions are invoked synchronously with the request envelope inline
  (inputs over the inline limit are staged in S3 first); ``map`` sends one invoke
  per batch of inputs, several at a time; ``spawn`` stages the call and invokes
  asynchronously, the function writing its results to S3.
* **Batch** functions get one job per call: the inputs are staged as at most 16
  objects (:mod:`pcompile.runtime.aws_calls`) and one ``SubmitJob`` starts an array
  job, so a 10,000-input ``map`` costs 17 requests besides polling for results.

A ``FunctionCall`` id (``aws:<bucket>/<function>/<id>?n=..&k=..&m=..&job=..``) says where
the results are, so :meth:`AwsInvoker.get` works from another process. Inputs go under
the function's ``in`` prefix and results are read from its ``out`` prefix
(:mod:`pcompile.runtime.staging`), the only places its role may read and write. Polling
backs off. Every boto3 client honours ``PCOMPILE_AWS_ENDPOINT_URL`` (moto in tests);
a stack's own endpoints (:func:`stack_endpoints`: an ``engine: simulate`` stack's
emulator and compute service) take precedence.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pcompile.exception import NotFoundError, RemoteError
from pcompile.exception import TimeoutError as CallTimeoutError
from pcompile.providers import job_start
from pcompile.providers.invoker import Target
from pcompile.providers.manifest import FunctionAddress, Manifest
from pcompile.providers.settings import StackSettings
from pcompile.runtime import aws_env, protocol, staging
from pcompile.runtime.aws_calls import Layout
from pcompile.runtime.storage_s3 import S3Storage, split_url

Inputs = Iterable[tuple[tuple[Any, ...], dict[str, Any]]]
DEFAULT_MAX_TASKS = 64
LAMBDA_BATCH = 64
LAMBDA_PARALLEL = 16
SYNC_PAYLOAD_LIMIT = 4 * 1024 * 1024  # Lambda accepts 6 MB; base64 and JSON add a third
ASYNC_PAYLOAD_LIMIT = 150 * 1024  # asynchronous invokes accept 256 KB


class InvokeError(RemoteError):
    """Lambda or Batch reported a failure outside the user's code (bad image, crash, timeout)."""


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
            raise InvokeError(f"Lambda {function} failed ({response['FunctionError']}): {body[:2000]!r}")
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


# --------------------------------------------------------------------------- invoker


def client(session: Any, service: str, endpoints: Mapping[str, str] | None = None) -> Any:
    """A boto3 client of ``session`` at the endpoint override, if any: ``endpoints``' entry for
    the service (``AWS_ENDPOINT_URL_<SERVICE>``, else ``AWS_ENDPOINT_URL``), else ``PCOMPILE_AWS_ENDPOINT_URL``."""
    given = endpoints or {}
    url = given.get(f"AWS_ENDPOINT_URL_{service.upper()}") or given.get("AWS_ENDPOINT_URL")
    return session.client(service, endpoint_url=url or os.environ.get(aws_env.ENDPOINT_URL) or None)


class AwsInvoker:
    """The :class:`~pcompile.providers.invoker.Invoker` of one deployed app on AWS."""

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

    def address(self, target: Target) -> FunctionAddress:
        """Where ``target.function`` lives; NotFoundError names the deployed functions."""
        try:
            return self.manifest.functions[target.function]
        except KeyError:
            raise NotFoundError(
                f"app {self.manifest.app!r} on stack {self.manifest.stack!r} has no function "
                f"{target.function!r}; deployed: {sorted(self.manifest.functions)}"
            ) from None

    def _request(self, target: Target, kind: str, items: list[Any], first: int) -> dict[str, Any]:
        return {
            "function": target.function,
            "kind": kind,
            "cls_params": dict(target.cls_params),
            "inputs": stage_payload(
                protocol.serialize(items),
                self.storage(),
                protocol.INLINE_LIMIT,
                _input_blobs(target.function),
            ),
            "first": first,
        }

    def _outcome(self, result: dict[str, Any], return_exceptions: bool = False) -> Any:
        if result["status"] == "ok":
            return protocol.unpack(result["value"], self.storage())
        exc = protocol.to_exception(result["error"])
        if return_exceptions:
            return exc
        raise exc

    # ---------------------------------------------------------------- lambda

    def _invoke(self, address: FunctionAddress, request: dict[str, Any]) -> list[dict[str, Any]]:
        envelope = protocol.dump_envelope(request)
        if len(envelope) > SYNC_PAYLOAD_LIMIT:
            request = {
                **request,
                "inputs": stage_payload(
                    protocol.serialize(protocol.unpack(request["inputs"], self.storage())),
                    self.storage(),
                    0,
                    _input_blobs(request["function"]),
                ),
            }
            envelope = protocol.dump_envelope(request)
        payload = json.dumps({"pcompile": "invoke", "request": base64.b64encode(envelope).decode()}).encode()
        fn = address.addresses["function_name"]
        body = self.lambdas.invoke(fn, address.addresses.get("qualifier"), payload, asynchronous=False)
        answer = json.loads(body)
        return protocol.load_envelope(base64.b64decode(answer["results"]))["results"]  # type: ignore[no-any-return]

    def _lambda_map(
        self, target: Target, address: FunctionAddress, kind: str, items: list[Any], ordered: bool = True
    ) -> Iterator[list[dict[str, Any]]]:
        """Results batch by batch: in input order, or as batches finish when not ``ordered``."""
        batches = [(i, items[i : i + LAMBDA_BATCH]) for i in range(0, len(items), LAMBDA_BATCH)]
        with ThreadPoolExecutor(max_workers=LAMBDA_PARALLEL) as pool:
            futures = [
                pool.submit(self._invoke, address, self._request(target, kind, b, i)) for i, b in batches
            ]
            for future in futures if ordered else as_completed(futures):
                yield future.result()

    # ---------------------------------------------------------------- calls

    def call(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run one input and return its value, or raise the remote exception."""
        address = self.address(target)
        if address.target == "lambda":
            (result,) = self._invoke(address, self._request(target, "call", [(args, kwargs)], 0))
            return self._outcome(result)
        return self.get(self._spawn(target, "call", [(args, kwargs)]), None)

    def call_gen(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        """A generator's items (collected remotely, then yielded here)."""
        address = self.address(target)
        if address.target == "lambda":
            (result,) = self._invoke(address, self._request(target, "gen", [(args, kwargs)], 0))
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
        """Outputs in input order: Lambda batches in parallel, or one Batch array job."""
        items = [(tuple(a), dict(k)) for a, k in inputs]
        if not items:
            return
        address = self.address(target)
        if address.target == "lambda":
            for results in self._lambda_map(target, address, "call", items, order_outputs):
                for result in results:
                    yield self._outcome(result, return_exceptions)
            return
        call_id = self._spawn(target, "call", items)
        bucket, layout, job = Layout.from_id(call_id)
        for task in range(layout.tasks):
            for result in self._task_results(bucket, layout, job, task, None):
                yield self._outcome(result, return_exceptions)

    def spawn(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Start one input; the id finds its result from any process."""
        return self._spawn(target, "call", [(args, kwargs)])

    def spawn_map(self, target: Target, inputs: Inputs) -> str:
        """Start many inputs under one id (``FunctionCall.get(index=i)``)."""
        return self._spawn(target, "call", [(tuple(a), dict(k)) for a, k in inputs])

    def _spawn(self, target: Target, kind: str, items: list[Any]) -> str:
        address = self.address(target)
        most = int(address.addresses.get("max_tasks") or DEFAULT_MAX_TASKS)
        # Batch: array children; Lambda: one asynchronous invoke per task.
        layout = Layout.plan(target.function, uuid.uuid4().hex, len(items), most)
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
        """The result of input ``index`` of a spawned call; TimeoutError when not ready in time."""
        bucket, layout, job = Layout.from_id(call_id)
        task, offset = layout.locate(index)
        results = self._task_results(bucket, layout, job, task, timeout)
        return self._outcome(results[offset])

    def _task_results(
        self, bucket: str, layout: Layout, job: str | None, task: int, timeout: float | None
    ) -> list[dict[str, Any]]:
        key = (bucket, layout.out_key(task))
        if key not in self._outs:
            data = self._poll(bucket, layout.out_key(task), job, timeout)
            self._outs[key] = protocol.load_envelope(data)["results"]
        return self._outs[key]

    def _poll(self, bucket: str, key: str, job: str | None, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        for round_, delay in enumerate(self.backoff.delays()):
            try:
                return self.storage(bucket).get(key)
            except KeyError:
                pass
            if job and round_ % 5 == 4:
                self._check_job(job)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise CallTimeoutError(f"result {key} not ready within {timeout:g} s")
            time.sleep(delay)
        raise AssertionError("unreachable")

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
        """Stop a Batch call (Lambda invocations cannot be stopped once started)."""
        _, _, job = Layout.from_id(call_id)
        if job:
            self.batch.terminate_job(jobId=job, reason="cancelled from pcompile")

    def web_url(self, target: Target) -> str | None:
        """The Function URL of a web function."""
        return self.address(target).web_url


def _input_blobs(function: str) -> str:
    return staging.blobs(function, staging.INPUTS)


def stage_payload(data: bytes, storage: S3Storage, limit: int, blobs: str) -> dict[str, Any]:
    """A protocol payload for pickled ``data``: inline up to ``limit`` bytes, else staged by hash
    under ``blobs`` (the called function's inputs prefix)."""
    origin = {"py": protocol.PYTHON_VERSION, "cp": protocol.CLOUDPICKLE_VERSION}
    if len(data) <= limit:
        return {"inline": data, **origin}
    key = f"{blobs}/{hashlib.sha256(data).hexdigest()}"
    storage.put(key, data)
    return {"ref": key, "size": len(data), **origin}


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
        raise NotFoundError(
            f"app {app_name!r} is not deployed on stack {settings.name!r} (no SSM parameter {name}); "
            f"run `pcompile deploy FILE --stack {settings.name}`"
        ) from None
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
