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
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_shadow(shadow: Path) -> None:
    """Mirror ``[tool.setuptools.package-dir]`` as symlinked files under ``shadow``."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package, folder in config["package-dir"].items():
        target = shadow / package.replace(".", "/")
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted((ROOT / folder).glob("*.py")):
            os.symlink(source, target / source.name)


def main() -> int:
    # A private tree per run: several checks may run at once on one machine.
    (ROOT / ".pcompile").mkdir(exist_ok=True)
    shadow = Path(tempfile.mkdtemp(prefix="mypy-shadow-", dir=ROOT / ".pcompile"))
    try:
        build_shadow(shadow)
        env = {**os.environ, "MYPYPATH": str(shadow)}
        cache = ROOT / ".pcompile" / "mypy-cache"
        cmd = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            "-p",
            "pcompile",
        ]
        return subprocess.call(cmd, cwd=shadow, env=env)
    finally:
        shutil.rmtree(shadow, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
