"""Batch jobs that never start: reported after a bound instead of being waited on forever.

A GPU job on AWS Batch sits in ``RUNNABLE`` (GCP Batch: ``QUEUED`` / ``SCHEDULED``)
for as long as the account lacks the GPU quota or the region the capacity, and
nothing else says so. Both invokers look at the job while they poll for results;
once it has waited longer than the stack's ``extra.batch_start_timeout_s`` (default
15 minutes) without starting, the call raises :class:`JobNotStartedError` with the
state, the reason the service gives (AWS ``DescribeJobs`` ``statusReason``, the GCP
job's last status event) and the usual causes. The job itself is left queued: it may
still start, and ``FunctionCall.cancel()`` stops it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pcompile.exception import ExecutionError
from pcompile.providers.settings import StackSettings

DEFAULT_START_TIMEOUT_S = 15 * 60.0
STACK_KEY = "batch_start_timeout_s"

AWS_WAITING = ("SUBMITTED", "PENDING", "RUNNABLE")
AWS_STARTED_CHILDREN = ("STARTING", "RUNNING", "SUCCEEDED", "FAILED")
AWS_HINT = (
    "usual causes: the account's EC2 quota for the instance family is too small (Service Quotas > "
    "Amazon EC2 > 'Running On-Demand G and VT instances' or '... P instances', counted in vCPUs), no "
    "zone of the subnets offers the instance type, or the compute environment is at its maxvCpus"
)
GCP_WAITING = ("QUEUED", "SCHEDULED")
GCP_HINT = (
    "usual causes: the project's GPU quota in the region is too small (IAM & Admin > Quotas: "
    "'NVIDIA_<TYPE>_GPUS', or the PREEMPTIBLE_ one for Spot shapes), or the region has no capacity "
    "for the machine type right now"
)


class JobNotStartedError(ExecutionError):
    """A Batch job waited for capacity longer than the stack allows, without starting."""


def start_timeout(settings: StackSettings) -> float:
    """The stack's bound on waiting for a Batch job to start (``extra.batch_start_timeout_s``)."""
    return float(settings.extra.get(STACK_KEY, DEFAULT_START_TIMEOUT_S))


@dataclass
class StartWatch:
    """Remembers since when each job has waited; ``clock`` is wall time (tests pass their own)."""

    timeout_s: float = DEFAULT_START_TIMEOUT_S
    clock: Callable[[], float] = time.time
    first_seen: dict[str, float] = field(default_factory=dict)

    def check(
        self,
        job: str,
        state: str,
        waiting: bool,
        *,
        reason: str = "",
        since: float | None = None,
        hint: str = "",
    ) -> None:
        """Raise :class:`JobNotStartedError` when ``job`` has been ``waiting`` for too long.

        ``since`` is when the job was created, when the service says; else the first time
        this process saw it waiting.
        """
        if not waiting:
            self.first_seen.pop(job, None)
            return
        start = since if since is not None else self.first_seen.setdefault(job, self.clock())
        waited = self.clock() - start
        if waited < self.timeout_s:
            return
        raise JobNotStartedError(
            f"Batch job {job} has been {state} for {waited:.0f} s without starting "
            f"(reason given: {reason or 'none'}); {hint}. The job is still queued: cancel it with "
            f"FunctionCall.cancel(), or wait longer with `extra: {{{STACK_KEY}: <seconds>}}` in the stack file"
        )
