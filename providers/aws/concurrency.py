"""Lambda concurrency: what ``max_containers`` and ``min_containers`` take from the account.

Every Lambda function of an account shares one pool of concurrent executions, and AWS
keeps at least :data:`ACCOUNT_UNRESERVED_FLOOR` of it unreserved: a deploy whose
reserved or provisioned concurrency would cut into that floor fails. New accounts
start with a pool of 10, where any reservation fails.

So pcompile chooses the least surprising behaviour:

* ``max_containers`` on a Lambda function is **not** reserved concurrency unless the
  stack asks with ``extra: {reserve_concurrency: true}``; synth warns once, naming the
  functions, either way;
* ``min_containers`` is provisioned concurrency (a warm pool), and synth warns once
  with the total it takes from the account;
* a stack that states the account's pool (``extra: {lambda_concurrency_limit: N}``)
  gets an error at synth, not at ``pulumi up``, when the reservations leave less
  than the floor.

No Pulumi here.
"""

from __future__ import annotations

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, FunctionSpec
from pcompile.providers.aws.placement import AwsPlacement
from pcompile.providers.settings import StackSettings

# Source: https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html (AWS keeps at
# least 10 units of the account pool unreserved; new accounts may start with 10 in all).
ACCOUNT_UNRESERVED_FLOOR = 10
QUOTA_FIX = "ask AWS for a higher 'Concurrent executions' quota (Service Quotas, Lambda)"


def reserves(settings: StackSettings) -> bool:
    """Whether ``max_containers`` becomes reserved concurrency (``extra.reserve_concurrency``)."""
    return bool(settings.extra.get("reserve_concurrency", False))


def reserved_for(fn: FunctionSpec, settings: StackSettings) -> int | None:
    """The reserved concurrency of a Lambda function, or None (share the account's pool)."""
    return fn.max_containers if reserves(settings) and fn.max_containers else None


def _lambdas(app: AppSpec, placements: dict[str, AwsPlacement]) -> list[FunctionSpec]:
    return [f for f in sorted(app.functions, key=lambda f: f.name) if placements[f.name].target == "lambda"]


def _listed(fns: list[FunctionSpec], attr: str) -> str:
    return ", ".join(f"{f.name} ({getattr(f, attr)})" for f in fns)


def warnings(app: AppSpec, placements: dict[str, AwsPlacement], settings: StackSettings) -> list[str]:
    """The concurrency warnings for ``app`` (at most one per kind); raises when a stated
    account pool cannot hold the reservations."""
    lambdas = _lambdas(app, placements)
    capped = [f for f in lambdas if f.max_containers]
    warm = [f for f in lambdas if f.min_containers]
    out: list[str] = []
    reserved = sum(f.max_containers or 0 for f in capped) if reserves(settings) else 0
    provisioned = sum(f.min_containers or 0 for f in warm if not (reserves(settings) and f.max_containers))
    if capped and not reserves(settings):
        out.append(
            f"max_containers on Lambda functions {_listed(capped, 'max_containers')} is not enforced: Lambda "
            "caps a function only with reserved concurrency, taken from the account's pool; set "
            "`extra: {reserve_concurrency: true}` in the stack file to reserve it"
        )
    if reserved:
        out.append(
            f"reserved concurrency {reserved} ({_listed(capped, 'max_containers')}) is taken from the "
            f"account's pool, which must keep {ACCOUNT_UNRESERVED_FLOOR} unreserved; if the deploy is "
            f"refused, {QUOTA_FIX}"
        )
    if warm:
        out.append(
            f"min_containers on Lambda functions {_listed(warm, 'min_containers')} is provisioned "
            f"concurrency, taken from the account's pool, which must keep {ACCOUNT_UNRESERVED_FLOOR} "
            f"unreserved (new accounts have 10 in all, so it is refused there); {QUOTA_FIX}"
        )
    _check_limit(capped or warm, reserved + provisioned, settings)
    return out


def _check_limit(fns: list[FunctionSpec], needed: int, settings: StackSettings) -> None:
    limit = settings.extra.get("lambda_concurrency_limit")
    if not fns or limit is None or needed <= int(limit) - ACCOUNT_UNRESERVED_FLOOR:
        return
    raise UserError(
        f"the app reserves {needed} Lambda concurrency (max_containers with reserve_concurrency, and "
        f"min_containers), but the account's pool of {limit} must keep {ACCOUNT_UNRESERVED_FLOOR} unreserved",
        source=fns[0].source,
        fix=f"lower max_containers/min_containers, turn reserve_concurrency off, or {QUOTA_FIX} "
        "and raise extra.lambda_concurrency_limit",
    )
