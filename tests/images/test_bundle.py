"""Code bundles: what goes in, determinism, and the runtime's fetch-and-verify."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from image_kit import acceptance_image, app_with

from pcompile.compiler import bundle
from pcompile.compiler.ir import ImageStep
from pcompile.runtime import bundle as runtime_bundle


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_bundle_has_function_module_and_index(project: Path) -> None:
    built = bundle.build_bundle(app_with(acceptance_image()), project)
    assert built.files == ("code/demo.py", "pcompile-bundle.json")
    assert built.key == f"bundles/demo/{built.sha256}.tar"


def test_bundle_is_deterministic_with_normalised_metadata(project: Path) -> None:
    app = app_with(acceptance_image())
    first = bundle.build_bundle(app, project)
    (project / "demo.py").touch()  # a new mtime must not change the bytes
    second = bundle.build_bundle(app, project)
    assert first.data == second.data
    for info in _members(first.data).values():
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
        assert info.mode in (0o644, 0o755)


def test_package_module_ships_whole_top_level_package_python_only(project: Path) -> None:
    (project / "helpers" / "app.py").write_text("import modal\n")
    image = acceptance_image()
    app = app_with(image, module="helpers.app", file="helpers/app.py")
    names = bundle.build_bundle(app, project).files
    assert names == (
        "code/helpers/__init__.py",
        "code/helpers/app.py",
        "code/helpers/util.py",
        "pcompile-bundle.json",
    )


def test_include_source_false_ships_no_module(project: Path) -> None:
    app = app_with(acceptance_image())
    app = replace(app, functions=(replace(app.functions[0], include_source=False),))
    assert bundle.build_bundle(app, project).files == ("pcompile-bundle.json",)


def test_add_local_steps_without_copy_are_mounts(project: Path) -> None:
    steps = (
        ImageStep(
            "add_local_dir",
            {"local_path": "data", "remote_path": "/data", "copy": False, "ignore": ["*.tmp"]},
        ),
        ImageStep("add_local_file", {"local_path": "data/a.txt", "remote_path": "/etc/", "copy": False}),
        ImageStep("add_local_python_source", {"modules": ["helpers"], "copy": False}),
        ImageStep("add_local_dir", {"local_path": "data", "remote_path": "/baked", "copy": True}),
    )
    built = bundle.build_bundle(app_with(acceptance_image(*steps)), project)
    members = _members(built.data)
    with tarfile.open(fileobj=io.BytesIO(built.data)) as tar:
        extracted = tar.extractfile("pcompile-bundle.json")
        assert extracted is not None
        index = json.loads(extracted.read())
    assert set(index["mounts"]) == {"/data", "/etc/a.txt"}
    assert "code/helpers/util.py" in members and "code/helpers/notes.txt" not in members
    assert not any("skip.tmp" in name or "__pycache__" in name for name in members)
    assert not any("/baked" in v for v in index["mounts"])


def test_ignore_patterns() -> None:
    assert bundle.is_ignored("a/__pycache__/x.pyc", bundle.DEFAULT_IGNORE)
    assert bundle.is_ignored(".venv/lib/x.py", bundle.DEFAULT_IGNORE)
    assert bundle.is_ignored("data/big.bin", ["data/*.bin"])
    assert bundle.is_ignored("data/sub/big.bin", ["**/*.bin"])
    assert not bundle.is_ignored("src/app.py", bundle.DEFAULT_IGNORE)


def test_runtime_fetch_verify_and_install(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = (
        ImageStep("add_local_dir", {"local_path": "data", "remote_path": str(tmp_path / "mnt" / "data")}),
    )
    built = bundle.build_bundle(app_with(acceptance_image(*steps)), project)
    archive = tmp_path / "b.tar"
    archive.write_bytes(built.data)
    monkeypatch.setattr(sys, "path", list(sys.path))
    env = {
        "PCOMPILE_CODE_BUNDLE": f"{archive.as_uri()}#sha256={built.sha256}",
        "PCOMPILE_CODE_DIR": str(tmp_path / "code"),
    }
    installed = runtime_bundle.install_from_env(env)
    assert installed is not None
    assert (installed.code_dir / "demo.py").read_text() == (project / "demo.py").read_text()
    assert sys.path[0] == str(installed.code_dir)
    assert installed.mounts == {str(tmp_path / "mnt" / "data"): "symlink"}
    assert (tmp_path / "mnt" / "data" / "a.txt").read_text() == "a\n"


def test_runtime_refuses_a_bundle_with_the_wrong_hash(project: Path, tmp_path: Path) -> None:
    built = bundle.build_bundle(app_with(acceptance_image()), project)
    archive = tmp_path / "b.tar"
    archive.write_bytes(built.data + b"tampered")
    with pytest.raises(runtime_bundle.BundleError, match="sha256 mismatch"):
        runtime_bundle.fetch_and_verify(str(archive), built.sha256, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_runtime_without_env_does_nothing() -> None:
    assert runtime_bundle.install_from_env({}) is None
    with pytest.raises(runtime_bundle.BundleError, match="sha256"):
        runtime_bundle.install_from_env({"PCOMPILE_CODE_BUNDLE": "file:///x.tar"})


def test_runtime_refuses_entries_outside_the_bundle(tmp_path: Path) -> None:
    import hashlib

    data = bundle.deterministic_tar({"../escape.txt": b"x"})
    archive = tmp_path / "evil.tar"
    archive.write_bytes(data)
    with pytest.raises(runtime_bundle.BundleError, match="not a plain file inside"):
        runtime_bundle.fetch_and_verify(str(archive), hashlib.sha256(data).hexdigest(), tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_runtime_takes_the_sha_from_a_content_addressed_key(project: Path, tmp_path: Path) -> None:
    built = bundle.build_bundle(app_with(acceptance_image()), project)
    archive = tmp_path / built.key
    archive.parent.mkdir(parents=True)
    archive.write_bytes(built.data)
    env = {"PCOMPILE_CODE_BUNDLE": archive.as_uri(), "PCOMPILE_CODE_DIR": str(tmp_path / "code")}
    installed = runtime_bundle.install_from_env(env)
    assert installed is not None and (installed.code_dir / "demo.py").is_file()
    sys.path.remove(str(installed.code_dir))
