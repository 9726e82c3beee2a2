"""``python -m pcompile.runtime batch``: one AWS Batch job or array child.

The invoker stages a call under ``fn/<function>/in/<id>/`` (see :mod:`.aws_calls`) and
submits a job whose environment carries ``PCOMPILE_JOB=<function>/<id>?n=..&k=..&m=..``; Batch
numbers array children with ``AWS_BATCH_JOB_ARRAY_INDEX``, so child *i* runs task
*i*. A job without ``PCOMPILE_JOB`` is a scheduled run: the function once, no
arguments.

``--tasks A-B`` runs tasks A..B one after another in this process (to replay a
job by hand, and for tests).

Modal's ``Retries`` run inside the container, input by input (the runtime's
``_run_one``); a failure left after them is the input's recorded result and the exit
code is 0. Batch's retry strategy (``max_retries + 1`` attempts) therefore re-runs a
task only when the container itself died (out of memory, a reclaimed instance), and
a task's ``task-<i>.out`` is written once, when all of its inputs are settled.
"""

from __future__ import annotations

import argparse
import os
import time

from . import aws_env
from .aws_runtime import AwsRuntime, job_layout


def main(argv: list[str]) -> int:
    """Entry point of the ``batch`` mode."""
    parser = argparse.ArgumentParser(prog="python -m pcompile.runtime batch")
    parser.add_argument("--tasks", help="run tasks A-B of the job in turn (default: the array index)")
    opts = parser.parse_args(argv)
    runtime = AwsRuntime(os.environ)
    runtime.start()
    job = os.environ.get(aws_env.JOB)
    if not job:
        runtime.scheduled(time.time())
        return 0
    layout = job_layout(job)
    if opts.tasks:
        first, _, last = opts.tasks.partition("-")
        tasks = range(int(first), int(last or first) + 1)
    else:
        tasks = range(
            int(os.environ.get(aws_env.ARRAY_INDEX) or 0), int(os.environ.get(aws_env.ARRAY_INDEX) or 0) + 1
        )
    for task in tasks:
        runtime.run_task(layout, task)
    return 0
