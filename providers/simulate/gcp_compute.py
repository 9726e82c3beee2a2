"""GCP compute of ``engine: simulate``: one loopback service playing Cloud Run and GCP Batch
from the definitions the simulated control plane holds (:mod:`.gcp_resources`).

* **Cloud Run**: every simulated service URL is ``<player>/run/<location>/<service>``. The
  first request to a service starts its container as Cloud Run would, from the stored
  ``run_v2.Service``: the container's ``command`` + ``args`` (``python`` mapped to the
  image's local environment, :mod:`.compute_images`), its ``env`` with Secret Manager
  references resolved, ``PORT`` on a free loopback port. Requests are forwarded to it.
  A private service (no ``allUsers`` invoker binding) answers 401 without a bearer
  token for its own URL, so the invoker's ID-token audience is checked too.
* **GCP Batch**: the REST surface google-cloud-batch's ``rest`` transport calls
  (``POST /v1/projects/*/locations/*/jobs``, ``GET`` and ``DELETE`` on a job). A created
  job is parsed as ``batch_v1.Job`` (unknown fields refused) and its tasks are run, in
  order, as Batch runs them: the runnable's ``entrypoint`` + ``commands`` with the task
  group's ``variables``, resolved ``secretVariables`` and ``BATCH_TASK_INDEX``.

Nothing reaches a runtime from the compiler except through what deploy stored: the
definitions in the control plane, the code bundle and templates in the storage emulator.
The service is started on first use (:func:`ensure_running`), recorded in
``.pcompile/simulate/<stack>/gcp-compute.json``, and exits after 10 idle minutes; it and
the runtimes it starts share one process group, which tests stop.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pcompile.providers.simulate import gcp_resources as gr
from pcompile.providers.simulate.compute_images import Launch, resolve

IDLE_EXIT_S = 600.0
RECORD = "gcp-compute.json"
# What a runtime inherits from this process; everything else comes from the stored definition.
# FIRESTORE_EMULATOR_HOST: where a stack's Dicts and Queues live when a Firestore emulator
# stands in for Firestore (the runtimes' client library honours it, as the CLI's does).
PLATFORM_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "PCOMPILE_HOME",
    "PCOMPILE_IMAGE_ENV",
    "FIRESTORE_EMULATOR_HOST",
)
TOKEN_PREFIX = "sim-id-token:"
STOP = "stop"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _launch(state_dir: Path, image: str) -> Launch:
    """How to run ``image``: the local environment a simulate deploy published for it."""
    return resolve(state_dir, image)


@dataclass
class Platform:
    """What every runtime this service starts shares: storage, control plane, logs."""

    state_dir: Path
    storage_host: str
    project: str

    def plane(self) -> gr.ControlPlane:
        """The control plane as deploy last wrote it (re-read: a redeploy changes it)."""
        return gr.ControlPlane.load(self.state_dir / gr.PLANE_FILE)

    def base_env(self) -> dict[str, str]:
        """The platform's part of a runtime's environment."""
        env = {k: os.environ[k] for k in PLATFORM_ENV if k in os.environ}
        return {**env, "STORAGE_EMULATOR_HOST": self.storage_host, "PCOMPILE_HOST": "127.0.0.1"}

    def log(self, name: str) -> Any:
        """The append-only log file of one service or job (what Cloud Logging would hold)."""
        path = self.state_dir / "logs" / f"{name.replace('/', '_')}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "ab")  # noqa: SIM115 - handed to the child


# ------------------------------------------------------------------ Cloud Run


@dataclass
class Revision:
    """One running container of a service, started from its stored definition."""

    definition: dict[str, Any]
    proc: subprocess.Popen[bytes]
    port: int

    def alive(self) -> bool:
        """Whether the container still runs."""
        return self.proc.poll() is None


def container_env(platform: Platform, plane: gr.ControlPlane, container: dict[str, Any]) -> dict[str, str]:
    """A container's environment as Cloud Run sets it: values, and secrets resolved at start."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        ref = (item.get("valueSource") or {}).get("secretKeyRef")
        if ref:
            env[item["name"]] = gr.secret_payload(plane, platform.project, ref["secret"], ref.get("version"))
        else:
            env[item["name"]] = str(item.get("value", ""))
    return env


def start_revision(platform: Platform, name: str, definition: dict[str, Any]) -> Revision:
    """Start the service's one container and wait until it listens on its port."""
    plane = platform.plane()
    (container,) = definition["template"]["containers"]
    try:
        values = container_env(platform, plane, container)
    except KeyError as exc:  # Cloud Run fails the revision when a referenced secret is missing
        raise RuntimeError(f"the container of {name} cannot start: {exc.args[0]}") from None
    launch = _launch(platform.state_dir, container["image"])
    port = _free_port()
    env = {
        **launch.env,
        **platform.base_env(),
        **values,
        "PORT": str(port),
    }
    argv = launch.argv([*container.get("command", []), *container.get("args", [])])
    with platform.log(name) as log:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    revision = Revision(definition, proc, port)
    _wait_listening(revision, name)
    return revision


