"""``pcompile bootstrap`` on AWS: the names of the shared pieces and the program creating them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcompile.providers.cloud_stores import SharedNames
from pcompile.providers.settings import StackSettings


def shared_names(
    settings: StackSettings, state_bucket: str | None, account: Callable[[], str] | None = None
) -> SharedNames:
    """Staging bucket ``pcompile-staging-<account>-<region>`` and the account's ECR registry;
    the account id is asked for only when a name needs it."""
    from pcompile.providers.aws import names as aws_names
    from pcompile.providers.aws.credentials import aws_account

    staging = settings.extra.get("staging_bucket")
    region = settings.region or "us-east-1"
    ask = account or aws_account
    acct = ask() if not (staging and settings.registry) else ""
    return SharedNames(
        state_bucket=state_bucket,
        staging_bucket=staging or f"pcompile-staging-{acct}-{region}",
        registry=settings.registry or aws_names.registry(acct, region),
    )


def define_bootstrap(settings: StackSettings, names: SharedNames) -> dict[str, Any]:
    """Private, encrypted S3 buckets (the state bucket versioned)."""
    import pulumi_aws as aws

    tags = {"pcompile-stack": settings.name, "pcompile": "bootstrap", **settings.labels}
    for role, bucket_name in names.buckets().items():
        bucket = aws.s3.Bucket(f"pcompile-{role}", bucket=bucket_name, tags=tags, force_destroy=False)
        aws.s3.BucketPublicAccessBlock(
            f"pcompile-{role}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"pcompile-{role}-encryption",
            bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
        )
        if role == "state":
            aws.s3.BucketVersioning(
                "pcompile-state-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}
            )
    # ECR repositories are per app (`<registry>/<app>`, names.registry), created on first push.
    return names.to_json()
