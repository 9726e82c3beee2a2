"""Batch jobs that never start (issue 19, item 16): a job still RUNNABLE past the stack's bound is
reported with DescribeJobs' statusReason instead of being waited on forever.

DescribeJobs answers come from botocore's own Stubber on a real boto3 client, so every
request and response is checked against the Batch service model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pcompile.providers import job_start
from pcompile.providers.aws.invoker import AwsInvoker
from pcompile.providers.manifest import Manifest
from pcompile.providers.settings import StackSettings

JOB = "2f0e5a9c-0000-4000-8000-000000000001"
REASON = (
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for p4d.24xlarge"
)


@pytest.fixture
def invoker(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AwsInvoker, Stubber]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    manifest = Manifest(
        app="a", stack="dev", cloud="aws", region="us-east-1", functions={}, staging={"bucket": "b"}
    )
    aws = AwsInvoker(manifest, boto3.session.Session(region_name="us-east-1"), start_timeout_s=900)
    with Stubber(aws.batch) as stub:
        yield aws, stub


def _job(status: str, age_s: float, **extra: Any) -> dict[str, Any]:
    return {
        "jobs": [
            {
                "jobName": "a-train",
                "jobId": JOB,
                "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
                "status": status,
                "createdAt": int((time.time() - age_s) * 1000),
                "startedAt": 0,
                "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/d:1",
                **extra,
            }
        ]
    }


def test_a_job_runnable_past_the_bound_is_reported_with_its_reason(
    invoker: tuple[AwsInvoker, Stubber],
) -> None:
    aws, stub = invoker
    stub.add_response("describe_jobs", _job("RUNNABLE", 16 * 60, statusReason=REASON), {"jobs": [JOB]})
    with pytest.raises(
        job_start.JobNotStartedError, match=r"RUNNABLE for 9\d\d s.*INSUFFICIENT_INSTANCE_CAPACITY"
    ) as err:
        aws._check_job(JOB)
    assert "Running On-Demand" in str(err.value) and "batch_start_timeout_s" in str(err.value)


def test_a_job_runnable_within_the_bound_or_running_is_waited_on(invoker: tuple[AwsInvoker, Stubber]) -> None:
    aws, stub = invoker
    stub.add_response("describe_jobs", _job("RUNNABLE", 60), {"jobs": [JOB]})
    stub.add_response("describe_jobs", _job("RUNNING", 3600), {"jobs": [JOB]})
    array = _job("PENDING", 3600, arrayProperties={"size": 4, "statusSummary": {"RUNNING": 1, "RUNNABLE": 3}})
    stub.add_response("describe_jobs", array, {"jobs": [JOB]})
    for _ in range(3):
        aws._check_job(JOB)
    stub.assert_no_pending_responses()


def test_the_bound_comes_from_the_stack() -> None:
    assert job_start.start_timeout(StackSettings()) == 900
    assert job_start.start_timeout(StackSettings(extra={"batch_start_timeout_s": 3600})) == 3600
