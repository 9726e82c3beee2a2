"""Validate Modal cron expressions (five unix fields) with messages naming the bad field."""

from __future__ import annotations

import re
import zoneinfo

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import Source

# (field name, low, high, names allowed in the field)
FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_ITEM = re.compile(r"^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(\d+))?$")


def expand_macro(expression: str) -> str:
    """``@daily`` and friends as five fields; other expressions unchanged."""
    return MACROS.get(expression.strip().lower(), expression)


def five_fields(expression: str, source: Source | None = None) -> list[str]:
    """The five unix fields of ``expression`` (macros expanded); a UserError for another count.
    Every cloud's schedule translation starts here, so they refuse the same expressions alike."""
    fields = expand_macro(expression).split()
    if len(fields) != 5:
        raise UserError(
            f"Cron({expression!r}) has {len(fields)} fields; a Modal cron has 5 (minute hour day month weekday)",
            source=source,
            fix='write it like Cron("0 2 * * *")',
        )
    return fields


def _value(token: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    if token.upper() in names:
        return names.index(token.upper()) + (1 if low == 1 else 0)
    if token.isdigit() and low <= int(token) <= high:
        return int(token)
    return None


def _check_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    """None when ``text`` is a valid field, else why not."""
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            return f"{name} field {text!r} is not a cron field (use *, N, N-M, */K or lists)"
        base, step = match.group(1), match.group(2)
        if step is not None and int(step) == 0:
            return f"{name} field {text!r} has a step of 0"
        if base == "*":
            continue
        for token in base.split("-"):
            if _value(token, low, high, names) is None:
                return f"{name} field {text!r}: {token!r} is out of range {low}-{high}"
    return None


def validate_cron(expression: str, timezone: str, source: Source) -> None:
    """Raise a UserError naming the wrong field, or the unknown time zone."""
    fields = expand_macro(expression).split()
    if len(fields) != 5:
        raise UserError(
            f"invalid cron expression {expression!r}: expected 5 fields (minute hour day-of-month month "
            f"day-of-week), got {len(fields)}",
            source=source,
            fix='for example modal.Cron("0 2 * * *") runs daily at 02:00',
        )
    for text, (name, low, high, names) in zip(fields, FIELDS, strict=True):
        problem = _check_field(text, name, low, high, names)
        if problem:
            raise UserError(
                f"invalid cron expression {expression!r}: {problem}",
                source=source,
                fix=f"the {name} field takes values {low}-{high} as N, N-M, */K or lists such as 1,15; "
                'for example modal.Cron("0 2 * * *") runs daily at 02:00',
            )
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"unknown time zone {timezone!r} in Cron",
            source=source,
            fix='use an IANA name such as "UTC" or "America/New_York"',
        ) from None