def _wait_listening(revision: Revision, name: str, timeout: float = 120.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not revision.alive():
            raise RuntimeError(
                f"the container of {name} exited with {revision.proc.returncode} (see its log)"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", revision.port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the container of {name} did not listen on its port within {timeout:.0f} s")


def is_public(plane: gr.ControlPlane, location: str, service: str) -> bool:
    """Whether ``allUsers`` holds ``roles/run.invoker`` on the service."""
    for binding in plane.table("iam").values():
        on = binding["resource"]
        if binding["type"].startswith("gcp:cloudrunv2/serviceIamMember") and on.get("name") == service:
            if on.get("location", location) == location and binding["member"] == "allUsers":
                return binding["role"] == "roles/run.invoker"
    return False


# ------------------------------------------------------------------ Batch


@dataclass
class BatchRun:
    """One created job: its body, state and task exit codes."""

    name: str
    body: dict[str, Any]
    state: str = "QUEUED"
    codes: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The job as ``jobs.get`` answers it."""
        return {**self.body, "name": self.name, "status": {"state": self.state}}


def run_tasks(platform: Platform, run: BatchRun) -> None:
    """Run each task of the job in order, as the Batch agent would, and set its final state."""
    plane = platform.plane()
    group = run.body["taskGroups"][0]
    spec = group["taskSpec"]
    environment = spec.get("environment") or {}
    secrets = {
        k: gr.secret_payload(plane, platform.project, v)
        for k, v in (environment.get("secretVariables") or {}).items()
    }
    container = spec["runnables"][0]["container"]
    launch = _launch(platform.state_dir, container["imageUri"])
    command = [container["entrypoint"]] if container.get("entrypoint") else []
    argv = launch.argv([*command, *container.get("commands", [])])
    run.state = "RUNNING"
    for index in range(int(group.get("taskCount", 1))):
        env = {**launch.env, **platform.base_env(), **(environment.get("variables") or {}), **secrets}
        env["BATCH_TASK_INDEX"] = str(index)
        with platform.log(run.name.rsplit("/", 1)[-1]) as log:
            code = subprocess.run(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        run.codes.append(code.returncode)
    run.state = "SUCCEEDED" if not any(run.codes) else "FAILED"


# ------------------------------------------------------------------ the service


class Player:
    """The ASGI app: Cloud Run at ``/run/...``, Batch at ``/v1/...``, ``/healthz``."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.revisions: dict[str, Revision] = {}
        self.jobs: dict[str, BatchRun] = {}
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        self.busy = 0

    def revision(self, location: str, service: str) -> Revision | None:
        """The running container of a service (started, or restarted after a redeploy)."""
        full = f"projects/{self.platform.project}/locations/{location}/services/{service}"
        definition = self.platform.plane().table("services").get(full)
        if definition is None:
            return None
        with self.lock:
            current = self.revisions.get(full)
            if current is not None and current.alive() and current.definition == definition:
                return current
            if current is not None and current.alive():
                current.proc.terminate()
            self.revisions[full] = start_revision(self.platform, service, definition)
            return self.revisions[full]

    def app(self) -> Any:
        """The Starlette application."""
        from starlette.applications import Starlette
        from starlette.routing import Route

        jobs = "/v1/projects/{project}/locations/{location}/jobs"
        return Starlette(
            routes=[
                Route("/healthz", self._health),
                Route("/run/{location}/{service}", self._run, methods=_METHODS),
                Route("/run/{location}/{service}/{path:path}", self._run, methods=_METHODS),
                Route("/scheduler/{location}/{job}:run", self._fire, methods=["POST"]),
                Route(jobs, self._create_job, methods=["POST"]),
                Route(jobs + "/{job}", self._job, methods=["GET", "DELETE"]),
            ]
        )

    async def _health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"ok": True, "pid": os.getpid()})

    async def _run(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse, Response

        location, service = request.path_params["location"], request.path_params["service"]
        self._touch()
        url = gr.service_url(f"{request.url.scheme}://{request.url.netloc}", location, service)
        if not is_public(self.platform.plane(), location, service):
            if request.headers.get("authorization") != f"Bearer {TOKEN_PREFIX}{url}":
                return JSONResponse({"error": f"401: no ID token for audience {url}"}, status_code=401)
        try:
            revision = await run_in_threadpool(self.revision, location, service)
        except RuntimeError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        if revision is None:
            return JSONResponse({"error": f"no Cloud Run service {service} in {location}"}, status_code=404)
        return await self._forward(request, revision, Response)

    async def _forward(self, request: Any, revision: Revision, response_cls: Any) -> Any:
        import httpx

        target = f"http://127.0.0.1:{revision.port}/{request.path_params.get('path', '')}"
        if request.url.query:
            target += f"?{request.url.query}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        self.busy += 1
        try:
            async with httpx.AsyncClient(timeout=None) as client:
                answer = await client.request(
                    request.method, target, content=await request.body(), headers=headers
                )
        finally:
            self.busy -= 1
            self._touch()
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
        return response_cls(answer.content, status_code=answer.status_code, headers=kept)

    async def _fire(self, request: Any) -> Any:
        """Cloud Scheduler's ``jobs.run``: send the stored job's HTTP target once, now."""
        import httpx
        from starlette.responses import JSONResponse

        self._touch()
        p = request.path_params
        name = f"projects/{self.platform.project}/locations/{p['location']}/jobs/{p['job']}"
        job = self.platform.plane().table("scheduler_jobs").get(name)
        if job is None:
            return _google_error(404, "NOT_FOUND", f"no Cloud Scheduler job {name}")
        own = f"{request.url.scheme}://{request.url.netloc}"
        url, headers, body = scheduler_request(job, own)
        async with httpx.AsyncClient(timeout=None) as client:
            answer = await client.request(
                job["httpTarget"].get("httpMethod", "POST"), url, content=body, headers=headers
            )
        return JSONResponse({"job": name, "status": answer.status_code, "body": answer.text})

    async def _create_job(self, request: Any) -> Any:
        from google.cloud import batch_v1
        from starlette.responses import JSONResponse

        self._touch()
        parent = f"projects/{request.path_params['project']}/locations/{request.path_params['location']}"
        job_id = request.query_params.get("jobId") or request.query_params.get("job_id") or ""
        try:
            job = gr._message(batch_v1.Job, json.loads(await request.body()), "batch_v1.Job", job_id)
            problems = gr.batch_job_problems(job)
            if problems or not job_id:
                raise gr.ResourceRejected("batch_v1.Job", job_id, "; ".join(problems) or "jobId is required")
        except gr.ResourceRejected as exc:
            return _google_error(400, "INVALID_ARGUMENT", exc.message)
        run = BatchRun(f"{parent}/jobs/{job_id}", gr._to_json(batch_v1.Job, job))
        with self.lock:
            if run.name in self.jobs:
                return _google_error(409, "ALREADY_EXISTS", f"job {run.name} exists")
            self.jobs[run.name] = run
        threading.Thread(target=self._carry, args=(run,), daemon=True, name=f"batch-{job_id}").start()
        return JSONResponse(run.to_json())

    def _carry(self, run: BatchRun) -> None:
        self.busy += 1
        try:
            run_tasks(self.platform, run)
        except Exception as exc:  # a task that cannot even start fails the job, as on Batch
            with self.platform.log(run.name.rsplit("/", 1)[-1]) as log:
                log.write(f"job failed to start: {exc}\n".encode())
            run.state = "FAILED"
        finally:
            self.busy -= 1
            self._touch()

    async def _job(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        self._touch()
        p = request.path_params
        name = f"projects/{p['project']}/locations/{p['location']}/jobs/{p['job']}"
        run = self.jobs.get(name)
        if run is None:
            return _google_error(404, "NOT_FOUND", f"job {name} not found")
        if request.method == "DELETE":
            run.state = "DELETION_IN_PROGRESS" if run.state not in ("SUCCEEDED", "FAILED") else run.state
            return JSONResponse({"name": f"{name}/operations/delete", "done": True})
        return JSONResponse(run.to_json())

    def _touch(self) -> None:
        self.last_used = time.monotonic()

    def idle(self) -> bool:
        """No request or job for :data:`IDLE_EXIT_S` seconds."""
        return self.busy == 0 and time.monotonic() - self.last_used > IDLE_EXIT_S

    def close(self) -> None:
        """Stop every container this service started."""
        for revision in self.revisions.values():
            if revision.alive():
                revision.proc.terminate()


_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_HOP_HEADERS = ("content-length", "transfer-encoding", "connection", "content-encoding")


def _google_error(code: int, status: str, message: str) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, status_code=code)


def scheduler_request(job: dict[str, Any], own: str) -> tuple[str, dict[str, str], bytes]:
    """The request Cloud Scheduler sends for ``job`` (a stored ``scheduler_v1.Job``): its URI
    (the Batch API's host played here), headers, the schedule-time header, and a token."""
    import base64
    from datetime import UTC, datetime

    target = job["httpTarget"]
    url = str(target["uri"]).replace("https://batch.googleapis.com", own)
    headers = dict(target.get("headers") or {})
    headers["x-cloudscheduler-scheduletime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    oidc = target.get("oidcToken")
    if oidc:
        headers["Authorization"] = f"Bearer {TOKEN_PREFIX}{oidc.get('audience') or target['uri']}"
    elif target.get("oauthToken"):
        headers["Authorization"] = f"Bearer {TOKEN_PREFIX}oauth:{target['oauthToken']['serviceAccountEmail']}"
    return url, headers, base64.b64decode(target.get("body") or "")


# ------------------------------------------------------------------ start / find


def record_path(state_dir: Path) -> Path:
    """Where the running service is recorded (pid, url), like ``pcompile serve``'s registry."""
    return state_dir / RECORD


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def ensure_running(state_dir: Path, storage_host: str, project: str, timeout: float = 30.0) -> str:
    """The player's URL, starting it (in its own process group) when it does not answer."""
    plane = gr.ControlPlane.load(state_dir / gr.PLANE_FILE)
    url = plane.gateway_url()
    if _answers(url):
        if _recorded_storage(state_dir) == storage_host:
            return url
        stop_running(state_dir)  # it serves another emulator (the stack file changed)
    argv = [sys.executable, "-m", "pcompile.providers.simulate.gcp_compute", "--state-dir", str(state_dir)]
    argv += ["--storage", storage_host, "--project", project, "--port", str(plane.gateway_port())]
    with Platform(state_dir, storage_host, project).log("gcp-compute") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the simulated GCP compute service did not start at {url} (see {state_dir / 'logs'})"
            )
        time.sleep(0.1)
    record = {"pid": proc.pid, "url": url, "project": project, "storage": storage_host}
    record_path(state_dir).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return url


def _recorded_storage(state_dir: Path) -> str | None:
    try:
        return str(json.loads(record_path(state_dir).read_text())["storage"])
    except (OSError, ValueError, KeyError):
        return None


def stop_running(state_dir: Path) -> None:
    """Stop the recorded service and its runtimes (its whole process group)."""
    path = record_path(state_dir)
    if not path.is_file():
        return
    pid = int(json.loads(path.read_text())["pid"])
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m pcompile.providers.simulate.gcp_compute --state-dir D --storage URL --project P --port N``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for flag in ("--state-dir", "--storage", "--project"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    player = Player(Platform(Path(args.state_dir), args.storage, args.project))
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(player.app(), host="127.0.0.1", port=args.port, log_level="warning")
    )

    def watch() -> None:
        while not player.idle():
            time.sleep(5)
        server.should_exit = True

    threading.Thread(target=watch, daemon=True).start()
    try:
        server.run()
    finally:
        player.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())


