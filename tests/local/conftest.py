"""Fixtures for local-provider tests: an isolated ``.pcompile/local`` and plain-function apps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localhelp import make_invoker

from pcompile.providers.local.invoker import LocalInvoker


@pytest.fixture(autouse=True)
def local_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own local state directory."""
    path = tmp_path / "local"
    monkeypatch.setenv("PCOMPILE_LOCAL_DIR", str(path))
    # These tests are about the runtime and the pools in the caller's environment;
    # per-image environments (and their package installs) are tested in tests/local_envs.
    monkeypatch.setenv("PCOMPILE_IMAGE_ENV", "0")
    return path


@pytest.fixture
def invoker_factory() -> Iterator[Any]:
    """Build invokers that are closed after the test."""
    made: list[LocalInvoker] = []

    def build(*functions: dict[str, Any], **kwargs: Any) -> LocalInvoker:
        invoker = make_invoker(*functions, **kwargs)
        made.append(invoker)
        return invoker

    yield build
    for invoker in made:
        invoker.close()
