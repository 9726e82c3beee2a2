"""The simulated compute service against moto, called through the production AWS invoker.

moto holds what the real AWS program emits for ``tests/fixtures/sim_compute_app.py``
(``sim_kit.deploy``: the synthesized resources, the real code bundle in S3); the
app's source is then removed, so code reaches the runtime only through the bundle.
The invoker (``providers.aws.invoker.from_stack`` on an ``engine: simulate`` stack)
starts the service on first use and reaches it through boto3's per-service
endpoints; the service runs ``python -m pcompile.runtime lambda|batch`` from what
moto holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import moto_server
from sim_kit import Deployed, client, copy_app, deploy, environ_for, group_members

from pcompile.providers.aws import invoker as aws_invoker
from pcompile.providers.invoker import Target
from pcompile.providers.settings import StackSettings
from pcompile.providers.simulate import compute
from pcompile.providers.simulate.compute_images import SimulatedImages, read_images
from pcompile.runtime.aws_calls import Layout

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "sim_compute_app.py"
APP = "sim-compute"
STACK = "sim"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server(no_docker=True) as url:
        yield url


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The project folder (``.pcompile/`` lives here) as the working directory."""
    root = tmp_path_factory.mktemp("sim-project")
    previous = os.getcwd()
    os.chdir(root)
    yield root
    os.chdir(previous)


@pytest.fixture(scope="module")
def deployed(moto: str, project: Path) -> Deployed:
    """The app's resources in moto, its image published as a local environment, its source gone."""
    client(moto, "secretsmanager").create_secret(
        Name="sim-compute-secret", SecretString='{"TOKEN": "s3cr3t"}'
    )
    source = copy_app(FIXTURE, project / "src")
    made = deploy(source, moto, STACK)
    publisher = SimulatedImages(compute.state_dir(project, STACK), made.app)
    for image in made.app.images:
        (fn,) = made.synth.result.of_type("aws:lambda/function:Function")[:1]
        publisher.publish(image, fn.inputs["imageUri"], source.parent)
    shutil.rmtree(source.parent)
    return made


@pytest.fixture(scope="module")
def invoker(deployed: Deployed, project: Path) -> Iterator[aws_invoker.AwsInvoker]:
    """The production invoker of the simulate stack (starts the compute service)."""
    inv = aws_invoker.from_stack(APP, deployed.settings)
    inv.backoff = aws_invoker.Backoff(first=0.05, factor=1.5, most=0.5)
    yield inv
    compute.stop_service(project, STACK)


def _service_pid(project: Path) -> int:
    record = compute.read_record(project, STACK)
    assert record is not None
    return int(record["pid"])


# --------------------------------------------------------------------------- lambda


def test_remote_on_lambda_runs_the_runtime_from_what_moto_holds(
    invoker: aws_invoker.AwsInvoker, deployed: Deployed, project: Path
) -> None:
    assert invoker.call(Target(APP, "add"), (2, 3), {}) == 5
    seen = invoker.call(Target(APP, "where"), (), {})
    # the code came from the bundle in S3 (the source folder is gone), in the image's environment
    assert "/pcompile-code/" in seen["module"] and not seen["module"].startswith(str(project))
    assert seen["function"] == "sim-compute-sim-where"
    (image,) = deployed.app.images
    assert seen["image"] == image.id
    assert seen["python"] == next(iter(read_images(compute.state_dir(project, STACK)).values()))["python"]
    # the invoker's Lambda client reached the service through its per-service endpoint
    assert invoker.lambdas.client.meta.endpoint_url.startswith("http://127.0.0.1:")  # type: ignore[attr-defined]
    assert invoker.lambdas.client.meta.endpoint_url != deployed.settings.endpoint_url  # type: ignore[attr-defined]


