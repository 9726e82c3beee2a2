"""``python -m pcompile.runtime MODE ...``: one entry point, several modes.

Modes are looked up in :data:`MODES` (mode name -> ``module:function`` taking the
remaining argv and returning an exit code). Cloud providers add their mode with one
line here and a file next to this one (``aws_batch.py``, ``gcp_http.py`` ...).
"""

from __future__ import annotations

import importlib
import sys

MODES: dict[str, str] = {
    "worker": "pcompile.runtime.worker:main",
    "web": "pcompile.runtime.web:main",
    "http": "pcompile.runtime.gcp_http:main",
    "gcpbatch": "pcompile.runtime.gcp_batch:main",
    "batch": "pcompile.runtime.aws_batch:main",
    "lambda": "pcompile.runtime.aws_lambda:main",
    "ecs": "pcompile.runtime.aws_ecs:main",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the mode named by the first argument."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in MODES:
        print(f"usage: python -m pcompile.runtime {{{','.join(sorted(MODES))}}} ...", file=sys.stderr)
        return 2
    module, _, func = MODES[args[0]].partition(":")
    return int(getattr(importlib.import_module(module), func)(args[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
