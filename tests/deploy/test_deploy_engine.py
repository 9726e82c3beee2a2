"""Finding the Pulumi engine: PATH first, then where get.pulumi.com installs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcompile.providers.deploy import (
    INSTALL_PULUMI,
    AutomationEngine,
    EngineMissing,
    EngineResult,
    find_pulumi,
)


def _fake_binary(folder: Path) -> Path:
    folder.mkdir(parents=True)
    binary = folder / "pulumi"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    return binary


def test_engine_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _fake_binary(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert find_pulumi() == binary


def test_engine_found_in_pulumi_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _fake_binary(tmp_path / "home" / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    assert find_pulumi() == binary
    AutomationEngine().check()


def test_no_engine_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "nothing"))
    assert find_pulumi() is None
    with pytest.raises(EngineMissing) as info:
        AutomationEngine().check()
    assert str(info.value) == INSTALL_PULUMI
    assert (
        INSTALL_PULUMI.count(". ") == 0
        and "pulumi.com/docs/install" in INSTALL_PULUMI
        and "curl" not in INSTALL_PULUMI
    )


def test_changed_counts_only_real_changes() -> None:
    assert EngineResult({"create": 2, "same": 5, "update": 1, "delete": 1}).changed() == 4
