"""GCP on one machine, end to end: ``pcompile bootstrap`` and ``pcompile deploy --stack
<gcp simulate stack> --yes`` of an app with a Cloud Run function, a GCP Batch GPU
function and a web endpoint; then, from a fresh Python process with the app's source
moved away, ``pcompile.Function.from_name(app, name, stack=...)`` calls both functions
through the production GCP invoker, and the web endpoint answers over HTTP at the URL
deploy printed. A Cloud Run service the API would refuse stops deploy with exit 2."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gcp_sim_kit import STACK_FILE, storage_emulator
from servers import free_port

from pcompile.providers.simulate import gcp_compute
from pcompile.providers.simulate import gcp_resources as gr
from pcompile.providers.simulate.state import state_path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "gcp_sim_app.py"
STACK = "gcp-sim"


@dataclass
class Project:
    """A user's project folder with the simulate stack file, and the emulator behind it."""

    root: Path
    emulator: str

    def env(self) -> dict[str, str]:
        # Only the stack file says where storage is; the runtimes run in each image's local
        # environment (the "pushed" image), not on this interpreter.
        env = {k: v for k, v in os.environ.items() if k != "STORAGE_EMULATOR_HOST"}
        return {**env, "PCOMPILE_IMAGE_ENV": "1", "CI": "true"}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pcompile.cli", *args]
        return subprocess.run(
            argv, cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=600
        )

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", code]
        return subprocess.run(
            argv, cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=600
        )

    def state_dir(self) -> Path:
        return gr.state_dir(self.root, STACK)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with storage_emulator() as url:
        root = tmp_path_factory.mktemp("gcp-sim-project")
        (root / "stacks").mkdir()
        (root / "stacks" / f"{STACK}.yaml").write_text(STACK_FILE.format(url=url))
        shutil.copy(FIXTURE, root / "app.py")
        proj = Project(root, url)
        try:
            yield proj
        finally:
            gcp_compute.stop_running(proj.state_dir())


@pytest.fixture(scope="module")
def deployed(project: Project) -> dict[str, Any]:
    boot = project.cli("bootstrap", "--stack", STACK, "--json")
    assert boot.returncode == 0, boot.stderr
    assert json.loads(boot.stdout)["outputs"]["staging_bucket"] == "pcompile-sim-pcompile-staging"
    made = project.cli("secret", "create", "sim-token", "TOKEN=tok-42", "--stack", STACK)
    assert made.returncode == 0, made.stderr
    listed = project.cli("secret", "list", "--stack", STACK)
    assert listed.stdout.splitlines() == ["sim-token\tTOKEN"], listed.stderr
    done = project.cli("deploy", "app.py", "--stack", STACK, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    # The code reaches the runtimes only through the uploaded bundle.
    (project.root / "app.py").rename(project.root / "app.py.moved")
    return report


CALLS = """
import json
import pcompile

square = pcompile.Function.from_name("gcp-sim", "square", stack="gcp-sim")
train = pcompile.Function.from_name("gcp-sim", "train", stack="gcp-sim")
print(json.dumps({"square": square.remote(7), "train": train.remote(5)}))
print(json.dumps({"map": [r["steps"] for r in train.map([1, 2, 3])], "squares": [r["value"] for r in square.map(range(20))]}))
"""


def test_deploy_creates_what_the_program_declares(project: Project, deployed: dict[str, Any]) -> None:
    assert deployed["changes"]["create"] == deployed["resources_changed"] > 10
    assert deployed["bundle_uploaded"] is True and deployed["bundle"].startswith(
        "gs://pcompile-sim-pcompile-staging/"
    )
    plane = json.loads((project.state_dir() / gr.PLANE_FILE).read_text())
    assert sorted(plane["services"]) == [
        f"projects/pcompile-sim/locations/us-central1/services/gcp-sim-{fn}"
        for fn in ("nightly", "predict", "square")
    ]
    (job,) = plane["scheduler_jobs"].values()
    assert (job["schedule"], job["timeZone"]) == ("0 2 * * *", "UTC")


def test_cloud_run_and_batch_answer_a_fresh_process(project: Project, deployed: dict[str, Any]) -> None:
    done = project.python(CALLS)
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout.strip().splitlines()[-2])
    mapped = json.loads(done.stdout.strip().splitlines()[-1])
    # A Batch map is one job with a task per slice; a Cloud Run map is chunks of requests.
    assert mapped == {"map": [1, 2, 3], "squares": [x * x for x in range(20)]}
    # Both ran in the image's local environment (the "pushed" image), not this interpreter.
    images = json.loads((project.state_dir() / "images.json").read_text())
    (env,) = {entry["python"] for entry in images.values()}
    assert values["square"].pop("python") == values["train"].pop("python") == env != sys.executable
    # Secret Manager references resolved as Cloud Run and Batch resolve them.
    assert values["square"] == {"value": 49, "token": "tok-42", "mode": "sim-mode"}
    # Run by the simulated Batch as one task of a job created from the stored template.
    assert values["train"] == {"steps": 5, "task": "0", "function": "train", "token": "tok-42"}


