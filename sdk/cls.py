"""``modal.cls``: public names of this Modal submodule."""

from pcompile._functions import Cls

__all__ = ["Cls"]
