"""Issue 19: who pulls each function's image, and from exactly which repository.

Lambda pulls with the Lambda service's own access and the repository's policy (Lambda
adds ``lambda.amazonaws.com`` to it when the function is created, which is why the deploy
policy holds ``ecr:SetRepositoryPolicy`` on ``pcompile/*``), so a function's role holds
no ECR grant. Batch pulls with the job definition's execution role, which reads exactly
the ECR repository deploy pushed the image to: the ARN is computed from the same image
ref deploy pushed (``extra.image_refs``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pcompile.compiler import compile_file
from pcompile.compiler.bundle import build_bundle
from pcompile.providers.aws import names
from pcompile.providers.cloud_stores import _LazyCloud, shared_names
from pcompile.providers.settings import DeployInputs, StackSettings
from pcompile.providers.synth import SynthOutput, synthesize

REPO = Path(__file__).resolve().parents[2]
APPS = ["examples/gpu_mix.py", "examples/hello_world.py", "tests/fixtures/aws_contract_app.py"]
STACK = StackSettings(name="dev", cloud="aws", region="us-east-1")
ECR = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


@dataclasses.dataclass(frozen=True)
class Pushed:
    """The image refs deploy computed, the repository they name, and the program."""

    refs: dict[str, str]
    repository_arn: str
    out: SynthOutput


def _pushed(path: str) -> Pushed:
    app = compile_file(str(REPO / path)).app()
    lazy = _LazyCloud(STACK, REPO)
    lazy._names = shared_names(STACK, account=lambda: "123456789012")
    refs = lazy.image_refs(app)
    inputs = DeployInputs(image_refs=refs, bundle_url=lazy.url(build_bundle(app, (REPO / path).parent).key))
    out = synthesize("aws", app, STACK, inputs)
    # The repository, spelled independently of the program: the registry's path plus the app.
    (repository,) = {ref.rpartition(":")[0].split("/", 1)[1] for ref in refs.values()}
    return Pushed(refs, f"arn:aws:ecr:us-east-1:123456789012:repository/{repository}", out)


def _statements(out: SynthOutput, role_arn: str) -> list[dict[str, Any]]:
    role = role_arn.rsplit(":", 1)[-1]
    return [
        st
        for p in out.result.of_type("aws:iam/rolePolicy:RolePolicy")
        if str(p.inputs["role"]).removesuffix("-id") == role
        for st in json.loads(p.inputs["policy"])["Statement"]
    ]


def _ecr_resources(statements: list[dict[str, Any]]) -> set[str]:
    return {r for st in statements if set(ECR) & set(st["Action"]) for r in st["Resource"]}


def _check(p: Pushed) -> int:
    """Assert the pull grants; returns how many Batch job definitions were checked."""
    for fn in p.out.result.of_type("aws:lambda/function:Function"):
        assert fn.inputs["imageUri"] in p.refs.values()
        assert not _ecr_resources(_statements(p.out, str(fn.inputs["role"]))), "Lambda roles pull nothing"
    jobs = p.out.result.of_type("aws:batch/jobDefinition:JobDefinition")
    for job in jobs:
        props = json.loads(job.inputs["containerProperties"])
        assert props["image"] in p.refs.values()
        assert not _ecr_resources(_statements(p.out, props["jobRoleArn"])), "the job role is the code's"
        assert "executionRoleArn" in props, f"{job.name} has no role to pull its image with"
        pulls = [st for st in _statements(p.out, props["executionRoleArn"]) if set(ECR) & set(st["Action"])]
        assert pulls and all(sorted(st["Action"]) == list(ECR) for st in pulls)
        assert _ecr_resources(pulls) == {p.repository_arn}, f"{job.name} pulls from the wrong repository"
    return len(jobs)


@pytest.mark.parametrize("path", APPS)
def test_batch_pulls_with_an_execution_role_naming_the_pushed_repository(path: str) -> None:
    pushed = _pushed(path)
    checked = _check(pushed)
    assert checked or path != "examples/gpu_mix.py"


def _rewrite_exec_policies(p: Pushed, change: Any) -> Pushed:
    resources = []
    for r in p.out.result.resources:
        if r.type == "aws:iam/rolePolicy:RolePolicy" and "-exec-" in r.name:
            policy = change(json.loads(r.inputs["policy"]))
            if policy is None:
                continue
            r = dataclasses.replace(r, inputs={**r.inputs, "policy": json.dumps(policy)})
        resources.append(r)
    result = dataclasses.replace(p.out.result, resources=resources)
    return dataclasses.replace(p, out=dataclasses.replace(p.out, result=result))


def _elsewhere(policy: dict[str, Any]) -> dict[str, Any]:
    for st in policy["Statement"]:
        st["Resource"] = [r.replace("pcompile/gpu-mix", "pcompile/other") for r in st["Resource"]]
    return policy


def test_the_check_fails_without_the_pull_grant_or_on_another_repository() -> None:
    pushed = _pushed("examples/gpu_mix.py")
    _check(pushed)
    for change in (lambda _policy: None, _elsewhere):
        with pytest.raises(AssertionError):
            _check(_rewrite_exec_policies(pushed, change))


@pytest.mark.parametrize(
    ("uri", "arn"),
    [
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/pcompile/app:im-1",
            "arn:aws:ecr:eu-west-1:123456789012:repository/pcompile/app",
        ),
        (
            f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app@sha256:{'a' * 64}",
            "arn:aws:ecr:us-east-1:123456789012:repository/team/app",
        ),
        ("docker.io/library/python:3.11", None),
        ("localhost/pcompile/app:im-1", None),
    ],
)
def test_the_repository_arn_comes_from_the_image_ref(uri: str, arn: str | None) -> None:
    assert names.ecr_repository_arn(uri) == arn
