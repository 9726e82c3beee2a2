"""``pcompile deploy`` and friends through the CLI: exit codes, --json, no Pulumi binary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_kit import Kit
from typer.testing import CliRunner

from pcompile.cli import deploy as cli_deploy
from pcompile.cli.main import app
from pcompile.providers.deploy import INSTALL_PULUMI, AutomationEngine


@pytest.fixture
def cli(project: Path, kit: Kit, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kit]:
    """Run the CLI in ``project`` with the kit's fakes as deploy tools."""
    monkeypatch.chdir(project)
    monkeypatch.setenv("CI", "true")
    previous = cli_deploy.set_tools_factory(lambda settings, root: kit.tools())
    yield kit
    cli_deploy.set_tools_factory(previous)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_deploy_json_summary(cli: Kit) -> None:
    code, output = _invoke("deploy", "app.py", "--stack", "aws-dev", "--json")
    assert code == 0, output
    summary = json.loads(output[output.index("{") :])
    assert summary["stack"] == "aws-dev" and summary["app"] == "demo"
    assert summary["endpoints"] == {"web": "https://web.lambda-url.us-east-1.on.aws/"}
    assert summary["resources_changed"] == 1
    assert set(summary["image_tags"]) == {"img-a", "img-b"}


def test_deploy_prints_endpoints(cli: Kit) -> None:
    code, output = _invoke("deploy", "app.py", "--stack", "aws-dev", "--yes")
    assert code == 0, output
    assert "web: https://web.lambda-url.us-east-1.on.aws/" in output


def test_user_error_exits_1(cli: Kit) -> None:
    cli.fail_compile = True
    code, output = _invoke("deploy", "app.py", "--stack", "aws-dev")
    assert code == 1 and "H1000" in output and "fix:" in output


def test_unknown_stack_exits_1(cli: Kit) -> None:
    code, output = _invoke("deploy", "app.py", "--stack", "aws-dve")
    assert code == 1 and "--stack aws-dev" in output


def test_deployment_failure_exits_2(cli: Kit) -> None:
    cli.engine.fail_with = RuntimeError("AccessDenied")
    code, output = _invoke("deploy", "app.py", "--stack", "aws-dev")
    assert code == 2 and "deployment failed" in output and "AccessDenied" in output


def test_missing_pulumi_exits_1_with_install_sentence_and_does_nothing(cli: Kit) -> None:
    cli.engine = AutomationEngine(which=lambda: None)  # type: ignore[assignment]
    code, output = _invoke("deploy", "app.py", "--stack", "aws-dev")
    assert code == 1
    assert INSTALL_PULUMI in " ".join(output.split())
    assert cli.journal == [] and cli.publisher.built == [] and cli.artifacts.objects == {}


def test_app_list_status_and_destroy(cli: Kit) -> None:
    assert _invoke("deploy", "app.py", "--stack", "aws-dev")[0] == 0
    code, output = _invoke("app", "list", "--stack", "aws-dev", "--json")
    assert code == 0 and json.loads(output) == {"apps": ["demo"], "stack": "aws-dev"}
    code, output = _invoke("app", "status", "demo", "--stack", "aws-dev", "--json")
    assert code == 0 and json.loads(output)["functions"]["hello"]["target"] == "lambda"
    code, output = _invoke("destroy", "--stack", "aws-dev", "--yes")
    assert code == 0 and "destroyed app 'demo'" in output
    assert _invoke("app", "status", "demo", "--stack", "aws-dev")[0] == 1


def test_deploy_without_pulumi_binary_subprocess(project: Path) -> None:
    """The real CLI and engine with no `pulumi` on PATH: exit 1, one sentence, no files written."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "HOME": str(project), "CI": "true"}
    env.pop("PULUMI_HOME", None)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pcompile.cli.main import main; main()",
            "deploy",
            "app.py",
            "--stack",
            "aws-dev",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert INSTALL_PULUMI in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (project / ".pcompile").exists()
