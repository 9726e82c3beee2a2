"""Put into moto exactly what the AWS program emits for an app, so the simulated compute
service has real definitions to run (a stand-in for the ``engine: simulate`` deploy).

The resources come from the real program (``providers.synth.synthesize``), with the
real code bundle uploaded to moto's S3 and named in the program's settings; mock
ARNs in the program's values are replaced by the ARNs moto answers with.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from pcompile.compiler import compile_file
from pcompile.compiler.bundle import build_bundle
from pcompile.compiler.ir import AppSpec
from pcompile.providers.aws.program import manifest_parameter
from pcompile.providers.settings import DeployInputs, StackSettings
from pcompile.providers.simulate.images import image_manifest, split_ref
from pcompile.providers.synth import MOCK_ACCOUNT, SynthOutput, synthesize

REGION = "us-east-1"
ARTIFACTS = "sim-artifacts"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


def client(endpoint: str, service: str) -> Any:
    """A boto3 client of moto."""
    session = boto3.session.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return session.client(service, endpoint_url=endpoint)


def mock_arn(service: str, logical: str) -> str:
    """The ARN the mock engine gives resource ``logical`` (``providers.synth._fake_outputs``)."""
    return f"arn:aws:{service}:{REGION}:{MOCK_ACCOUNT}:{logical}"


@dataclass
class Deployed:
    """What :func:`deploy` made: the app, its synthesized program, and moto's ARNs."""

    app: AppSpec
    synth: SynthOutput
    arns: dict[str, str]  # mock ARN -> moto ARN
    settings: StackSettings

    def real(self, text: str) -> str:
        """``text`` with every mock ARN replaced by moto's."""
        for mock in sorted(self.arns, key=len, reverse=True):
            text = text.replace(mock, self.arns[mock])
        return text

    def resource(self, type_token: str, logical: str) -> Any:
        """The synthesized resource ``logical`` of ``type_token``."""
        (found,) = [r for r in self.synth.result.of_type(type_token) if r.name == logical]
        return found


