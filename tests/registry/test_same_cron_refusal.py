"""A cron expression without five fields is refused the same way on every cloud
(both translate through :func:`pcompile.compiler.cron.five_fields`)."""

from __future__ import annotations

import pytest

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import CronSchedule, Source
from pcompile.providers.aws.schedules import expression
from pcompile.providers.gcp.schedules import trigger


@pytest.mark.parametrize("cron", ["0 0 * * * *", "0 2 * *", "@fortnightly"])
def test_aws_and_gcp_refuse_a_wrong_field_count_alike(cron: str) -> None:
    schedule, where = CronSchedule(cron), Source("app.py", 7)
    with pytest.raises(UserError) as aws:
        expression(schedule, where)
    with pytest.raises(UserError) as gcp:
        trigger(schedule, where)
    assert str(aws.value) == str(gcp.value)
    assert "app.py:7" in str(aws.value) and f"Cron({cron!r}) has" in str(aws.value)


def test_macros_are_five_fields_on_both() -> None:
    assert expression(CronSchedule("@hourly"))[0] == "cron(0 * * * ? *)"
    assert trigger(CronSchedule("@hourly")).cron == "0 * * * *"
