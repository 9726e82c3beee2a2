"""Every physical name in the synthesized programs of both clouds fits its service's limit, for
app, function, volume, secret and stack names as long as Modal and stack files allow (issue 19,
item 4).

Modal allows object and app names shorter than 64 characters (letters, digits, ``-._``);
function names are Python identifiers (taken to the same 63); stack names follow
``stacks/schema.json`` (63). A resource that sets no name gets Pulumi's auto-name, its
logical name plus 8 characters, and is measured that way.
"""

from __future__ import annotations

import re
import string
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pcompile.compiler.ir import (
    AppSpec,
    CronSchedule,
    FunctionSpec,
    GpuSpec,
    ImageSpec,
    ImageStep,
    PeriodSchedule,
    SecretSpec,
    Source,
    VolumeSpec,
)
from pcompile.providers.settings import StackSettings
from pcompile.providers.synth import SynthResult, synthesize

AUTO_SUFFIX = 8
S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
GCP_ACCOUNT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
GCP_BUCKET = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$")

# type → (name input, limit, pattern or None). Sources: each service's API reference.
NAMED: dict[str, tuple[str, int, re.Pattern[str] | None]] = {
    "aws:iam/role:Role": ("name", 64, None),
    "aws:iam/rolePolicy:RolePolicy": ("name", 128, None),
    "aws:iam/instanceProfile:InstanceProfile": ("name", 128, None),
    "aws:s3/bucket:Bucket": ("bucket", 63, S3_BUCKET),
    "aws:scheduler/schedule:Schedule": ("name", 64, None),
    "aws:batch/computeEnvironment:ComputeEnvironment": ("name", 128, None),
    "aws:batch/jobQueue:JobQueue": ("name", 128, None),
    "aws:batch/jobDefinition:JobDefinition": ("name", 128, None),
    "aws:ec2/securityGroup:SecurityGroup": ("name", 255, None),
    "aws:ecr/repository:Repository": ("name", 256, None),
    "aws:lambda/function:Function": ("name", 64, None),
    "aws:lambda/alias:Alias": ("name", 128, None),
    "aws:cloudwatch/logGroup:LogGroup": ("name", 512, None),
    "aws:ssm/parameter:Parameter": ("name", 1011, None),
    "aws:secretsmanager/secret:Secret": ("name", 512, None),
    "aws:s3/bucketObjectv2:BucketObjectv2": ("key", 1024, None),
    "gcp:serviceaccount/account:Account": ("accountId", 30, GCP_ACCOUNT),
    "gcp:cloudrunv2/service:Service": ("name", 49, None),
    "gcp:storage/bucket:Bucket": ("name", 63, GCP_BUCKET),
    "gcp:artifactregistry/repository:Repository": ("repositoryId", 63, None),
    "gcp:secretmanager/secret:Secret": ("secretId", 255, None),
    "gcp:cloudscheduler/job:Job": ("name", 500, None),
    "gcp:storage/bucketObject:BucketObject": ("name", 1024, None),
}
# Types without a physical name of their own (attachments, configurations, IAM bindings).
UNNAMED = {
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:lambda/functionUrl:FunctionUrl",
    "aws:lambda/permission:Permission",
    "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
    "gcp:projects/iAMMember:IAMMember",
    "gcp:secretmanager/secretIamMember:SecretIamMember",
    "gcp:secretmanager/secretVersion:SecretVersion",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
}

IMAGE = ImageSpec(id="im-0123456789abcdef", base=ImageStep("debian_slim", {"python_version": "3.11"}))
OBJECT = string.ascii_letters + string.digits + "-._"
object_names = st.text(alphabet=OBJECT, min_size=1, max_size=63)
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,60}", fullmatch=True)
stacks = st.from_regex(r"[a-z0-9][a-z0-9-]{0,62}", fullmatch=True)


def _fn(name: str, line: int, **kwargs: Any) -> FunctionSpec:
    return FunctionSpec(
        name=name, module="m", qualname=name, source=Source("m.py", line), image=IMAGE.id, **kwargs
    )


def _app(app: str, fn: str, volume: str, secret: str) -> AppSpec:
    functions = (
        _fn(f"{fn}_a", 1, schedule=CronSchedule("0 2 * * *"), volumes={"/v": volume}, secrets=(secret,)),
        _fn(f"{fn}_b", 2, gpu=GpuSpec("A100"), timeout=7200, schedule=PeriodSchedule(3600.0)),
        _fn(f"{fn}_c", 3, min_containers=1),
    )
    return AppSpec(
        name=app,
        functions=functions,
        images=(IMAGE,),
        volumes=(VolumeSpec(volume, create_if_missing=True),),
        secrets=(SecretSpec(secret, kind="dict", keys=("K",)),),
    )


def _violations(result: SynthResult) -> list[str]:
    bad = []
    for r in result.resources:
        if not r.custom or r.type in UNNAMED:
            continue
        assert r.type in NAMED, f"{r.type} is new: add its name limit to NAMED (or to UNNAMED)"
        key, limit, pattern = NAMED[r.type]
        given_name = r.inputs.get(key)
        length = len(given_name) if given_name else len(r.name) + AUTO_SUFFIX
        if length > limit:
            bad.append(f"{r.type} {r.name}: {length} > {limit}")
        if given_name and pattern is not None and not pattern.match(given_name):
            bad.append(f"{r.type} {r.name}: {given_name!r} does not match {pattern.pattern}")
    return bad


def _check(app: str, fn: str, volume: str, secret: str, stack: str) -> None:
    spec = _app(app, fn, volume, secret)
    aws = StackSettings(name=stack, cloud="aws", region="ap-southeast-2")
    gcp = StackSettings(name=stack, cloud="gcp", region="us-central1", project="a-project-id-of-thirty-chars")
    for cloud, stack_settings in (("aws", aws), ("gcp", gcp)):
        result = synthesize(cloud, spec, stack_settings).result
        assert not _violations(result), (cloud, _violations(result))


LONGEST = "x" * 61


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(app=object_names, fn=identifiers, volume=object_names, secret=object_names, stack=stacks)
@example(app="a" * 63, fn=LONGEST, volume="v" * 63, secret="s" * 63, stack="s" * 63)
@example(app="invoice-processing", fn="generate_monthly_report", volume="data", secret="db", stack="prod")
@example(app="My.App_v2", fn="f", volume="V.1", secret="S_1", stack="dev")
def test_every_physical_name_fits_its_limit(app: str, fn: str, volume: str, secret: str, stack: str) -> None:
    _check(app, fn, volume, secret, stack)


def test_the_issue_example_used_to_overflow_and_keeps_its_logical_names() -> None:
    spec = _app("invoice-processing", "generate_monthly_report", "data", "db")
    out = synthesize("aws", spec, StackSettings(name="prod", cloud="aws", region="us-east-1")).result
    schedule = out.named("invoice-processing-schedule-generate-monthly-report-a-schedule")
    assert len(schedule.name) + AUTO_SUFFIX > 64  # Pulumi's auto-name would not fit
    name = schedule.inputs["name"]
    assert len(name) <= 64 and name.startswith("invoice-processing-schedule-generate")
    short = out.named("invoice-processing-staging")
    assert "bucket" not in short.inputs  # a name that fits keeps Pulumi's auto-name (no replacement)
