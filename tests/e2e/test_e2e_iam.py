"""IAM enforced in the simulate tier (issue 19): a missing grant fails the way AWS would.

The deployer is an IAM user holding exactly ``docs/policies/aws-deploy-policy.json``; the
simulated Lambda runs the runtime with the credentials ``sts:AssumeRole`` gives for the
function's own role. Proof by mutation: the same app, deployed again with the code bundle
grant taken out of the emitted program, answers its next call with ``AccessDenied``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2e_kit import DEPLOY_POLICIES, Project, Run, aws
from servers import IamMoto

from pcompile.providers.simulate.compute import stop_service

pytestmark = pytest.mark.timeout(900)

APP = """\
import modal

app = modal.App("e2e-iam")
image = modal.Image.debian_slim(python_version="3.11")


@app.function(image=image)
def ping(x: int) -> int:
    return x + 1
"""

# Loaded by the deploying process only (PYTHONPATH): the AWS program's grant builder, minus
# the statement that lets the function's role read the code bundle.
DROP_BUNDLE_GRANT = """\
from pcompile.providers.aws import components

_statements = components.Grants.statements


def _without_bundle(self):
    return [s for s in _statements(self) if s.get("Sid") != "CodeBundle"]


components.Grants.statements = _without_bundle
"""


def _call(project: Project) -> Run:
    return project.python(
        "import pcompile\nprint(pcompile.Function.from_name('e2e-iam', 'ping', stack='sim').remote(1))"
    )


def _role_statements(moto: str) -> list[dict[str, Any]]:
    iam = aws(moto, "iam")
    role = aws(moto, "lambda").get_function(FunctionName="e2e-iam-sim-ping")["Configuration"]["Role"]
    name = role.rsplit("/", 1)[-1]
    (policy,) = iam.list_role_policies(RoleName=name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
    return list((json.loads(document) if isinstance(document, str) else document)["Statement"])


def _deploy(project: Project, env: dict[str, str] | None = None) -> None:
    run = project.pcompile("deploy", "app.py", "--stack", "sim", "--yes", env_extra=env)
    assert run.code == 0, run.stderr[-3000:]
    stop_service(project.root, "sim")  # the next call starts fresh environments (new credentials)


def test_the_deployer_holds_only_the_published_policies(iam_moto: IamMoto) -> None:
    iam = aws(iam_moto.url, "iam")
    names = sorted(iam.list_user_policies(UserName="pcompile-deployer")["PolicyNames"])
    assert names == ["pcompile-deployer-policy", "pcompile-deployer-policy-2"]
    assert iam.list_attached_user_policies(UserName="pcompile-deployer")["AttachedPolicies"] == []
    assert iam.list_groups_for_user(UserName="pcompile-deployer")["Groups"] == []
    stored = []
    for name in names:
        document = iam.get_user_policy(UserName="pcompile-deployer", PolicyName=name)["PolicyDocument"]
        stored.append(json.loads(document) if isinstance(document, str) else document)
    assert stored == [json.loads(p.read_text()) for p in DEPLOY_POLICIES]


def test_a_function_without_the_bundle_grant_fails_with_access_denied(
    iam_moto: IamMoto, tmp_path: Path
) -> None:
    project = Project(tmp_path / "project", iam_moto.url, app=APP)
    with project.compute_stopped():
        assert project.pcompile("bootstrap", "--stack", "sim").code == 0
        _deploy(project)
        assert "CodeBundle" in {s.get("Sid") for s in _role_statements(iam_moto.url)}
        ok = _call(project)
        assert ok.code == 0, ok.stderr[-3000:]
        assert ok.stdout.strip().splitlines()[-1] == "2"

        patch = tmp_path / "drop-bundle-grant"
        patch.mkdir()
        (patch / "sitecustomize.py").write_text(DROP_BUNDLE_GRANT)
        _deploy(project, {"PYTHONPATH": str(patch)})
        assert "CodeBundle" not in {s.get("Sid") for s in _role_statements(iam_moto.url)}
        denied = _call(project)
        assert denied.code != 0, denied.stdout
        assert "AccessDenied" in denied.stderr, denied.stderr[-3000:]
