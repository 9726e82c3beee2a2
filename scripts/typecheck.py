"""Run mypy over pcompile's own packages as they are imported (``pcompile.*``).

The repository maps folders to package names (``sdk/`` is ``pcompile``,
``runtime_image/`` is ``pcompile.runtime`` ...), which mypy cannot follow through an
editable install. We lay a tree of symlinks shaped like the installed package
and check that, so errors name real modules and every file is covered.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHADOW = ROOT / ".pcompile" / "mypy-shadow"


def build_shadow() -> None:
    """Mirror ``[tool.setuptools.package-dir]`` as symlinked files under SHADOW."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shutil.rmtree(SHADOW, ignore_errors=True)
    for package, folder in config["package-dir"].items():
        target = SHADOW / package.replace(".", "/")
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted((ROOT / folder).glob("*.py")):
            os.symlink(source, target / source.name)


def main() -> int:
    build_shadow()
    env = {**os.environ, "MYPYPATH": str(SHADOW)}
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "pcompile"]
    return subprocess.call(cmd, cwd=SHADOW, env=env)


if __name__ == "__main__":
    sys.exit(main())
