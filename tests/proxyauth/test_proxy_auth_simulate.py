"""Proxy auth on a deployed Lambda Function URL (``engine: simulate``, moto with IAM enforced).

The token comes from ``pcompile proxy-auth create --stack sim`` (Secrets Manager in moto);
the function's runtime reads it as its own role, which may read only that secret.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_kit import Project, aws

pytestmark = pytest.mark.timeout(900)
APP = (Path(__file__).resolve().parents[1] / "fixtures" / "proxy_auth_endpoints.py").read_text()


@pytest.fixture(scope="module")
def deployed(moto: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, Any]]]:
    project = Project(tmp_path_factory.mktemp("proxyauth-sim"), moto, app=APP)
    with project.compute_stopped():
        assert project.pcompile("bootstrap", "--stack", "sim").code == 0
        run = project.pcompile("deploy", "app.py", "--stack", "sim", "--yes", "--json")
        assert run.code == 0, run.stderr
        yield project, run.json()


def _token(project: Project) -> dict[str, str]:
    made = project.pcompile("proxy-auth", "create", "--stack", "sim")
    assert made.code == 0, made.stderr
    headers = dict(line.split(": ", 1) for line in made.stdout.splitlines() if line.startswith("Modal-"))
    assert headers["Modal-Key"].startswith("wk-") and headers["Modal-Secret"].startswith("ws-")
    return headers


def _get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(url, headers=headers or {}, timeout=300)


def test_function_url_gives_401_without_a_token_and_200_with_one(deployed, moto: str) -> None:
    project, report = deployed
    url = report["endpoints"]["guarded"]
    refused = _get(url)
    assert refused.status_code == 401 and "Modal-Key" in refused.text
    token = _token(project)
    deadline = time.monotonic() + 10  # a new token works within seconds
    while (answer := _get(url, token)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert answer.status_code == 200 and answer.json() == {"ok": True, "saw_token": False}
    assert _get(url, {**token, "Modal-Secret": "ws-wrong"}).status_code == 401
    assert _get(report["endpoints"]["public"]).json() == {"ok": True}
    # the stack's store holds the id and a salted hash, never the secret
    stored = aws(moto, "secretsmanager").get_secret_value(SecretId="pcompile-sim-proxy-auth")["SecretString"]
    assert token["Modal-Key"] in stored and token["Modal-Secret"] not in stored
    listed = project.pcompile("proxy-auth", "list", "--stack", "sim")
    assert token["Modal-Key"] in listed.stdout.split()
