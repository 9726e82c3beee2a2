"""``modal.schedule``: public names of this Modal submodule."""

from pcompile._schedule import Cron, Period

__all__ = ["Cron", "Period"]
