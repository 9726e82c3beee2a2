"""Fixtures for the image tests: a small project written to a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from image_kit import APP_SOURCE


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with ``demo.py``, a package, data files and junk to ignore."""
    (tmp_path / "demo.py").write_text(APP_SOURCE)
    pkg = tmp_path / "helpers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("VALUE = 1\n")
    (pkg / "util.py").write_text("def f():\n    return 2\n")
    (pkg / "notes.txt").write_text("not python\n")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"junk")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a\n")
    (data / "skip.tmp").write_text("skip\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref\n")
    return tmp_path
