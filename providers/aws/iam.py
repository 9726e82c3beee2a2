"""IAM policy documents as data: trust policies and least-privilege statements.

Every statement names concrete resources of the app (its log group, its own staging
prefixes, its volumes' buckets, its secrets, its queue); none uses action
``*`` or resource ``*``. Policies are built with :func:`policy_json` from
statements that may hold Pulumi outputs, so ARNs resolve at deploy time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from pcompile.providers.outputs import filled, joined
from pcompile.runtime import staging

VERSION = "2012-10-17"


@dataclass(frozen=True)
class Arns:
    """ARNs built from names we choose, so policies are exact before anything exists."""

    region: str
    account: pulumi.Input[str]
    partition: str = "aws"

    def _regional(self, service: str, resource: pulumi.Input[str]) -> pulumi.Input[str]:
        return joined(f"arn:{self.partition}:{service}:{self.region}:", self.account, ":", resource)

    def bucket(self, name: pulumi.Input[str]) -> pulumi.Input[str]:
        """An S3 bucket (S3 ARNs carry neither region nor account)."""
        return joined(f"arn:{self.partition}:s3:::", name)

    def log_group(self, name: str) -> pulumi.Input[str]:
        """A CloudWatch log group, without the ``:*`` stream suffix."""
        return self._regional("logs", f"log-group:{name}")

    def function(self, name: str) -> pulumi.Input[str]:
        """An unqualified Lambda function."""
        return self._regional("lambda", f"function:{name}")

    def job_queue(self, name: str) -> pulumi.Input[str]:
        """A Batch job queue."""
        return self._regional("batch", f"job-queue/{name}")

    def job_definition(self, name: str) -> pulumi.Input[str]:
        """Every revision of a Batch job definition."""
        return self._regional("batch", f"job-definition/{name}:*")

    def table(self, name: str) -> pulumi.Input[str]:
        """A DynamoDB table."""
        return self._regional("dynamodb", f"table/{name}")

    def named_secret(self, name: str) -> pulumi.Input[str]:
        """An existing secret by name; Secrets Manager appends a 6-character suffix."""
        return self._regional("secretsmanager", f"secret:{name}-??????")


def trust_policy(service: str, source_account: pulumi.Input[str] | None = None) -> pulumi.Input[str]:
    """Let ``service`` (e.g. ``lambda.amazonaws.com``) assume a role, optionally only for our account."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if source_account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return policy_json([statement])


def policy_json(statements: list[dict[str, Any]]) -> pulumi.Input[str]:
    """A policy document as a JSON string once every ARN inside is known (a plain string
    when none is an output)."""
    return filled(statements, _document)


def _document(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": VERSION, "Statement": statements}, sort_keys=True)


def allow(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    """One Allow statement; ``resources`` may be outputs."""
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}


def staging_statements(bucket_arn: pulumi.Input[str], function: str) -> list[dict[str, Any]]:
    """Read ``function``'s own inputs and write its own results, nothing else of the staging bucket.

    The prefixes come from :func:`pcompile.runtime.staging.prefix`, the layout the invokers
    and the runtime use. Callers (the deploying or calling identity, outside this app's
    roles) write the inputs; no role of the app can write another function's inputs or
    results, the manifest or anything the deploy uploaded.
    """
    inputs = joined(bucket_arn, "/", staging.prefix(function, staging.INPUTS), "/*")
    results = joined(bucket_arn, "/", staging.prefix(function, staging.RESULTS), "/*")
    return [
        allow("StagingInputs", ["s3:GetObject"], [inputs]),
        allow("StagingResults", ["s3:GetObject", "s3:PutObject"], [results]),
    ]


def volume_statements(
    sid: str, bucket_arn: pulumi.Input[str], read_only: bool, prefix: str = ""
) -> list[dict[str, Any]]:
    """List and read a mounted bucket (or its prefix); write and delete too unless read-only."""
    objects = ["s3:GetObject"] if read_only else ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    listing = allow(f"{sid}List", ["s3:ListBucket"], [bucket_arn])
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}}
    path = f"/{prefix}/*" if prefix else "/*"
    return [listing, allow(f"{sid}Objects", objects, [joined(bucket_arn, path)])]


def secret_statements(secret_arns: list[pulumi.Input[str]]) -> list[dict[str, Any]]:
    """Read exactly the function's own secrets."""
    if not secret_arns:
        return []
    return [allow("Secrets", ["secretsmanager:GetSecretValue"], list(secret_arns))]


def log_statements(log_group_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Write to the function's own log group."""
    return [
        allow(
            "Logs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [joined(log_group_arn, ":*")],
        )
    ]


def deny_insecure_transport(bucket_arn: pulumi.Input[str]) -> pulumi.Input[str]:
    """A bucket policy refusing every request not made over TLS."""
    return policy_json(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, joined(bucket_arn, "/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    )


def image_pull_statements(repository_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Pull images from exactly one ECR repository (Batch's execution role). ECR issues
    registry tokens for no particular resource, so ``GetAuthorizationToken`` takes ``*``."""
    layers = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    return [
        allow("RegistryToken", ["ecr:GetAuthorizationToken"], ["*"]),
        allow("ImagePull", layers, [repository_arn]),
    ]
