"""The environment contract between AWS infrastructure and the runtime inside it.

``pcompile.providers.aws`` writes these variables into every Lambda function and
Batch job definition; :mod:`.aws_lambda` and :mod:`.aws_batch` read them. Keeping
the names in one module (that imports nothing) means a rename breaks both sides
at once, and the contract tests run the runtime with the synthesized environment.
"""

from __future__ import annotations

APP = "PCOMPILE_APP"
FUNCTION = "PCOMPILE_FUNCTION"
MODULE = "PCOMPILE_MODULE"
QUALNAME = "PCOMPILE_QUALNAME"
CLS_QUALNAME = "PCOMPILE_CLS_QUALNAME"
STAGING_URL = "PCOMPILE_STAGING_URL"
SECRETS = "PCOMPILE_SECRETS"
VOLUMES = "PCOMPILE_VOLUMES"
PYTHON_VERSION = "PCOMPILE_PYTHON_VERSION"
IS_GENERATOR = "PCOMPILE_IS_GENERATOR"
TIMEOUT = "PCOMPILE_TIMEOUT"
# Set per job by the invoker (container overrides), never in the job definition.
JOB_PREFIX = "PCOMPILE_JOB_PREFIX"
# Batch sets this on each child of an array job.
ARRAY_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"
# boto3 endpoint override (moto in tests; VPC endpoints in locked-down accounts).
ENDPOINT_URL = "PCOMPILE_AWS_ENDPOINT_URL"

STATIC = (APP, FUNCTION, MODULE, QUALNAME, CLS_QUALNAME, STAGING_URL, SECRETS, VOLUMES, PYTHON_VERSION)
