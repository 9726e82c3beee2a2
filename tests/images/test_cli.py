"""``pcompile image dockerfile`` / ``build`` on a real fixture app compiled by the SDK."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pcompile.cli.main import app as cli
from pcompile.compiler import load
from pcompile.compiler.bundle import build_bundle
from pcompile.compiler.images import render_image

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "image_app.py"


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_dockerfile_command_prints_the_acceptance_chain() -> None:
    text = _invoke("image", "dockerfile", str(FIXTURE))
    assert text == _invoke("image", "dockerfile", str(FIXTURE), "--function", "square")
    body = text.splitlines()
    assert body[1] == "FROM python:3.11-slim"
    order = [
        next(i for i, line in enumerate(body) if needle in line)
        for needle in (
            "apt-get install",
            "numpy==2.1.0 pandas",
            'ENV HF_HOME="/cache"',
            "echo built",
            "import numpy",
        )
    ]
    assert order == sorted(order)
    assert "--no-install-recommends ffmpeg git" in text


def test_dockerfile_json_has_tag_and_text() -> None:
    data = json.loads(_invoke("image", "dockerfile", str(FIXTURE), "--json"))
    assert sorted(data) == ["dockerfile", "tag"]
    assert data["tag"].startswith("pc-")
    assert data["dockerfile"] == _invoke("image", "dockerfile", str(FIXTURE))


def test_unknown_function_is_a_user_error() -> None:
    result = CliRunner().invoke(cli, ["image", "dockerfile", str(FIXTURE), "--function", "nope"])
    assert result.exit_code != 0


def test_body_edit_through_the_compiler_changes_bundle_not_tag(tmp_path: Path) -> None:
    source = tmp_path / "image_edit_app.py"
    shutil.copy(FIXTURE, source)

    def tag_and_bundle() -> tuple[str, str]:
        loaded = load(source)
        app = loaded.program.app()
        return render_image(app.images[0], root=loaded.root, app=app).tag, build_bundle(
            app, loaded.root
        ).sha256

    tag, bundle_sha = tag_and_bundle()
    source.write_text(source.read_text().replace("return x * x", "return x * x + 0"))
    new_tag, new_bundle_sha = tag_and_bundle()
    assert new_tag == tag
    assert new_bundle_sha != bundle_sha


def test_build_command_with_fake_builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    refs = json.loads(_invoke("image", "build", str(FIXTURE), "--builder", "fake", "--json"))
    (ref,) = refs.values()
    assert ref.startswith("localhost/pcompile/image-demo:pc-")
    pushed = json.loads(
        _invoke("image", "build", str(FIXTURE), "--builder", "fake", "--push", "reg.example/t", "--json")
    )
    assert list(pushed.values()) == [ref.replace("localhost/pcompile", "reg.example/t")]
