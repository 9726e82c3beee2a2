"""The GCP container runtime: the shared :class:`~.container.ContainerRuntime` read from
GCP's environment contract (:mod:`.gcp_env`), and GCP's call layout.

Cloud Run's ``POST /invoke`` (:mod:`.gcp_http`) and Batch tasks (:mod:`.gcp_batch`)
hand it request envelopes (described in :mod:`.container`). A Batch call keeps each
task's request at :func:`task_key`, the caller's own records at :func:`call_key`, and
each input's result at :func:`result_key`.

At start each ``PCOMPILE_SECRET_JSON_*`` variable's keys are exported to the
environment (Cloud Run and Batch inject Secret Manager values that way); a Cloud
Scheduler trigger finer than the schedule is gated by :func:`should_run`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from . import gcp_env, staging
from .container import ContainerRuntime, result_key
from .secret_values import secret_values
from .storage import Storage, open_storage

__all__ = ["GcpRuntime", "call_key", "export_secrets", "result_key", "should_run", "task_key"]


def task_key(function: str, call: str, task: int) -> str:
    """Where task ``task`` of a Batch call finds its request envelope (written by the caller)."""
    return staging.key(function, staging.INPUTS, call, f"task-{task}.in")


def call_key(function: str, call: str, name: str) -> str:
    """A caller's own record of a call (``call.json``, platform failures): on the input side,
    so that only the function ever writes under ``out``."""
    return staging.key(function, staging.INPUTS, call, name)


def export_secrets(environ: MutableMapping[str, str]) -> list[str]:
    """Put each secret's keys into ``environ`` (the rule of :mod:`.secret_values`, shared with
    AWS; a plain-text secret is named from its variable's suffix); returns the exported names."""
    exported: list[str] = []
    for name in sorted(k for k in environ if k.startswith(gcp_env.SECRET_PREFIX)):
        secret = name.removeprefix(gcp_env.SECRET_PREFIX)
        for key, value in secret_values(secret, environ[name]).items():
            environ[key] = value
            exported.append(key)
    return exported


def should_run(schedule_time_s: float, period_s: int, tick_s: int) -> bool:
    """Gate of a finer trigger: run on the tick nearest ``schedule_time_s`` that starts a period.

    Periods are anchored to the Unix epoch, so any tick dividing the period gives
    firings exactly ``period_s`` apart (see ``pcompile.providers.gcp.schedules``).
    """
    tick_index = round(schedule_time_s / tick_s)
    return (tick_index * tick_s) % period_s == 0


class GcpRuntime(ContainerRuntime):
    """One Cloud Run or GCP Batch container, configured by :mod:`.gcp_env`."""

    def __init__(self, environ: Mapping[str, str], storage: Storage | None = None) -> None:
        super().__init__(
            json.loads(environ[gcp_env.SPEC]),
            storage if storage is not None else open_storage(environ[gcp_env.STAGING]),
            json.loads(environ.get(gcp_env.VOLUMES) or "{}"),
        )
        self.schedule: dict[str, Any] | None = json.loads(environ.get(gcp_env.SCHEDULE) or "null")

    def export_secrets(self) -> None:
        """Secret Manager values arrive as ``PCOMPILE_SECRET_JSON_*`` variables."""
        export_secrets(os.environ)

    def due(self, schedule_time_s: float) -> bool:
        """A trigger finer than the schedule runs the function only on the ticks that start a period."""
        gate = self.schedule
        return not (gate and gate.get("period_s")) or should_run(
            schedule_time_s, gate["period_s"], gate["tick_s"]
        )
