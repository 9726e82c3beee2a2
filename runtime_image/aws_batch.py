"""``python -m pcompile.runtime batch``: one AWS Batch job or array child.

The invoker stages a call under ``calls/<id>/`` (see :mod:`.aws_calls`) and submits
a job whose environment carries ``PCOMPILE_JOB=calls/<id>?n=..&k=..&m=..``; Batch
numbers array children with ``AWS_BATCH_JOB_ARRAY_INDEX``, so child *i* runs task
*i*. A job without ``PCOMPILE_JOB`` is a scheduled run: the function once, no
arguments.

``--tasks A-B`` runs tasks A..B one after another in this process (to replay a
job by hand, and for tests).

The exit code is 1 when an input failed and the function has retries left, so
Batch's retry strategy re-runs the task (Modal's ``Retries``); otherwise 0, because
the failure is already recorded as the input's result.
"""

from __future__ import annotations

import argparse
import os
import time

from . import aws_env
from .aws_runtime import AwsRuntime, job_layout


def _exit_code(runtime: AwsRuntime, failed: bool) -> int:
    retries = (runtime.spec.get("retries") or {}).get("max_retries", 0)
    return 1 if failed and retries else 0


def main(argv: list[str]) -> int:
    """Entry point of the ``batch`` mode."""
    parser = argparse.ArgumentParser(prog="python -m pcompile.runtime batch")
    parser.add_argument("--tasks", help="run tasks A-B of the job in turn (default: the array index)")
    opts = parser.parse_args(argv)
    runtime = AwsRuntime(os.environ)
    runtime.start_with_secrets()
    job = os.environ.get(aws_env.JOB)
    if not job:
        result = runtime.scheduled(time.time())
        return _exit_code(runtime, result is not None and result["status"] != "ok")
    layout = job_layout(job)
    if opts.tasks:
        first, _, last = opts.tasks.partition("-")
        tasks = range(int(first), int(last or first) + 1)
    else:
        tasks = range(
            int(os.environ.get(aws_env.ARRAY_INDEX) or 0), int(os.environ.get(aws_env.ARRAY_INDEX) or 0) + 1
        )
    failed = False
    for task in tasks:
        failed |= any(r["status"] != "ok" for r in runtime.run_task(layout, task))
    return _exit_code(runtime, failed)