def test_remote_errors_keep_their_type_and_secrets_come_from_secrets_manager(
    invoker: aws_invoker.AwsInvoker,
) -> None:
    with pytest.raises(ValueError, match="boom"):
        invoker.call(Target(APP, "fail"), ("boom",), {})
    assert invoker.call(Target(APP, "read_secret"), ("TOKEN",), {}) == "s3cr3t"


def test_a_changed_function_configuration_takes_effect_at_the_next_call(
    invoker: aws_invoker.AwsInvoker, deployed: Deployed
) -> None:
    lam = client(deployed.settings.endpoint_url or "", "lambda")
    name = "sim-compute-sim-read-secret"
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    assert invoker.call(Target(APP, "read_secret"), ("TOKEN",), {}) == "s3cr3t"  # warm
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**variables, "MARK": "v2"}}
    )
    assert invoker.call(Target(APP, "read_secret"), ("MARK",), {}) == "v2"


def test_an_invocation_past_the_function_timeout_is_stopped(
    invoker: aws_invoker.AwsInvoker, deployed: Deployed
) -> None:
    lam = client(deployed.settings.endpoint_url or "", "lambda")
    lam.update_function_configuration(FunctionName="sim-compute-sim-nap", Timeout=2)
    with pytest.raises(aws_invoker.InvokeError, match="Task timed out after 2.00 seconds"):
        invoker.call(Target(APP, "nap"), (120,), {})
    assert invoker.call(Target(APP, "nap"), (0,), {}) == 0  # a fresh environment replaces the stopped one


def test_a_1000_input_map_on_lambda_returns_every_output_in_order(invoker: aws_invoker.AwsInvoker) -> None:
    inputs = [((i,), {"b": 1}) for i in range(1000)]
    outputs = list(
        invoker.map(
            Target(APP, "add"),
            inputs,
            order_outputs=True,
            return_exceptions=False,
            wrap_returned_exceptions=True,
        )
    )
    assert outputs == [i + 1 for i in range(1000)]


def test_spawn_on_lambda_is_read_by_another_process(
    invoker: aws_invoker.AwsInvoker, deployed: Deployed, project: Path
) -> None:
    call_id = invoker.spawn(Target(APP, "add"), (20, 22), {})
    assert _get_elsewhere(call_id, compute.client_environment(project, deployed.settings)) == 42


def _get_elsewhere(call_id: str, environment: dict[str, str]) -> Any:
    script = "import sys, pcompile; print(pcompile.FunctionCall.from_id(sys.argv[1]).get(timeout=120))"
    done = subprocess.run(
        [sys.executable, "-c", script, call_id],
        env=environ_for(environment),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.strip())


# --------------------------------------------------------------------------- batch


def test_remote_on_batch_and_an_array_map(
    invoker: aws_invoker.AwsInvoker, deployed: Deployed, project: Path
) -> None:
    assert invoker.call(Target(APP, "square"), (7,), {}) == 49
    submitted: list[str] = []
    invoker.batch.meta.events.register(
        "after-call.batch.SubmitJob",
        lambda parsed, **_: submitted.extend([parsed["jobId"]] if "jobId" in parsed else []),
    )
    inputs = [((i,), {}) for i in range(40)]
    outputs = list(
        invoker.map(
            Target(APP, "square"),
            inputs,
            order_outputs=True,
            return_exceptions=False,
            wrap_returned_exceptions=True,
        )
    )
    assert outputs == [i * i for i in range(40)]
    job = _settled(invoker, submitted[0])
    assert job["status"] == "SUCCEEDED"
    tasks = Layout.plan(
        "square", "-", 40, int(invoker.manifest.functions["square"].addresses["max_tasks"])
    ).tasks
    assert job["arrayProperties"] == {"size": tasks, "statusSummary": {"SUCCEEDED": tasks}}
    (child,) = invoker.batch.describe_jobs(jobs=[f"{submitted[0]}:3"])["jobs"]
    assert child["arrayProperties"] == {"index": 3} and child["container"]["exitCode"] == 0
    # the job ran the job definition from moto: its image, command and environment
    definition = client(deployed.settings.endpoint_url or "", "batch").describe_job_definitions(
        jobDefinitions=[job["jobDefinition"]]
    )["jobDefinitions"][0]
    assert child["container"]["command"] == definition["containerProperties"]["command"]
    assert child["container"]["image"] == definition["containerProperties"]["image"]


