"""Issue 13, the SDK and loader side: each class of unchanged Modal program that failed
``pcompile synth --ir`` has a fixture (``tests/fixtures/compat_*``) that now compiles.

Classes: ``pathlib.Path`` mount keys, a top-level ``import aiohttp``, ``modal.gpu.*``
objects, ``modal.config`` names, relative imports in programs run as modules, newer
``Image`` methods, and plain scripts run with ``python -m pcompile``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from spine_kit import FIXTURES, fixture_path, functions_by_name, run_cli, synth_ir

import pcompile as modal
from pcompile.exception import InvalidError

COMPAT_FILES = (
    "compat_aiohttp.py",
    "compat_config.py",
    "compat_deploy.py",
    "compat_gpu_objects.py",
    "compat_image_methods.py",
    "compat_path_keys.py",
    "compat_relative/app.py",
    "compat_script.py",
)


def only_app(data: dict[str, Any]) -> dict[str, Any]:
    (app,) = data["apps"]
    return app


def run_python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with this interpreter; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def test_every_compat_fixture_is_tested() -> None:
    found = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("compat_*.py"))
    found += sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("compat_*/app.py"))
    assert sorted(found) == sorted(COMPAT_FILES)


@pytest.mark.parametrize("name", COMPAT_FILES)
def test_compat_fixture_synthesises(name: str) -> None:
    app = only_app(synth_ir(fixture_path(name)))
    assert app["name"].startswith("compat-")
    assert app["functions"]


# ---------------------------------------------------------------- class A: Path mount keys


def test_path_keys_for_a_volume_and_a_cloud_bucket_mount() -> None:
    fns = functions_by_name(only_app(synth_ir(fixture_path("compat_path_keys.py"))))
    load = fns["load"]
    # The App's Path("/cache/") default is normalised and merged with the function's own.
    assert load["volumes"] == {"/cache": "compat-cache", "/models": "compat-models"}
    assert sorted(load["cloud_bucket_mounts"]) == ["/data"]
    assert load["cloud_bucket_mounts"]["/data"]["bucket_name"] == "compat-datasets"


def test_path_keys_give_the_same_ir_as_strings(write_app: Callable[..., Path]) -> None:
    body = (
        "import modal\nfrom pathlib import Path\n\napp = modal.App('same')\n"
        "vol = modal.Volume.from_name('v')\nbucket = modal.CloudBucketMount('b')\n\n"
        "@app.function(volumes={KEY_V: vol, KEY_B: bucket})\ndef f():\n    pass\n"
    )
    as_path = synth_ir(write_app(body.replace("KEY_V", "Path('/v')").replace("KEY_B", "Path('/b')")))
    as_text = synth_ir(write_app(body.replace("KEY_V", "'/v'").replace("KEY_B", "'/b'")))
    assert as_path == as_text


@pytest.mark.parametrize(
    "key,expected",
    [
        ("'/tmp/..'", ["'/tmp/..'", "contains '..'", "'/data'"]),
        ("'/data/../etc'", ["'/data/../etc'", "contains '..'"]),
        ("'//'", ["'//'", "that is '/'", "reserved"]),
        ("'/tmp/./'", ["'/tmp/./'", "that is '/tmp'", "reserved"]),
        ("Path('/root')", ["'/root'", "reserved", "'/data'"]),
        ("''", ["''", "empty", "'/data'"]),
        ("Path('models')", ["'models'", "must be absolute", "'/data'"]),
        ("3", ["3", "string or pathlib.Path"]),
    ],
)
def test_bad_mount_paths_are_refused_at_the_users_line(
    key: str, expected: list[str], write_app: Callable[..., Path]
) -> None:
    source = (
        "import modal\nfrom pathlib import Path\n\napp = modal.App('errors')\n"
        "vol = modal.Volume.from_name('v')\n\n"
        f"@app.function(volumes={{{key}: vol}})\ndef f():\n    pass\n"
    )
    proc = run_cli("synth", str(write_app(source)), "--ir")
    assert proc.returncode == 1, proc.stdout
    assert "Traceback" not in proc.stderr
    assert "app.py:7:" in proc.stderr, proc.stderr
    for text in expected:
        assert text in proc.stderr, (text, proc.stderr)


def test_a_path_mounted_twice_after_normalisation_is_refused() -> None:
    vol, other = modal.Volume.from_name("v"), modal.Volume.from_name("w")
    app = modal.App("dupes")
    with pytest.raises(InvalidError, match=r"'/data' and '/data//' are the same path '/data'"):
        app.function(volumes={"/data": vol, "/data//": other})
    with pytest.raises(InvalidError, match="mounted by both volumes= and network_file_systems="):
        app.function(volumes={Path("/x"): vol}, network_file_systems={"/x/": modal.NetworkFileSystem("n")})


def test_app_volume_and_function_nfs_on_one_path_is_a_compile_error(write_app: Callable[..., Path]) -> None:
    source = (
        "import modal\n\napp = modal.App('clash', volumes={'/shared/': modal.Volume.from_name('v')})\n\n"
        "@app.function(network_file_systems={'/shared': modal.NetworkFileSystem.from_name('n')})\n"
        "def f():\n    pass\n"
    )
    proc = run_cli("synth", str(write_app(source)), "--ir")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "app.py:5:" in proc.stderr and "'/shared' is mounted twice" in proc.stderr
    assert "fix: mount each object at its own path" in proc.stderr


# ---------------------------------------------------------------- aiohttp and Modal's dependencies


def test_aiohttp_is_a_dependency_of_pcompile() -> None:
    import importlib.metadata

    requires = [r.split(";")[0].strip() for r in importlib.metadata.requires("pcompile") or []]
    assert any(r.startswith("aiohttp") for r in requires), requires
    fns = functions_by_name(only_app(synth_ir(fixture_path("compat_aiohttp.py"))))
    assert fns["fetch"]["is_async"] is True


# ---------------------------------------------------------------- modal.gpu objects


def test_gpu_objects_become_gpu_strings() -> None:
    proc = run_cli("synth", str(fixture_path("compat_gpu_objects.py")), "--ir")
    assert proc.returncode == 0, proc.stderr
    app = only_app(json.loads(proc.stdout))
    gpus = {name: fn["gpu"] for name, fn in functions_by_name(app).items()}
    assert gpus["train"] == {"type": "A100-80GB", "count": 2, "fallbacks": []}
    assert gpus["infer"] == {"type": "H100", "count": 1, "fallbacks": []}
    assert gpus["small"]["type"] == "T4" and gpus["wide"] == {"type": "L40S", "count": 4, "fallbacks": []}
    assert gpus["fallback"]["fallbacks"] == [
        {"type": "A100-40GB", "count": 2},
        {"type": "ANY", "count": 2},
    ]
    steps = [s for image in app["images"] for s in image["steps"]]
    assert [s["args"]["gpu"] for s in steps if s["kind"] == "pip_install"] == ["A10G"]
    # Each object warns once, at the user's line, naming the string to write instead.
    assert "compat_gpu_objects.py:10: DeprecationWarning" in proc.stderr
    assert "use gpu='A100-80GB:2'" in proc.stderr and "use gpu='H100'" in proc.stderr


@pytest.mark.parametrize(
    "make,text",
    [
        (lambda g: g.A100(size="80GB", count=2), "A100-80GB:2"),
        (lambda g: g.A100(size="40GB"), "A100-40GB"),
        (lambda g: g.A100(), "A100"),
        (lambda g: g.H100(count=8), "H100:8"),
        (lambda g: g.H200(), "H200"),
        (lambda g: g.B200(count=2), "B200:2"),
        (lambda g: g.L4(), "L4"),
        (lambda g: g.A10G(count=4), "A10G:4"),
        (lambda g: g.Any(), "any"),
    ],
)
def test_gpu_object_strings_and_warning(make: Callable[[Any], Any], text: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = make(modal.gpu)
    assert str(value) == text
    (warning,) = caught
    assert warning.category is DeprecationWarning and f"use gpu={text!r}" in str(warning.message)
    assert warning.filename == __file__  # the caller's line, not pcompile's


def test_bad_gpu_object_arguments() -> None:
    with pytest.raises(InvalidError, match="size must be '40GB' or '80GB'"):
        modal.gpu.A100(size="81GB")
    with pytest.raises(InvalidError, match="count must be 1 or more"):
        modal.gpu.T4(count=0)


# ---------------------------------------------------------------- modal.config


def test_config_names_programs_read() -> None:
    fns = functions_by_name(only_app(synth_ir(fixture_path("compat_config.py"))))
    assert list(fns) == ["url"]
    code = textwrap.dedent(
        """
        import json, os
        os.environ["MODAL_ENVIRONMENT"] = "staging"
        from pcompile import _modal_alias
        _modal_alias.install()
        import modal
        from modal.config import config, logger
        config.override_locally("traceback", "1")
        print(json.dumps([modal.config._profile, config.get("environment"), config["loglevel"],
                          config.get("traceback"), config.get("logs_timeout"), logger.name,
                          modal.config.config_profiles()]))
        """
    )
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        "default",
        "staging",
        "WARNING",
        True,
        10.0,
        "modal-client",
        ["default"],
    ]


# ---------------------------------------------------------------- -m and relative imports


def test_relative_imports_load_through_load_module() -> None:
    code = textwrap.dedent(
        f"""
        from pcompile.compiler import load_module
        loaded = load_module("compat_relative.app", {str(FIXTURES)!r})
        (fn,) = loaded.program.apps[0].functions
        print(loaded.module_name, fn.module, fn.source.file, loaded.module.FACTOR)
        """
    )
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "compat_relative.app",
        "compat_relative.app",
        "compat_relative/app.py",
        "7",
    ]


def test_relative_imports_load_from_the_file_path_too(tmp_path: Path) -> None:
    by_module = synth_ir(Path("compat_relative.app"), cwd=FIXTURES)  # module mode (no .py)
    by_file = synth_ir(fixture_path("compat_relative/app.py"), cwd=tmp_path)
    assert by_module == by_file
    assert functions_by_name(only_app(by_file))["times"]["module"] == "compat_relative.app"


def test_load_module_errors_name_the_fix(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        from pcompile.compiler import load_module
        from pcompile.compiler.errors import UserError
        for name in ("no_such_pkg.app", "not a module"):
            try:
                load_module(name, {str(tmp_path)!r})
            except UserError as err:
                print(str(err).replace("\\n", " | "))
        """
    )
    proc = run_python("-c", code)
    assert proc.returncode == 0, proc.stderr
    missing, bad = proc.stdout.splitlines()
    assert f"no module named 'no_such_pkg' under {tmp_path}" in missing and "fix:" in missing
    assert "'not a module' is not a module name" in bad and "-m" in bad


