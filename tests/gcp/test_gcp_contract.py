"""Contract tests: synthesized GCP infrastructure + the runtime's modes + the invoker, on gcp-storage-emulator.

The fixture app is compiled and synthesized; its buckets and stored job templates
are created in the emulator; each Cloud Run service is played by
``python -m pcompile.runtime http`` started with *the environment of its
synthesized service* (secret references resolved as Cloud Run would); Batch jobs
are run by :class:`FakeBatchJobs` as ``python -m pcompile.runtime gcpbatch``
subprocesses with the job's environment. A mismatch between emitted infrastructure
and runtime fails here.

What every invoker must do alike (values, generators, map with exceptions, spawn and
get, timeouts, unknown functions, the user's exception type, cancel) is the contract
suite, ``tests/contract``, which runs the GCP invoker too; this file keeps what is
GCP's own: ID tokens, secrets, volumes, schedules, web services and Batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from gcp_kit import SETTINGS, stop, wait_for_port
from google.api_core.exceptions import Conflict
from servers import free_port, popen_group

from pcompile.compiler import compile_file
from pcompile.compiler.ir import AppSpec
from pcompile.exception import ExecutionError, FunctionTimeoutError, InvokeError, NotFoundError
from pcompile.providers.gcp import clients as gc
from pcompile.providers.gcp import invoker as gi
from pcompile.providers.gcp import names
from pcompile.providers.invoker import Target
from pcompile.providers.manifest import Manifest
from pcompile.providers.synth import synthesize
from pcompile.runtime import gcp_env, staging
from pcompile.runtime.gcp_container import task_key
from pcompile.runtime.storage_gcs import GcsStorage, gcs_client

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SECRET_VALUES = {"contract-secret": {"CONTRACT_TOKEN": "tok-123"}}
SECRET_SIG = "4dabf18193072939515e22adb298388d"


def _plain(value: Any) -> Any:
    """A mocked input with Pulumi's secret wrapper removed."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