def copy_app(fixture: Path, folder: Path) -> Path:
    """A copy of the fixture app in ``folder`` (so the test can move the source away)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(fixture, folder / fixture.name))


def deploy(source: Path, endpoint: str, stack: str) -> Deployed:
    """Compile ``source``, upload its code bundle and create the program's resources in moto."""
    app = compile_file(source).app()
    bundle = build_bundle(app, source.parent)
    s3 = client(endpoint, "s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    s3.put_object(Bucket=ARTIFACTS, Key=bundle.key, Body=bundle.data)
    inputs = DeployInputs(bundle_url=f"s3://{ARTIFACTS}/{bundle.key}#sha256={bundle.sha256}")
    program = StackSettings(name=stack, cloud="aws", region=REGION)
    synth = synthesize("aws", app, program, inputs)
    settings = StackSettings(name=stack, cloud="aws", region=REGION, engine="simulate", endpoint_url=endpoint)
    made = Deployed(app, synth, {}, settings)
    for bucket in synth.result.of_type("aws:s3/bucket:Bucket"):
        s3.create_bucket(Bucket=bucket.name)  # the mock engine names buckets by logical name
    _roles(made, endpoint)
    _images(made, endpoint)
    _batch(made, endpoint)
    _lambdas(made, endpoint)
    _schedules(made, endpoint)
    _manifest(made, endpoint, stack)
    return made


def _images(made: Deployed, endpoint: str) -> None:
    """Put each image the program names into moto's ECR, as a simulate deploy pushes it (the
    simulated Batch pulls a job's image with its execution role)."""
    ecr = client(endpoint, "ecr")
    refs = {
        j.inputs["containerProperties"]
        for j in made.synth.result.of_type("aws:batch/jobDefinition:JobDefinition")
    }
    uris = {json.loads(props)["image"] for props in refs}
    uris |= {f.inputs["imageUri"] for f in made.synth.result.of_type("aws:lambda/function:Function")}
    for uri in sorted(uris):
        repo, tag = split_ref(uri)
        try:
            ecr.create_repository(repositoryName=repo)
        except ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        ecr.put_image(repositoryName=repo, imageManifest=image_manifest(tag), imageTag=tag)


def _roles(made: Deployed, endpoint: str) -> None:
    iam = client(endpoint, "iam")
    for role in made.synth.result.of_type("aws:iam/role:Role"):
        arn = iam.create_role(
            RoleName=role.name[:64], AssumeRolePolicyDocument=role.inputs["assumeRolePolicy"]
        )
        made.arns[mock_arn("iam", role.name)] = arn["Role"]["Arn"]


def _batch(made: Deployed, endpoint: str) -> None:
    batch = client(endpoint, "batch")
    service_role = next(iter(made.arns.values()))
    for env in made.synth.result.of_type("aws:batch/computeEnvironment:ComputeEnvironment"):
        arn = batch.create_compute_environment(
            computeEnvironmentName=env.name, type="UNMANAGED", state="ENABLED", serviceRole=service_role
        )["computeEnvironmentArn"]
        made.arns[mock_arn("batch", env.name)] = arn
    for queue in made.synth.result.of_type("aws:batch/jobQueue:JobQueue"):
        orders = [
            {"order": int(o["order"]), "computeEnvironment": made.real(o["computeEnvironment"])}
            for o in queue.inputs["computeEnvironmentOrders"]
        ]
        arn = batch.create_job_queue(
            jobQueueName=queue.inputs["name"],
            state=queue.inputs["state"],
            priority=int(queue.inputs["priority"]),
            computeEnvironmentOrder=orders,
        )["jobQueueArn"]
        made.arns[mock_arn("batch", queue.name)] = arn
    for jobdef in made.synth.result.of_type("aws:batch/jobDefinition:JobDefinition"):
        inputs = jobdef.inputs
        arn = batch.register_job_definition(
            jobDefinitionName=inputs["name"],
            type=inputs["type"],
            containerProperties=json.loads(made.real(inputs["containerProperties"])),
            retryStrategy={"attempts": int(inputs["retryStrategy"]["attempts"])},
            timeout={"attemptDurationSeconds": int(inputs["timeout"]["attemptDurationSeconds"])},
            platformCapabilities=inputs["platformCapabilities"],
        )["jobDefinitionArn"]
        made.arns[mock_arn("batch", jobdef.name)] = arn


def _lambdas(made: Deployed, endpoint: str) -> None:
    lam = client(endpoint, "lambda")
    for fn in made.synth.result.of_type("aws:lambda/function:Function"):
        inputs = fn.inputs
        variables = {k: made.real(v) for k, v in inputs["environment"]["variables"].items()}
        answer = lam.create_function(
            FunctionName=inputs["name"],
            PackageType=inputs["packageType"],
            Code={"ImageUri": inputs["imageUri"]},
            Role=made.real(inputs["role"]),
            ImageConfig={"EntryPoint": inputs["imageConfig"]["entryPoints"]},
            Environment={"Variables": variables},
            Timeout=int(inputs["timeout"]),
            MemorySize=int(inputs["memorySize"]),
        )
        made.arns[mock_arn("lambda", fn.name)] = answer["FunctionArn"]
    for url in made.synth.result.of_type("aws:lambda/functionUrl:FunctionUrl"):
        lam.create_function_url_config(
            FunctionName=url.inputs["functionName"], AuthType=url.inputs["authorizationType"]
        )


def _schedules(made: Deployed, endpoint: str) -> None:
    scheduler = client(endpoint, "scheduler")
    for schedule in made.synth.result.of_type("aws:scheduler/schedule:Schedule"):
        target = schedule.inputs["target"]
        scheduler.create_schedule(
            Name=schedule.name,
            ScheduleExpression=schedule.inputs["scheduleExpression"],
            FlexibleTimeWindow={"Mode": schedule.inputs["flexibleTimeWindow"]["mode"]},
            Target={
                "Arn": made.real(target["arn"]),
                "RoleArn": made.real(target["roleArn"]),
                "Input": made.real(target["input"]),
            },
        )


def _manifest(made: Deployed, endpoint: str, stack: str) -> None:
    (obj,) = made.synth.result.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    bucket = obj.inputs["bucket"]
    client(endpoint, "s3").put_object(
        Bucket=bucket, Key=obj.inputs["key"], Body=made.real(obj.inputs["content"])
    )
    client(endpoint, "ssm").put_parameter(
        Name=manifest_parameter(made.app.name, stack),
        Value=f"s3://{bucket}/{obj.inputs['key']}",
        Type="String",
    )


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (zombies excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def environ_for(environment: dict[str, str]) -> dict[str, str]:
    """A subprocess environment with moto credentials and ``environment``'s endpoints."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**base, **CREDS, **environment}
