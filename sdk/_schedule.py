"""``modal.Cron`` and ``modal.Period``: schedules recorded as data, validated by the compiler."""

from __future__ import annotations

from pcompile._source import CallSite, caller_site
from pcompile.exception import InvalidError


class Schedule:
    """Base class of schedules (``modal.schedule.Schedule``)."""

    _site: CallSite


class Cron(Schedule):
    """Run on a unix cron expression (5 fields), in ``timezone`` (IANA name)."""

    def __init__(self, cron_string: str, timezone: str = "UTC") -> None:
        if not isinstance(cron_string, str):
            raise InvalidError(f"Cron expects a string such as '0 2 * * *', got {cron_string!r}")
        if not isinstance(timezone, str) or not timezone:
            raise InvalidError(f"Cron(timezone={timezone!r}): pass an IANA name such as 'America/New_York'")
        self.cron_string = cron_string
        self.timezone = timezone
        self._site = caller_site()

    def __repr__(self) -> str:
        return f"Cron({self.cron_string!r}, timezone={self.timezone!r})"


_UNIT_SECONDS = {
    "years": 365 * 86400,
    "months": 30 * 86400,
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
}


class Period(Schedule):
    """Run every fixed interval; only ``seconds`` may be a float (months are 30 days, years 365)."""

    def __init__(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hours: int = 0,
        minutes: int = 0,
        seconds: float = 0,
    ) -> None:
        parts = {
            "years": years,
            "months": months,
            "weeks": weeks,
            "days": days,
            "hours": hours,
            "minutes": minutes,
        }
        for unit, value in parts.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidError(
                    f"Period({unit}={value!r}): {unit} must be an int; only seconds may be a float"
                )
        self.parts = {**parts, "seconds": seconds}
        self.seconds = float(sum(_UNIT_SECONDS[u] * v for u, v in parts.items()) + seconds)
        if self.seconds <= 0:
            raise InvalidError(f"Period must be positive, got {self!r}; for example Period(hours=1)")
        self._site = caller_site()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.parts.items() if v)
        return f"Period({args})"
