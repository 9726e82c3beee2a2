"""GCP Batch jobs stuck QUEUED or SCHEDULED past the stack's bound are reported, not waited on
forever (issue 19, item 16). The Batch client is the library's in-memory fake; the bound is
measured with an injected clock from the first time the invoker saw the job waiting."""

from __future__ import annotations

import json

import pytest

from pcompile.providers import job_start
from pcompile.providers.gcp.clients import FakeBatchJobs, StaticTokens
from pcompile.providers.gcp.invoker import CallRef, GcpInvoker
from pcompile.providers.manifest import Manifest
from pcompile.runtime.storage import Storage

JOB = "projects/p/locations/us-central1/jobs/pc-train-1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ReasonedBatch(FakeBatchJobs):
    """The fake, plus the last status event google-cloud-batch reports."""

    def reason(self, name: str) -> str:
        return "Job scheduling failed: QUOTA_EXCEEDED NVIDIA_A100_GPUS in us-central1"


def _invoker(tmp_path: object, batch: FakeBatchJobs, clock: Clock) -> tuple[GcpInvoker, Storage]:
    from pcompile.runtime.storage import open_storage

    store = open_storage(f"file://{tmp_path}")
    manifest = Manifest(
        app="a", stack="dev", cloud="gcp", region="us-central1", functions={}, staging={"bucket": "b"}
    )
    invoker = GcpInvoker(
        manifest, store, tokens=StaticTokens("t"), http=None, batch=batch, start_timeout_s=600
    )  # type: ignore[arg-type]
    invoker.starts = job_start.StartWatch(600, clock=clock)
    return invoker, store


def test_a_queued_job_is_reported_after_the_bound_with_the_reason(tmp_path: object) -> None:
    batch, clock = ReasonedBatch(), Clock()
    batch.states[JOB] = "QUEUED"
    invoker, store = _invoker(tmp_path, batch, clock)
    ref = CallRef("b", "train", "c1")
    store.put(ref.record("call.json"), json.dumps({"job": JOB}).encode())
    invoker._check_job(ref, store, 0)  # first seen: waiting starts now
    clock.now += 599
    batch.states[JOB] = "SCHEDULED"
    invoker._check_job(ref, store, 0)
    clock.now += 2
    with pytest.raises(job_start.JobNotStartedError, match=r"SCHEDULED for 601 s.*QUOTA_EXCEEDED") as err:
        invoker._check_job(ref, store, 0)
    assert "NVIDIA_<TYPE>_GPUS" in str(err.value)


def test_a_running_job_is_never_reported(tmp_path: object) -> None:
    batch, clock = FakeBatchJobs(), Clock()
    batch.states[JOB] = "RUNNING"
    invoker, store = _invoker(tmp_path, batch, clock)
    ref = CallRef("b", "train", "c2")
    store.put(ref.record("call.json"), json.dumps({"job": JOB}).encode())
    invoker._check_job(ref, store, 0)
    clock.now += 10 * 3600
    invoker._check_job(ref, store, 0)
