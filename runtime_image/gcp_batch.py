"""``python -m pcompile.runtime gcpbatch``: one GCP Batch task.

The invoker stages a call under ``fn/<function>/in/<id>/`` in the staging bucket (a few
request envelopes of many inputs each, ``task-<j>.in`` by :func:`~.gcp_container.task_key`,
planned by :class:`~.aws_calls.Layout` as on AWS) and creates a job whose tasks carry
``PCOMPILE_CALL=<id>`` and the plan's shape in ``PCOMPILE_CALL_LAYOUT``; Batch numbers
the tasks with ``BATCH_TASK_INDEX``, so task *i* runs its part of chunk
``i // split`` and writes one ``fn/<function>/out/<id>/<index>.result`` per input as
each finishes (the caller streams them back). Without ``PCOMPILE_CALL_LAYOUT`` each
task runs all of ``task-<i>.in``. A Cloud Scheduler firing sets
``PCOMPILE_CALL=scheduled`` and runs the function once with no arguments.

Modal's ``Retries`` are applied in-process per input (:mod:`.container`); a
failed input is recorded as its result and the task exits 0. Batch's
``maxRetryCount`` therefore only re-runs tasks whose process died (preemption,
out of memory), and inputs that already have a result are not run again.
"""

from __future__ import annotations

import os
import time

from . import gcp_env, protocol, staging
from .aws_calls import Layout
from .gcp_container import GcpRuntime, task_key

LAYOUT = "PCOMPILE_CALL_LAYOUT"  # the shape of the call's plan (``n=..&k=..&m=..``)


def run_task(runtime: GcpRuntime, call: str, index: int, shape: str = "") -> int:
    """Run task ``index`` of the call staged under ``call`` (planned as ``shape``); the exit code."""
    if call == gcp_env.SCHEDULED_CALL:
        result = runtime.scheduled(time.time())
        return 0 if result is None or result["status"] == "ok" else 1
    name = runtime.spec["name"]
    layout = Layout.from_shape(name, call, shape) if shape else None
    chunk = index // layout.split if layout else index
    request = protocol.load_envelope(runtime.storage.get(task_key(name, call, chunk)))
    if layout is not None and layout.split > 1:
        inputs = staging.unpack(request["inputs"], runtime.storage)
        chunk_start, _ = layout.chunk_range(chunk)
        start, end = layout.task_range(index)
        # Inline: the part never leaves this process.
        request = {**request, "inputs": staging.pack(inputs[start - chunk_start : end - chunk_start])}
        request["first"] = start
    request["call"] = call
    runtime.handle(request, skip_done=True)
    return 0


def main(argv: list[str]) -> int:
    """Entry point of the ``gcpbatch`` mode."""
    runtime = GcpRuntime(os.environ)
    runtime.start()
    index = int(os.environ.get(gcp_env.TASK_INDEX) or 0)
    return run_task(runtime, os.environ[gcp_env.CALL], index, os.environ.get(LAYOUT, ""))
