"""Modal-style tracebacks: the user's frames and the exception line, not pcompile's.

A remote error reaches the entrypoint as a chain: the local exception, caused by the
remote tracebacks of every call it went through (as text). :func:`user_traceback`
keeps only the frames of the user's files, outermost call first, then the exception
line; ``pcompile run --verbose`` (or ``PCOMPILE_TRACEBACK=full``) prints everything.
"""

from __future__ import annotations

import os
import re
import sysconfig
import traceback
from pathlib import Path

MAX_LINES = 15
_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line \d+, in .+$')
_REPEATED = re.compile(r"^  \[Previous line repeated \d+ more times?\]$")
_SECTION = re.compile(r"^(The above exception was the direct cause|During handling of the above exception)")


def full_requested(verbose: bool) -> bool:
    """Whether whole tracebacks were asked for (``--verbose`` or ``PCOMPILE_TRACEBACK=full``)."""
    return verbose or os.environ.get("PCOMPILE_TRACEBACK", "").lower() == "full"


def _not_users() -> tuple[str, ...]:
    import pcompile
    import pcompile.cli
    import pcompile.compiler
    import pcompile.providers
    import pcompile.runtime

    packages = (pcompile, pcompile.cli, pcompile.compiler, pcompile.providers, pcompile.runtime)
    dirs = {Path(str(m.__file__)).resolve().parent for m in packages}
    keys = ("stdlib", "platstdlib", "purelib", "platlib", "scripts")  # scripts: the pcompile command
    dirs |= {Path(sysconfig.get_paths()[k]).resolve() for k in keys}
    return tuple(str(d) + os.sep for d in sorted(dirs))


def trimmable(exc: BaseException) -> bool:
    """Whether to show ``exc`` Modal-style: it came from a remote call or was raised in the
    user's code. An error raised inside pcompile itself is a bug and keeps its traceback."""
    from pcompile.runtime.protocol import RemoteTraceback

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RemoteTraceback):
            return True
        seen = seen.__cause__
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and is_users(frames[-1].filename, _not_users())


def is_users(file: str, not_users: tuple[str, ...]) -> bool:
    """A frame of the user's code: a real file outside pcompile, the stdlib and site-packages."""
    if file.startswith("<") or "site-packages" in file or "dist-packages" in file:
        return False
    try:
        resolved = str(Path(file).resolve())
    except OSError:
        return False
    return not resolved.startswith(not_users)


def user_frames(text: str, not_users: tuple[str, ...]) -> list[list[str]]:
    """The user's frames (each its ``File`` line and source line) of a formatted chain,
    outermost call first: Python prints the innermost cause first, so sections reverse."""
    sections: list[list[list[str]]] = [[]]
    lines = text.splitlines()
    last_kept = False  # whether the latest frame was the user's (its repeat note goes with it)
    for i, line in enumerate(lines):
        if _SECTION.match(line):
            sections.append([])
            continue
        if _REPEATED.match(line) and last_kept:
            sections[-1][-1].append(line)
            continue
        match = _FRAME.match(line)
        if match:
            last_kept = is_users(match["file"], not_users)
        if match and last_kept:
            frame = [line]
            source = lines[i + 1] if i + 1 < len(lines) else ""
            if source.startswith("    ") and not _FRAME.match(source):
                frame.append(source)
            sections[-1].append(frame)
    return [frame for section in reversed(sections) for frame in section]


def user_traceback(exc: BaseException, limit: int = MAX_LINES) -> str:
    """At most ``limit`` lines: a header, the user's frames, the exception line."""
    text = "".join(traceback.format_exception(exc))
    frames = user_frames(text, _not_users())
    last = "".join(traceback.format_exception_only(type(exc), exc)).rstrip().splitlines()[-3:]
    header = ["Traceback (your code; --verbose or PCOMPILE_TRACEBACK=full shows every frame):"]
    body = [line for frame in frames for line in frame]
    room = limit - len(header) - len(last)
    if len(body) > room:  # keep the outermost and innermost frames, drop the middle
        head, tail = (room - 1) // 2, room - 1 - (room - 1) // 2
        left_out = f"  ... {len(body) - head - tail} lines left out ..."
        body = [*body[:head], left_out, *body[len(body) - tail :]]
    return "\n".join([*header, *body, *last])
