"""``modal.retries``: public names of this Modal submodule."""

from pcompile._retries import Retries

__all__ = ["Retries"]
