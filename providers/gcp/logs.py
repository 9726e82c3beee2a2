"""``pcompile logs`` on a GCP stack: Cloud Logging's REST API."""

from __future__ import annotations

import json
import time
from typing import Any

from pcompile.providers.gcp.credentials import google_session

LOGGING_API = "https://logging.googleapis.com/v2/entries:list"


def cloud_logging_filter(addresses: dict[str, str], start: float) -> str:
    """The Cloud Logging filter for a Cloud Run service or a Batch function's jobs."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    if "service" in addresses:
        where = (
            f'resource.type="cloud_run_revision" AND resource.labels.service_name="{addresses["service"]}"'
        )
    else:
        template = addresses.get("job_template", "")
        where = f'logName:"batch_task_logs" AND labels.pcompile_template="{template}"'
    return f'{where} AND timestamp>="{stamp}"'


def log_lines(
    addresses: dict[str, str], project: str | None, start: float, limit: int, session: Any = None
) -> list[str]:
    """The function's log entries since ``start`` (epoch seconds), oldest first."""
    session = session or google_session("https://www.googleapis.com/auth/logging.read")
    body = {
        "resourceNames": [f"projects/{project}"],
        "filter": cloud_logging_filter(addresses, start),
        "orderBy": "timestamp asc",
        "pageSize": limit,
    }
    response = session.post(LOGGING_API, json=body)
    response.raise_for_status()
    entries = response.json().get("entries", [])
    return [
        str(e.get("textPayload") or json.dumps(e.get("jsonPayload", {}), sort_keys=True)) for e in entries
    ]
