"""Loading user programs: ``file.py``, ``file.py::app``, ``-m pkg.mod``, packages, ``__main__`` blocks,
several apps, ``app.include``, and ``import modal`` resolving to pcompile without a ``modal`` package.

Loads that change ``sys.path`` or ``sys.modules`` run in a subprocess so tests stay independent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from spine_kit import compile_fixture, fixture_path, run_cli, synth_ir

APP = """\
import modal

app = modal.App("{name}")


@app.function()
def hello(x: int) -> int:
    return x + 1
"""


def run_python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter; never raises on failure."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_file_with_app_selector() -> None:
    data = synth_ir(Path(f"{fixture_path('spine_multi_app.py')}::backend"))
    assert [a["name"] for a in data["apps"]] == ["spine-backend"]
    proc = run_cli("synth", f"{fixture_path('spine_multi_app.py')}::frontend", "--ir")
    assert [a["name"] for a in json.loads(proc.stdout)["apps"]] == ["spine-frontend"]


def test_unknown_selector_is_a_user_error() -> None:
    proc = run_cli("synth", f"{fixture_path('spine_multi_app.py')}::nope", "--ir")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no app, function, class or entrypoint named 'nope'" in proc.stderr
    assert "'backend'" in proc.stderr and "'infer'" in proc.stderr
    # Function, class, method and entrypoint names are valid selectors (pcompile run picks them).
    for name in (
        "spine_multi_app.py::infer",
        "spine_multi_app.py::spine-backend",
        "spine_cls_lifecycle.py::Embedder",
        "spine_cls_lifecycle.py::Embedder.embed",
        "spine_entrypoint_args.py::other",
    ):
        assert run_cli("synth", str(fixture_path(name)), "--ir").returncode == 0, name


def test_several_apps_in_one_file() -> None:
    program = compile_fixture("spine_multi_app.py")
    assert [a.name for a in program.apps] == ["spine-backend", "spine-frontend", "spine_multi_app"]


def test_module_mode_from_the_project_root(tmp_path: Path) -> None:
    pkg = tmp_path / "spine_pkg_a" / "services"
    pkg.mkdir(parents=True)
    (tmp_path / "spine_pkg_a" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "util.py").write_text("FACTOR = 3\n")
    (pkg / "worker.py").write_text(
        APP.format(name="module-mode").replace("import modal\n", "import modal\n\nfrom .util import FACTOR\n")
    )
    data = synth_ir(Path("spine_pkg_a.services.worker"), cwd=tmp_path)
    (app,) = data["apps"]
    (fn,) = app["functions"]
    assert (fn["module"], fn["qualname"]) == ("spine_pkg_a.services.worker", "hello")
    assert fn["source"]["file"] == "spine_pkg_a/services/worker.py"
    # The same through the Python API with -m, and the file path of a package module.
    code = f"""
        from pcompile.compiler import compile_file
        from pathlib import Path
        a = compile_file("-m spine_pkg_a.services.worker", root=Path({str(tmp_path)!r}))
        b = compile_file(Path({str(pkg / "worker.py")!r}))
        fa, fb = a.apps[0].functions[0], b.apps[0].functions[0]
        assert fa == fb, (fa, fb)
        print(fa.module, fa.source.file)
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["spine_pkg_a.services.worker", "spine_pkg_a/services/worker.py"]


def test_main_block_does_not_run(write_app: Callable[..., Path], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = APP.format(name="main-block") + textwrap.dedent(
        f"""

        if __name__ == "__main__":
            open({str(marker)!r}, "w").write("ran")
        """
    )
    data = synth_ir(write_app(source))
    assert data["apps"][0]["name"] == "main-block"
    assert not marker.exists()


def test_unnamed_app_is_named_after_the_file(write_app: Callable[..., Path]) -> None:
    data = synth_ir(write_app(APP.replace('"{name}"', ""), name="spine_nameless.py"))
    assert data["apps"][0]["name"] == "spine_nameless"


def test_include_across_two_files() -> None:
    program = compile_fixture("spine_include.py")
    app = next(a for a in program.apps if a.name == "spine-include")
    files = {f.name: f.source.file for f in app.functions}
    assert files == {
        "main_job": "spine_include.py",
        "push_metrics": "spine_helpers.py",
        "shared_helper": "spine_helpers.py",
    }


def test_modal_resolves_to_pcompile_only_for_the_load() -> None:
    code = f"""
        import importlib.metadata, importlib.util, sys, warnings
        warnings.simplefilter("ignore")
        assert importlib.util.find_spec("modal") is None, "a real modal package is importable"
        try:
            importlib.metadata.distribution("modal")
        except importlib.metadata.PackageNotFoundError:
            pass
        else:
            raise AssertionError("a distribution named modal is installed")
        import pcompile
        assert "modal" not in sys.modules
        from pcompile.compiler import compile_file
        compile_file({str(fixture_path("spine_imports.py"))!r})
        import modal, modal.exception, modal.experimental, modal.functions, modal.queue
        assert modal is pcompile and modal.exception is pcompile.exception
        assert modal.experimental.clustered is pcompile.experimental.clustered
        mod = sys.modules["spine_imports"]
        assert mod.modal is pcompile and mod.InvalidError is pcompile.exception.InvalidError
        print("ok")
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_remote_without_a_backend_is_one_clear_sentence() -> None:
    code = f"""
        import warnings
        warnings.simplefilter("ignore")
        from pcompile.compiler import load
        from pcompile.exception import ExecutionError
        loaded = load({str(fixture_path("spine_acceptance.py"))!r})
        mod = loaded.module
        assert mod.flexible.local(21) == 42
        assert mod.Model(model_id="m").generate.local("hi") == "/models/m: hi"
        for call in (lambda: mod.flexible.remote(1), lambda: mod.Model().generate.remote("x"),
                     lambda: list(mod.flexible.map([1, 2])), lambda: mod.flexible.spawn(1)):
            try:
                call()
            except ExecutionError as exc:
                print(exc)
            else:
                raise AssertionError("no ExecutionError")
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 4 and len(set(lines)) == 1
    message = lines[0]
    assert "pcompile run" in message and "app.run()" in message and "Function.from_name" in message
    assert "Traceback" not in proc.stderr


def test_same_module_name_in_two_projects_in_one_process(tmp_path: Path) -> None:
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(APP.format(name=name))
    code = f"""
        from pcompile.compiler import compile_file
        paths = [{str(tmp_path / "first" / "app.py")!r}, {str(tmp_path / "second" / "app.py")!r}]
        print(*[compile_file(p).apps[0].name for p in [*paths, *paths]])
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["first", "second", "first", "second"]
