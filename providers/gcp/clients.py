"""The side-effecting clients the GCP invoker uses, each behind a small interface with a fake.

* :class:`TokenSource` - Google ID tokens for a Cloud Run URL (:class:`GoogleIdTokens`;
  fake :class:`StaticTokens`);
* :class:`HttpPost` - one HTTP POST (:class:`HttpxPost`);
* :class:`BatchJobs` - create / state / delete GCP Batch jobs (:class:`GoogleBatchJobs`;
  fake :class:`FakeBatchJobs`, which with :func:`subprocess_task_runner` runs each task
  as Batch would: the runtime's ``gcpbatch`` mode in a subprocess with the job's environment).

:class:`Clients` bundles one of each; :func:`google_clients` are the real ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pcompile.runtime import gcp_env


class TokenSource(Protocol):
    """Google ID tokens for a Cloud Run service URL."""

    def id_token(self, audience: str) -> str: ...


class GoogleIdTokens:
    """ID tokens from Application Default Credentials, cached per audience for 50 minutes."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def id_token(self, audience: str) -> str:
        """A token whose audience is ``audience`` (google-auth's fetch_id_token)."""
        with self._lock:
            cached = self._cache.get(audience)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        import google.auth.transport.requests
        from google.oauth2 import id_token

        token = id_token.fetch_id_token(google.auth.transport.requests.Request(), audience)
        with self._lock:
            self._cache[audience] = (time.monotonic() + 50 * 60, token)
        return str(token)


@dataclass
class StaticTokens:
    """Fake token source: always ``token``; records the audiences asked for."""

    token: str = "fake-id-token"
    audiences: list[str] = field(default_factory=list)

    def id_token(self, audience: str) -> str:
        """``token``, remembering ``audience``."""
        self.audiences.append(audience)
        return self.token


class HttpPost(Protocol):
    """One HTTP POST: ``(status, body)``."""

    def post(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float | None
    ) -> tuple[int, bytes]: ...


class HttpxPost:
    """:class:`HttpPost` over one shared httpx client."""

    def __init__(self) -> None:
        import httpx

        self.client = httpx.Client(timeout=None)

    def post(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float | None
    ) -> tuple[int, bytes]:
        """POST ``body`` and return status and response bytes."""
        response = self.client.post(url, content=body, headers=headers, timeout=timeout)
        return response.status_code, response.content


class BatchJobs(Protocol):
    """The three GCP Batch calls the invoker makes."""

    def create(self, parent: str, job_id: str, job: dict[str, Any]) -> str: ...

    def state(self, name: str) -> str: ...

    def delete(self, name: str) -> None: ...


class GoogleBatchJobs:
    """:class:`BatchJobs` with google-cloud-batch (Application Default Credentials).

    ``endpoint`` (an ``http://host:port`` URL) sends the same calls over the REST
    transport, without credentials, to a Batch API there (the simulate engine's).
    """

    def __init__(self, endpoint: str | None = None) -> None:
        from google.cloud import batch_v1

        self.batch_v1 = batch_v1
        if endpoint is None:
            self.client = batch_v1.BatchServiceClient()
            return
        from google.auth.credentials import AnonymousCredentials

        self.client = batch_v1.BatchServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
        )

    def create(self, parent: str, job_id: str, job: dict[str, Any]) -> str:
        """Create the job; returns its resource name."""
        body = self.batch_v1.Job.from_json(json.dumps(job), ignore_unknown_fields=False)
        created = self.client.create_job(parent=parent, job_id=job_id, job=body)
        return str(created.name)

    def state(self, name: str) -> str:
        """``QUEUED``, ``SCHEDULED``, ``RUNNING``, ``SUCCEEDED``, ``FAILED`` ..."""
        return str(self.client.get_job(name=name).status.state.name)

    def delete(self, name: str) -> None:
        """Delete (and so stop) the job."""
        self.client.delete_job(name=name)

    def reason(self, name: str) -> str:
        """The description of the job's last status event (why it waits, when Batch says)."""
        events = list(self.client.get_job(name=name).status.status_events)
        return str(events[-1].description) if events else ""


TaskRunner = Callable[[dict[str, Any], int], int]


@dataclass
class FakeBatchJobs:
    """In-memory Batch: records jobs; with a ``runner`` it runs every task at once (in order)."""

    runner: TaskRunner | None = None
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)

    def create(self, parent: str, job_id: str, job: dict[str, Any]) -> str:
        """Record ``job``; run its tasks when a runner is set."""
        name = f"{parent}/jobs/{job_id}"
        self.jobs[name] = job
        self.states[name] = "QUEUED"
        if self.runner is not None:
            count = int(job["taskGroups"][0]["taskCount"])
            codes = [self.runner(job, index) for index in range(count)]
            self.states[name] = "SUCCEEDED" if not any(codes) else "FAILED"
        return name

    def state(self, name: str) -> str:
        """The recorded state."""
        return self.states[name]

    def delete(self, name: str) -> None:
        """Forget the job."""
        self.states[name] = "DELETION_IN_PROGRESS"


def subprocess_task_runner(extra_env: dict[str, str] | None = None) -> TaskRunner:
    """A runner that executes a task as Batch would: the runtime's ``gcpbatch`` mode in a
    subprocess, with the job's environment and ``BATCH_TASK_INDEX``."""

    def run(job: dict[str, Any], index: int) -> int:
        spec = job["taskGroups"][0]["taskSpec"]
        env = {**os.environ, **(extra_env or {}), **spec["environment"]["variables"]}
        env[gcp_env.TASK_INDEX] = str(index)
        container = spec["runnables"][0]["container"]
        entrypoint = container.get("entrypoint") or "python"
        argv = [sys.executable if entrypoint == "python" else entrypoint, *container["commands"]]
        return subprocess.run(argv, env=env, timeout=600, check=False).returncode

    return run


@dataclass
class Clients:
    """The side-effecting clients an invoker uses (tokens, HTTP, Batch)."""

    tokens: TokenSource
    http: HttpPost
    batch: BatchJobs


# A Batch API at another address (``http://host:port``, the simulate engine's), for a
# process that has only a call id, as ``AWS_ENDPOINT_URL_BATCH`` is on AWS.
BATCH_ENDPOINT_ENV = "PCOMPILE_GCP_BATCH_ENDPOINT"


def google_clients() -> Clients:
    """Real clients: ID tokens and Batch from Application Default Credentials, httpx."""
    return Clients(GoogleIdTokens(), HttpxPost(), _LazyBatch(os.environ.get(BATCH_ENDPOINT_ENV) or None))


class _LazyBatch:
    """google-cloud-batch is imported (and its client built) only when a Batch function is called."""

    def __init__(self, endpoint: str | None = None) -> None:
        self._real: GoogleBatchJobs | None = None
        self._endpoint = endpoint

    def _client(self) -> GoogleBatchJobs:
        if self._real is None:
            self._real = GoogleBatchJobs(self._endpoint)
        return self._real

    def create(self, parent: str, job_id: str, job: dict[str, Any]) -> str:
        return self._client().create(parent, job_id, job)

    def state(self, name: str) -> str:
        return self._client().state(name)

    def delete(self, name: str) -> None:
        self._client().delete(name)

    def reason(self, name: str) -> str:
        return self._client().reason(name)
