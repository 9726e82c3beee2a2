"""Physical names of auto-named AWS resources, kept within each service's limit.

Pulumi names a resource that sets no name from its logical name plus ``-`` and 7
random hex characters. Logical names come from the app and function names (each up
to 63 characters on Modal), so roles (64), buckets (63) and schedules (64) overflow
for ordinary names (``invoice-processing`` + ``generate_monthly_report``). Where the
auto-name fits, it is kept (so existing stacks are not replaced); where it would
not, :func:`fitted` gives an explicit name: the logical name cut, plus a hash of the
project, stack and logical name, so it is stable and never collides across stacks.
Logical names never change.
"""

from __future__ import annotations

import hashlib
import re

import pulumi

# Pulumi's auto-name suffix: "-" and 7 random hex characters.
AUTO_SUFFIX = 8
# Name limits of the auto-named types pcompile creates. Sources: IAM quotas
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html), S3 bucket
# naming rules, EventBridge Scheduler CreateSchedule, Batch CreateComputeEnvironment,
# EC2 CreateSecurityGroup and ECR CreateRepository API references.
ROLE = 64
ROLE_POLICY = 128
INSTANCE_PROFILE = 128
BUCKET = 63
SCHEDULE = 64
COMPUTE_ENVIRONMENT = 128
SECURITY_GROUP = 255
REPOSITORY = 256
# Web services (ELB, EC2, Auto Scaling, ECS, CloudFront and CloudWatch API references).
LOAD_BALANCER = 32
TARGET_GROUP = 32
LAUNCH_TEMPLATE = 128
AUTOSCALING_GROUP = 255
CAPACITY_PROVIDER = 255
CLOUDFRONT_FUNCTION = 64
SCALING_POLICY = 255
ALARM = 255


def fitted(logical: str, limit: int) -> str | None:
    """None when Pulumi's auto-name of ``logical`` fits in ``limit`` characters, else an explicit,
    stable name of at most ``limit`` characters."""
    if len(logical) + AUTO_SUFFIX <= limit:
        return None
    digest = hashlib.sha256("\0".join((pulumi.get_project(), pulumi.get_stack(), logical)).encode())
    return f"{logical[: limit - 9].rstrip('-.')}-{digest.hexdigest()[:8]}"


def registry(account: str, region: str) -> str:
    """The stack's ECR registry prefix deploy pushes to (``<registry>/<app>`` is the app's
    repository, created on first push); the program's image references use the same."""
    return f"{account}.dkr.ecr.{region}.amazonaws.com/pcompile"


_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::[\w.-]+|@sha256:[0-9a-f]{64})?$"
)


def ecr_repository_arn(image_uri: str, partition: str = "aws") -> str | None:
    """The ARN of the ECR repository ``image_uri`` (``<registry>/<repository>:<tag>``, as deploy
    pushes it) lives in; None for an image outside ECR (nothing to grant)."""
    match = _ECR_IMAGE.match(image_uri)
    if match is None:
        return None
    return f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"
