"""Bad input on simulate stacks: an emulator that does not answer stops deploy before
anything is built; a resource the emulator rejects stops it with exit 2, and the state
file still says exactly what exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_kit import Project, aws
from servers import free_port

CE = "aws:batch/computeEnvironment:ComputeEnvironment"
LAMBDA = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
BUCKET = "aws:s3/bucket:Bucket"

BAD_INSTANCE = """\
overrides:
  gpu_double:
    placement: batch
    instance_types: [x9.nosuch]
"""


@pytest.mark.parametrize("command", [["deploy", "app.py", "--yes"], ["bootstrap"]])
def test_unreachable_endpoint_fails_before_anything_is_built(tmp_path: Path, command: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    project = Project(tmp_path, url)
    run = project.pcompile(*command, "--stack", "sim")
    assert run.code == 1
    assert url in run.stderr and "does not answer" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / ".pcompile" / "build").exists()
    assert not (tmp_path / ".pcompile" / "simulate").exists()
    assert "building" not in run.stderr


@pytest.mark.timeout(600)
def test_rejected_resource_exits_2_naming_it_and_state_matches_the_emulator(
    tmp_path: Path, moto: str
) -> None:
    project = Project(tmp_path, moto, BAD_INSTANCE)
    with project.compute_stopped():
        assert project.pcompile("bootstrap", "--stack", "sim").code == 0
        run = project.pcompile("deploy", "app.py", "--stack", "sim", "--yes", "--json")
    assert run.code == 2, run.stderr
    assert CE in run.stderr and "x9.nosuch does not exist" in run.stderr
    assert "Traceback" not in run.stderr and "Future exception" not in run.stderr
    assert run.stdout == ""

    lam, iam, s3, batch = (aws(moto, s) for s in ("lambda", "iam", "s3", "batch"))
    in_moto = {
        LAMBDA: {f["FunctionName"] for f in lam.list_functions()["Functions"]},
        ROLE: {
            r["RoleName"] for r in iam.list_roles()["Roles"] if not r["Path"].startswith("/aws-service-role/")
        },
        BUCKET: {
            b["Name"] for b in s3.list_buckets()["Buckets"] if not b["Name"].startswith("pcompile-staging-")
        },
        CE: {
            c["computeEnvironmentName"] for c in batch.describe_compute_environments()["computeEnvironments"]
        },
    }
    for type_token, names in in_moto.items():
        assert {e["id"] for e in project.state_of(type_token)} == names, type_token
    assert in_moto[CE] == set()  # the rejected environment is neither in moto nor in the state
    assert in_moto[ROLE] and in_moto[BUCKET], "what was created before it is recorded"
