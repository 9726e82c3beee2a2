"""Images with steps that need a container still run locally, with one warning per image;
a failed install stops the run before anything executes."""

from __future__ import annotations

from pathlib import Path

import pytest
from envs_support import FIXTURES, Runner

from pcompile.providers.local import envs

STEPS = str(FIXTURES / "local_envs_container_steps.py")
BAD = str(FIXTURES / "local_envs_bad_package.py")


def _value(stdout: str, label: str) -> list[str]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith(label))
    return line[len(label) :].strip().split("|")


def test_container_steps_warn_once_per_image_and_run(pcompile: Runner, envs_dir: Path) -> None:
    result = pcompile("run", STEPS)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [ln for ln in result.stderr.splitlines() if "cannot be reproduced without a container" in ln]
    assert len(warnings) == 2, result.stderr
    tools = next(w for w in warnings if "apt_install" in w)
    plain = next(w for w in warnings if w is not tools)
    assert "apt_install, run_commands" in tools and "pcompile run --containers" in tools
    assert "run_commands" in plain and "apt_install" not in plain
    # each function ran in its own image's environment, with the image's env
    greeting, module, tools_prefix = _value(result.stdout, "greet:")
    missing, plain_prefix, data = _value(result.stdout, "where:")
    (caller,) = _value(result.stdout, "caller:")
    assert (greeting, module, missing) == ("hello from the image", "termcolor", "None")
    assert data == "data from the project"  # add_local_dir reaches the project folder
    assert Path(tools_prefix).parent == envs_dir and Path(plain_prefix).parent == envs_dir
    assert len({tools_prefix, plain_prefix, caller}) == 3
    assert "termcolor" in (Path(tools_prefix) / "install.log").read_text()
    assert not (Path(plain_prefix) / "install.log").read_text().count("termcolor")


def test_no_image_env_skips_environments_and_warnings(pcompile: Runner) -> None:
    result = pcompile("run", "--no-image-env", STEPS)
    # termcolor is not needed by where(); greet() needs it only if the caller lacks it
    assert "cannot be reproduced without a container" not in result.stderr
    assert "environment for image" not in result.stderr
    if result.returncode == 0:
        (caller,) = _value(result.stdout, "caller:")
        assert _value(result.stdout, "where:")[1] == caller  # the worker ran in the caller's Python


def test_failed_install_stops_before_any_function_runs(pcompile: Runner, envs_dir: Path) -> None:
    result = pcompile("run", BAD)
    assert result.returncode == 1
    assert "entrypoint ran" not in result.stdout
    assert "pcompile-no-such-package-q7x" in result.stderr  # the package and the installer's reason
    assert "failed in the local environment" in result.stderr
    assert "Traceback" not in result.stderr
    # the half-built environment is gone, so the next run tries again
    for env in envs_dir.iterdir():
        if env.is_dir() and (env / "install.log").exists():
            assert "pcompile-no-such-package-q7x" not in (env / "install.log").read_text()


def test_python_version_of_the_image_or_the_nearest(pcompile: Runner) -> None:
    caller = envs.caller_interpreter()
    found = envs.installed_interpreters()
    others = [i for i in found if i.version >= (3, 11) and i.version[:2] != caller.version[:2]]
    if not others:
        pytest.skip("only one Python 3.11+ is installed here")
    wanted = others[0]
    result = pcompile("run", str(FIXTURES / "local_envs_python_version.py"), WANTED_PYTHON=wanted.minor)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[:4] == [
        "remote",
        ".".join(map(str, wanted.version)),
        caller_version(),
        "local",
    ]
    (warning,) = [ln for ln in result.stderr.splitlines() if "asks for Python" in ln]
    assert "asks for Python 3.9, pcompile's runtime needs 3.11 or newer" in warning


def caller_version() -> str:
    return ".".join(map(str, envs.caller_interpreter().version))
