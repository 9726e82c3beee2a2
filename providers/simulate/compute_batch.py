"""AWS Batch job execution for the simulated compute service.

``SubmitJob`` checks the queue and the job definition against the emulator (moto
holds them; it cannot run them without Docker) and runs the job from what the
definition says: its image (through :mod:`.compute_images`), command and
environment, with the submitted container overrides and ``Ref::`` parameters
applied, and the variables Batch itself sets (``AWS_BATCH_JOB_ID``,
``AWS_BATCH_JOB_ARRAY_INDEX`` on each child of an array job,
``AWS_BATCH_JOB_ATTEMPT`` ...). Children run at most :data:`DEFAULT_PARALLEL`
at a time across all jobs; a failed attempt is retried up to the definition's
``retryStrategy.attempts``; ``timeout.attemptDurationSeconds`` kills an attempt.
``DescribeJobs``, ``ListJobs``, ``TerminateJob`` and ``CancelJob`` answer in the
shapes of the Batch REST API (botocore's ``batch`` client parses them).

Jobs live in the service's memory: after the service exits (idle), their results
stay in the staging bucket, where the invoker reads them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compute_fork import Forked, ForkServer, module_command
from .compute_images import CODE_DIR_ENV, Launch, fresh_code_dir

Process = subprocess.Popen[bytes] | Forked

DEFAULT_PARALLEL = int(os.environ.get("PCOMPILE_SIMULATE_BATCH_PARALLEL") or max(4, os.cpu_count() or 4))
TERMINAL = ("SUCCEEDED", "FAILED")


class BatchClientError(Exception):
    """A request Batch would refuse (``ClientException``, HTTP 400)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Unit:
    """The job itself, or one child of an array job: what runs, with its attempts."""

    job_id: str
    index: int | None
    status: str = "RUNNABLE"
    reason: str | None = None
    exit_code: int | None = None
    started: int | None = None
    stopped: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    proc: Process | None = None


@dataclass
class Job:
    """One submitted job: the request, the definition it resolved to, and its units."""

    job_id: str
    name: str
    arn: str
    queue_arn: str
    definition: dict[str, Any]
    image: str
    command: list[str]
    environment: dict[str, str]
    size: int | None
    max_attempts: int
    timeout: int | None
    parameters: dict[str, str]
    created: int = field(default_factory=_now_ms)
    units: list[Unit] = field(default_factory=list)
    terminated: str | None = None

    @property
    def status(self) -> str:
        """The job's status: an array parent summarises its children."""
        states = {u.status for u in self.units}
        if self.terminated and states <= set(TERMINAL):
            return "FAILED"
        for state in ("RUNNING", "STARTING", "RUNNABLE"):
            if state in states:
                return "PENDING" if self.size and state == "RUNNABLE" else state
        return "FAILED" if "FAILED" in states else "SUCCEEDED"


def _param(value: str, parameters: dict[str, str]) -> str:
    return parameters.get(value.removeprefix("Ref::"), value) if value.startswith("Ref::") else value


