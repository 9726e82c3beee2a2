"""Lambda concurrency (issue 19, item 7): ``max_containers`` reserves account concurrency only
when the stack asks, and synth warns once about what reservations take from the account."""

from __future__ import annotations

import dataclasses

import pytest
from aws_apps import AWS_SETTINGS, fn

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec
from pcompile.providers.synth import SynthOutput, synthesize

LAMBDA = "aws:lambda/function:Function"
WARM = "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"


def _app() -> AppSpec:
    return AppSpec(
        name="conc",
        functions=(
            fn("capped", 10, max_containers=2),
            fn("warm", 20, min_containers=3),
            fn("plain", 30),
        ),
        images=(),
    )


def _synth(**extra: object) -> SynthOutput:
    return synthesize("aws", _app(), dataclasses.replace(AWS_SETTINGS, extra=dict(extra)))


def _reserved(out: SynthOutput) -> dict[str, object]:
    return {r.name: r.inputs.get("reservedConcurrentExecutions") for r in out.result.of_type(LAMBDA)}


def test_max_containers_takes_no_account_concurrency_by_default_and_says_so() -> None:
    out = _synth()
    assert _reserved(out) == {"conc-capped-fn": None, "conc-plain-fn": None, "conc-warm-fn": None}
    warnings = out.extras["warnings"]
    assert len(warnings) == 2
    assert "capped (2) is not enforced" in warnings[0] and "reserve_concurrency: true" in warnings[0]
    assert "warm (3) is provisioned concurrency" in warnings[1] and "10 unreserved" in warnings[1]
    assert [r.inputs["provisionedConcurrentExecutions"] for r in out.result.of_type(WARM)] == [3.0]


def test_the_stack_may_reserve_max_containers() -> None:
    out = _synth(reserve_concurrency=True)
    assert _reserved(out)["conc-capped-fn"] == 2.0
    (reserved, _warm) = out.extras["warnings"]
    assert reserved.startswith("reserved concurrency 2 (capped (2))") and "Concurrent executions" in reserved


def test_an_account_pool_too_small_for_the_reservations_is_an_error_at_synth() -> None:
    with pytest.raises(UserError, match=r"reserves 5 Lambda concurrency.*pool of 14") as err:
        _synth(reserve_concurrency=True, lambda_concurrency_limit=14)
    assert "gpu_mix.py:10" in str(err.value)
    assert _synth(reserve_concurrency=True, lambda_concurrency_limit=15).extras["warnings"]


def test_an_app_without_concurrency_settings_gets_no_warning() -> None:
    app = AppSpec(name="quiet", functions=(fn("plain", 30),), images=())
    assert synthesize("aws", app, AWS_SETTINGS).extras["warnings"] == []
