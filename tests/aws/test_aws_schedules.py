"""Modal Cron/Period → EventBridge Scheduler expressions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import CronSchedule, PeriodSchedule, Source
from pcompile.providers.aws.schedules import cron_expression, expression, rate_expression


@pytest.mark.parametrize(
    ("unix", "aws"),
    [
        ("0 2 * * *", "cron(0 2 * * ? *)"),
        ("*/15 * * * *", "cron(*/15 * * * ? *)"),
        ("0 9 * * 1-5", "cron(0 9 ? * 2-6 *)"),
        ("0 9 * * MON-FRI", "cron(0 9 ? * 2-6 *)"),
        ("0 0 * * 0", "cron(0 0 ? * 1 *)"),
        ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
        ("0 0 * * 5-7", "cron(0 0 ? * 1,6-7 *)"),
        ("0 0 * * 1,3,5", "cron(0 0 ? * 2,4,6 *)"),
        ("0 0 * * */2", "cron(0 0 ? * 1,3,5,7 *)"),
        ("0 0 * * 5#3", "cron(0 0 ? * 6#3 *)"),
        ("30 4 1 * *", "cron(30 4 1 * ? *)"),
        ("@daily", "cron(0 0 * * ? *)"),
        ("@weekly", "cron(0 0 ? * 1 *)"),
    ],
)
def test_unix_cron_to_aws(unix: str, aws: str) -> None:
    assert cron_expression(unix) == aws


def test_both_day_fields_cannot_be_expressed() -> None:
    with pytest.raises(UserError) as err:
        cron_expression("0 0 1 * 1", Source("a.py", 3))
    assert "a.py:3" in str(err.value) and "fix:" in str(err.value)


def test_wrong_field_count_is_a_user_error() -> None:
    with pytest.raises(UserError, match="has 6 fields"):
        cron_expression("0 0 * * * *")


def test_time_zone_is_kept() -> None:
    assert expression(CronSchedule("0 2 * * *", "Europe/Paris")) == ("cron(0 2 * * ? *)", "Europe/Paris")


@pytest.mark.parametrize(
    ("seconds", "aws"),
    [
        (5 * 3600, "rate(5 hours)"),
        (3600, "rate(1 hour)"),
        (60, "rate(1 minute)"),
        (90 * 60, "rate(90 minutes)"),
        (86400 * 7, "rate(7 days)"),
    ],
)
def test_period_to_rate(seconds: float, aws: str) -> None:
    assert rate_expression(PeriodSchedule(float(seconds))) == aws


@pytest.mark.parametrize("seconds", [30.0, 90.0, 60.5])
def test_sub_minute_periods_are_errors_with_a_fix(seconds: float) -> None:
    with pytest.raises(UserError) as err:
        rate_expression(PeriodSchedule(seconds), Source("a.py", 9))
    assert "Period(minutes=" in str(err.value)


weekday = st.one_of(
    st.just("*"), st.integers(0, 7).map(str), st.sampled_from(["MON-FRI", "1-5", "0,6", "*/2"])
)


@given(minute=st.integers(0, 59), hour=st.integers(0, 23), dow=weekday)
def test_exactly_one_day_field_is_a_question_mark(minute: int, hour: int, dow: str) -> None:
    aws = cron_expression(f"{minute} {hour} * * {dow}")
    fields = aws.removeprefix("cron(").removesuffix(")").split()
    assert len(fields) == 6 and [fields[2], fields[4]].count("?") == 1
    for part in fields[4].replace("-", ",").split(","):
        assert part in ("?", "*") or 1 <= int(part.split("#")[0]) <= 7
