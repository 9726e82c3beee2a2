"""The environment contract between GCP infrastructure and the runtime inside it.

``pcompile.providers.gcp`` writes these variables into every Cloud Run service and
Batch job template; :mod:`.gcp_http` and :mod:`.gcp_batch` read them. One module
that imports nothing, so a rename breaks both sides at once (and the contract
tests run the runtime with the synthesized environment).
"""

from __future__ import annotations

APP = "PCOMPILE_APP"
FUNCTION = "PCOMPILE_FUNCTION"
STACK = "PCOMPILE_STACK"
# The IR dict of the function (``compiler/ir.py`` field names), as JSON.
SPEC = "PCOMPILE_SPEC"
# ``gs://bucket``: payloads, results, job templates, manifest.
STAGING = "PCOMPILE_STAGING"
# JSON ``{mount path: {"url": "gs://bucket", "read_only": bool}}``.
VOLUMES = "PCOMPILE_VOLUMES"
# JSON ``{"cron", "time_zone", "tick_s", "period_s"}`` when the runtime gates a finer trigger.
SCHEDULE = "PCOMPILE_SCHEDULE"
# Each variable with this prefix holds one Modal secret: a JSON object of its keys, or plain
# text (exported as one variable; see ``secret_values``).
SECRET_PREFIX = "PCOMPILE_SECRET_JSON_"
# Code bundle (``gs://...#sha256=<hex>``) when the code is not baked into the image;
# the variable :mod:`.bundle` reads.
BUNDLE = "PCOMPILE_CODE_BUNDLE"
# Set per Batch job by the invoker: the call's prefix in staging (``calls/<id>``) or ``scheduled``.
CALL = "PCOMPILE_CALL"
SCHEDULED_CALL = "scheduled"
# Cloud Run sets PORT; Batch sets BATCH_TASK_INDEX on each task.
PORT = "PORT"
TASK_INDEX = "BATCH_TASK_INDEX"
# Cloud Scheduler's header with the firing's scheduled time (RFC 3339).
SCHEDULE_TIME_HEADER = "x-cloudscheduler-scheduletime"
