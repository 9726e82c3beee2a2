"""``python -m pcompile.runtime gcpbatch``: one GCP Batch task.

The invoker stages a call under ``fn/<function>/in/<id>/`` in the staging bucket (one
request envelope per task, :func:`~.gcp_container.task_key`) and creates a job whose
tasks carry ``PCOMPILE_CALL=<id>``; Batch numbers the tasks with
``BATCH_TASK_INDEX``, so task *i* runs the slice of inputs in ``task-<i>.in`` and
writes one ``fn/<function>/out/<id>/<index>.result`` per input. A Cloud Scheduler firing sets
``PCOMPILE_CALL=scheduled`` and runs the function once with no arguments.

Modal's ``Retries`` are applied in-process per input (:mod:`.container`); a
failed input is recorded as its result and the task exits 0. Batch's
``maxRetryCount`` therefore only re-runs tasks whose process died (preemption,
out of memory), and inputs that already have a result are not run again.
"""

from __future__ import annotations

import os
import time

from . import gcp_env, protocol
from .gcp_container import GcpRuntime, task_key


def run_task(runtime: GcpRuntime, call: str, index: int) -> int:
    """Run task ``index`` of the call staged under ``call``; the process exit code."""
    if call == gcp_env.SCHEDULED_CALL:
        result = runtime.scheduled(time.time())
        return 0 if result is None or result["status"] == "ok" else 1
    request = protocol.load_envelope(runtime.storage.get(task_key(runtime.spec["name"], call, index)))
    request["call"] = call
    runtime.handle(request, skip_done=True)
    return 0


def main(argv: list[str]) -> int:
    """Entry point of the ``gcpbatch`` mode."""
    runtime = GcpRuntime(os.environ)
    runtime.start()
    return run_task(runtime, os.environ[gcp_env.CALL], int(os.environ.get(gcp_env.TASK_INDEX) or 0))
