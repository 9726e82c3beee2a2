"""``modal.queue``: public names of this Modal submodule."""

from pcompile._queue import Queue

__all__ = ["Queue"]
