"""Deploy with the real compiler, emitter, bundler and image renderer; fake engine and builder.

The app is the one ``pcompile init`` scaffolds, so this also checks the scaffold deploys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pcompile.cli.main import app as cli
from pcompile.compiler.stacks import load_stack
from pcompile.providers import cloud_stores
from pcompile.providers.builders import BuilderPublisher, FakeBuilder, ImageBuilder, plan_image_refs
from pcompile.providers.deploy import (
    DeployRequest,
    DeployTools,
    DirectoryArtifactStore,
    DirectoryManifestStore,
    FakeEngine,
    QuietProgress,
    deploy,
)
from pcompile.providers.settings import DeployInputs

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pcompile"


class RealPieces:
    """Real compile/emit/bundle/render; a FakeBuilder registry and a fake engine that persist."""

    def __init__(self, root: Path, stack: str) -> None:
        self.root = root
        self.builder = FakeBuilder()
        self.engine = FakeEngine({})
        self.artifacts = DirectoryArtifactStore(root / "bucket")
        self.settings = load_stack(stack, root=root)
        self.images = ImageBuilder(self.builder, root, registry=REGISTRY)

    def tools(self) -> DeployTools:
        return DeployTools(
            engine=self.engine,
            publisher=lambda app: BuilderPublisher(self.images, app),
            artifacts=self.artifacts,
            manifests=[DirectoryManifestStore(self.root, self.settings.name)],
            compile=cloud_stores._compile,
            emit=cloud_stores._emit,
            bundle=cloud_stores._bundle,
            image_refs=lambda app: plan_image_refs(app, self.images),
            artifacts_url=lambda key: f"s3://staging/{key}",
        )

    def deploy(self, preview: bool = False):  # noqa: ANN201 - DeployReport
        request = DeployRequest(self.root / "app.py", self.root, self.settings, preview=preview)
        return deploy(request, self.tools(), QuietProgress())


@pytest.fixture
def scaffold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", str(tmp_path), "--cloud", "aws", "--yes"])
    assert result.exit_code == 0, result.output
    return tmp_path


def _pushes(builder: FakeBuilder) -> list[str]:
    return [ref for op, ref in builder.calls if op == "push"]


def test_scaffolded_app_deploys_and_redeploys_without_rebuilding(scaffold: Path) -> None:
    pieces = RealPieces(scaffold, "dev")
    first = pieces.deploy()
    assert first.app == "hello-pcompile"
    assert len(first.images_built) == 2 and sorted(_pushes(pieces.builder)) == sorted(first.images_built)
    assert all(ref.startswith(REGISTRY + "/hello-pcompile:") for ref in first.image_tags.values())
    assert first.bundle_uploaded and first.bundle and first.bundle.startswith("s3://staging/bundles/")

    project = pieces.engine.projects[-1].path
    assert (project / "Pulumi.yaml").is_file() and (project / "__main__.py").is_file()
    inputs = DeployInputs.from_json(json.loads((project / "deploy.json").read_text()))
    assert inputs.image_refs == first.image_tags
    assert inputs.bundle_url == first.bundle

    pieces.builder.calls.clear()
    second = pieces.deploy()
    assert second.images_built == [] and not second.bundle_uploaded
    assert [op for op, _ in pieces.builder.calls if op in ("build", "push")] == []
    assert second.image_tags == first.image_tags and second.bundle == first.bundle


def test_editing_code_uploads_a_new_bundle_and_rebuilds_no_image(scaffold: Path) -> None:
    pieces = RealPieces(scaffold, "dev")
    first = pieces.deploy()
    app_file = scaffold / "app.py"
    app_file.write_text(app_file.read_text().replace("return x * x", "return x * x + 0"))
    second = pieces.deploy()
    assert second.bundle != first.bundle and second.bundle_uploaded
    assert second.images_built == []


def test_preview_pushes_and_uploads_nothing(scaffold: Path) -> None:
    pieces = RealPieces(scaffold, "dev")
    report = pieces.deploy(preview=True)
    assert _pushes(pieces.builder) == [] and not (scaffold / "bucket").exists()
    assert pieces.engine.calls[-1] == ("preview", "dev")
    assert len(report.image_tags) == 2


def test_local_stack_deploy_through_the_cli(scaffold: Path) -> None:
    (scaffold / "stacks" / "local.yaml").write_text("cloud: local\n")
    result = CliRunner().invoke(cli, ["deploy", "app.py", "--stack", "local", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((scaffold / ".pcompile/deployments/local/hello-pcompile.json").read_text())
    assert manifest["staging"] == {"app_file": "app.py"}
    assert {f["target"] for f in manifest["functions"].values()} == {"local"}


def test_logs_of_a_local_deployment_through_the_cli(scaffold: Path) -> None:
    (scaffold / "stacks" / "local.yaml").write_text("cloud: local\n")
    assert CliRunner().invoke(cli, ["deploy", "app.py", "--stack", "local"]).exit_code == 0
    logs = scaffold / ".pcompile/local/logs/hello-pcompile"
    logs.mkdir(parents=True)
    (logs / "square.log").write_text("started\nsquare(3) = 9\n")
    result = CliRunner().invoke(cli, ["logs", "square", "--stack", "local", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "square(3) = 9"
    missing = CliRunner().invoke(cli, ["logs", "cube", "--stack", "local"])
    assert missing.exit_code == 1 and "use one of: hello, square" in missing.output
