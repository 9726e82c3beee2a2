"""Issue 2's acceptance program through the real CLI, and the determinism of its IR."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

from spine_kit import compile_fixture, fixture_path, functions_by_name, run_cli, synth_ir

from pcompile.compiler import ir

ACCEPTANCE = fixture_path("spine_acceptance.py")


def decorator_lines(path: Path) -> dict[str, int]:
    """Line of each ``@app.function``/``@app.cls`` decorator, keyed by the name defined below it."""
    lines = path.read_text().splitlines()
    found: dict[str, int] = {}
    pending: int | None = None
    for number, line in enumerate(lines, start=1):
        if re.match(r"@app\.(function|cls)\(", line):
            pending = number
        match = re.match(r"(?:async )?(?:def|class) (\w+)", line)
        if match and pending is not None:
            found[match.group(1)] = pending
            pending = None
    return found


def test_acceptance_ir_through_the_cli() -> None:
    data = synth_ir(ACCEPTANCE)
    assert data["schema_version"] == ir.SCHEMA_VERSION
    (app,) = data["apps"]
    assert app["name"] == "spine-acceptance"
    fns = functions_by_name(app)
    assert fns["finetune"]["gpu"] == {"type": "A100", "count": 1, "fallbacks": []}
    assert fns["pretrain"]["gpu"] == {"type": "H100", "count": 8, "fallbacks": []}
    assert fns["embed"]["gpu"]["type"] == "T4"
    assert fns["transcribe"]["gpu"]["type"] == "L4"
    assert fns["flexible"]["gpu"] == {
        "type": "H100",
        "count": 1,
        "fallbacks": [{"type": "A100-80GB", "count": 1}, {"type": "ANY", "count": 1}],
    }
    assert fns["weekday_report"]["schedule"] == {
        "kind": "cron",
        "expression": "30 4 * * 1-5",
        "timezone": "UTC",
    }
    assert fns["refresh_cache"]["schedule"] == {"kind": "period", "seconds": 23400.0}
    web = fns["predict"]["web"]
    assert (web["kind"], web["method"], web["label"], web["requires_auth"], web["port"]) == (
        "fastapi",
        "POST",
        None,
        False,
        None,
    )
    model = fns["Model.generate"]
    assert model["cls"]["enter"] == ["load"] and model["kind"] == "method"
    assert model["volumes"] == {"/models": "acceptance-models"}
    assert fns["finetune"]["secrets"] == ["huggingface-secret"]
    assert fns["finetune"]["retries"] == {
        "max_retries": 0,
        "backoff_coefficient": 2.0,
        "initial_delay": 1.0,
        "max_delay": 60.0,
    }
    assert [v["name"] for v in app["volumes"]] == ["acceptance-models"]
    assert [s["name"] for s in app["secrets"]] == ["huggingface-secret"]
    image_ids = {i["id"] for i in app["images"]}
    assert {f["image"] for f in fns.values()} <= image_ids
    (image,) = app["images"]
    assert [s["kind"] for s in image["steps"]] == ["apt_install", "pip_install", "env", "run_commands"]


def test_source_lines_are_the_decorator_lines() -> None:
    data = synth_ir(ACCEPTANCE)
    fns = functions_by_name(data["apps"][0])
    expected = decorator_lines(ACCEPTANCE)
    assert len(expected) == 9
    for name, line in expected.items():
        key = "Model.generate" if name == "Model" else name
        assert fns[key]["source"] == {"file": "spine_acceptance.py", "line": line}, name
    (entry,) = data["apps"][0]["entrypoints"]
    lines = ACCEPTANCE.read_text().splitlines()
    assert lines[entry["source"]["line"] - 1].startswith("@app.local_entrypoint(")


def test_synth_out_writes_the_same_text(tmp_path: Path) -> None:
    out = tmp_path / "ir.json"
    proc = run_cli("synth", str(ACCEPTANCE), "--ir", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == run_cli("synth", str(ACCEPTANCE), "--ir").stdout


def test_two_compiles_are_byte_identical_from_any_cwd(tmp_path: Path) -> None:
    first = run_cli("synth", str(ACCEPTANCE), "--ir")
    second = run_cli("synth", str(ACCEPTANCE), "--ir")
    elsewhere = run_cli("synth", str(ACCEPTANCE), "--ir", cwd=tmp_path)
    relative = run_cli("synth", ACCEPTANCE.name, "--ir", cwd=ACCEPTANCE.parent)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout == elsewhere.stdout == relative.stdout
    assert first.stdout.endswith("\n") and json.loads(first.stdout)


def test_ir_has_no_absolute_paths(tmp_path: Path) -> None:
    # A copy under tmp_path, with the files its image chain and secrets refer to.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("spine_acceptance.py", "spine_image_chain.py", "spine_helpers.py", "spine_secrets.py"):
        shutil.copy(fixture_path(name), project / name)
    shutil.copy(fixture_path("spine_secrets.env"), project / "spine_secrets.env")
    shutil.copytree(fixture_path("spine_assets"), project / "spine_assets")
    for name in ("spine_acceptance.py", "spine_image_chain.py", "spine_secrets.py"):
        proc = run_cli("synth", str(project / name), "--ir", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert str(tmp_path) not in proc.stdout
        assert str(Path.home()) not in proc.stdout
        assert '"/work' not in proc.stdout and '"/tmp' not in proc.stdout


def test_round_trip_is_stable() -> None:
    # Recorded, not shown: the old-spellings fixture's warnings are asserted in their own test.
    with warnings.catch_warnings(record=True):
        program = compile_fixture("spine_acceptance.py")
    text = ir.dumps(program)
    again = ir.loads(text)
    assert again == program
    assert ir.dumps(again) == text


def test_version_command() -> None:
    import pcompile

    proc = run_cli("version")
    assert proc.returncode == 0 and proc.stdout.strip() == pcompile.__version__
