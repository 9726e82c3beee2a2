"""Fixtures for deploy tests: a project folder with stack files and a kit of fakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_kit import Kit


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text("print('hello')\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "aws-dev.yaml").write_text("cloud: aws\nregion: us-east-1\n")
    (tmp_path / "stacks" / "local.yaml").write_text("cloud: local\n")
    return tmp_path


@pytest.fixture
def kit(project: Path) -> Kit:
    return Kit(project, "aws-dev")
