"""``pcompile bootstrap`` + ``pcompile deploy --stack <simulate stack>`` against moto: the
emitted program's resources exist in the emulator with the fields the runtime needs, a
second deploy updates them in place, and destroy removes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_kit import Project, aws

LAMBDA = "aws:lambda/function:Function"
JOBDEF = "aws:batch/jobDefinition:JobDefinition"
PROVISIONED = "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
SECRET = "aws:secretsmanager/secret:Secret"


@pytest.fixture(scope="module")
def deployed(moto: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, Any]]]:
    project = Project(tmp_path_factory.mktemp("e2e"), moto)
    with project.compute_stopped():
        boot = project.pcompile("bootstrap", "--stack", "sim", "--json")
        assert boot.code == 0, boot.stderr
        run = project.pcompile("deploy", "app.py", "--stack", "sim", "--yes", "--json")
        assert run.code == 0, run.stderr
        yield project, run.json()


def _lambda(moto: str, name: str) -> dict[str, Any]:
    return dict(aws(moto, "lambda").get_function(FunctionName=name))


def test_bootstrap_creates_the_staging_bucket_in_the_emulator(
    deployed: tuple[Project, dict[str, Any]], moto: str
) -> None:
    project, report = deployed
    bucket = report["bundle"].removeprefix("s3://").split("/", 1)[0]
    names = [b["Name"] for b in aws(moto, "s3").list_buckets()["Buckets"]]
    assert bucket in names
    # the bundle deploy uploaded is the object the functions are told to fetch
    key = report["bundle"].removeprefix(f"s3://{bucket}/")
    assert aws(moto, "s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 0


def test_lambda_functions_carry_image_bundle_role_and_limits(
    deployed: tuple[Project, dict[str, Any]], moto: str
) -> None:
    project, report = deployed
    (ref,) = report["image_tags"].values()
    assert report["images_built"] == [ref] and report["bundle_uploaded"] is True
    fn = _lambda(moto, "e2e-mix-sim-hello")
    config = fn["Configuration"]
    assert fn["Code"]["ImageUri"] == ref
    env = config["Environment"]["Variables"]
    assert env["PCOMPILE_CODE_BUNDLE"] == report["bundle"]
    assert env["PCOMPILE_FUNCTION"] == "hello"
    assert env["AWS_ENDPOINT_URL"] == moto
    assert config["Timeout"] == 300 and config["PackageType"] == "Image"
    role = config["Role"].rsplit("/", 1)[1]
    policy_names = aws(moto, "iam").list_role_policies(RoleName=role)["PolicyNames"]
    (policy_name,) = policy_names
    document = aws(moto, "iam").get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    text = json.dumps(document)
    assert report["bundle"].removeprefix("s3://") in text  # s3:GetObject on exactly this bundle
    secret_arn = json.loads(env["PCOMPILE_SECRETS"])
    (arn,) = secret_arn.values()
    value = aws(moto, "secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    assert json.loads(value) == {"E2E_TOKEN": "tok-123"}
    # the state never holds the secret value in plain text
    assert "tok-123" not in json.dumps(project.state())


def test_batch_gpu_function_is_a_job_definition_on_a_gpu_queue(
    deployed: tuple[Project, dict[str, Any]], moto: str
) -> None:
    project, report = deployed
    (ref,) = report["image_tags"].values()
    batch = aws(moto, "batch")
    (jobdef,) = batch.describe_job_definitions(jobDefinitionName="e2e-mix-sim-gpu-double", status="ACTIVE")[
        "jobDefinitions"
    ]
    props = jobdef["containerProperties"]
    assert props["image"] == ref
    assert {"type": "GPU", "value": "1"} in props["resourceRequirements"]
    env = {e["name"]: e["value"] for e in props["environment"]}
    assert env["PCOMPILE_CODE_BUNDLE"] == report["bundle"]
    queues = batch.describe_job_queues()["jobQueues"]
    envs = {
        c["computeEnvironmentArn"]: c for c in batch.describe_compute_environments()["computeEnvironments"]
    }
    (queue,) = [q for q in queues if "t4" in q["jobQueueName"]]
    (order,) = queue["computeEnvironmentOrder"]
    types = envs[order["computeEnvironment"]]["computeResources"]["instanceTypes"]
    assert types and all(t.startswith("g4dn.") for t in types)


def test_schedule_web_url_and_manifest(deployed: tuple[Project, dict[str, Any]], moto: str) -> None:
    project, report = deployed
    schedules = aws(moto, "scheduler").list_schedules()["Schedules"]
    (tick,) = [s for s in schedules if "tick" in s["Name"]]
    target = aws(moto, "scheduler").get_schedule(Name=tick["Name"])["Target"]
    assert target["Arn"] == _lambda(moto, "e2e-mix-sim-tick")["Configuration"]["FunctionArn"]
    assert set(report["endpoints"]) == {"echo"}
    url = aws(moto, "lambda").get_function_url_config(FunctionName="e2e-mix-sim-echo")
    assert url["AuthType"] == "NONE"
    pointer = aws(moto, "ssm").get_parameter(Name="/pcompile/sim/e2e-mix/manifest")["Parameter"]["Value"]
    bucket, key = pointer.removeprefix("s3://").split("/", 1)
    manifest = json.loads(aws(moto, "s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert manifest["code_bundle"] == report["bundle"]
    assert manifest["functions"]["echo"]["web_url"] == report["endpoints"]["echo"]
    assert manifest["functions"]["gpu_double"]["target"] == "batch"


def test_state_file_matches_the_emulator(deployed: tuple[Project, dict[str, Any]], moto: str) -> None:
    project, report = deployed
    state = project.state()
    assert state["endpoint_url"] == moto
    assert report["changes"] == {"create": len(state["resources"])}
    in_state = {e["id"] for e in project.state_of(LAMBDA)}
    in_moto = {f["FunctionName"] for f in aws(moto, "lambda").list_functions()["Functions"]}
    assert in_state == in_moto
    # moto has no PutProvisionedConcurrencyConfig: recorded as a pass-through, not dropped
    (warm,) = project.state_of(PROVISIONED)
    assert "PutProvisionedConcurrencyConfig" in warm["pass_through"]
    path = project.root / ".pcompile" / "simulate" / "sim" / "pcompile-e2e-mix.json"
    assert path.read_text() == json.dumps(state, indent=2, sort_keys=True) + "\n"


@pytest.mark.timeout(900)
def test_second_deploy_updates_in_place_then_destroy_removes_everything(
    deployed: tuple[Project, dict[str, Any]], moto: str
) -> None:
    project, first = deployed
    same = project.pcompile("deploy", "app.py", "--stack", "sim", "--yes", "--json")
    assert same.code == 0, same.stderr
    assert same.json()["changes"] == {"same": first["changes"]["create"]}
    assert same.json()["bundle_uploaded"] is False

    app = project.root / "app.py"
    app.write_text(app.read_text().replace('return "hello " + name', 'return "hi " + name'))
    arn_before = _lambda(moto, "e2e-mix-sim-hello")["Configuration"]["FunctionArn"]
    preview = project.pcompile("deploy", "app.py", "--stack", "sim", "--preview", "--json")
    assert preview.code == 0, preview.stderr
    assert preview.json()["changes"]["update"] >= 3 and "create" not in preview.json()["changes"]
    variables = _lambda(moto, "e2e-mix-sim-hello")["Configuration"]["Environment"]["Variables"]
    assert variables["PCOMPILE_CODE_BUNDLE"] == first["bundle"]  # a preview changes nothing
    run = project.pcompile("deploy", "app.py", "--stack", "sim", "--yes", "--json")
    assert run.code == 0, run.stderr
    second = run.json()
    assert second["images_built"] == [] and second["bundle_uploaded"] is True
    assert second["bundle"] != first["bundle"]
    assert "create" not in second["changes"] and second["changes"]["update"] >= 3
    config = _lambda(moto, "e2e-mix-sim-hello")["Configuration"]
    assert config["FunctionArn"] == arn_before  # updated in place, not replaced
    assert config["Environment"]["Variables"]["PCOMPILE_CODE_BUNDLE"] == second["bundle"]
    batch = aws(moto, "batch")
    revisions = batch.describe_job_definitions(jobDefinitionName="e2e-mix-sim-gpu-double")["jobDefinitions"]
    assert sorted((j["revision"], j["status"]) for j in revisions) == [(1, "INACTIVE"), (2, "ACTIVE")]

    secrets = sorted(e["inputs"]["name"] for e in project.state_of(SECRET))
    assert secrets  # the app's Secret.from_dict
    gone = project.pcompile("destroy", "--stack", "sim", "--yes")
    assert gone.code == 0, gone.stderr
    # A redeploy creates the same secret names again: none may linger in a recovery window.
    manager = aws(moto, "secretsmanager")
    for name in secrets:
        manager.create_secret(Name=name, SecretString="{}")
        manager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert project.state()["resources"] == {}
    assert aws(moto, "lambda").list_functions()["Functions"] == []
    assert [q for q in batch.describe_job_queues()["jobQueues"] if q["status"] != "DELETED"] == []
    remaining = {b["Name"] for b in aws(moto, "s3").list_buckets()["Buckets"]}
    assert remaining == {first["bundle"].removeprefix("s3://").split("/", 1)[0]}  # bootstrap's stays