def deployed_max_tasks(invoker: aws_invoker.AwsInvoker) -> str:
    return invoker.manifest.functions["square"].addresses["max_tasks"]


def _settled(invoker: aws_invoker.AwsInvoker, job_id: str) -> dict[str, Any]:
    """The job once it is SUCCEEDED or FAILED (results can be read while children exit)."""
    for _ in range(600):
        (job,) = invoker.batch.describe_jobs(jobs=[job_id])["jobs"]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is still {job['status']}")


def test_spawn_on_batch_is_read_by_another_process(
    invoker: aws_invoker.AwsInvoker, deployed: Deployed, project: Path
) -> None:
    call_id = invoker.spawn(Target(APP, "square"), (12,), {})
    assert "job=" in call_id
    assert _get_elsewhere(call_id, compute.client_environment(project, deployed.settings)) == 144


def test_list_and_terminate_jobs(invoker: aws_invoker.AwsInvoker, deployed: Deployed) -> None:
    (queue,) = deployed.synth.result.of_type("aws:batch/jobQueue:JobQueue")
    (jobdef,) = [
        j
        for j in deployed.synth.result.of_type("aws:batch/jobDefinition:JobDefinition")
        if "square" in j.name
    ]
    job_id = invoker.batch.submit_job(
        jobName="sleeper",
        jobQueue=queue.inputs["name"],
        jobDefinition=jobdef.inputs["name"],
        containerOverrides={"command": ["python", "-c", "import time; time.sleep(120)"]},
    )["jobId"]
    for _ in range(200):
        running = invoker.batch.list_jobs(jobQueue=queue.inputs["name"], jobStatus="RUNNING")[
            "jobSummaryList"
        ]
        if any(j["jobId"] == job_id for j in running):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the job never ran")
    invoker.batch.terminate_job(jobId=job_id, reason="stop it")
    for _ in range(200):
        (job,) = invoker.batch.describe_jobs(jobs=[job_id])["jobs"]
        if job["status"] == "FAILED":
            break
        time.sleep(0.05)
    assert job["status"] == "FAILED" and job["statusReason"] == "stop it"
    with pytest.raises(invoker.batch.exceptions.ClientException, match="does not exist"):
        invoker.batch.submit_job(jobName="x", jobQueue="no-such-queue", jobDefinition=jobdef.inputs["name"])
    with pytest.raises(invoker.batch.exceptions.ClientException, match="between 2 and 10000"):
        invoker.batch.submit_job(
            jobName="x",
            jobQueue=queue.inputs["name"],
            jobDefinition=jobdef.inputs["name"],
            arrayProperties={"size": 1},
        )


# --------------------------------------------------------------------------- web and schedules


def test_a_function_url_answers_over_http(
    invoker: aws_invoker.AwsInvoker, deployed: Deployed, project: Path
) -> None:
    url = compute.function_url(project, deployed.settings, "sim-compute-sim-echo")
    assert url.startswith("http://127.0.0.1:")
    answer = httpx.post(url, json={"a": 1}, timeout=120)
    assert answer.status_code == 200 and answer.json() == {"echo": {"a": 1}}
    # an AWS_IAM Function URL refuses unsigned requests, as AWS does
    private = compute.function_url(project, deployed.settings, "sim-compute-sim-add")
    assert httpx.get(private, timeout=30).status_code == 403


