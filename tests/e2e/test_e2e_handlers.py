"""The simulate engine covers every resource type the AWS programs emit, and refuses
what it cannot create instead of dropping it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from servers import IamMoto

from pcompile.compiler import compile_file
from pcompile.compiler.emit import emit_project
from pcompile.providers.settings import DeployInputs, StackSettings
from pcompile.providers.simulate import aws_resources as res
from pcompile.providers.synth import synthesize

REPO = Path(__file__).resolve().parents[2]
SETTINGS = StackSettings(name="sim", cloud="aws", region="us-east-1")
BOOTSTRAP_TYPES = {
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
}


def _emitted_types() -> set[str]:
    types: set[str] = set()
    files = [REPO / "examples" / n for n in ("gpu_mix.py", "hello_world.py", "gpu_web_services.py")]
    files += sorted((REPO / "tests" / "fixtures").glob("aws_*_app.py"))
    for path in files:
        program = compile_file(str(path))
        for app in program.apps:
            out = synthesize("aws", app, SETTINGS)
            types |= {r.type for r in out.result.resources if r.custom}
    return types


def test_every_emitted_aws_type_has_a_handler() -> None:
    types = _emitted_types() | BOOTSTRAP_TYPES
    assert len(types) >= 30 and "aws:secretsmanager/secretVersion:SecretVersion" in types
    missing = sorted(t for t in types if t not in res.HANDLERS)
    assert missing == []


@pytest.mark.parametrize("example", ["gpu_mix.py", "gpu_web_services.py"])
def test_every_input_the_program_sends_is_mapped(example: str) -> None:
    program = compile_file(str(REPO / "examples" / example))
    out = synthesize("aws", program.apps[0], SETTINGS)
    for resource in out.result.resources:
        if resource.custom:
            request = res.Request(resource.type, resource.name, resource.urn, resource.inputs)
            res.lookup(resource.type).check(request)  # raises Unmapped on an unknown input


def test_unknown_type_and_unknown_input_are_refused() -> None:
    with pytest.raises(res.Unmapped, match="aws:ecs/taskSet:TaskSet has no simulate handler"):
        res.lookup("aws:ecs/taskSet:TaskSet")
    request = res.Request(
        "aws:iam/role:Role", "r", "urn:x", {"assumeRolePolicy": "{}", "maxSessionDuration": 1}
    )
    with pytest.raises(res.Unmapped, match="maxSessionDuration"):
        res.lookup(request.type).check(request)


def test_conditional_deny_is_left_out_of_what_moto_stores() -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::b",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            },
        ],
    }
    text, omitted = res.emulator_policy(json.dumps(policy), "b")
    assert omitted == ["TlsOnly"]
    assert [s["Sid"] for s in json.loads(text)["Statement"]] == ["Read"]


def test_endpoint_url_configures_the_emitted_programs_provider(tmp_path: Path) -> None:
    program = compile_file(str(REPO / "examples" / "gpu_mix.py"))
    settings = StackSettings(name="ls", cloud="aws", region="us-east-1", endpoint_url="http://127.0.0.1:4566")
    out = emit_project(program, program.apps[0], settings, tmp_path, bundle_url="s3://b/bundles/x.tar")
    config = yaml.safe_load((out / "Pulumi.ls.yaml").read_text())["config"]
    (endpoints,) = config["aws:endpoints"]
    assert {endpoints[s] for s in ("lambda", "s3", "batch", "iam", "sts")} == {"http://127.0.0.1:4566"}
    assert config["aws:skipCredentialsValidation"] is True and config["aws:s3UsePathStyle"] is True
    inputs = DeployInputs.from_json(json.loads((out / "deploy.json").read_text()))
    assert inputs.bundle_url == "s3://b/bundles/x.tar"  # what the AWS program reads


def test_a_lambda_on_an_image_missing_from_the_emulators_ecr_is_refused(
    moto: str, iam_moto: IamMoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    for name, value in iam_moto.deployer.env().items():
        monkeypatch.setenv(name, value)
    emulator = res.Emulator(moto, "us-east-1")
    iam = emulator.client("iam")
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    role = iam.create_role(RoleName="img-check", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    emulator.client("ecr").create_repository(repositoryName="pcompile/img")
    uri = f"{emulator.account()}.dkr.ecr.us-east-1.amazonaws.com/pcompile/img:pc-missing"
    inputs = {"name": "img-check", "packageType": "Image", "imageUri": uri, "role": role}
    request = res.Request("aws:lambda/function:Function", "img-check-fn", "urn:img", inputs)
    with pytest.raises(ClientError, match="Source image .*pc-missing does not exist"):
        res.lookup(request.type).create(emulator, request)
    assert emulator.client("lambda").list_functions()["Functions"] == []
