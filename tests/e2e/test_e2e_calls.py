"""The SDK calls what ``pcompile deploy`` put in the emulator (issue 11's call side).

The app is bootstrapped and deployed with the CLI on a simulate stack; its source is
then moved away, so code reaches the runtime only through the published bundle. Each
call runs in a fresh Python process in the project folder, through
``pcompile.Function.from_name(..., stack="sim")`` and the production AWS invoker; the
simulated compute service (started on first use) runs the runtime from what moto
holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_kit import Project, aws

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def deployed(moto: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict[str, Any]]]:
    project = Project(tmp_path_factory.mktemp("calls"), moto)
    with project.compute_stopped():
        assert project.pcompile("bootstrap", "--stack", "sim").code == 0
        run = project.pcompile("deploy", "app.py", "--stack", "sim", "--yes", "--json")
        assert run.code == 0, run.stderr
        away = project.root.parent / f"{project.root.name}-source"
        away.mkdir()
        shutil.move(str(project.root / "app.py"), away / "app.py")  # the source is gone
        yield project, run.json()


def call(project: Project, code: str, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` (which prints one JSON value) in a fresh Python process in the project."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    prelude = "import json, pcompile\nSTACK = 'sim'\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=project.root,
        env={**base, **project.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def fn(name: str) -> str:
    return f"pcompile.Function.from_name('e2e-mix', {name!r}, stack=STACK)"


def test_remote_on_lambda_and_on_batch(deployed: tuple[Project, dict[str, Any]]) -> None:
    project, _ = deployed
    assert not (project.root / "app.py").exists()
    got = call(project, f"print(json.dumps([{fn('hello')}.remote('x'), {fn('gpu_double')}.remote(21)]))")
    assert got == ["hello x", 42]


def test_map_of_1000_returns_all_in_order(deployed: tuple[Project, dict[str, Any]]) -> None:
    project, _ = deployed
    got = call(project, f"print(json.dumps(list({fn('square')}.map(range(1000)))))")
    assert got == [x * x for x in range(1000)]


def test_spawn_then_from_id_in_a_third_process(deployed: tuple[Project, dict[str, Any]], moto: str) -> None:
    project, _ = deployed
    call_id = call(project, f"print(json.dumps({fn('gpu_double')}.spawn(5).object_id))")
    # A process that knows only the call id and the emulator (as a CI job would).
    env = {"AWS_ENDPOINT_URL": moto, "AWS_DEFAULT_REGION": "us-east-1", **project.env}
    got = call(
        project, f"print(json.dumps(pcompile.FunctionCall.from_id({call_id!r}).get(timeout=300)))", env
    )
    assert got == 10


def test_class_method_answers(deployed: tuple[Project, dict[str, Any]]) -> None:
    project, _ = deployed
    got = call(
        project,
        "Model = pcompile.Cls.from_name('e2e-mix', 'Model', stack=STACK)\nprint(json.dumps(Model().generate.remote(4)))",
    )
    assert got == 8


def test_web_endpoint_answers_at_the_printed_url(deployed: tuple[Project, dict[str, Any]]) -> None:
    _, report = deployed
    url = report["endpoints"]["echo"]
    assert url.startswith("http://127.0.0.1:")
    answer = httpx.post(url, json={"a": 1}, timeout=120)
    assert answer.status_code == 200 and answer.json() == {"echo": {"a": 1}}


def test_volume_round_trip_and_volume_get(deployed: tuple[Project, dict[str, Any]]) -> None:
    project, _ = deployed
    assert call(project, f"print(json.dumps({fn('write_weights')}.remote('w-123')))") == 5
    assert call(project, f"print(json.dumps({fn('read_weights')}.remote()))") == "w-123"
    got = project.pcompile("volume", "get", "weights", "/w.txt", "-", "--stack", "sim")
    assert got.code == 0, got.stderr
    assert got.stdout == "w-123"


def test_secret_from_dict_reaches_the_function_through_secrets_manager(
    deployed: tuple[Project, dict[str, Any]], moto: str
) -> None:
    project, _ = deployed
    assert call(project, f"print(json.dumps({fn('secret_value')}.remote()))") == "tok-123"
    config = aws(moto, "lambda").get_function(FunctionName="e2e-mix-sim-secret-value")["Configuration"]
    assert "tok-123" not in json.dumps(config)  # not in the function's environment: only its secret id


def test_schedule_fires_on_demand_and_runs(deployed: tuple[Project, dict[str, Any]], moto: str) -> None:
    from pcompile.compiler.stacks import load_stack
    from pcompile.providers.simulate import compute

    project, _ = deployed
    settings = load_stack("sim", project.root)
    (name,) = [s["Name"] for s in aws(moto, "scheduler").list_schedules()["Schedules"] if "tick" in s["Name"]]
    fired = compute.fire_schedule(project.root, settings, name, wait=True)
    assert fired["status"] == "SUCCEEDED"
    got = project.pcompile("volume", "get", "weights", "/tick.txt", "-", "--stack", "sim")
    assert got.code == 0 and got.stdout == "ticked"


def test_edit_then_redeploy_next_call_returns_the_new_value(deployed: tuple[Project, dict[str, Any]]) -> None:
    project, first = deployed
    source = project.root.parent / f"{project.root.name}-source" / "app.py"
    (project.root / "app.py").write_text(source.read_text().replace('"hello " + name', '"hi " + name'))
    run = project.pcompile("deploy", "app.py", "--stack", "sim", "--yes", "--json")
    assert run.code == 0, run.stderr
    second = run.json()
    assert second["images_built"] == [] and second["bundle_uploaded"] is True
    assert second["bundle"] != first["bundle"]
    (project.root / "app.py").unlink()
    assert call(project, f"print(json.dumps({fn('hello')}.remote('x')))") == "hi x"
