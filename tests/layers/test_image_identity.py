"""The image id a worker is started with (the compiler's IR id, set by the local
provider as ``PCOMPILE_IMAGE_ID``) is the one ``Image.imports()`` computes in the
worker through the compiler's public :func:`image_spec`."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import pcompile
from pcompile.compiler import compile_apps
from pcompile.compiler.build import image_spec


def _worker(monkeypatch: pytest.MonkeyPatch, image_id: str, root: Path) -> None:
    monkeypatch.setenv("PCOMPILE_WORKER", "1")
    monkeypatch.setenv("PCOMPILE_IMAGE_ID", image_id)
    monkeypatch.setenv("PCOMPILE_PROJECT_ROOT", str(root))


def test_image_spec_is_what_the_app_records(tmp_path: Path) -> None:
    image = pcompile.Image.debian_slim().pip_install("requests").add_local_dir(tmp_path / "data", "/data")
    app = pcompile.App("image-identity")
    app.function(image=image)(lambda: None)
    recorded = compile_apps([app], tmp_path).app().images
    assert recorded == (image_spec(image, tmp_path),)
    assert recorded[0].steps[-1].args["local_path"] == "data"  # relative to the root it was given


def test_imports_raise_in_the_worker_of_that_image(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    image = pcompile.Image.debian_slim().pip_install("not-installed-here")
    _worker(monkeypatch, image_spec(image, tmp_path).id, tmp_path)
    with pytest.raises(ImportError), image.imports():
        import not_installed_here  # noqa: F401


def test_imports_are_ignored_in_a_worker_of_another_image(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    image = pcompile.Image.debian_slim().pip_install("not-installed-here")
    _worker(monkeypatch, image_spec(pcompile.Image.debian_slim(), tmp_path).id, tmp_path)
    with warnings.catch_warnings(record=True) as caught, image.imports():
        warnings.simplefilter("always")
        import not_installed_here  # noqa: F401
    assert any("runs another image" in str(w.message) for w in caught)
