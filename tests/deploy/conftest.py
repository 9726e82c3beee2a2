"""Fixtures for deploy tests: a project folder with stack files and a kit of fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_kit import Kit
from servers import moto_server


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


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port, stopped by PID."""
    with moto_server() as url:
        yield url


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Credentials and endpoint so boto3 clients talk to the moto server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint
