"""``modal.secret``: public names of this Modal submodule."""

from pcompile._secret import Secret

__all__ = ["Secret"]
