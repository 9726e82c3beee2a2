"""Web services on ECS under ``engine: simulate``: the deployed URLs answer through the production path.

``pcompile deploy`` emits the real AWS program (``providers/aws/web_service.py``) into
moto: CloudFront, ALB, target group, ECS service and its task definition. The URL the
deploy prints (``https://<distribution domain>``, the simulated compute's loopback TLS
port) is then called: CloudFront adds the origin header, the ALB's rule forwards to
the service's task, which the simulated compute started from the task definition in
moto alone (``python -m pcompile.runtime ecs --function NAME`` in the image's local
environment, code from the bundle in moto's S3), and the runtime's front proxies to the
user's server. Both services start at zero tasks (Modal's ``min_containers=0``): the
first request is answered at once with 503 and ``Retry-After``.

IAM is enforced (``tests/e2e/conftest.py``): the deployer holds exactly the published
deploy policies, ``docs/policies/aws-deploy-policy.json`` and ``aws-deploy-policy-web.json``.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_kit import Project, aws
from servers import free_port

pytestmark = pytest.mark.timeout(1200)

APP = """\
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import modal

app = modal.App("e2e-ecs")
image = modal.Image.debian_slim(python_version="3.11")


def serve(port, name):
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"hello from {{name}} at {{self.path}}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()


@app.function(image=image)
@modal.web_server({site_port}, startup_timeout=60)
def site():
    serve({site_port}, "site")


@app.server(port={api_port}, startup_timeout=60, unauthenticated=True)
class Api:
    @modal.enter()
    def start(self):
        serve({api_port}, "Api")
"""


@pytest.fixture(scope="module")
def deployed(moto: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, Any]]]:
    app = APP.format(site_port=free_port(), api_port=free_port())
    project = Project(tmp_path_factory.mktemp("ecs"), moto, app=app)
    with project.compute_stopped():
        assert project.pcompile("bootstrap", "--stack", "sim").code == 0
        run = project.pcompile("deploy", "app.py", "--stack", "sim", "--yes", "--json")
        assert run.code == 0, run.stderr[-4000:]
        yield project, run.json()


def ca(project: Project) -> ssl.SSLContext:
    """Trust in the simulated CloudFront's certificate (``.pcompile/simulate/<stack>/tls``)."""
    return ssl.create_default_context(
        cafile=str(project.root / ".pcompile" / "simulate" / "sim" / "tls" / "cert.pem")
    )


def wait_answer(url: str, context: ssl.SSLContext, timeout: float = 300) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(url, verify=context, timeout=60)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        time.sleep(1)


@pytest.mark.parametrize("name", ["site", "Api"])
def test_the_deployed_url_answers_through_the_task_definition(
    deployed: tuple[Project, dict[str, Any]], name: str
) -> None:
    project, report = deployed
    url = report["endpoints"][name]
    assert url.startswith("https://127.0.0.1:"), url
    first = httpx.get(f"{url}/first", verify=ca(project), timeout=60)
    if first.status_code == 503:  # asleep: answered at once, and told when to come back
        assert int(first.headers["retry-after"]) > 0 and "starting" in first.text
    answer = wait_answer(f"{url}/items/7?x=1", ca(project))
    assert answer.status_code == 200, answer.text
    assert answer.text == f"hello from {name} at /items/7?x=1"


def test_the_task_definition_in_moto_runs_the_ecs_mode(
    deployed: tuple[Project, dict[str, Any]], moto: str
) -> None:
    ecs = aws(moto, "ecs")
    families = sorted(ecs.list_task_definition_families(status="ACTIVE")["families"])
    commands = []
    for family in families:
        definition = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        commands += [c["command"] for c in definition["containerDefinitions"]]
    assert sorted(c[-1] for c in commands) == ["Api", "site"]
    assert all(c[:5] == ["python", "-m", "pcompile.runtime", "ecs", "--function"] for c in commands)


def test_the_origin_secret_is_generated_not_the_synth_placeholder(
    deployed: tuple[Project, dict[str, Any]], moto: str
) -> None:
    from pcompile.providers.aws.program import ORIGIN_SECRET_PLACEHOLDER

    value = aws(moto, "secretsmanager").get_secret_value(SecretId="pcompile/sim/e2e-ecs/web-origin")[
        "SecretString"
    ]
    assert value != ORIGIN_SECRET_PLACEHOLDER and len(value) >= 32, len(value)