# ---------------------------------------------------------------- newer Image methods


def test_newer_image_methods_compile() -> None:
    app = only_app(synth_ir(fixture_path("compat_image_methods.py")))
    (image,) = [i for i in app["images"] if i["steps"]]
    kinds = [s["kind"] for s in image["steps"]]
    assert kinds == [
        "uv_pip_install",
        "uv_pip_install",
        "pip_install_private_repos",
        "pip_install_from_pyproject",
        "add_local_python_source",
        "add_local_dir",
    ]
    # uv_pip_install_from_requirements(path) is uv_pip_install(requirements=[path]).
    assert image["steps"][0]["args"]["requirements"] == ["spine_assets/requirements.txt"]
    assert image["steps"][0]["args"]["packages"] == []
    assert image["steps"][5]["args"]["remote_path"] == "/assets"


# ---------------------------------------------------------------- python -m pcompile


def test_python_m_pcompile_runs_a_plain_script(tmp_path: Path) -> None:
    proc = run_python("-m", "pcompile", str(fixture_path("compat_script.py")), "--flag", "x", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["20", "[0, 10, 20] ['--flag', 'x']"]


def test_python_m_pcompile_deploys_from_code(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "local.yaml").write_text("cloud: local\n")
    script = tmp_path / "app.py"
    script.write_text(fixture_path("compat_deploy.py").read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "pcompile", "app.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
        env={**os.environ, "PCOMPILE_STACK": "local"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["deployed compat-deploy"]
    assert "deployed app 'compat-deploy' on stack 'local' (local)" in proc.stderr
    manifest = json.loads(
        (tmp_path / ".pcompile" / "deployments" / "local" / "compat-deploy.json").read_text()
    )
    assert "compat-deploy" in json.dumps(manifest)
    # With no such stack: one error naming the stack, where it comes from and the fix.
    (tmp_path / "stacks" / "local.yaml").unlink()
    proc = run_python("-m", "pcompile", "app.py", cwd=tmp_path)
    assert proc.returncode == 1 and "deployed" not in proc.stdout
    assert "app.deploy() on stack 'dev' (from $PCOMPILE_STACK" in proc.stderr
    assert "stacks/dev.yaml" in proc.stderr


def test_python_m_pcompile_usage() -> None:
    proc = run_python("-m", "pcompile")
    assert proc.returncode == 2 and "usage: python -m pcompile FILE.py" in proc.stderr
    proc = run_python("-m", "pcompile", "nope.py")
    assert proc.returncode == 2 and "no such file: nope.py" in proc.stderr
