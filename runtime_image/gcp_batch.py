"""``python -m pcompile.runtime gcpbatch``: one GCP Batch task.

The invoker stages a call under ``calls/<id>/`` in the staging bucket (one request
envelope per task, :func:`~.gcp_container.task_key`) and creates a job whose tasks
carry ``PCOMPILE_CALL=calls/<id>``; Batch numbers the tasks with
``BATCH_TASK_INDEX``, so task *i* runs the slice of inputs in ``task-<i>.in`` and
writes one ``<index>.result`` per input. A Cloud Scheduler firing sets
``PCOMPILE_CALL=scheduled`` and runs the function once with no arguments.

The exit code is 1 when an input failed and the function has retries left, so
Batch's ``maxRetryCount`` re-runs the task (Modal's ``Retries``); otherwise 0,
because the failure is already recorded as the input's result.
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
    request = protocol.load_envelope(runtime.storage.get(task_key(call, index)))
    request["result_prefix"] = call
    results = runtime.handle(request)
    failed = any(r["status"] != "ok" for r in results)
    retries = (runtime.spec.get("retries") or {}).get("max_retries", 0)
    return 1 if failed and retries else 0


def main(argv: list[str]) -> int:
    """Entry point of the ``gcpbatch`` mode."""
    runtime = GcpRuntime(os.environ)
    runtime.start()
    return run_task(runtime, os.environ[gcp_env.CALL], int(os.environ.get(gcp_env.TASK_INDEX) or 0))
