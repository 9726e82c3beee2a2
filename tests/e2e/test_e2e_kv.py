"""Dict and Queue on a deployed AWS app (issue 16), ``engine: simulate`` with IAM enforced.

``pcompile deploy`` creates the app's DynamoDB tables in moto (the deployer holding only the
published deploy policy), one function on Lambda puts to a Dict and a Queue, a second one on
Batch reads them, and ``pcompile dict get`` / ``pcompile queue len --stack`` see the same
values. Proof by mutation that the functions' grant is what lets them in: deployed again
without it, the writer answers with ``AccessDenied``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_kit import Project, Run, aws

from pcompile.providers.simulate.compute import stop_service

pytestmark = pytest.mark.timeout(900)

APP = """\
import modal

app = modal.App("e2e-kv")
image = modal.Image.debian_slim(python_version="3.11")
scores = modal.Dict.from_name("e2e-scores", create_if_missing=True)
jobs = modal.Queue.from_name("e2e-jobs", create_if_missing=True)


@app.function(image=image)
def produce(n: int) -> int:
    scores["best"] = n
    jobs.put_many([f"job-{i}" for i in range(n)])
    return jobs.len()


@app.function(image=image, gpu="T4")
def consume() -> dict:
    with modal.Dict.ephemeral() as scratch:  # the stack's ephemeral table, granted too
        scratch["seen"] = scores["best"]
        seen = scratch["seen"]
    return {"best": scores["best"], "seen": seen, "len": jobs.len(), "items": list(jobs.iterate(item_poll_timeout=0.5))}
"""

MISSING = """\
import modal

app = modal.App("e2e-kv-missing")
image = modal.Image.debian_slim(python_version="3.11")
nobody = modal.Dict.from_name("e2e-never-made")


@app.function(image=image)
def read() -> int:
    return nobody.len()
"""

DROP_KV_GRANT = """\
from pcompile.providers.aws import components

_statements = components.Grants.statements


def _without_kv(self):
    return [s for s in _statements(self) if s.get("Sid") != "KvTables"]


components.Grants.statements = _without_kv
"""

TABLES = ("pcompile-sim-dict-e2e-scores", "pcompile-sim-kv-ephemeral", "pcompile-sim-queue-e2e-jobs")


@pytest.fixture(scope="module")
def project(moto: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    made = Project(tmp_path_factory.mktemp("kv"), moto, app=APP)
    with made.compute_stopped():
        assert made.pcompile("bootstrap", "--stack", "sim").code == 0
        run = made.pcompile("deploy", "app.py", "--stack", "sim", "--yes", "--json")
        assert run.code == 0, run.stderr[-3000:]
        assert "stores" in run.json()["steps"]
        yield made


def _call(project: Project, function: str, *args: Any) -> Run:
    return project.python(
        "import json, pcompile\n"
        f"f = pcompile.Function.from_name('e2e-kv', {function!r}, stack='sim')\n"
        f"print(json.dumps(f.remote(*{list(args)!r})))"
    )


def _result(done: Run) -> Any:
    assert done.code == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_deploy_created_on_demand_tables_with_ttl(project: Project, moto: str) -> None:
    dynamodb = aws(moto, "dynamodb")
    for table in TABLES:
        described = dynamodb.describe_table(TableName=table)["Table"]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]} == {
            "pk": "HASH",
            "sk": "RANGE",
        }
        ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    tags = dynamodb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]
    assert {"Key": "pcompile-kv-name", "Value": "e2e-jobs"} in tags


def test_one_function_writes_another_reads_and_the_cli_agrees(project: Project) -> None:
    assert _result(_call(project, "produce", 3)) == 3  # on Lambda
    got = _result(_call(project, "consume"))  # on Batch
    assert got == {"best": 3, "seen": 3, "len": 3, "items": ["job-0", "job-1", "job-2"]}
    value = project.pcompile("dict", "get", "e2e-scores", "best", "--stack", "sim")
    assert (value.code, value.stdout) == (0, "3\n"), value.stderr
    length = project.pcompile("queue", "len", "e2e-jobs", "--stack", "sim")
    assert (length.code, length.stdout) == (0, "3\n"), length.stderr


def test_a_missing_dict_without_create_if_missing_stops_the_deploy(project: Project, moto: str) -> None:
    (project.root / "missing.py").write_text(MISSING)
    run = project.pcompile("deploy", "missing.py", "--stack", "sim", "--yes")
    assert run.code == 1, run.stdout + run.stderr
    assert "missing.py:5: Dict 'e2e-never-made' does not exist on stack 'sim'" in run.stderr
    assert "create_if_missing=True" in run.stderr and "Traceback" not in run.stderr
    names = aws(moto, "dynamodb").list_tables()["TableNames"]
    assert "pcompile-sim-dict-e2e-never-made" not in names
    assert "e2e-kv-missing-sim-read" not in json.dumps(aws(moto, "lambda").list_functions())


def test_without_the_table_grant_the_writer_is_denied(project: Project, tmp_path: Path) -> None:
    patch = tmp_path / "drop-kv-grant"
    patch.mkdir()
    (patch / "sitecustomize.py").write_text(DROP_KV_GRANT)
    run = project.pcompile(
        "deploy", "app.py", "--stack", "sim", "--yes", env_extra={"PYTHONPATH": str(patch)}
    )
    assert run.code == 0, run.stderr[-3000:]
    stop_service(project.root, "sim")  # the next call starts fresh environments (new credentials)
    denied = _call(project, "produce", 1)
    assert denied.code != 0, denied.stdout
    assert "AccessDenied" in denied.stderr, denied.stderr[-3000:]
