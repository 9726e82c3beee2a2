"""``modal.dict``: public names of this Modal submodule."""

from pcompile._dict import Dict

__all__ = ["Dict"]
