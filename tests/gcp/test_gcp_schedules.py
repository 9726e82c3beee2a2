"""Cloud Scheduler triggers: cron passes through with its zone, periods fire at their exact interval."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import CronSchedule, PeriodSchedule
from pcompile.providers.gcp import schedules
from pcompile.runtime.gcp_http import should_run


def test_cron_keeps_expression_and_time_zone() -> None:
    trig = schedules.trigger(CronSchedule("0 2 * * *", "Europe/Paris"))
    assert (trig.cron, trig.time_zone, trig.gated) == ("0 2 * * *", "Europe/Paris", False)


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [
        (6 * 3600, "0 */6 * * *"),
        (3600, "0 * * * *"),
        (900, "*/15 * * * *"),
        (86400, "0 0 * * *"),
        (60, "* * * * *"),
    ],
)
def test_expressible_periods_are_not_gated(seconds: int, cron: str) -> None:
    trig = schedules.trigger(PeriodSchedule(float(seconds)))
    assert (trig.cron, trig.gated) == (cron, False)


def test_seven_hours_uses_an_hourly_tick_with_gating() -> None:
    trig = schedules.trigger(PeriodSchedule(7 * 3600.0))
    assert (trig.cron, trig.tick_s, trig.period_s) == ("0 * * * *", 3600, 7 * 3600)


def test_cron_macros_are_expanded() -> None:
    assert schedules.trigger(CronSchedule("@daily")).cron == "0 0 * * *"
    with pytest.raises(UserError, match="has 4 fields"):
        schedules.trigger(CronSchedule("0 2 * *"))


def test_sub_minute_period_is_an_error() -> None:
    with pytest.raises(UserError, match="at most once a minute"):
        schedules.trigger(PeriodSchedule(90.0))


@settings(deadline=None, max_examples=60)
@given(st.integers(min_value=1, max_value=7 * 24 * 60))
def test_gated_trigger_runs_exactly_once_per_period(minutes: int) -> None:
    """Over a window of ticks, the gate lets through runs exactly ``period`` apart."""
    trig = schedules.trigger(PeriodSchedule(minutes * 60.0))
    tick = trig.tick_s or minutes * 60
    period = trig.period_s or tick
    start = 1_700_000_000 // tick * tick
    fired = [t for t in range(start, start + 3 * period + tick, tick) if should_run(t, period, tick)]
    assert len(fired) >= 3
    assert {b - a for a, b in zip(fired, fired[1:], strict=False)} == {period}
