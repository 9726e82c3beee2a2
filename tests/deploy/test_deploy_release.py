"""The release build: ``python -m build`` makes a wheel and an sdist that hold all of pcompile.

The wheel is built once per module and installed with ``--no-deps`` into a fresh venv
that sees the machine's site-packages: that checks the wheel's own contents (packages,
templates, catalogs, entry point), not PyPI. Then the venv runs an example and
scaffolds a project whose own tests pass against the wheel, as its CI would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

import pcompile

REPO = Path(__file__).resolve().parents[2]
DATA_SUFFIXES = {".csv", ".j2", ".json", ".yaml", ".yml"}
pytestmark = pytest.mark.timeout(240)


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # The outer pytest's settings must not reach the project's pytest or pip.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH", "PIP_"))}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=200)
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build``'s sdist and wheel (the wheel is built from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: build with the installed setuptools, offline.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)], REPO)
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed, dependencies from the machine's site-packages."""
    root = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(root)], REPO)
    _run([str(root / "bin/python"), "-m", "pip", "install", "-q", "--no-deps", str(_wheel(dist))], REPO)
    return root


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("pcompile-*.whl")
    return wheel


def _package_dirs() -> dict[str, str]:
    """Package name -> source folder, from pyproject.toml."""
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: tool["package-dir"][name] for name in tool["packages"]}


def _expected_files() -> dict[str, str]:
    """Path in the wheel -> path in the repository, for every module and data file."""
    expected = {}
    for name, folder in _package_dirs().items():
        for path in sorted((REPO / folder).iterdir()):
            if path.is_file() and path.suffix in DATA_SUFFIXES | {".py"}:
                expected[f"{name.replace('.', '/')}/{path.name}"] = path.relative_to(REPO).as_posix()
        for path in sorted((REPO / folder / "templates").rglob("*.j2")):
            inner = path.relative_to(REPO / folder).as_posix()
            expected[f"{name.replace('.', '/')}/{inner}"] = path.relative_to(REPO).as_posix()
    return expected


def test_the_version_lives_in_one_place(dist: Path) -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in pyproject and pyproject["dynamic"] == ["version"]
    assert _wheel(dist).name == f"pcompile-{pcompile.__version__}-py3-none-any.whl"
    assert (dist / f"pcompile-{pcompile.__version__}.tar.gz").is_file()


def test_every_package_folder_is_listed_in_pyproject() -> None:
    folders = set(_package_dirs().values())
    found = {
        init.parent.relative_to(REPO).as_posix()
        for folder in folders
        for init in (REPO / folder).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert sorted(found - folders) == []


def test_wheel_and_sdist_hold_every_package_and_data_file(dist: Path) -> None:
    expected = _expected_files()
    assert "pcompile/providers/simulate/__init__.py" in expected
    assert any(p.endswith(".csv") for p in expected) and any(p.endswith(".j2") for p in expected)
    wheel_names = set(zipfile.ZipFile(_wheel(dist)).namelist())
    assert sorted(set(expected) - wheel_names) == []
    with tarfile.open(dist / f"pcompile-{pcompile.__version__}.tar.gz") as sdist:
        sdist_names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert sorted(set(expected.values()) - sdist_names) == []
    entry_points = zipfile.ZipFile(_wheel(dist)).read(
        f"pcompile-{pcompile.__version__}.dist-info/entry_points.txt"
    )
    assert b"pcompile = pcompile.cli.main:main" in entry_points


def test_the_wheel_runs_hello_world_in_a_fresh_venv(venv: Path, tmp_path: Path) -> None:
    where = _run([str(venv / "bin/python"), "-c", "import pcompile; print(pcompile.__file__)"], tmp_path)
    assert where.stdout.strip().startswith(str(venv))  # the wheel's copy, not a checkout
    version = _run([str(venv / "bin/pcompile"), "version"], tmp_path)
    assert version.stdout.strip() == pcompile.__version__
    (tmp_path / "hello_world.py").write_text((REPO / "examples/hello_world.py").read_text())
    result = _run([str(venv / "bin/pcompile"), "run", "hello_world.py"], tmp_path)
    printed = [line for line in result.stdout.splitlines() if not line.startswith("[f] ")]  # worker lines
    assert printed == ["hello 1000", "1000000", "1000000", str(sum(i * i for i in range(200)))]


def test_a_scaffolded_project_tests_green_against_the_wheel(venv: Path, dist: Path, tmp_path: Path) -> None:
    init = _run(
        [str(venv / "bin/pcompile"), "init", "proj", "--cloud", "aws", "--ci", "github", "--yes"], tmp_path
    )
    # Installed from a wheel file, pcompile pins that wheel and commits a copy with the app.
    assert f"wrote proj/wheels/{_wheel(dist).name}\n" in init.stdout and "  cd proj\n" in init.stdout
    project = tmp_path / "proj"
    assert (project / "wheels" / _wheel(dist).name).read_bytes() == _wheel(dist).read_bytes()
    # Install the pcompile line as CI does (pytest is already on this machine), offline.
    lines = [line for line in (project / "requirements.txt").read_text().splitlines() if "pcompile" in line]
    (tmp_path / "pcompile-only.txt").write_text("\n".join(lines) + "\n")
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    _run([*pip, "--force-reinstall", "-r", str(tmp_path / "pcompile-only.txt")], project)
    tests = _run([str(venv / "bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert "1 passed" in tests.stdout
