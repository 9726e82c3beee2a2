"""Where in the user's program a decorator or constructor was called."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

_SDK_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class CallSite:
    """An absolute file path and line; the compiler makes the path project-relative."""

    file: str
    line: int


def caller_site() -> CallSite:
    """The first frame outside the pcompile SDK: the user's decorator or call line."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_SDK_DIR + os.sep) and not filename.startswith("<frozen"):
            return CallSite(filename, frame.f_lineno)
        frame = frame.f_back  # type: ignore[assignment]
    return CallSite("<unknown>", 0)