@dataclass
class Deployed:
    """The fixture app synthesized and laid out in the emulator."""

    app: AppSpec
    synth: dict[str, Any]
    emulator: str
    servers: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def staging(self) -> str:
        return names.staging_bucket(SETTINGS.project or "", SETTINGS.name, self.app.name)

    def resources(self, type_token: str) -> list[dict[str, Any]]:
        return [r["inputs"] for r in self.synth["resources"] if r["type"] == type_token]

    def base_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "STORAGE_EMULATOR_HOST": self.emulator,
            "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")]),
        }

    def service_env(self, function: str) -> dict[str, str]:
        """The container environment of ``function``'s synthesized Cloud Run service."""
        wanted = names.service_name(self.app.name, function)
        (service,) = [s for s in self.resources("gcp:cloudrunv2/service:Service") if s["name"] == wanted]
        env: dict[str, str] = {}
        for item in service["template"]["containers"][0]["envs"]:
            if "value" in item:
                env[item["name"]] = item["value"]
            else:  # Cloud Run resolves Secret Manager references at start
                secret = item["valueSource"]["secretKeyRef"]["secret"]
                env[item["name"]] = json.dumps(SECRET_VALUES[secret])
        return env

    def container_port(self, function: str) -> int:
        wanted = names.service_name(self.app.name, function)
        (service,) = [s for s in self.resources("gcp:cloudrunv2/service:Service") if s["name"] == wanted]
        return int(service["template"]["containers"][0]["ports"]["containerPort"])

    def serve(self, function: str) -> str:
        """Start the ``http`` runtime for ``function`` (once) and return its URL.

        ``PORT`` is what Cloud Run would set: the synthesized container port, except
        that the default 8080 is swapped for a free port so services can run side by side.
        """
        if function not in self.servers:
            declared = self.container_port(function)
            port = free_port() if declared == 8080 else declared
            env = {
                **self.base_env(),
                **self.service_env(function),
                "PORT": str(port),
                "PCOMPILE_HOST": "127.0.0.1",
            }
            cmd = [sys.executable, "-m", "pcompile.runtime", "http"]
            proc = popen_group(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.procs.append(proc)
            wait_for_port(port, proc)
            self.servers[function] = f"http://127.0.0.1:{port}"
        return self.servers[function]

    def manifest(self) -> Manifest:
        """The synthesized manifest, with service URLs pointing at the local runtimes."""
        (obj,) = [
            o
            for o in self.resources("gcp:storage/bucketObject:BucketObject")
            if o["name"].startswith("manifests/")
        ]
        manifest = Manifest.loads(_plain(obj["content"]))
        for name, address in manifest.functions.items():
            if address.target == "cloudrun":
                address.addresses["service_url"] = self.servers.get(name, "http://127.0.0.1:9")
        return manifest

    def batch_runner(self) -> gc.TaskRunner:
        secrets = {
            names.secret_env(s): json.dumps(v) for s, v in SECRET_VALUES.items()
        }  # Batch resolves secretVariables
        return gc.subprocess_task_runner({**self.base_env(), **secrets})

    def invoker(self, batch: gc.BatchJobs | None = None) -> gi.GcpInvoker:
        storage = GcsStorage(self.staging)
        storage.put(names.manifest_key(self.app.name), self.manifest().dumps().encode())
        manifest = gi.read_manifest(storage, self.app.name)
        jobs = batch or gc.FakeBatchJobs(runner=self.batch_runner())
        return gi.GcpInvoker(
            manifest, storage, tokens=gc.StaticTokens(), http=gc.HttpxPost(), batch=jobs, poll_s=0.05
        )


@pytest.fixture(scope="module")
def deployed(gcs_emulator: str) -> Iterator[Deployed]:
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = gcs_emulator
    app = compile_file(str(FIXTURES / "gcp_contract_app.py")).app()
    dep = Deployed(app, synthesize("gcp", app, SETTINGS).to_json(), gcs_emulator)
    client = gcs_client()
    for bucket in dep.resources("gcp:storage/bucket:Bucket"):
        with contextlib.suppress(Conflict):  # another test module laid it out already
            client.create_bucket(bucket["name"])
    for obj in dep.resources("gcp:storage/bucketObject:BucketObject"):
        client.bucket(obj["bucket"]).blob(obj["name"]).upload_from_string(_plain(obj["content"]))
    try:
        yield dep
    finally:
        for proc in dep.procs:
            stop(proc)
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous


def target(dep: Deployed, function: str) -> Target:
    return Target(dep.app.name, function)


# ------------------------------------------------------------------------ Cloud Run


def test_call_sends_an_id_token_for_the_service(deployed: Deployed) -> None:
    url = deployed.serve("square")
    inv = deployed.invoker()
    assert inv.call(target(deployed, "square"), (7,), {}) == 49
    assert isinstance(inv.tokens, gc.StaticTokens) and inv.tokens.audiences == [url]


def test_secret_keys_are_exported_to_the_environment(deployed: Deployed) -> None:
    deployed.serve("read_secret")
    assert deployed.invoker().call(target(deployed, "read_secret"), ("CONTRACT_TOKEN",), {}) == "tok-123"


def test_large_input_is_staged_and_volume_changes_are_committed(deployed: Deployed) -> None:
    deployed.serve("write_file")
    text = "x" * (3 * 1024 * 1024)
    listing = deployed.invoker().call(target(deployed, "write_file"), ("big.txt", text), {})
    assert "big.txt" in listing
    staged = list(GcsStorage(deployed.staging).list(staging.blobs("write_file", staging.INPUTS) + "/"))
    assert staged, "a 3 MiB input must travel through the staging bucket"
    volume = names.bucket_name(SETTINGS.project or "", SETTINGS.name, deployed.app.name, "vol-data")
    assert len(GcsStorage(volume).get("big.txt")) == len(text)


def test_spawn_id_is_durable_across_invokers(deployed: Deployed) -> None:
    deployed.serve("square")
    first = deployed.invoker()
    call_id = first.spawn(target(deployed, "square"), (5,), {})
    first.wait_spawned(30)
    assert call_id.startswith(f"gcp:{deployed.staging}/square/")
    assert deployed.invoker().get(call_id, timeout=30) == 25


def test_gated_period_runs_only_on_period_boundaries(deployed: Deployed) -> None:
    url = deployed.serve("every_7h")
    assert json.loads(deployed.service_env("every_7h")[gcp_env.SCHEDULE])["period_s"] == 7 * 3600

    def fire(epoch: int) -> dict[str, Any]:
        when = datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
        headers = {"Content-Type": "application/json", "X-CloudScheduler-ScheduleTime": when}
        response = httpx.post(f"{url}/invoke", json={"scheduled": True}, headers=headers, timeout=30)
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    boundary = 7 * 3600 * 200_000
    assert fire(boundary)["ran"] is True
    assert fire(boundary + 3600)["ran"] is False
    assert fire(boundary + 7 * 3600)["ran"] is True


def test_web_endpoint_serves_the_user_route_and_not_invoke(deployed: Deployed) -> None:
    url = deployed.serve("double")
    assert httpx.post(f"{url}/", json={"x": 21}, timeout=30).json() == {"y": 42}
    assert httpx.post(f"{url}/invoke", content=b"x", timeout=30).status_code in (404, 405)
    assert deployed.invoker().web_url(target(deployed, "double")) is not None


def test_web_server_is_proxied_from_the_service_container_port(deployed: Deployed) -> None:
    # the container port is the front's (proxy auth, health path); the server keeps 18793
    assert deployed.container_port("files") == 8080
    url = deployed.serve("files")
    for _ in range(600):  # as Cloud Run's startup probe: the health path, until 200
        if httpx.get(f"{url}/__pcompile/healthz", timeout=30).status_code == 200:
            break
        time.sleep(0.05)
    assert httpx.get(f"{url}/gcp_contract_app.py", timeout=30).text.startswith('"""The app the GCP contract')


# ---------------------------------------------------------------------------- Batch


def test_batch_call_runs_the_stored_template(deployed: Deployed) -> None:
    jobs = gc.FakeBatchJobs(runner=deployed.batch_runner())
    inv = deployed.invoker(jobs)
    assert inv.call(target(deployed, "batch_square"), (6,), {}) == 36
    (job,) = jobs.jobs.values()
    policy = job["allocationPolicy"]["instances"][0]["policy"]
    assert policy["machineType"] == "a2-highgpu-1g"
    call = job["taskGroups"][0]["taskSpec"]["environment"]["variables"][gcp_env.CALL]
    assert GcsStorage(deployed.staging).exists(task_key("batch_square", call, 0))
    volume = names.bucket_name(SETTINGS.project or "", SETTINGS.name, deployed.app.name, "vol-data")
    assert GcsStorage(volume).get("batch-6.txt") == b"36"


def test_batch_map_uses_task_slices(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gi, "MAX_TASKS", 2)
    jobs = gc.FakeBatchJobs(runner=deployed.batch_runner())
    inv = deployed.invoker(jobs)
    flags = {"order_outputs": True, "return_exceptions": False, "wrap_returned_exceptions": False}
    assert list(inv.map(target(deployed, "batch_square"), [((i,), {}) for i in range(5)], **flags)) == [
        0,
        1,
        4,
        9,
        16,
    ]
    (job,) = jobs.jobs.values()
    assert (job["taskGroups"][0]["taskCount"], job["taskGroups"][0]["parallelism"]) == ("2", "2")


def test_batch_error_and_cancel(deployed: Deployed) -> None:
    jobs = gc.FakeBatchJobs(runner=deployed.batch_runner())
    inv = deployed.invoker(jobs)
    with pytest.raises(KeyError, match="missing 3"):
        inv.call(target(deployed, "batch_fail"), (3,), {})
    idle = gc.FakeBatchJobs()  # records the job, runs nothing
    call_id = deployed.invoker(idle).spawn(target(deployed, "batch_square"), (2,), {})
    with pytest.raises(FunctionTimeoutError):
        deployed.invoker(idle).get(call_id, timeout=0)
    deployed.invoker(idle).cancel(call_id)
    assert list(idle.states.values()) == ["DELETION_IN_PROGRESS"]
    with pytest.raises(ExecutionError, match="cancelled"):
        deployed.invoker(idle).get(call_id, timeout=None)


def test_a_batch_job_that_ends_without_a_result_is_an_invoke_error(deployed: Deployed) -> None:
    idle = gc.FakeBatchJobs()  # records the job, runs nothing
    call_id = deployed.invoker(idle).spawn(target(deployed, "batch_square"), (2,), {})
    idle.delete(next(iter(idle.jobs)))  # the job goes away behind the caller's back
    with pytest.raises(InvokeError, match="without a result"):
        deployed.invoker(idle).get(call_id, timeout=None)


def test_spawn_whose_service_is_unreachable_fails_instead_of_hanging(deployed: Deployed) -> None:
    inv = deployed.invoker()
    inv.manifest.functions["fail"].addresses["service_url"] = "http://127.0.0.1:9"
    call_id = inv.spawn(target(deployed, "fail"), ("x",), {})
    inv.wait_spawned(30)
    with pytest.raises(InvokeError, match="failed"):
        deployed.invoker().get(call_id, timeout=30)


def test_reload_sees_what_another_container_committed(deployed: Deployed) -> None:
    deployed.serve("read_back")  # started (and synced) before the write below
    deployed.serve("write_file")
    inv = deployed.invoker()
    inv.call(target(deployed, "write_file"), ("note.txt", "hello from another container"), {})
    assert inv.call(target(deployed, "read_back"), ("note.txt",), {}) == "hello from another container"


def test_from_stack_finds_the_manifest_in_the_derived_staging_bucket(deployed: Deployed) -> None:
    deployed.invoker()  # uploads the manifest
    inv = gi.from_stack(deployed.app.name, SETTINGS)
    assert inv.manifest.app == deployed.app.name and inv.bucket == deployed.staging
    assert inv.address(target(deployed, "batch_square")).target == "gcpbatch"
    with pytest.raises(NotFoundError, match="'no-such-app' is not deployed on stack 'dev'"):
        gi.from_stack("no-such-app", SETTINGS)


def test_from_stack_needs_a_project() -> None:
    from pcompile.compiler.errors import UserError
    from pcompile.providers.settings import StackSettings

    with pytest.raises(UserError, match="no GCP project"):
        gi.from_stack("x", StackSettings(name="dev", cloud="gcp"))


def test_every_staged_object_sits_under_its_functions_own_prefix(deployed: Deployed) -> None:
    """Runs last: what the calls above left in staging follows the layout the IAM grants."""
    keys = list(GcsStorage(deployed.staging).list(""))
    functions = {f.name for f in deployed.app.functions}
    results = [k for k in keys if k.endswith(".result")]
    assert results and len([k for k in keys if k.startswith(f"{staging.ROOT}/")]) > len(results)
    for key in keys:
        if key.startswith((f"{names.MANIFESTS}/", f"{names.TEMPLATES}/")):
            continue
        root, function, kind, _ = key.split("/", 3)
        assert (root, kind) in ((staging.ROOT, staging.INPUTS), (staging.ROOT, staging.RESULTS)), key
        assert function in functions, key
    for key in results:
        assert key.split("/")[2] == staging.RESULTS, key
