"""Modal schedules as EventBridge Scheduler expressions.

* ``Cron("m h dom mon dow")`` (unix, Sunday = 0 or 7) becomes
  ``cron(m h dom mon dow year)`` (AWS, Sunday = 1) with AWS's rule that exactly one
  of day-of-month and day-of-week is ``?``;
* ``Period(...)`` becomes ``rate(N unit)`` in whole minutes, hours or days.

Anything AWS cannot express is a :class:`UserError` with the fix.
"""

from __future__ import annotations

from pcompile.compiler.cron import FIELDS, five_fields
from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import CronSchedule, PeriodSchedule, Schedule, Source

# The day names of the unix day-of-week field, as the compiler's cron validator reads them.
DAY_NAMES = FIELDS[4][3]


def expression(schedule: Schedule, source: Source | None = None) -> tuple[str, str | None]:
    """``(schedule_expression, timezone)`` for a Modal schedule; timezone None for rates."""
    if isinstance(schedule, CronSchedule):
        return cron_expression(schedule.expression, source), schedule.timezone or "UTC"
    return rate_expression(schedule, source), None


def cron_expression(unix: str, source: Source | None = None) -> str:
    """Translate a 5-field unix cron expression to AWS's 6-field ``cron(...)`` form."""
    minute, hour, dom, month, dow = five_fields(unix, source)
    if dom != "*" and dow != "*":
        raise UserError(
            f"Cron({unix!r}) restricts both day-of-month and day-of-week; AWS cron cannot express "
            "'either day matches'",
            source=source,
            fix="use '*' for one of the two fields, or split it into two scheduled functions",
        )
    if dow == "*":
        return f"cron({minute} {hour} {dom} {month} ? *)"
    return f"cron({minute} {hour} ? {month} {_aws_weekdays(dow, unix, source)} *)"


def _aws_weekdays(field: str, unix: str, source: Source | None) -> str:
    """Unix weekdays (0-7, Sunday = 0 or 7, names) as AWS weekdays (1-7, Sunday = 1)."""
    out: list[str] = []
    for item in field.upper().split(","):
        if "#" in item or item.endswith("L"):
            day, sep, rest = item.partition("#") if "#" in item else (item[:-1], "L", "")
            out.append(f"{_weekday_number(day, unix, source) % 7 + 1}{sep}{rest}")
            continue
        out.append(_compress(sorted({d % 7 + 1 for d in _expand_weekdays(item, unix, source)})))
    return ",".join(out)


def _expand_weekdays(item: str, unix: str, source: Source | None) -> list[int]:
    """The unix weekday numbers one comma item (``*/2``, ``1-5``, ``MON``) stands for."""
    base, _, step_text = item.partition("/")
    step = int(step_text) if step_text else 1
    if base == "*":
        low, high = 0, 6
    elif "-" in base:
        first, last = base.split("-", 1)
        low, high = _weekday_number(first, unix, source), _weekday_number(last, unix, source)
    else:
        low = high = _weekday_number(base, unix, source)
        if step_text:
            high = 6
    if high < low:
        raise UserError(
            f"Cron({unix!r}) has a backwards weekday range {base!r}", source=source, fix="write it low-high"
        )
    return list(range(low, high + 1, step))


def _weekday_number(token: str, unix: str, source: Source | None) -> int:
    """A weekday token as a unix number 0-7."""
    if token in DAY_NAMES:
        return DAY_NAMES.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise UserError(
        f"Cron({unix!r}) has weekday {token!r}", source=source, fix="use 0-7 (Sunday is 0 or 7) or SUN-SAT"
    )


def _compress(days: list[int]) -> str:
    """``[2, 3, 4, 6]`` → ``"2-4,6"``; all seven days → ``"*"``."""
    if days == list(range(1, 8)):
        return "*"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


RATE_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"))


def rate_expression(period: PeriodSchedule, source: Source | None = None) -> str:
    """``Period(hours=5)`` → ``rate(5 hours)``; AWS rates are whole minutes or more."""
    seconds = period.seconds
    if seconds < 60 or seconds != int(seconds) or int(seconds) % 60:
        minutes = max(1, round(seconds / 60))
        raise UserError(
            f"Period of {seconds:g} seconds: EventBridge Scheduler runs at most once a minute, "
            "in whole minutes",
            source=source,
            fix=f"use Period(minutes={minutes}) or longer",
        )
    for unit_seconds, unit in RATE_UNITS:
        if int(seconds) % unit_seconds == 0:
            count = int(seconds) // unit_seconds
            return f"rate({count} {unit}{'' if count == 1 else 's'})"
    raise AssertionError("unreachable: whole minutes always match")
