"""The environment contract between AWS infrastructure and the runtime inside it.

``pcompile.providers.aws`` writes these variables into every Lambda function and
Batch job definition; :mod:`.aws_lambda` and :mod:`.aws_batch` read them. Keeping
the names in one module (that imports nothing) means a rename breaks both sides
at once, and the contract tests run the runtime with the synthesized environment.
"""

from __future__ import annotations

APP = "PCOMPILE_APP"
FUNCTION = "PCOMPILE_FUNCTION"
# The function's IR dict (``compiler/ir.py`` field names, defaults dropped), as JSON.
SPEC = "PCOMPILE_SPEC"
# ``s3://bucket``: staged payloads and results (``fn/<function>/in|out/``, see ``staging``).
STAGING_URL = "PCOMPILE_STAGING_URL"
# JSON ``{secret name: Secrets Manager id (name or ARN)}``; keys exported at start.
SECRETS = "PCOMPILE_SECRETS"
# JSON ``{mount path: {"url": "s3://bucket", "read_only": bool}}``.
VOLUMES = "PCOMPILE_VOLUMES"
# Code bundle URL, read by ``pcompile.runtime.bundle`` (same name as there).
CODE_BUNDLE = "PCOMPILE_CODE_BUNDLE"
# Set per job by the invoker (container overrides), never in the job definition: the
# call's layout ``<function>/<id>?n=..&k=..&m=..`` (see ``aws_calls``). Absent for a scheduled run.
JOB = "PCOMPILE_JOB"
# Batch sets this on each child of an array job.
ARRAY_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"
# The region, set in every Batch job definition (Lambda sets both itself): boto3 reads only
# AWS_DEFAULT_REGION, and a client without a region cannot be made.
REGION = "AWS_REGION"
DEFAULT_REGION = "AWS_DEFAULT_REGION"
# boto3 endpoint override (moto in tests; VPC endpoints in locked-down accounts).
ENDPOINT_URL = "PCOMPILE_AWS_ENDPOINT_URL"
# botocore's own endpoint for every service (stack key ``endpoint_url``: an API emulator).
# Unlike ENDPOINT_URL it leaves per-service overrides (``AWS_ENDPOINT_URL_<SERVICE>``) in force.
BOTO_ENDPOINT_URL = "AWS_ENDPOINT_URL"
