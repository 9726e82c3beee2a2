"""The GCP runtime modes' shared core, without the emulator: retries, secrets, gating, boundaries."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from pcompile.compiler.ir import FunctionSpec, RetriesSpec, Source, to_jsonable
from pcompile.runtime import gcp_env, protocol, staging
from pcompile.runtime.gcp_container import GcpRuntime, export_secrets, result_key, should_run
from pcompile.runtime.gcp_http import schedule_time

RUNTIME = Path(__file__).resolve().parents[2] / "runtime_image"


def runtime_for(tmp_path: Path, retries: int) -> GcpRuntime:
    spec = FunctionSpec(
        name="flaky",
        module="gcp_runtime_target",
        qualname="flaky",
        source=Source("gcp_runtime_target.py", 8),
        image="im",
        retries=RetriesSpec(retries, backoff_coefficient=1.0, initial_delay=0.0),
    )
    env = {gcp_env.SPEC: json.dumps(to_jsonable(spec)), gcp_env.STAGING: f"file://{tmp_path / 'staging'}"}
    return GcpRuntime(env)


def request(args: tuple[object, ...], call: str | None = None) -> dict[str, object]:
    return {
        "function": "flaky",
        "kind": "call",
        "cls_params": {},
        "inputs": staging.pack([(args, {})]),
        "first": 0,
        "call": call,
    }


def test_retries_follow_the_spec(tmp_path: Path) -> None:
    (result,) = runtime_for(tmp_path, 2).handle(request((str(tmp_path / "n"), 2)))
    assert result["status"] == "ok" and staging.unpack(result["value"]) == 3


def test_failure_after_retries_is_the_result(tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, 1)
    (result,) = runtime.handle(request((str(tmp_path / "n"), 5), "c1"))
    assert result["status"] == "error" and "attempt 2 fails" in result["error"]["message"]
    stored = protocol.load_envelope(runtime.storage.get(result_key("flaky", "c1", 0)))
    assert stored["status"] == "error"


def test_rerun_task_skips_inputs_with_results(tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, 0)
    runtime.handle(request((str(tmp_path / "n"), 0), "c2"))
    assert runtime.handle(request((str(tmp_path / "n"), 0), "c2"), skip_done=True) == []
    assert (tmp_path / "n").read_text() == "1"


def test_wrong_function_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="serves 'flaky'"):
        runtime_for(tmp_path, 0).handle({**request((1, 0)), "function": "other"})


def test_secret_json_becomes_environment() -> None:
    env = {gcp_env.SECRET_PREFIX + "DB": json.dumps({"USER": "u", "PASSWORD": "p"}), "OTHER": "x"}
    assert export_secrets(env) == ["PASSWORD", "USER"]
    assert (env["USER"], env["PASSWORD"]) == ("u", "p")


def test_schedule_time_header_and_gate() -> None:
    assert schedule_time({gcp_env.SCHEDULE_TIME_HEADER: "1970-01-01T07:00:00Z"}) == 7 * 3600
    assert should_run(7 * 3600 + 2, 7 * 3600, 3600) and not should_run(3600, 7 * 3600, 3600)


@pytest.mark.parametrize(
    "name", ["gcp_env.py", "gcp_container.py", "gcp_http.py", "gcp_batch.py", "storage_gcs.py"]
)
def test_runtime_modules_import_neither_pulumi_nor_compiler_nor_providers(name: str) -> None:
    tree = ast.parse((RUNTIME / name).read_text())
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    banned = ("pulumi", "pcompile.compiler", "pcompile.providers")
    assert not [m for m in imported if m.startswith(banned)]


def test_bundle_variable_is_the_one_the_bundle_loader_reads() -> None:
    from pcompile.runtime import bundle

    assert gcp_env.BUNDLE == bundle.BUNDLE_ENV
