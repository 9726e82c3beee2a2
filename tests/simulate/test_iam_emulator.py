"""The IAM-enforcing emulator of the simulate tier, and the deploy policy it enforces.

``docs/deploy.md`` lists the deploy role's policy as a table; ``docs/policies/
aws-deploy-policy.json`` is the same policy, ready to apply: the two must agree. The
emulator (moto plus the fixes in :mod:`pcompile.providers.simulate.iam_emulator`) lets a
role do exactly what its policy names and assume only through its trust policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from servers import IamMoto, iam_moto_server

from pcompile.providers.simulate.compute_iam import BATCH, LAMBDA, Identities
from pcompile.providers.simulate.iam_emulator import glob_match

REPO = Path(__file__).resolve().parents[2]
POLICY_FILE = REPO / "docs" / "policies" / "aws-deploy-policy.json"
WEB_POLICY_FILE = REPO / "docs" / "policies" / "aws-deploy-policy-web.json"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
# Each published policy file, the marker of its table in docs/deploy.md, and its size limit:
# the core policy is a role's inline policy (10,240 characters for all of a role's inline
# policies), the web services' a managed one (6,144 characters).
POLICIES = {
    "core": (POLICY_FILE, "deploy-policy-table", 10_240),
    "web": (WEB_POLICY_FILE, "deploy-policy-web-table", 6_144),
}


def _listed(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _table_statements(marker: str) -> dict[str, dict[str, Any]]:
    """Sid → {actions, resources, condition} as docs/deploy.md's table ``marker`` states them."""
    match = re.search(rf"<!-- {marker}:.*?-->\n(.*?)<!-- /{marker} -->", DEPLOY_DOC.read_text(), re.S)
    assert match, f"docs/deploy.md has no {marker}"
    rows = [line for line in match.group(1).splitlines() if line.startswith("| ") and "---" not in line]
    out = {}
    for row in rows[1:]:  # the header first
        sid, actions, resources = (c.strip() for c in row.strip("|").split(" | "))
        resources, _, when = resources.partition(" when ")
        condition = None
        if when:
            key, *values = _listed(when)
            condition = (key, sorted(values))
        out[sid] = {"actions": _listed(actions), "resources": _listed(resources), "condition": condition}
    return out


def _file_statements(path: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for st in json.loads(path.read_text())["Statement"]:
        assert st["Effect"] == "Allow"
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        condition = None
        if "Condition" in st:
            ((_, pairs),) = st["Condition"].items()
            ((key, values),) = pairs.items()
            condition = (key, sorted(values if isinstance(values, list) else [values]))
        out[st["Sid"]] = {"actions": list(st["Action"]), "resources": resources, "condition": condition}
    return out


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_the_docs_table_and_the_policy_file_agree(policy: str) -> None:
    path, marker, _ = POLICIES[policy]
    table, published = _table_statements(marker), _file_statements(path)
    assert list(table) == list(published)
    for sid in published:
        assert table[sid] == published[sid], sid


def test_the_two_policies_share_no_statement_id() -> None:
    assert not set(_file_statements(POLICY_FILE)) & set(_file_statements(WEB_POLICY_FILE))


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_the_policy_fits_its_size_limit(policy: str) -> None:
    # IAM counts policy characters without whitespace.
    path, _, limit = POLICIES[policy]
    compact = json.dumps(json.loads(path.read_text()), separators=(",", ":"))
    assert len(compact) <= limit


# Writes for which IAM has no resource type (the service authorization reference gives "*"):
# they can only be granted on any resource.
UNSCOPABLE = {"ecs:CreateCapacityProvider", "ecs:DeregisterTaskDefinition"}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_only_read_only_account_calls_take_any_resource(policy: str) -> None:
    for st in json.loads(POLICIES[policy][0].read_text())["Statement"]:
        for action in st["Action"]:
            assert action != "*" and not action.endswith(":*"), (st["Sid"], action)
        if st["Sid"] == "WebUnscoped":
            assert set(st["Action"]) <= UNSCOPABLE, st["Action"]
        elif "*" in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]):
            verbs = {re.match(r"[a-z0-9-]+:([A-Z][a-z]+)", a).group(1) for a in st["Action"]}  # type: ignore[union-attr]
            assert verbs <= {"Describe", "List", "Get"}, (st["Sid"], verbs)


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_parliament_finds_only_the_bucket_policy_writes_a_deploy_role_needs(policy: str) -> None:
    from parliament import analyze_policy_string

    findings = analyze_policy_string(POLICIES[policy][0].read_text()).findings
    assert {f.issue for f in findings} <= {"RESOURCE_POLICY_PRIVILEGE_ESCALATION"}, findings


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("arn:aws:secretsmanager:*:*:secret:hf-??????", "arn:aws:secretsmanager:r:1:secret:hf-AbC123", True),
        ("arn:aws:secretsmanager:*:*:secret:hf-??????", "arn:aws:secretsmanager:r:1:secret:hf-AbC12", False),
        ("arn:aws:s3:::b.x/*", "arn:aws:s3:::bax/k", False),  # "." is literal
        ("arn:aws:s3:::b/fn/*", "arn:aws:s3:::b/fn/a/in/1", True),
    ],
)
def test_patterns_are_iam_wildcards(pattern: str, value: str, matches: bool) -> None:
    assert glob_match(pattern, value) is matches


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamMoto]:
    with iam_moto_server(POLICY_FILE, tmp_path_factory.mktemp("iam")) as server:
        yield server


