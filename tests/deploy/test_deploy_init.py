"""``pcompile init``: the scaffold, and the GitHub workflow it writes, checked by real linters."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pcompile.cli.main import app
from pcompile.compiler.stacks import load_stack

WORKFLOW = ".github/workflows/pcompile.yml"
KEY_PATTERNS = ("aws-access-key-id", "aws-secret-access-key", "AKIA", "credentials_json", "AWS_SECRET")


def _init(folder: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["init", str(folder), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _workflow(folder: Path) -> dict:
    return yaml.safe_load((folder / WORKFLOW).read_text())


def _steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def _run_text(workflow: dict, job: str) -> str:
    return "\n".join(s.get("run", "") for s in _steps(workflow, job))


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_init_writes_app_stack_and_workflow(tmp_path: Path, cloud: str) -> None:
    output = _init(tmp_path, "--cloud", cloud, "--ci", "github", "--yes")
    for rel in ("app.py", "stacks/dev.yaml", "requirements.txt", "test_app.py", WORKFLOW):
        assert (tmp_path / rel).is_file(), rel
        assert f"wrote {rel}" in output
    assert load_stack("dev", root=tmp_path).cloud == cloud
    compile((tmp_path / "app.py").read_text(), "app.py", "exec")


def test_aws_workflow_uses_oidc_role_and_deploys(tmp_path: Path) -> None:
    _init(tmp_path, "--cloud", "aws", "--ci", "github", "--yes")
    text = (tmp_path / WORKFLOW).read_text()
    workflow = _workflow(tmp_path)
    for job in ("preview", "deploy"):
        assert workflow["jobs"][job]["permissions"]["id-token"] == "write"
        auth = [s for s in _steps(workflow, job) if "configure-aws-credentials" in s.get("uses", "")]
        assert len(auth) == 1 and "role-to-assume" in auth[0]["with"]
    assert "pcompile deploy app.py" in _run_text(workflow, "deploy")
    assert "--preview" in _run_text(workflow, "preview") and "gh pr comment" in _run_text(workflow, "preview")
    assert "pytest" in _run_text(workflow, "preview") and "pytest" in _run_text(workflow, "deploy")
    for pattern in KEY_PATTERNS:
        assert pattern.lower() not in text.lower()


def test_gcp_workflow_uses_workload_identity(tmp_path: Path) -> None:
    _init(tmp_path, "--cloud", "gcp", "--ci", "github", "--yes")
    workflow = _workflow(tmp_path)
    for job in ("preview", "deploy"):
        assert workflow["jobs"][job]["permissions"]["id-token"] == "write"
        auth = [s for s in _steps(workflow, job) if "google-github-actions/auth" in s.get("uses", "")]
        assert len(auth) == 1
        assert set(auth[0]["with"]) == {"workload_identity_provider", "service_account"}
    text = (tmp_path / WORKFLOW).read_text()
    assert "credentials_json" not in text and "pcompile deploy app.py" in text


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_workflow_is_minimal_pinned_and_serialised_per_stack(tmp_path: Path, cloud: str) -> None:
    _init(tmp_path, "--cloud", cloud, "--ci", "github", "--yes")
    workflow = _workflow(tmp_path)
    assert workflow["permissions"] == {}
    assert workflow["concurrency"] == {"group": "pcompile-stack-dev", "cancel-in-progress": False}
    uses = [s["uses"] for job in workflow["jobs"] for s in _steps(workflow, job) if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert set(workflow[True]) == {"pull_request", "push"}  # YAML 1.1 reads `on` as True


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_workflow_passes_check_jsonschema(tmp_path: Path, cloud: str) -> None:
    _init(tmp_path, "--cloud", cloud, "--ci", "github", "--yes")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(tmp_path / WORKFLOW),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_workflow_has_no_zizmor_findings(tmp_path: Path, cloud: str) -> None:
    _init(tmp_path, "--cloud", cloud, "--ci", "github", "--yes")
    result = subprocess.run(
        ["zizmor", "--offline", "--format", "json", str(tmp_path / WORKFLOW)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)
    assert findings == [], json.dumps(findings, indent=2)  # none at all, not only no high ones


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("mine\n")
    result = CliRunner().invoke(app, ["init", str(tmp_path), "--cloud", "aws", "--yes"])
    assert result.exit_code == 1
    assert "app.py" in result.output and "--force" in result.output
    assert (tmp_path / "app.py").read_text() == "mine\n"
    _init(tmp_path, "--cloud", "aws", "--yes", "--force")
    assert (tmp_path / "app.py").read_text() != "mine\n"


def test_init_without_ci_uses_a_local_state_backend(tmp_path: Path) -> None:
    _init(tmp_path, "--cloud", "aws", "--yes")
    assert not (tmp_path / WORKFLOW).exists()
    assert load_stack("dev", root=tmp_path).state_backend == "file://.pcompile/state"


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--cloud", "azure"], "aws, gcp or local"), (["--cloud", "local", "--ci", "github"], "--cloud aws")],
)
def test_init_rejects_bad_choices(tmp_path: Path, args: list[str], needle: str) -> None:
    result = CliRunner().invoke(app, ["init", str(tmp_path), *args, "--yes"])
    assert result.exit_code == 1 and needle in result.output
    assert list(tmp_path.iterdir()) == []


def test_init_local_writes_a_local_stack(tmp_path: Path) -> None:
    _init(tmp_path, "--cloud", "local", "--yes")
    settings = load_stack("dev", root=tmp_path)
    assert settings.cloud == "local" and not (tmp_path / WORKFLOW).exists()
