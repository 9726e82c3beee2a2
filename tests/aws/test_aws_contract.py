"""Contract tests against moto server: SDK invoker → staged input in S3 → the runtime's
``batch`` / Lambda handler, run as subprocesses with the environment taken from the
synthesized job definitions and functions → output in S3 → SDK result.

Moto runs the AWS control plane (S3, SSM, Secrets Manager, Batch) with
``use_docker: false``; it starts no containers, so the tests start the runtime
themselves with exactly what the submitted job or the synthesized Lambda would get.

What every invoker must do alike (values, generators, map with exceptions, spawn and
get, timeouts, unknown functions, the user's exception type, cancel) is the contract
suite, ``tests/contract``, which runs the AWS invoker on moto and the simulated
compute; this file keeps what is AWS's own: Batch jobs and their request count,
Lambda batching, secrets, Function URLs, schedules, volumes, the Runtime API.
"""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from servers import moto_server

from pcompile.compiler import compile_file
from pcompile.exception import ExecutionError, FunctionTimeoutError
from pcompile.providers.aws import invoker as aws_invoker
from pcompile.providers.aws.program import MANIFEST_KEY, manifest_parameter
from pcompile.providers.invoker import Target
from pcompile.providers.manifest import Manifest
from pcompile.providers.settings import StackSettings
from pcompile.providers.synth import SynthOutput, synthesize
from pcompile.runtime import aws_calls, staging

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "aws_contract_app.py"
APP = "aws-contract"
SETTINGS = StackSettings(name="dev", cloud="aws", region="us-east-1")
CREDS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
POLLING = {"GetObject", "HeadObject", "DescribeJobs", "ListObjectsV2"}


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """A moto server on a free loopback port (Batch and Lambda without Docker), stopped by PID."""
    with moto_server(no_docker=True) as url:
        yield url


@pytest.fixture(scope="module")
def base_env(moto: str) -> Iterator[dict[str, str]]:
    """The environment every process (this one and the runtime's) talks to moto with."""
    env = {**CREDS, "PCOMPILE_AWS_ENDPOINT_URL": moto}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield {**env, "PYTHONPATH": os.pathsep.join([str(FIXTURE.parent), os.environ.get("PYTHONPATH", "")])}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def synth() -> SynthOutput:
    return synthesize("aws", compile_file(FIXTURE).app(), SETTINGS)


def _client(service: str) -> Any:
    return boto3.session.Session(region_name="us-east-1").client(
        service, endpoint_url=os.environ["PCOMPILE_AWS_ENDPOINT_URL"]
    )


@pytest.fixture(scope="module")
def deployed(base_env: dict[str, str], synth: SynthOutput) -> Manifest:
    """Create in moto what ``pulumi up`` would: buckets, Batch queue and job definitions,
    the secret, the manifest object and its SSM pointer. Returns the manifest."""
    for made in synth.result.of_type("aws:s3/bucket:Bucket"):
        _client("s3").create_bucket(Bucket=made.name)  # the mock engine names buckets by logical name
    bucket = synth.result.named(f"{APP}-staging").name
    _client("secretsmanager").create_secret(Name="contract-secret", SecretString='{"TOKEN": "s3cr3t"}')
    arns = _create_batch(synth)
    (obj,) = synth.result.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    content = obj.inputs["content"]
    for mock_arn, real_arn in arns.items():
        content = content.replace(mock_arn, real_arn)
    _client("s3").put_object(Bucket=bucket, Key=obj.inputs["key"], Body=content.encode())
    url = f"s3://{bucket}/{obj.inputs['key']}"
    _client("ssm").put_parameter(Name=manifest_parameter(APP, "dev"), Value=url, Type="String")
    return Manifest.loads(content)