def test_spawn_then_from_id_in_a_third_process(project: Project, deployed: dict[str, Any]) -> None:
    spawn = 'import pcompile; print(pcompile.Function.from_name("gcp-sim", "train", stack="gcp-sim").spawn(9).object_id)'
    spawned = project.python(spawn)
    assert spawned.returncode == 0, spawned.stderr
    call_id = spawned.stdout.strip().splitlines()[-1]
    assert call_id.startswith("gcp:gcp-sim-staging-")
    # A process that knows only the call id, the storage emulator and the Batch API.
    player = json.loads((project.state_dir() / gcp_compute.RECORD).read_text())["url"]
    env = {"STORAGE_EMULATOR_HOST": project.emulator, "PCOMPILE_GCP_BATCH_ENDPOINT": player}
    code = f"import json, pcompile; print(json.dumps(pcompile.FunctionCall.from_id({call_id!r}).get(timeout=300)))"
    got = subprocess.run(
        [sys.executable, "-c", code],
        cwd="/",
        env={**project.env(), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout.strip().splitlines()[-1])["steps"] == 9


def test_the_web_endpoint_answers_at_the_printed_url(deployed: dict[str, Any]) -> None:
    url = deployed["endpoints"]["predict"]
    answer = httpx.post(url, json={"x": 4}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"y": 12}


def test_a_private_service_refuses_a_request_without_an_id_token(deployed: dict[str, Any]) -> None:
    predict = deployed["endpoints"]["predict"]
    square = predict.replace("gcp-sim-predict", "gcp-sim-square")
    answer = httpx.post(f"{square}/invoke", content=b"x", timeout=60)
    assert answer.status_code == 401 and "no ID token" in answer.text


FIRE = """
import json
from pathlib import Path

from pcompile.compiler.stacks import load_stack
from pcompile.providers.simulate.gcp_compute import fire_scheduler_job

print(json.dumps(fire_scheduler_job(Path.cwd(), load_stack("gcp-sim"), "gcp-sim-nightly")))
"""


def test_a_scheduler_job_fires_its_target_once_on_demand(project: Project, deployed: dict[str, Any]) -> None:
    done = project.python(FIRE)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    # The stored job's OIDC POST reached the private service, which ran the function.
    assert answer["status"] == 200, answer
    assert json.loads(answer["body"]) == {"ran": True, "status": "ok", "error": None}


def test_code_defined_secret_values_stay_out_of_the_engine_state(
    project: Project, deployed: dict[str, Any]
) -> None:
    state = state_path(project.root, STACK, "pcompile-gcp-sim").read_text()
    assert "sim-mode" not in state and "<sha256:" in state
    # The simulated Secret Manager holds the value (base64, as the API returns it).
    assert (
        base64.b64encode(b'{"MODE": "sim-mode"}').decode()
        in (project.state_dir() / gr.PLANE_FILE).read_text()
    )


def test_an_edited_function_is_served_after_a_second_deploy(
    project: Project, deployed: dict[str, Any]
) -> None:
    source = (project.root / "app.py.moved").read_text()
    (project.root / "app.py").write_text(source.replace('"value": x * x', '"value": x * x + 1'))
    done = project.cli("deploy", "app.py", "--stack", STACK, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["bundle_uploaded"] is True and report["images_built"] == []
    assert "create" not in report["changes"] and report["changes"]["update"] >= 1
    (project.root / "app.py").unlink()
    called = project.python(CALLS)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout.strip().splitlines()[-2])["square"]["value"] == 50


BAD_APP = """
import modal

app = modal.App("gcp-bad")


@app.function()
@modal.concurrent(max_inputs=5000)
def busy(x: int) -> int:
    return x
"""


def test_a_service_the_api_refuses_stops_deploy_with_exit_2(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / "bad.py").write_text(BAD_APP)
    done = project.cli("deploy", "bad.py", "--stack", STACK, "--yes")
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "gcp-bad-fn-busy-run (gcp:cloudrunv2/service:Service)" in message
    assert "maxInstanceRequestConcurrency 5000 must be between 1 and 1000" in message
    # The state describes what exists: what was created before the refusal, not the service.
    state = json.loads(state_path(project.root, STACK, "pcompile-gcp-bad").read_text())["resources"]
    types = {entry["type"] for entry in state.values()}
    assert "gcp:cloudrunv2/service:Service" not in types
    assert "gcp:storage/bucket:Bucket" in types
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", project.emulator)
    client = storage.Client(project="pcompile-sim", credentials=AnonymousCredentials())
    for entry in state.values():
        if entry["type"] == "gcp:storage/bucket:Bucket":
            assert client.bucket(entry["id"]).exists()


def test_destroy_removes_what_deploy_created(project: Project, deployed: dict[str, Any]) -> None:
    done = project.cli("destroy", "--stack", STACK, "--app", "gcp-sim", "--yes")
    assert done.returncode == 0, done.stderr
    assert json.loads(state_path(project.root, STACK, "pcompile-gcp-sim").read_text())["resources"] == {}
    plane = json.loads((project.state_dir() / gr.PLANE_FILE).read_text())
    assert not [name for name in plane["services"] if "gcp-sim-" in name]
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="pcompile-sim",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": project.emulator},
    )
    left = sorted(b.name for b in client.list_buckets())
    assert not [b for b in left if b.startswith("gcp-sim-")], left


def test_an_unanswering_storage_emulator_stops_deploy_before_anything_is_built(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "dead.yaml").write_text(STACK_FILE.format(url=url))
    shutil.copy(FIXTURE, tmp_path / "app.py")
    done = Project(tmp_path, url).cli("deploy", "app.py", "--stack", "dead", "--yes")
    assert done.returncode == 1, done.stderr
    message = " ".join(done.stderr.split())
    assert f"the GCP storage emulator at endpoint_url {url}" in message and "does not answer" in message
    assert not (tmp_path / ".pcompile" / "build").exists()
    assert not (tmp_path / ".pcompile" / "simulate" / "dead" / "images.json").exists()
