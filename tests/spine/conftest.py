"""Fixtures of the spine's tests; shared helpers live in ``spine_kit.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_app(tmp_path: Path) -> Callable[..., Path]:
    """Write a small program to ``tmp_path/<name>`` and return its path."""

    def write(source: str, name: str = "app.py") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        return path

    return write