def _create_batch(synth: SynthOutput) -> dict[str, str]:
    """Moto resources for each synthesized queue and job definition; mock ARN → moto ARN."""
    batch, iam = _client("batch"), _client("iam")
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ce = batch.create_compute_environment(
        computeEnvironmentName="contract-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    arns: dict[str, str] = {}
    for queue in synth.result.of_type("aws:batch/jobQueue:JobQueue"):
        made = batch.create_job_queue(
            jobQueueName=queue.inputs["name"],
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
        )
        arns[f"arn:aws:batch:us-east-1:123456789012:{queue.name}"] = made["jobQueueArn"]
    for jobdef in synth.result.of_type("aws:batch/jobDefinition:JobDefinition"):
        made = batch.register_job_definition(
            jobDefinitionName=jobdef.inputs["name"],
            type="container",
            containerProperties=json.loads(jobdef.inputs["containerProperties"]),
        )
        arns[f"arn:aws:batch:us-east-1:123456789012:{jobdef.name}"] = made["jobDefinitionArn"]
    return arns


def _lambda_envs(synth: SynthOutput, base_env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each synthesized Lambda's environment, as ``aws_invoker.SubprocessLambda`` runs it."""
    return {
        r.inputs["name"]: {**base_env, **r.inputs["environment"]["variables"]}
        for r in synth.result.of_type("aws:lambda/function:Function")
    }


class RequestLog:
    """Counts AWS API calls made through one boto3 session (a botocore event hook)."""

    def __init__(self, session: Any) -> None:
        self.calls: list[str] = []
        self.submitted: list[dict[str, Any]] = []
        self.ready = threading.Event()
        session.events.register("before-call", self._before)
        session.events.register("after-call.batch.SubmitJob", self._after_submit)

    def _before(self, model: Any, params: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def _after_submit(self, parsed: Any, **_: Any) -> None:
        self.ready.set()

    def not_polling(self) -> list[str]:
        return [c for c in self.calls if c not in POLLING]


def _run_job(synth: SynthOutput, base_env: dict[str, str], job_id: str) -> None:
    """Run a submitted job the way Batch would: the job definition's environment plus the
    job's container overrides, every array child in turn."""
    (job,) = _client("batch").describe_jobs(jobs=[job_id])["jobs"]
    definition_name = job["jobDefinition"].rsplit("/", 1)[-1].split(":")[0]
    (jobdef,) = [
        r
        for r in synth.result.of_type("aws:batch/jobDefinition:JobDefinition")
        if r.inputs["name"] == definition_name
    ]
    props = json.loads(jobdef.inputs["containerProperties"])
    env = {e["name"]: e["value"] for e in props["environment"]}
    overrides = {e["name"]: e["value"] for e in job["container"]["environment"]}
    size = int((job.get("arrayProperties") or {}).get("size") or 1)
    command = [sys.executable, *props["command"][1:], "--tasks", f"0-{size - 1}"]
    done = subprocess.run(
        command, env={**os.environ, **base_env, **env, **overrides}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _invoker(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> tuple[aws_invoker.AwsInvoker, RequestLog]:
    session = boto3.session.Session(region_name="us-east-1")
    log = RequestLog(session)
    manifest = aws_invoker.read_manifest(APP, SETTINGS, session)
    transport = aws_invoker.SubprocessLambda(_lambda_envs(synth, base_env))
    fast = aws_invoker.Backoff(first=0.05, factor=1.5, most=0.5)
    return aws_invoker.AwsInvoker(manifest, session, lambda_transport=transport, backoff=fast), log


def _job_of(call_id: str) -> str:
    return call_id.rsplit("job=", 1)[-1]


# --------------------------------------------------------------------------- batch


def test_spawn_on_batch_round_trips_through_the_runtime(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    inv, _ = _invoker(deployed, synth, base_env)
    call_id = inv.spawn(Target(APP, "square"), (7,), {})
    with pytest.raises(FunctionTimeoutError):
        inv.get(call_id, timeout=0)
    _run_job(synth, base_env, _job_of(call_id))
    assert inv.get(call_id, timeout=30) == 49
    # Another process (a fresh invoker that knows only the id) reads the same result.
    assert aws_invoker.for_call(call_id).get(call_id, timeout=5) == 49


def test_remote_errors_are_raised_as_their_own_type(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    inv, _ = _invoker(deployed, synth, base_env)
    call_id = inv.spawn(Target(APP, "fail"), ("boom",), {})
    _run_job(synth, base_env, _job_of(call_id))
    with pytest.raises(ValueError, match="boom"):
        inv.get(call_id, timeout=30)


def test_generator_on_batch(deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]) -> None:
    inv, log = _invoker(deployed, synth, base_env)
    submitted: list[str] = []
    inv.batch.meta.events.register(
        "after-call.batch.SubmitJob", lambda parsed, **_: submitted.append(parsed["jobId"])
    )
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.extend(inv.call_gen(Target(APP, "count"), (4,), {})))
    worker.start()
    assert log.ready.wait(30)
    _run_job(synth, base_env, submitted[0])
    worker.join(60)
    assert results == [0, 1, 2, 3]


def test_a_10000_input_map_on_batch_costs_at_most_20_requests(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    inv, log = _invoker(deployed, synth, base_env)
    submitted: list[str] = []
    inv.batch.meta.events.register(
        "after-call.batch.SubmitJob", lambda parsed, **_: submitted.append(parsed["jobId"])
    )
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.extend(
            inv.map(
                Target(APP, "square"),
                (((i,), {}) for i in range(10_000)),
                order_outputs=True,
                return_exceptions=False,
                wrap_returned_exceptions=True,
            )
        )
    )
    worker.start()
    assert log.ready.wait(60)
    _run_job(synth, base_env, submitted[0])
    worker.join(120)
    assert results == [i * i for i in range(10_000)]
    spent = log.not_polling()
    # The manifest pointer, 16 staged chunks and one array job; results come from polling.
    assert Counter(spent) == {"GetParameter": 1, "PutObject": 16, "SubmitJob": 1}
    assert len(spent) <= 20


# --------------------------------------------------------------------------- lambda


def test_a_lambda_map_packs_its_inputs_into_chunk_size_invokes(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    inv, _ = _invoker(deployed, synth, base_env)
    out = list(
        inv.map(
            Target(APP, "add"),
            (((i,), {"b": 1}) for i in range(100)),
            order_outputs=True,
            return_exceptions=False,
            wrap_returned_exceptions=True,
        )
    )
    assert out == [i + 1 for i in range(100)]
    # 100 inputs spread over PARALLEL requests: 7 per invoke, 15 invokes (not one per input)
    per_invoke = inv.chunk_size(100)
    assert per_invoke == 7
    assert isinstance(inv.lambdas, aws_invoker.SubprocessLambda)
    assert inv.lambdas.invocations == math.ceil(100 / per_invoke) == 15


def test_cancel_on_batch_terminates_the_job_and_the_call_reads_as_cancelled(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    inv, log = _invoker(deployed, synth, base_env)
    call_id = inv.spawn(Target(APP, "square"), (3,), {})
    inv.cancel(call_id)
    assert log.calls.count("TerminateJob") == 1
    with pytest.raises(ExecutionError, match="cancelled"):
        aws_invoker.for_call(call_id).get(call_id, timeout=30)


def test_lambda_exports_the_named_secret(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    inv, _ = _invoker(deployed, synth, base_env)
    assert inv.call(Target(APP, "read_secret"), ("TOKEN",), {}) == "s3cr3t"


def test_function_url_event_reaches_the_fastapi_endpoint(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    envs = _lambda_envs(synth, base_env)
    (name,) = [n for n in envs if n.endswith("-echo")]
    event = {
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "x.lambda-url.us-east-1.on.aws"},
        "requestContext": {"http": {"method": "POST", "path": "/", "sourceIp": "203.0.113.1"}},
        "body": json.dumps({"a": 1}),
        "isBase64Encoded": False,
    }
    body = aws_invoker.SubprocessLambda(envs).invoke(
        name, None, json.dumps(event).encode(), asynchronous=False
    )
    response = json.loads(body)
    assert response["statusCode"] == 200
    assert json.loads(base64.b64decode(response["body"])) == {"echo": {"a": 1}}
    assert deployed.functions["echo"].web_url


def test_a_schedule_event_runs_the_function(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    envs = _lambda_envs(synth, base_env)
    (name,) = [n for n in envs if n.endswith("-tick")]
    body = aws_invoker.SubprocessLambda(envs).invoke(
        name, None, b'{"pcompile": "schedule"}', asynchronous=False
    )
    assert json.loads(body) == {"ok": True}
    (schedule,) = synth.result.of_type("aws:scheduler/schedule:Schedule")
    assert schedule.inputs["scheduleExpression"] == "rate(1 hour)"
    assert json.loads(schedule.inputs["target"]["input"]) == {"pcompile": "schedule"}


def test_volumes_sync_to_their_bucket_between_containers(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    inv, _ = _invoker(deployed, synth, base_env)
    assert inv.call(Target(APP, "write_file"), ("a.txt", "hello"), {}) == ["a.txt"]
    listed = _client("s3").list_objects_v2(Bucket=f"{APP}-vol-data-bucket")["Contents"]
    assert [o["Key"] for o in listed] == ["a.txt"]
    # A fresh container (another subprocess) sees the committed file.
    assert inv.call(Target(APP, "read_file"), ("a.txt",), {}) == "hello"


def test_from_stack_reads_the_manifest_through_ssm(deployed: Manifest) -> None:
    inv = aws_invoker.from_stack(APP, SETTINGS)
    assert inv.manifest == deployed
    assert inv.address(Target(APP, "square")).target == "batch"
    assert inv.web_url(Target(APP, "echo")) == deployed.functions["echo"].web_url
    with pytest.raises(aws_invoker.NotFoundError, match="not deployed on stack 'other'"):
        aws_invoker.from_stack(APP, StackSettings(name="other", cloud="aws", region="us-east-1"))


class FakeRuntimeApi:
    """The Lambda Runtime API on loopback: hands out queued events, records answers."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        import http.server

        self.events = list(events)
        self.answers: list[tuple[str, dict[str, Any]]] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's method name
                event = api.events.pop(0)
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{len(api.events)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers["Content-Length"])
                api.answers.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_lambda_mode_speaks_the_runtime_api(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    envs = _lambda_envs(synth, base_env)
    (name,) = [n for n in envs if n.endswith("-tick")]
    (fn,) = [r for r in synth.result.of_type("aws:lambda/function:Function") if r.inputs["name"] == name]
    entry = fn.inputs["imageConfig"]["entryPoints"]
    assert entry == ["python", "-m", "pcompile.runtime", "lambda"]
    api = FakeRuntimeApi([{"pcompile": "schedule"}, {"unexpected": 1}])
    try:
        env = {**os.environ, **envs[name], "AWS_LAMBDA_RUNTIME_API": api.address}
        command = [sys.executable, *entry[1:], "--max-events", "2"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    finally:
        api.close()
    assert done.returncode == 0, done.stderr[-2000:]
    (ok_path, ok), (error_path, error) = api.answers
    assert ok_path == "/2018-06-01/runtime/invocation/req-1/response" and ok == {"ok": True}
    assert error_path == "/2018-06-01/runtime/invocation/req-0/error" and error["errorType"] == "ValueError"


def test_lambda_spawn_map_fans_out_and_results_are_read_by_index(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    inv, _ = _invoker(deployed, synth, base_env)
    call_id = inv.spawn_map(Target(APP, "add"), (((i,), {"b": 100}) for i in range(40)))
    # one staged chunk of 40 inputs, one asynchronous invoke per task (40 tasks: at most
    # max_tasks, never more than the inputs)
    layout = aws_calls.Layout.plan("add", "c", 40, aws_invoker.DEFAULT_MAX_TASKS)
    assert (layout.chunks, layout.tasks) == (1, 40)
    assert isinstance(inv.lambdas, aws_invoker.SubprocessLambda) and inv.lambdas.invocations == layout.tasks
    reader = aws_invoker.for_call(call_id)
    assert [reader.get(call_id, timeout=30, index=i) for i in (0, 17, 39)] == [100, 117, 139]
    with pytest.raises(IndexError):
        reader.get(call_id, timeout=0, index=40)


def _staged_keys(synth: SynthOutput) -> list[str]:
    bucket = synth.result.named(f"{APP}-staging").name
    pages = _client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", ()))


def test_large_inputs_and_results_are_staged_under_the_functions_own_prefixes(
    deployed: Manifest, synth: SynthOutput, base_env: dict[str, str]
) -> None:
    inv, _ = _invoker(deployed, synth, base_env)
    text = "x" * (3 * 1024 * 1024)
    assert inv.call(Target(APP, "add"), (text,), {"b": "y"}) == text + "y"
    keys = _staged_keys(synth)
    for kind in (staging.INPUTS, staging.RESULTS):
        assert any(k.startswith(staging.blobs("add", kind) + "/") for k in keys), (kind, keys)


def test_every_staged_object_sits_under_its_functions_own_prefix(synth: SynthOutput) -> None:
    """Runs last: what the calls above left in staging follows the layout the roles are granted."""
    keys = [k for k in _staged_keys(synth) if k != MANIFEST_KEY]
    functions = {f.name for f in compile_file(FIXTURE).app().functions}
    assert [k for k in keys if k.endswith(".out")], keys
    for key in keys:
        root, function, kind, _ = key.split("/", 3)
        assert root == staging.ROOT and kind in staging.KINDS and function in functions, key
        if key.endswith(".out"):
            assert kind == staging.RESULTS, key
        if key.endswith(".in"):
            assert kind == staging.INPUTS, key
