"""``python -m pcompile FILE.py [args]``: run a plain Modal script with ``import modal`` = pcompile.

Scripts written for ``python script.py`` with Modal installed (``with app.run():
f.remote(2)``) run unchanged: the file runs as ``__main__`` with ``sys.argv`` set to
``[FILE.py, *args]`` and its folder first on ``sys.path``, exactly as ``python FILE.py``
would, except that ``modal`` resolves to pcompile. ``python -m pcompile -m pkg.mod
[args]`` runs a module the same way, as ``python -m pkg.mod``.
"""

from __future__ import annotations

import os
import runpy
import sys

USAGE = "usage: python -m pcompile FILE.py [args ...]  |  python -m pcompile -m MODULE [args ...]"


def main(argv: list[str]) -> int:
    """Run the script or module named by ``argv``; the exit status."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        print("Runs a Modal script with `import modal` resolving to pcompile.", file=sys.stdout)
        return 2 if not argv else 0
    from pcompile import _modal_alias

    _modal_alias.install()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    path = argv[0]
    if not os.path.isfile(path):
        print(f"error: no such file: {path}\n  fix: {USAGE}", file=sys.stderr)
        return 2
    sys.argv = [path, *argv[1:]]
    # As `python FILE.py`: the script's folder takes the place `python -m` gave the cwd.
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    runpy.run_path(path, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
