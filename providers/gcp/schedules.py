"""Modal schedules as Cloud Scheduler triggers (unix cron + IANA time zone).

``Cron`` passes through unchanged with its time zone (Cloud Scheduler speaks unix
cron). A ``Period`` must fire at its exact interval, but unix cron only expresses
intervals that divide the next unit (``*/15`` minutes, ``*/6`` hours, daily,
weekly): ``*/7`` hours would fire at 0, 7, 14, 21 and again at 0. So a period is
mapped to the *coarsest expressible tick that divides it*; when the tick is finer
than the period, the runtime gates each firing and runs only on ticks where
``schedule_time (epoch seconds) % period == 0`` (read from Cloud Scheduler's
``X-CloudScheduler-ScheduleTime`` header). Periods are therefore anchored to the
Unix epoch in UTC. Gating needs a process that starts in time, so it is offered on
Cloud Run only; a GCP Batch function needs a period cron expresses directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from pcompile.compiler import cron
from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import CronSchedule, PeriodSchedule, Schedule, Source

MINUTE = 60
HOUR = 3600
DAY = 86400
WEEK = 7 * DAY

# Ticks unix cron fires at exact, epoch-aligned intervals, coarsest first. The weekly
# tick fires on Thursdays because 1970-01-01 was a Thursday.
TICKS: tuple[tuple[int, str], ...] = (
    (WEEK, "0 0 * * 4"),
    (DAY, "0 0 * * *"),
    *((h * HOUR, f"0 */{h} * * *") for h in (12, 8, 6, 4, 3, 2)),
    (HOUR, "0 * * * *"),
    *((m * MINUTE, f"*/{m} * * * *") for m in (30, 20, 15, 12, 10, 6, 5, 4, 3, 2)),
    (MINUTE, "* * * * *"),
)


@dataclass(frozen=True)
class Trigger:
    """A Cloud Scheduler trigger; ``period_s`` set means the runtime gates ticks to that period."""

    cron: str
    time_zone: str
    tick_s: int | None = None
    period_s: int | None = None

    @property
    def gated(self) -> bool:
        """Whether the runtime must skip some firings."""
        return self.period_s is not None

    def to_json(self) -> dict[str, object]:
        """Plain form for placements and job bodies."""
        return {
            "cron": self.cron,
            "time_zone": self.time_zone,
            "tick_s": self.tick_s,
            "period_s": self.period_s,
        }


def trigger(schedule: Schedule, source: Source | None = None) -> Trigger:
    """The Cloud Scheduler trigger for a Modal schedule."""
    if isinstance(schedule, CronSchedule):
        return Trigger(_check_cron(schedule.expression, source), schedule.timezone or "UTC")
    return period_trigger(schedule, source)


def _check_cron(expression: str, source: Source | None) -> str:
    """Five unix fields (macros such as ``@daily`` expanded), validated field by field."""
    return " ".join(cron.five_fields(expression, source))


def period_trigger(period: PeriodSchedule, source: Source | None = None) -> Trigger:
    """The coarsest exact tick dividing ``period``, gated when finer than the period."""
    seconds = period.seconds
    if seconds < MINUTE or seconds % MINUTE:
        raise UserError(
            f"Period of {seconds:g} s: Cloud Scheduler fires at most once a minute, on whole minutes",
            source=source,
            fix="use a Period that is a whole number of minutes, e.g. Period(minutes=1)",
        )
    whole = int(seconds)
    for tick, expression in TICKS:
        if whole % tick == 0:
            if tick == whole:
                return Trigger(expression, "UTC", tick)
            return Trigger(expression, "UTC", tick, whole)
    raise AssertionError("the one-minute tick divides every whole-minute period")  # pragma: no cover
