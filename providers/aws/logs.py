"""``pcompile logs`` on an AWS stack: CloudWatch Logs."""

from __future__ import annotations

from typing import Any

from pcompile.compiler.errors import UserError


def cloudwatch_group(addresses: dict[str, str]) -> str:
    """The CloudWatch log group of a function: Batch's own, else Lambda's default."""
    if "log_group" in addresses:
        return addresses["log_group"]
    if "function_name" in addresses:
        return f"/aws/lambda/{addresses['function_name']}"
    raise UserError(
        "the manifest has no log group for this function", fix="re-deploy with this pcompile version"
    )


def log_lines(
    addresses: dict[str, str], region: str | None, start: float, limit: int, client: Any = None
) -> list[str]:
    """The function's log events since ``start`` (epoch seconds), oldest first."""
    import boto3

    logs = client or boto3.client("logs", region_name=region)
    events = logs.filter_log_events(
        logGroupName=cloudwatch_group(addresses), startTime=int(start * 1000), limit=limit
    )
    return [e["message"].rstrip("\n") for e in sorted(events["events"], key=lambda e: e["timestamp"])]
