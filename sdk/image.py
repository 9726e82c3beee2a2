"""``modal.image``: public names of this Modal submodule."""

from pcompile._image import Image

__all__ = ["Image"]
