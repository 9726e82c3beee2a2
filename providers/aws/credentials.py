"""AWS credentials as pcompile's commands meet them: the account id, and one-sentence errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pcompile.compiler.errors import UserError


def aws_account() -> str:
    """The account id of the current AWS credentials (STS)."""
    import boto3

    try:
        return str(boto3.client("sts").get_caller_identity()["Account"])
    except Exception as exc:
        raise UserError(
            f"cannot read the AWS account id: {exc}",
            fix="configure AWS credentials (aws configure sso, or OIDC in CI) and re-run",
        ) from None


@contextmanager
def aws_errors() -> Iterator[None]:
    """Missing credentials or an unreachable endpoint are the user's to fix: one sentence."""
    from botocore.exceptions import BotoCoreError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise UserError(
            "no AWS credentials found", fix="configure them (aws configure sso, or OIDC in CI) and re-run"
        ) from None
    except BotoCoreError as exc:
        raise UserError(f"cannot reach AWS: {exc}", fix="check the network, region and credentials") from None


def credential_error(exc: BaseException) -> UserError | None:
    """A UserError when ``exc`` is botocore's missing-credentials error, else None."""
    kind = f"{type(exc).__module__}.{type(exc).__name__}"
    if kind.endswith("NoCredentialsError") or kind.endswith("UnauthorizedSSOTokenError"):
        return UserError("no AWS credentials found", fix="configure them (aws configure sso, or OIDC in CI)")
    return None
