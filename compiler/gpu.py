"""GPU strings as Modal spells them: ``"A100"``, ``"h100:8"``, ``["H100", "A100", "any"]``.

The type is upper-cased as Modal does; ``:count`` is optional. Which types exist is
data (:data:`KNOWN_GPUS`); whether a cloud offers one is the provider's catalog.
"""

from __future__ import annotations

import difflib
from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import GpuRequest, GpuSpec, Source

# Types Modal accepts (modal.com/docs/guide/gpu); "H100!" pins H100 with no upgrade to H200.
KNOWN_GPUS: tuple[str, ...] = (
    "T4",
    "L4",
    "A10",
    "A10G",
    "L40S",
    "A100",
    "A100-40GB",
    "A100-80GB",
    "H100",
    "H100!",
    "H200",
    "B200",
    "B300",
    "ANY",
)
MAX_GPU_COUNT = 8


# Letters typed for the digits they look like: "A10O" is A100, "H1OO" is H100.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1"})


def suggest(kind: str) -> str | None:
    """The known GPU type closest to ``kind`` (upper-cased), or None when nothing is close."""
    fixed = kind.translate(_LOOKALIKES)
    if fixed in KNOWN_GPUS:
        return fixed
    close = difflib.get_close_matches(kind, KNOWN_GPUS, n=1, cutoff=0.5)
    return close[0] if close else None


def parse_one(text: Any, source: Source) -> GpuRequest:
    """``"h100:8"`` → ``GpuRequest("H100", 8)``; a UserError for unknown types or bad counts."""
    if not isinstance(text, str) or not text.strip():
        raise UserError(
            f"gpu={text!r} is not a GPU string", source=source, fix='use e.g. gpu="A100" or gpu="H100:8"'
        )
    kind, sep, count_text = text.strip().partition(":")
    kind = kind.upper()
    if kind not in KNOWN_GPUS:
        close = suggest(kind)
        hint = f'did you mean gpu="{close}"?' if close else f"known types: {', '.join(KNOWN_GPUS)}"
        raise UserError(f"unknown GPU type {text!r}", source=source, fix=hint)
    count = 1
    if sep:
        if not count_text.isdigit() or not 1 <= int(count_text) <= MAX_GPU_COUNT:
            raise UserError(
                f"bad GPU count in gpu={text!r}",
                source=source,
                fix=f'the count must be a whole number from 1 to {MAX_GPU_COUNT}, e.g. gpu="{kind}:2"',
            )
        count = int(count_text)
    return GpuRequest(kind, count)


def parse_gpu(value: Any, source: Source) -> GpuSpec | None:
    """A function's ``gpu=`` argument as a :class:`GpuSpec` (first choice plus fallbacks)."""
    if value is None:
        return None
    choices = value if isinstance(value, list) else [value]
    if not choices:
        raise UserError(
            "gpu=[] is an empty fallback list", source=source, fix='use e.g. gpu=["H100", "A100"]'
        )
    parsed = [parse_one(c, source) for c in choices]
    first, rest = parsed[0], tuple(parsed[1:])
    return GpuSpec(first.type, first.count, rest)