def _client(server: IamMoto, service: str, **keys: str) -> Any:
    session = boto3.session.Session(region_name="us-east-1", **(keys or server.admin.session_args()))
    return session.client(service, endpoint_url=server.url)


def _denied(call: Any) -> bool:
    try:
        call()
    except ClientError as exc:
        return "AccessDenied" in str(exc) or exc.response["Error"]["Code"] in ("AccessDenied", "403")
    return False


def test_a_role_reads_exactly_its_grants_and_only_its_trusted_service_assumes_it(
    emulator: IamMoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, secrets, iam = (_client(emulator, s) for s in ("s3", "secretsmanager", "iam"))
    s3.create_bucket(Bucket="iam-check-bucket")
    for key in ("mine/a", "other/b"):
        s3.put_object(Bucket="iam-check-bucket", Key=key, Body=b"x")
    secrets.create_secret(Name="hf", SecretString="{}")
    secrets.create_secret(Name="other", SecretString="{}")
    trust = {"Effect": "Allow", "Principal": {"Service": LAMBDA}, "Action": "sts:AssumeRole"}
    role = iam.create_role(
        RoleName="iam-check-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )["Role"]["Arn"]
    grants = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::iam-check-bucket/mine/*"},
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-??????",
        },
    ]
    iam.put_role_policy(
        RoleName="iam-check-role",
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": grants}),
    )
    monkeypatch.setenv("PCOMPILE_SIMULATE_SERVICE_CREDENTIALS", str(emulator.identities))
    identities = Identities(emulator.url, "us-east-1")
    env = identities.role_env(LAMBDA, role, "iam-check")
    keys = {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": env["AWS_SESSION_TOKEN"],
    }
    as_role = {s: _client(emulator, s, **keys) for s in ("s3", "secretsmanager")}
    assert as_role["s3"].get_object(Bucket="iam-check-bucket", Key="mine/a")["Body"].read() == b"x"
    assert _denied(lambda: as_role["s3"].get_object(Bucket="iam-check-bucket", Key="other/b"))
    assert as_role["secretsmanager"].get_secret_value(SecretId="hf")["SecretString"] == "{}"
    assert _denied(lambda: as_role["secretsmanager"].get_secret_value(SecretId="other"))
    with pytest.raises(RuntimeError, match="cannot assume"):
        identities.role_env(BATCH, role, "iam-check")  # the role trusts Lambda, not Batch


def test_the_deployer_is_refused_what_the_deploy_policy_does_not_name(emulator: IamMoto) -> None:
    as_deployer = emulator.deployer.session_args()
    _client(emulator, "secretsmanager").create_secret(Name="team-token", SecretString="{}")
    secrets = _client(emulator, "secretsmanager", **as_deployer)
    assert _denied(lambda: secrets.get_secret_value(SecretId="team-token"))
    iam = _client(emulator, "iam", **as_deployer)
    assert _denied(lambda: iam.create_user(UserName="intruder"))
    s3 = _client(emulator, "s3", **as_deployer)
    s3.create_bucket(Bucket="pcompile-staging-check")  # BootstrapBuckets
    s3.put_object(Bucket="pcompile-staging-check", Key="bundles/x.tar", Body=b"x")


def test_batch_pulls_only_with_an_execution_role_that_may_read_the_image(
    emulator: IamMoto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pcompile.providers.simulate.compute_iam import PullError, check_pull

    ecr, iam = _client(emulator, "ecr"), _client(emulator, "iam")
    ecr.create_repository(repositoryName="pcompile/pull-check")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"})
    ecr.put_image(repositoryName="pcompile/pull-check", imageManifest=manifest, imageTag="im-1")
    trust = {"Effect": "Allow", "Principal": {"Service": BATCH}, "Action": "sts:AssumeRole"}
    roles = {}
    for name, actions in (("pull-ok", ["ecr:BatchGetImage"]), ("pull-none", ["ecr:DescribeImages"])):
        roles[name] = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
        )["Role"]["Arn"]
        grant = {
            "Effect": "Allow",
            "Action": actions,
            "Resource": "arn:aws:ecr:*:*:repository/pcompile/pull-check",
        }
        iam.put_role_policy(
            RoleName=name,
            PolicyName="p",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
        )
    monkeypatch.setenv("PCOMPILE_SIMULATE_SERVICE_CREDENTIALS", str(emulator.identities))
    identities = Identities(emulator.url, "us-east-1")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pcompile/pull-check:im-1"
    check_pull(identities, BATCH, roles["pull-ok"], image)
    with pytest.raises(PullError, match="CannotPullContainerError"):
        check_pull(identities, BATCH, roles["pull-none"], image)
    with pytest.raises(PullError, match="not found"):
        check_pull(identities, BATCH, roles["pull-ok"], image.replace("im-1", "im-2"))