@pytest.mark.parametrize(("schedule", "written"), [("tick", "tick.txt"), ("gpu-tick", "gpu-tick.txt")])
def test_a_schedule_fires_on_demand_and_its_function_runs(
    invoker: aws_invoker.AwsInvoker, deployed: Deployed, project: Path, schedule: str, written: str
) -> None:
    fired = compute.fire_schedule(project, deployed.settings, f"sim-compute-schedule-{schedule}-schedule")
    assert fired["status"] == "SUCCEEDED", fired
    (volume,) = [b.name for b in deployed.synth.result.of_type("aws:s3/bucket:Bucket") if "vol" in b.name]
    body = (
        client(deployed.settings.endpoint_url or "", "s3")
        .get_object(Bucket=volume, Key=written)["Body"]
        .read()
    )
    assert body.decode().splitlines()[-1] == written.removesuffix(".txt")
    with pytest.raises(compute.ComputeError, match="does not exist"):
        compute.fire_schedule(project, deployed.settings, "no-such-schedule")


def test_the_command_line_fires_a_schedule(
    invoker: aws_invoker.AwsInvoker, deployed: Deployed, project: Path
) -> None:
    (project / "stacks").mkdir(exist_ok=True)
    (project / "stacks" / "sim.yaml").write_text("cloud: aws\nregion: us-east-1\n")
    command = [sys.executable, "-m", "pcompile.providers.simulate.compute", "fire-schedule"]
    endpoint = ["--stack", STACK, "--endpoint-url", deployed.settings.endpoint_url or ""]
    done = subprocess.run(
        [*command, "sim-compute-schedule-tick-schedule", *endpoint],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "SUCCEEDED"
    missing = subprocess.run([*command, "nope", *endpoint], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "Schedule default/nope does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_invoking_a_function_moto_does_not_hold_is_resource_not_found(
    invoker: aws_invoker.AwsInvoker,
) -> None:
    lambdas = invoker.lambdas.client  # type: ignore[attr-defined]
    with pytest.raises(lambdas.exceptions.ResourceNotFoundException, match="nope"):
        lambdas.invoke(FunctionName="nope", Payload=b"{}")
    # asynchronous payloads are capped at 256 KB, as on Lambda
    big = json.dumps({"pad": "x" * 300_000}).encode()
    with pytest.raises(lambdas.exceptions.RequestTooLargeException):
        lambdas.invoke(FunctionName="sim-compute-sim-add", InvocationType="Event", Payload=big)


# --------------------------------------------------------------------------- life cycle


def test_stopping_the_process_group_leaves_no_process(invoker: aws_invoker.AwsInvoker, project: Path) -> None:
    pid = _service_pid(project)
    assert len(group_members(pid)) > 1  # the service and its warm runtimes
    record = compute.state_dir(project, STACK) / "compute.json"
    assert record.stat().st_mode & 0o777 == 0o600
    assert (
        json.loads(record.read_text())["endpoint_url"] == compute.read_record(project, STACK)["endpoint_url"]
    )  # type: ignore[index]
    assert compute.stop_service(project, STACK)
    for _ in range(100):
        if not group_members(pid):
            break
        time.sleep(0.05)
    assert group_members(pid) == []
    assert not record.exists()


def test_the_service_exits_by_itself_when_idle(moto: str, project: Path) -> None:
    settings = StackSettings(
        name="idle", cloud="aws", region="us-east-1", engine="simulate", endpoint_url=moto
    )
    record = compute.ensure_service(project, settings, idle_seconds=1)
    assert compute.ensure_service(project, settings)["pid"] == record["pid"]  # reused while it answers
    for _ in range(300):
        if not group_members(int(record["pid"])):
            break
        time.sleep(0.05)
    assert group_members(int(record["pid"])) == []
    assert compute.read_record(project, "idle") is None


def test_a_simulate_stack_without_endpoint_url_is_refused(project: Path) -> None:
    settings = StackSettings(name="bad", cloud="aws", engine="simulate")
    with pytest.raises(compute.ComputeError, match="endpoint_url"):
        compute.client_environment(project, settings)