class BatchJobs:
    """Submitted jobs and the processes that run them."""

    def __init__(
        self,
        batch_client: Any,
        launch_for: Any,
        platform_env: dict[str, str],
        log_dir: Path,
        cwd: Path,
        parallel: int = DEFAULT_PARALLEL,
        role_env: Callable[[str | None, str], dict[str, str]] = lambda role, name: {},
        pull: Callable[[str, str], None] = lambda role, image: None,
    ) -> None:
        self.client = batch_client
        self.role_env = role_env  # (job role ARN, job name) -> that role's credentials
        self.pull = pull  # (execution role ARN, image) -> None, or raises: the image pull
        self.launch_for = launch_for  # image URI -> Launch
        self.platform_env = platform_env
        self.log_dir = log_dir
        self.cwd = cwd
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="batch")
        self.closed = False
        self.forks: dict[str, ForkServer] = {}

    # ---------------------------------------------------------------- API

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """``SubmitJob``: resolve the queue and definition in the emulator, then start the job."""
        queue_arn = self._queue(str(body.get("jobQueue") or ""))
        definition = self._definition(str(body.get("jobDefinition") or ""))
        props = definition.get("containerProperties") or {}
        overrides = body.get("containerOverrides") or {}
        parameters = {**(definition.get("parameters") or {}), **(body.get("parameters") or {})}
        env = {e["name"]: e["value"] for e in props.get("environment") or []}
        env.update({e["name"]: e["value"] for e in overrides.get("environment") or []})
        size = int((body.get("arrayProperties") or {}).get("size") or 0) or None
        if size is not None and not 2 <= size <= 10_000:
            raise BatchClientError(f"arrayProperties.size must be between 2 and 10000, got {size}")
        retry = body.get("retryStrategy") or definition.get("retryStrategy") or {}
        timeout = (body.get("timeout") or definition.get("timeout") or {}).get("attemptDurationSeconds")
        job_id = str(uuid.uuid4())
        job = Job(
            job_id=job_id,
            name=str(body.get("jobName") or ""),
            arn=f"{queue_arn.split(':job-queue/')[0]}:job/{job_id}",
            queue_arn=queue_arn,
            definition=definition,
            image=str(props.get("image") or ""),
            command=[
                _param(str(c), parameters) for c in overrides.get("command") or props.get("command") or []
            ],
            environment=env,
            size=size,
            max_attempts=max(1, min(10, int(retry.get("attempts") or 1))),
            timeout=int(timeout) if timeout else None,
            parameters=parameters,
        )
        job.units = [Unit(job_id, None)] if size is None else [Unit(f"{job_id}:{i}", i) for i in range(size)]
        with self.lock:
            self.jobs[job_id] = job
        for unit in job.units:
            self.pool.submit(self._run, job, unit)
        return {"jobArn": job.arn, "jobName": job.name, "jobId": job_id}

    def describe(self, body: dict[str, Any]) -> dict[str, Any]:
        """``DescribeJobs``: parents and array children (``<id>:<index>``); unknown ids are left out."""
        out = []
        for job_id in body.get("jobs") or []:
            parent, _, index = str(job_id).partition(":")
            job = self.jobs.get(parent)
            if job is None:
                continue
            if index:
                units = [u for u in job.units if u.index == int(index)] if index.isdigit() else []
                out += [self._detail(job, u) for u in units]
            else:
                out.append(self._detail(job, None))
        return {"jobs": out}

    def list_jobs(self, body: dict[str, Any]) -> dict[str, Any]:
        """``ListJobs`` by queue and status (default ``RUNNING``), or the children of ``arrayJobId``."""
        wanted = body.get("jobStatus") or (None if body.get("filters") else "RUNNING")
        rows: list[tuple[Job, Unit | None]]
        if body.get("arrayJobId"):
            job = self.jobs.get(str(body["arrayJobId"]))
            rows = [(job, u) for u in job.units] if job and job.size else []
        else:
            queue_arn = self._queue(str(body.get("jobQueue") or ""))
            rows = [(j, None) for j in self.jobs.values() if j.queue_arn == queue_arn]
        summaries = [self._summary(j, u) for j, u in rows]
        return {"jobSummaryList": [s for s in summaries if wanted is None or s["status"] == wanted]}

    def terminate(self, body: dict[str, Any]) -> dict[str, Any]:
        """``TerminateJob`` / ``CancelJob``: stop running attempts; nothing more starts."""
        job = self.jobs.get(str(body.get("jobId") or "").partition(":")[0])
        if job is None:
            raise BatchClientError(f"Job {body.get('jobId')!r} does not exist")
        job.terminated = str(body.get("reason") or "Terminated")
        for unit in job.units:
            if unit.proc is not None and unit.proc.poll() is None:
                unit.proc.kill()
            elif unit.status not in TERMINAL:
                unit.status, unit.reason, unit.stopped = "FAILED", job.terminated, _now_ms()
        return {}

    def busy(self) -> bool:
        """Whether any job is still running or waiting to run."""
        return any(u.status not in TERMINAL for j in list(self.jobs.values()) for u in j.units)

    def close(self) -> None:
        """Kill running attempts and stop starting new ones."""
        self.closed = True
        for job in list(self.jobs.values()):
            job.terminated = job.terminated or "the simulated compute service stopped"
            for unit in job.units:
                if unit.proc is not None and unit.proc.poll() is None:
                    unit.proc.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)
        for server in list(self.forks.values()):
            server.close()

    # ---------------------------------------------------------------- emulator look-ups

    def _queue(self, name: str) -> str:
        if not name:
            raise BatchClientError("jobQueue is required")
        queues = self.client.describe_job_queues(jobQueues=[name])["jobQueues"]
        if not queues:
            raise BatchClientError(f"Job queue {name} does not exist")
        if queues[0].get("state") != "ENABLED":
            raise BatchClientError(f"Job queue {name} is not ENABLED")
        return str(queues[0]["jobQueueArn"])

    def _definition(self, ref: str) -> dict[str, Any]:
        if not ref:
            raise BatchClientError("jobDefinition is required")
        # an ARN or name:revision names one revision; a bare name means its latest active one
        query = {"jobDefinitions": [ref]} if ":" in ref else {"jobDefinitionName": ref, "status": "ACTIVE"}
        answer: list[dict[str, Any]] = self.client.describe_job_definitions(**query)["jobDefinitions"]
        found = [d for d in answer if d.get("status", "ACTIVE") == "ACTIVE"]
        if not found:
            raise BatchClientError(f"Job definition {ref} does not exist or is not ACTIVE")
        latest: dict[str, Any] = max(found, key=lambda d: int(d.get("revision") or 0))
        return dict(latest)

    # ---------------------------------------------------------------- running

    def _run(self, job: Job, unit: Unit) -> None:
        for attempt in range(job.max_attempts):
            if job.terminated or self.closed:
                break
            code, reason = self._attempt(job, unit, attempt)
            if code == 0:
                unit.status, unit.exit_code, unit.reason = "SUCCEEDED", 0, None
                return
            unit.exit_code, unit.reason = code, reason
        unit.status, unit.stopped = "FAILED", _now_ms()
        unit.reason = job.terminated or unit.reason or "Essential container in task exited"

    def _attempt(self, job: Job, unit: Unit, attempt: int) -> tuple[int | None, str | None]:
        launch: Launch = self.launch_for(job.image)
        props = job.definition.get("containerProperties", {})
        try:
            if props.get("executionRoleArn"):
                self.pull(props["executionRoleArn"], job.image)  # Batch pulls with the execution role
            role = self.role_env(props.get("jobRoleArn"), job.name)
        except Exception as exc:  # noqa: BLE001 - an image or a role refused fails the attempt
            unit.attempts.append(
                {"statusReason": str(exc), "container": {"exitCode": -1, "reason": str(exc)}}
            )
            return None, str(exc)
        code_dir = fresh_code_dir()
        env = {
            **launch.env,
            **job.environment,
            **self.platform_env,
            **role,
            CODE_DIR_ENV: str(code_dir),
            "AWS_BATCH_JOB_ID": unit.job_id,
            "AWS_BATCH_JOB_ATTEMPT": str(attempt + 1),
            "AWS_BATCH_JQ_NAME": job.queue_arn.rsplit("/", 1)[-1],
        }
        if unit.index is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(unit.index)
        started = _now_ms()
        unit.status, unit.started = "RUNNING", unit.started or started
        unit.proc = self._spawn(
            launch, launch.argv(job.command), env, job.definition.get("jobDefinitionName", "job")
        )
        try:
            code: int | None = unit.proc.wait(timeout=job.timeout)
            reason = None if code == 0 else f"Essential container in task exited (exit code {code})"
        except subprocess.TimeoutExpired:
            unit.proc.kill()
            unit.proc.wait()
            code, reason = None, "Job attempt duration exceeded timeout"
        unit.stopped = _now_ms()
        shutil.rmtree(code_dir, ignore_errors=True)
        unit.attempts.append(
            {
                "startedAt": started,
                "stoppedAt": unit.stopped,
                "statusReason": reason or "",
                "container": {"exitCode": code if code is not None else -1, "reason": reason or ""},
            }
        )
        return code, reason

    def _spawn(self, launch: Launch, argv: list[str], env: dict[str, str], name: str) -> Process:
        """Fork ``python -m ...`` from the image's warm interpreter, else start a subprocess."""
        log_path = self.log_dir / f"batch-{name}.log"
        command = module_command(launch, argv)
        server = self._fork_server(launch) if command else None
        if server is not None and command is not None:
            try:
                return server.spawn(command[0], command[1], env, self.cwd, log_path)
            except OSError:
                pass
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                argv, env=env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def _fork_server(self, launch: Launch) -> ForkServer | None:
        key = json.dumps([launch.python, launch.env], sort_keys=True)
        with self.lock:
            server = self.forks.get(key)
            if server is None or not server.alive():
                server = self.forks[key] = ForkServer(launch, self.platform_env, self.cwd)
        return server if server.alive() else None

    # ---------------------------------------------------------------- answers

    def _detail(self, job: Job, unit: Unit | None) -> dict[str, Any]:
        own = unit or (job.units[0] if job.size is None else None)
        status = own.status if own else job.status
        detail: dict[str, Any] = {
            "jobArn": job.arn + (f":{unit.index}" if unit else ""),
            "jobName": job.name,
            "jobId": unit.job_id if unit else job.job_id,
            "jobQueue": job.queue_arn,
            "status": status,
            "createdAt": job.created,
            "jobDefinition": job.definition["jobDefinitionArn"],
            "parameters": job.parameters,
            "attempts": own.attempts if own else [],
            "dependsOn": [],
            "platformCapabilities": job.definition.get("platformCapabilities") or ["EC2"],
            "container": {"image": job.image, "command": job.command, "environment": self._env_list(job)},
        }
        times = [u.started for u in (own and [own] or job.units) if u.started]
        ends = [u.stopped for u in (own and [own] or job.units) if u.stopped]
        detail["startedAt"] = min(times) if times else 0
        if status in TERMINAL and ends:
            detail["stoppedAt"] = max(ends)
        reason = (own.reason if own else job.terminated) or None
        if reason:
            detail["statusReason"] = reason
        if own and own.exit_code is not None:
            detail["container"]["exitCode"] = own.exit_code
        if job.size is not None:
            detail["arrayProperties"] = {"index": unit.index} if unit else self._array(job)
        return detail

    @staticmethod
    def _env_list(job: Job) -> list[dict[str, str]]:
        return [{"name": k, "value": v} for k, v in sorted(job.environment.items())]

    @staticmethod
    def _array(job: Job) -> dict[str, Any]:
        summary: dict[str, int] = {}
        for unit in job.units:
            summary[unit.status] = summary.get(unit.status, 0) + 1
        return {"size": job.size, "statusSummary": dict(sorted(summary.items()))}

    def _summary(self, job: Job, unit: Unit | None) -> dict[str, Any]:
        detail = self._detail(job, unit)
        keep = ("jobArn", "jobId", "jobName", "createdAt", "status", "statusReason", "startedAt", "stoppedAt")
        out = {k: detail[k] for k in keep if k in detail}
        out["jobDefinition"] = detail["jobDefinition"]
        if "exitCode" in detail["container"]:
            out["container"] = {"exitCode": detail["container"]["exitCode"]}
        if "arrayProperties" in detail:
            props = detail["arrayProperties"]
            out["arrayProperties"] = (
                {"index": props["index"]} if "index" in props else {"size": props["size"]}
            )
        return out
