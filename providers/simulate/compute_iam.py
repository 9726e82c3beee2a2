"""Whom the simulated compute acts as: the AWS services themselves, and each function's role.

On AWS, Lambda and Batch read a function's definition with their own authority and run
the code with credentials of the function's *own* role, never the deployer's. Here the
services are IAM users of the emulator named after their service principals
(``lambda.amazonaws.com``, ``ecs-tasks.amazonaws.com``, ``scheduler.amazonaws.com``),
whose keys are in the file ``PCOMPILE_SIMULATE_SERVICE_CREDENTIALS`` names (mode 0600, as
:mod:`.iam_emulator` writes it: ``{"services": {principal: {aws_access_key_id,
aws_secret_access_key}}}``). A runtime gets the
temporary credentials of ``sts:AssumeRole`` on the function's role, called as the
service the role trusts; an IAM-enforcing emulator
(:mod:`pcompile.providers.simulate.iam_emulator`) then checks every request the runtime
makes against that role's policies. Without the variable (an emulator that checks
nothing) the services use placeholder keys, and runtimes still get the role's
credentials from ``AssumeRole``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SERVICE_CREDENTIALS = "PCOMPILE_SIMULATE_SERVICE_CREDENTIALS"
PLACEHOLDER_KEY = "simulate"  # accepted by an emulator that checks nothing; never a real key
LAMBDA = "lambda.amazonaws.com"
BATCH = "ecs-tasks.amazonaws.com"
SCHEDULER = "scheduler.amazonaws.com"
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class RoleError(RuntimeError):
    """The function's role could not be assumed (missing, or its trust policy refuses)."""


class Identities:
    """Sessions of the simulated services and the credentials of the roles they assume."""

    def __init__(self, endpoint_url: str, region: str, env: Mapping[str, str] = os.environ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        path = env.get(SERVICE_CREDENTIALS)
        self.keys: dict[str, dict[str, str]] = json.loads(Path(path).read_text())["services"] if path else {}

    def session(self, principal: str) -> Any:
        """A boto3 session acting as service ``principal``."""
        import boto3

        key = self.keys.get(principal) or {
            "aws_access_key_id": PLACEHOLDER_KEY,
            "aws_secret_access_key": PLACEHOLDER_KEY,
        }
        return boto3.session.Session(region_name=self.region, **key)

    def client(self, principal: str, service: str) -> Any:
        """A client of ``service`` at the emulator, acting as ``principal``."""
        return self.session(principal).client(service, endpoint_url=self.endpoint_url)

    def role_env(self, principal: str, role_arn: str | None, session_name: str) -> dict[str, str]:
        """``AWS_ACCESS_KEY_ID``/``SECRET``/``SESSION_TOKEN`` of ``role_arn`` assumed by
        ``principal``; empty without a role (AWS gives such a container no credentials)."""
        if not role_arn:
            return {}
        import botocore.exceptions

        try:
            answer = self.client(principal, "sts").assume_role(
                RoleArn=role_arn, RoleSessionName=session_label(session_name)
            )
        except botocore.exceptions.ClientError as exc:
            raise RoleError(f"{principal} cannot assume {role_arn}: {exc}") from exc
        creds = answer["Credentials"]
        values = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        return dict(zip(CREDENTIAL_VARIABLES, values, strict=True))


_ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/(?P<repo>[^:@]+)[:@](?P<ref>.+)$")


class PullError(RuntimeError):
    """The image could not be pulled with the given role (Batch: ``CannotPullContainerError``)."""


def check_pull(identities: Identities, principal: str, role_arn: str, image_uri: str) -> None:
    """Fetch ``image_uri``'s manifest from the emulator's ECR as ``role_arn`` (assumed by
    ``principal``), as Batch pulls a job's image with its execution role. An image outside
    ECR is not checked (it needs no grant)."""
    match = _ECR_IMAGE.match(image_uri)
    if match is None:
        return
    import boto3
    import botocore.exceptions

    creds = identities.role_env(principal, role_arn, "image-pull")
    names = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
    keys = {name: creds[variable] for name, variable in zip(names, CREDENTIAL_VARIABLES, strict=True)}
    ecr = boto3.session.Session(region_name=identities.region, **keys).client(
        "ecr", endpoint_url=identities.endpoint_url
    )
    ref = match["ref"]
    image_id = {"imageDigest": ref} if ref.startswith("sha256:") else {"imageTag": ref}
    try:
        answer = ecr.batch_get_image(repositoryName=match["repo"], imageIds=[image_id])
    except botocore.exceptions.ClientError as exc:
        raise PullError(f"CannotPullContainerError: {image_uri}: {exc}") from exc
    if not answer.get("images"):
        raise PullError(f"CannotPullContainerError: {image_uri}: not found in the emulator's ECR")


def session_label(name: str) -> str:
    """A valid ``RoleSessionName`` (2-64 of ``[\\w+=,.@-]``) from a function or job name."""
    cleaned = re.sub(r"[^\w+=,.@-]", "-", name)[:64]
    return cleaned if len(cleaned) >= 2 else f"{cleaned}-session"
