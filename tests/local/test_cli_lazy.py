"""``pcompile --help`` and ``pcompile version`` import no command module and nothing heavy.

Command modules load when their command runs, so start-up costs what Typer costs.
The root help lists each command from :data:`pcompile.cli.main.COMMANDS`; the table
must say exactly what the modules register.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest

# A fresh interpreter runs the CLI entry in-process, then prints what it imported.
_PROBE = """
import contextlib, io, json, sys
from pcompile.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""

# Heavy or cloud-only modules, by the first component of their dotted name ...
HEAVY_ROOTS = {
    "boto3", "botocore", "cloudpickle", "fastapi", "google", "jinja2", "pulumi",
    "pulumi_aws", "pulumi_gcp", "pydantic", "starlette", "uvicorn", "yaml",
}  # fmt: skip
# ... and our own modules that only a command needs.
LAZY_PREFIXES = (
    "pcompile.cli.deploy", "pcompile.cli.image", "pcompile.cli.run", "pcompile.cli.stores",
    "pcompile.cli.synth", "pcompile.compiler.build", "pcompile.compiler.ir", "pcompile.providers",
    "pcompile.runtime", "pcompile._app", "pcompile._functions",
)  # fmt: skip


def _imported(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("args", [("--help",), ("version",), ()])
def test_help_and_version_import_no_command_module(args):
    probe = _imported(*args)
    assert probe["code"] in (0, None, 2), probe  # no arguments prints the help and exits 2
    heavy = sorted(m for m in probe["modules"] if m.split(".")[0] in HEAVY_ROOTS)
    lazy = sorted(m for m in probe["modules"] if m.startswith(LAZY_PREFIXES))
    assert heavy == [], heavy
    assert lazy == [], lazy


def test_root_help_still_lists_every_command():
    from pcompile.cli.main import COMMANDS

    out = _imported("--help")["out"]
    for name, (_module, short_help) in COMMANDS.items():
        assert f" {name} " in out
        assert short_help.split()[0] in out
    assert " version " in out


def test_command_table_matches_what_the_modules_register():
    from pcompile.cli.main import COMMANDS, load_commands

    for module in sorted({module for module, _help in COMMANDS.values()}):
        registered = load_commands(module)
        listed = {name for name, (mod, _help) in COMMANDS.items() if mod == module}
        assert set(registered) == listed, module
        for name in listed:
            # What the root help shows: the first paragraph of the command's help.
            first = inspect.cleandoc(registered[name].help or "").split("\n\n")[0]
            assert COMMANDS[name][1] == first.replace("\n", " ").strip(), name


def test_a_lazy_command_runs_as_before(tmp_path):
    probe = _imported("secret", "--help")
    assert probe["code"] in (0, None)
    assert "Store a named secret" in probe["out"]
    assert "pcompile.cli.stores" in probe["modules"]


# A sync app run with `pcompile run`: each side reports the lazily loaded modules it holds.
_RUN_PROBE = """
import sys

import modal

app = modal.App("lazy-probe")
LAZY = ("asyncio", "concurrent", "click", "importlib.metadata", "pcompile.providers")


def held() -> list[str]:
    return sorted(m for m in sys.modules if m.startswith(LAZY))


@app.function()
def in_worker() -> list[str]:
    return held()


@app.function()
def calls_another() -> list[str]:
    return in_worker.remote()


@app.local_entrypoint()
def main():
    print("worker", in_worker.remote())
    print("nested", calls_another.remote())
    print("parent", [m for m in held() if not m.startswith("pcompile.providers")])
"""


def test_run_of_a_sync_app_loads_no_asyncio_click_or_nested_backend(tmp_path):
    """A sync function's worker starts without asyncio or a provider (the nested backend is
    built on the first nested call, which still works); the ``pcompile run`` process of an
    entrypoint without options loads neither asyncio, click nor package metadata."""
    (tmp_path / "probe.py").write_text(_RUN_PROBE)
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp_path / "local")}
    result = subprocess.run(
        [sys.executable, "-c", "from pcompile.cli.main import main; main()", "run", "--no-image-env", "probe.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if not line.startswith("[")]
    assert lines == ["worker []", "nested []", "parent []"], result.stdout
