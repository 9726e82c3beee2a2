"""``app.deploy()`` from plain Python: the same pipeline as ``pcompile deploy``.

Programs that deploy from code (``if __name__ == "__main__": app.deploy()``) run
unchanged under ``python -m pcompile``: the App's own file is compiled and shipped to
the stack named by ``$PCOMPILE_STACK`` (default ``dev``, as for the CLI).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pcompile.exception import ExecutionError

DEFAULT_STACK = "dev"  # the CLI's default (cli/deploy.py), so both pick the same stack


class _StderrProgress:
    """Deploy steps on stderr, one line each (engine output too)."""

    def step(self, message: str) -> None:
        print(f"==> {message}", file=sys.stderr, flush=True)

    def output(self, line: str) -> None:
        print(line.rstrip("\n"), file=sys.stderr, flush=True)


def deploy_app(app: Any) -> Any:
    """Deploy ``app`` (the file that created it) to ``$PCOMPILE_STACK``; the deploy report."""
    from pcompile.compiler.errors import UserError
    from pcompile.compiler.stacks import load_stack
    from pcompile.providers import registry

    stack = os.environ.get("PCOMPILE_STACK") or DEFAULT_STACK
    root = Path.cwd()
    file = Path(app._site.file)
    try:
        settings = load_stack(stack, root)
        report = registry.deploy(file, root, settings, app.name, _StderrProgress())
    except UserError as err:
        raise ExecutionError(
            f"app.deploy() on stack {stack!r} (from $PCOMPILE_STACK, default {DEFAULT_STACK!r}, "
            f"as `pcompile deploy {file.name} --stack {stack}`): {err}"
        ) from None
    print(f"✓ deployed app {report.app!r} on stack {report.stack!r} ({report.cloud})", file=sys.stderr)
    return report
