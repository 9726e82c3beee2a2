"""Synthesized programs: every web endpoint is public, and one that requires proxy auth reads
exactly the stack's token set (Secrets Manager / Secret Manager) and is told where it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pcompile.compiler import compile_file
from pcompile.providers.settings import StackSettings
from pcompile.providers.synth import synthesize
from pcompile.runtime import proxy_auth

APP = Path(__file__).resolve().parents[1] / "fixtures" / "proxy_auth_endpoints.py"
AWS = StackSettings(name="dev", cloud="aws", region="us-east-1")
GCP = StackSettings(name="dev", cloud="gcp", region="us-central1", project="acme-ml")


@pytest.fixture(scope="module")
def aws_out() -> Any:
    return synthesize("aws", compile_file(APP).app(), AWS).result


@pytest.fixture(scope="module")
def gcp_out() -> Any:
    return synthesize("gcp", compile_file(APP).app(), GCP).result


def _by_name(out: Any, token: str) -> dict[str, Any]:
    return {r.name: r.inputs for r in out.of_type(token)}


def test_aws_function_urls_are_public_and_only_guarded_reads_the_token_set(aws_out: Any) -> None:
    urls = _by_name(aws_out, "aws:lambda/functionUrl:FunctionUrl")
    assert {n: u["authorizationType"] for n, u in urls.items()} == {
        "proxy-endpoints-guarded-url": "NONE",
        "proxy-endpoints-public-url": "NONE",
    }
    lambdas = _by_name(aws_out, "aws:lambda/function:Function")
    env = {n: f["environment"]["variables"] for n, f in lambdas.items()}
    assert env["proxy-endpoints-guarded-fn"][proxy_auth.ENV] == "secretsmanager://pcompile-dev-proxy-auth"
    assert proxy_auth.ENV not in env["proxy-endpoints-public-fn"]
    grants = {}
    for name, policy in _by_name(aws_out, "aws:iam/rolePolicy:RolePolicy").items():
        for st in json.loads(policy["policy"])["Statement"]:
            if st.get("Sid") == "ProxyAuth":
                grants[name] = (st["Action"], st["Resource"])
    ((name, (actions, resources)),) = grants.items()
    assert "guarded" in name and actions == ["secretsmanager:GetSecretValue"]
    assert resources == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:pcompile-dev-proxy-auth-??????"
    ]


def test_gcp_services_are_public_and_only_guarded_reads_the_token_set(gcp_out: Any) -> None:
    public = {
        r["name"]
        for r in _by_name(gcp_out, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember").values()
        if r["member"] == "allUsers"
    }
    assert public == {"proxy-endpoints-guarded", "proxy-endpoints-public"}
    services = _by_name(gcp_out, "gcp:cloudrunv2/service:Service")
    env = {
        n: {e["name"]: e.get("value") for e in s["template"]["containers"][0]["envs"]}
        for n, s in services.items()
    }
    guarded = [v for n, v in env.items() if "guarded" in n][0]
    assert guarded[proxy_auth.ENV] == "gcpsecret://projects/acme-ml/secrets/pcompile-dev-proxy-auth"
    assert all(proxy_auth.ENV not in v for n, v in env.items() if "guarded" not in n)
    members = _by_name(gcp_out, "gcp:secretmanager/secretIamMember:SecretIamMember")
    readers = {n: (m["secretId"], m["role"]) for n, m in members.items()}
    assert list(readers.values()) == [("pcompile-dev-proxy-auth", "roles/secretmanager.secretAccessor")]
    assert "guarded" in next(iter(readers))
