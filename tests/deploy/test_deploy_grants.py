"""Issue 19, items 1 and 2: for every example and fixture app on both clouds, the identity
that runs each function holds read on the image repository it pulls from and on the code
bundle object, and both locations are the ones deploy computes (its bundle URL, its image
refs in the stack's registry), handed to the program the way ``emit`` hands them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pcompile.compiler import compile_file
from pcompile.compiler.bundle import build_bundle
from pcompile.compiler.ir import AppSpec
from pcompile.providers.cloud_stores import _LazyCloud, shared_names
from pcompile.providers.gcp import components as gcp_components
from pcompile.providers.gcp import names as gcp_names
from pcompile.providers.settings import DeployInputs, StackSettings
from pcompile.providers.synth import SynthOutput, SynthResource, synthesize

REPO = Path(__file__).resolve().parents[2]
COMMON = ["examples/gpu_mix_gcp.py", "examples/hello_world.py"]
APPS = {  # examples/gpu_mix.py asks for an L40S alone, which GCP cannot place
    "aws": [
        *COMMON,
        "examples/gpu_mix.py",
        "tests/fixtures/aws_contract_app.py",
        "tests/fixtures/aws_secret_app.py",
    ],
    "gcp": [*COMMON, "tests/fixtures/gcp_contract_app.py", "tests/fixtures/gcp_sim_app.py"],
}
STACKS = {
    "aws": StackSettings(name="dev", cloud="aws", region="us-east-1"),
    "gcp": StackSettings(name="dev", cloud="gcp", region="us-central1", project="acme-ml"),
}
CASES = [(cloud, path) for cloud, paths in sorted(APPS.items()) for path in paths]


@dataclasses.dataclass(frozen=True)
class Deployed:
    """What deploy computed for one app, and the program synthesized from it."""

    app: AppSpec
    bundle_url: str
    image_refs: dict[str, str]
    registry: str
    staging_bucket: str
    out: SynthOutput


def deploy_locations(cloud: str, path: str) -> Deployed:
    """The bundle URL and image refs exactly as deploy computes them (``_LazyCloud``)."""
    app = compile_file(str(REPO / path)).app()
    lazy = _LazyCloud(STACKS[cloud], REPO)
    lazy._names = shared_names(STACKS[cloud], account=lambda: "123456789012")
    bundle_url = lazy.url(build_bundle(app, (REPO / path).parent).key)
    refs = lazy.image_refs(app)
    out = synthesize(cloud, app, STACKS[cloud], DeployInputs(image_refs=refs, bundle_url=bundle_url))
    names = lazy.names()
    return Deployed(app, bundle_url, refs, names.registry, names.staging_bucket, out)


@pytest.fixture(scope="module", params=CASES, ids=[f"{c}-{Path(p).stem}" for c, p in CASES])
def deployed(request: pytest.FixtureRequest) -> Deployed:
    cloud, path = request.param
    return deploy_locations(cloud, path)


def _bundle_object(url: str) -> tuple[str, str]:
    bucket, _, key = url.split("://", 1)[1].partition("#")[0].partition("/")
    return bucket, key


# ------------------------------------------------------------------------------ AWS


def _aws_runners(out: SynthOutput) -> list[tuple[str, str, dict[str, str]]]:
    """(role name, image, environment) of every Lambda function and Batch job definition."""
    found = []
    for fn in out.result.of_type("aws:lambda/function:Function"):
        env = fn.inputs["environment"]["variables"]
        found.append((str(fn.inputs["role"]).rsplit(":", 1)[-1], fn.inputs["imageUri"], env))
    for jobdef in out.result.of_type("aws:batch/jobDefinition:JobDefinition"):
        props = json.loads(jobdef.inputs["containerProperties"])
        env = {e["name"]: e["value"] for e in props["environment"]}
        found.append((props["jobRoleArn"].rsplit(":", 1)[-1], props["image"], env))
    return found


def _aws_statements(out: SynthOutput, role: str) -> list[dict[str, Any]]:
    policies = [
        p
        for p in out.result.of_type("aws:iam/rolePolicy:RolePolicy")
        if str(p.inputs["role"]).removesuffix("-id") == role
    ]
    assert policies, f"role {role} has no inline policy"
    return [s for p in policies for s in json.loads(p.inputs["policy"])["Statement"]]


def _check_aws(d: Deployed) -> None:
    from pcompile.compiler.images import image_ref

    runners = _aws_runners(d.out)
    assert len(runners) == len(d.app.functions)
    bucket, key = _bundle_object(d.bundle_url)
    assert bucket == d.staging_bucket
    pushed = set(d.image_refs.values())
    for role, image, env in runners:
        # Pulled from exactly where deploy pushed: the app's repository in the stack's registry.
        assert image in pushed and image.rpartition(":")[0] == image_ref(d.registry, d.app.name, "x")[:-2]
        assert env["PCOMPILE_CODE_BUNDLE"] == d.bundle_url
        reads = {
            r for s in _aws_statements(d.out, role) if "s3:GetObject" in s["Action"] for r in s["Resource"]
        }
        assert f"arn:aws:s3:::{bucket}/{key}" in reads, f"{role} cannot read the code bundle"


# ------------------------------------------------------------------------------ GCP


def _gcp_runners(d: Deployed) -> list[tuple[str, str, dict[str, str]]]:
    """(service account id, image, environment) of every Cloud Run service and Batch template."""
    found = []
    for service in d.out.result.of_type("gcp:cloudrunv2/service:Service"):
        template = service.inputs["template"]
        (container,) = template["containers"]
        env = {e["name"]: e.get("value", "") for e in container["envs"]}
        found.append((template["serviceAccount"], container["image"], env))
    for body in d.out.extras["job_templates"].values():
        runnable = body["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]
        env = body["taskGroups"][0]["taskSpec"]["environment"]["variables"]
        found.append((body["allocationPolicy"]["serviceAccount"]["email"], runnable["imageUri"], env))
    return found


def _members(out: SynthOutput, email: str) -> set[str]:
    """The IAM members an account e-mail (from the function's template) stands for."""
    accounts = out.result.of_type("gcp:serviceaccount/account:Account")
    account_id = email.partition("@")[0]
    logical = [a.name for a in accounts if a.inputs["accountId"] == account_id or a.name == account_id]
    # Under the mock engine an account's e-mail is "<logical name>@<mock project>".
    by_logical = {f"serviceAccount:{a.name}@" for a in accounts if email.startswith(f"{a.name}@")}
    return {f"serviceAccount:{name}@" for name in logical} | by_logical


def _granted(grants: list[SynthResource], members: set[str]) -> list[SynthResource]:
    return [g for g in grants if any(str(g.inputs["member"]).startswith(m) for m in members)]


def _check_gcp(d: Deployed) -> None:
    runners = _gcp_runners(d)
    assert len(runners) == len(d.app.functions)
    bucket, key = _bundle_object(d.bundle_url)
    assert bucket == d.staging_bucket
    pulls = d.out.result.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    objects = d.out.result.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    for email, image, env in runners:
        members = _members(d.out, email)
        assert members, f"no service account for {email}"
        assert image in set(d.image_refs.values()) and image.startswith(d.registry + "/")
        location, project, repository = gcp_names.artifact_repository(image) or ("", "", "")
        assert f"{location}-docker.pkg.dev/{project}/{repository}" == d.registry
        readers = {
            (g.inputs["location"], g.inputs["project"], g.inputs["repository"])
            for g in _granted(pulls, members)
            if g.inputs["role"] == gcp_components.IMAGE_READER
        }
        assert readers == {(location, project, repository)}, f"{email} cannot pull {image}"
        assert env["PCOMPILE_CODE_BUNDLE"] == d.bundle_url
        bundle_reads = [
            g
            for g in _granted(objects, members)
            if g.inputs["bucket"] == bucket
            and g.inputs["role"] == gcp_components.OBJECT_READ
            and g.inputs["condition"]["expression"] == gcp_components.object_named(bucket, key)
        ]
        assert bundle_reads, f"{email} cannot read the code bundle {d.bundle_url}"


def test_each_function_identity_reads_its_image_repository_and_code_bundle(deployed: Deployed) -> None:
    if deployed.out.result.of_type("aws:lambda/function:Function") or deployed.out.result.of_type(
        "aws:batch/jobDefinition:JobDefinition"
    ):
        _check_aws(deployed)
    else:
        _check_gcp(deployed)


def _mutated(d: Deployed, change: Any) -> Deployed:
    """``d`` with each resource of the program's output passed through ``change`` (None drops it)."""
    kept = [m for m in (change(r) for r in d.out.result.resources) if m is not None]
    result = dataclasses.replace(d.out.result, resources=kept)
    return dataclasses.replace(d, out=dataclasses.replace(d.out, result=result))


def _drop_named(suffix: str) -> Any:
    return lambda r: None if r.name.endswith(suffix) else r


def _drop_bundle_statement(r: SynthResource) -> SynthResource:
    if r.type != "aws:iam/rolePolicy:RolePolicy":
        return r
    policy = json.loads(r.inputs["policy"])
    policy["Statement"] = [st for st in policy["Statement"] if st.get("Sid") != "CodeBundle"]
    return dataclasses.replace(r, inputs={**r.inputs, "policy": json.dumps(policy)})


MUTATIONS = {
    "aws": [_drop_bundle_statement],
    "gcp": [_drop_named("-bundle"), _drop_named("-pull")],
}


@pytest.mark.parametrize(
    ("cloud", "path"), [("aws", "examples/gpu_mix.py"), ("gcp", "examples/gpu_mix_gcp.py")]
)
def test_the_check_fails_without_a_grant_or_when_deploy_and_program_diverge(cloud: str, path: str) -> None:
    check = _check_aws if cloud == "aws" else _check_gcp
    d = deploy_locations(cloud, path)
    check(d)
    for change in MUTATIONS[cloud]:
        with pytest.raises(AssertionError):
            check(_mutated(d, change))
    # Deploy uploaded elsewhere than the program grants and points at: caught.
    moved = d.bundle_url.replace("/bundles/", "/elsewhere/")
    with pytest.raises(AssertionError):
        check(dataclasses.replace(d, bundle_url=moved))