def fire_scheduler_job(root: Path, settings: Any, job: str) -> dict[str, Any]:
    """Run a deployed Cloud Scheduler job once, now (``jobs.run``); returns the target's
    answer ``{"job", "status", "body"}``. ``job`` is the job id (``names.scheduler_job_name``)."""
    folder = gr.state_dir(root, settings.name)
    url = ensure_running(folder, str(settings.endpoint_url), str(settings.project))
    location = settings.region or "us-central1"
    request = urllib.request.Request(f"{url}/scheduler/{location}/{job}:run", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            data: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise KeyError(json.loads(exc.read())["error"]["message"]) from None
    return data


# ------------------------------------------------------------------ the SDK side


@dataclass
class SimulatedIdTokens:
    """ID tokens the simulated Cloud Run accepts: the audience, signed by nobody.

    Google ID tokens need credentials this machine does not have; the player checks
    only that each request carries a token for the URL it was sent to."""

    def id_token(self, audience: str) -> str:
        """``sim-id-token:<audience>``."""
        return f"{TOKEN_PREFIX}{audience}"


def simulated_clients(settings: Any, root: Path | None = None) -> Any:
    """The GCP invoker's clients on a simulate stack: storage in the emulator named by the
    stack's ``endpoint_url``, Batch over REST to this service (started if needed)."""
    from pcompile.providers.gcp.clients import Clients, GoogleBatchJobs, HttpxPost

    storage = str(settings.endpoint_url)
    os.environ["STORAGE_EMULATOR_HOST"] = storage  # google-cloud-storage's own emulator switch
    folder = gr.state_dir(root or Path.cwd(), settings.name)
    url = ensure_running(folder, storage, str(settings.project))
    return Clients(SimulatedIdTokens(), HttpxPost(), GoogleBatchJobs(endpoint=url))
