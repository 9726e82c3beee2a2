"""The deploy pipeline with the fake engine, publisher and stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deploy_kit import Kit

from pcompile.compiler.errors import UserError
from pcompile.compiler.stacks import load_stack
from pcompile.providers.deploy import (
    INSTALL_PULUMI,
    DeploymentFailed,
    DeployRequest,
    EngineMissing,
    QuietProgress,
    deploy,
    destroy,
)
from pcompile.providers.manifest import Manifest


def _request(project: Path, stack: str = "aws-dev", preview: bool = False) -> DeployRequest:
    return DeployRequest(project / "app.py", project, load_stack(stack, root=project), preview=preview)


def test_steps_run_in_order_and_write_the_manifest(project: Path, kit: Kit) -> None:
    report = deploy(_request(project), kit.tools(), QuietProgress())
    assert report.steps == ["engine", "compile", "images", "bundle", "emit", "up", "manifest"]
    bundle_put = next(j for j in kit.journal if j.startswith("artifacts.put"))
    assert kit.journal == [
        "engine.check",
        "compile",
        "image.publish img-a",
        "image.publish img-b",
        bundle_put,
        "emit",
        "engine.up",
    ]
    manifest = Manifest.loads((project / ".pcompile/deployments/aws-dev/demo.json").read_text())
    assert manifest.functions["web"].web_url == "https://web.lambda-url.us-east-1.on.aws/"
    assert manifest.functions["hello"].addresses["function_arn"].endswith(":hello")
    assert manifest.image_tags == report.image_tags
    assert manifest.code_bundle == report.bundle
    assert report.endpoints == {"web": "https://web.lambda-url.us-east-1.on.aws/"}


def test_image_tags_are_content_addressed(project: Path, kit: Kit) -> None:
    report = deploy(_request(project), kit.tools(), QuietProgress())
    assert report.image_tags == {
        "img-a": "123456789012.dkr.ecr.us-east-1.amazonaws.com/pcompile/demo:img-a",
        "img-b": "123456789012.dkr.ecr.us-east-1.amazonaws.com/pcompile/demo:img-b",
    }
    assert kit.emitted[0].image_refs == report.image_tags


def test_second_deploy_of_unchanged_app_builds_and_uploads_nothing(project: Path, kit: Kit) -> None:
    first = deploy(_request(project), kit.tools(), QuietProgress())
    kit.journal.clear()
    second = deploy(_request(project), kit.tools(), QuietProgress())
    assert len(first.images_built) == 2 and first.bundle_uploaded
    assert second.images_built == [] and not second.bundle_uploaded
    assert kit.journal == ["engine.check", "compile", "emit", "engine.up"]
    assert second.bundle == first.bundle
    assert second.to_json()["resources_changed"] == 0


def test_nothing_built_or_uploaded_when_compilation_fails(project: Path, kit: Kit) -> None:
    kit.fail_compile = True
    with pytest.raises(UserError, match="H1000"):
        deploy(_request(project), kit.tools(), QuietProgress())
    assert kit.publisher.built == [] and kit.artifacts.objects == {}
    assert kit.journal == ["engine.check", "compile"]
    assert not (project / ".pcompile/deployments").exists()


def test_missing_engine_stops_before_anything(project: Path, kit: Kit) -> None:
    kit.engine.available = False
    with pytest.raises(EngineMissing) as info:
        deploy(_request(project), kit.tools(), QuietProgress())
    assert str(info.value) == INSTALL_PULUMI
    assert kit.journal == ["engine.check"]
    assert kit.publisher.built == [] and kit.artifacts.objects == {}


def test_preview_builds_uploads_and_records_nothing(project: Path, kit: Kit) -> None:
    report = deploy(_request(project, preview=True), kit.tools(), QuietProgress())
    assert report.steps == ["engine", "compile", "emit", "preview"]
    assert kit.journal == ["engine.check", "compile", "emit", "engine.preview"]
    assert report.changes == {"create": 1}
    assert not (project / ".pcompile/deployments").exists()


def test_engine_failure_is_a_deployment_failure(project: Path, kit: Kit) -> None:
    kit.engine.fail_with = RuntimeError("AccessDenied: ecr:CreateRepository")
    with pytest.raises(DeploymentFailed, match="AccessDenied"):
        deploy(_request(project), kit.tools(), QuietProgress())
    assert not (project / ".pcompile/deployments").exists()


def test_file_backend_is_made_absolute_under_the_project(project: Path, kit: Kit) -> None:
    deploy(_request(project), kit.tools(), QuietProgress())
    assert kit.engine.projects[0].backend_url == (project / ".pcompile/state").resolve().as_uri()
    assert kit.engine.projects[0].project == "pcompile-demo"


def test_local_stack_builds_nothing_and_writes_a_manifest(project: Path) -> None:
    kit = Kit(project, "local")
    report = deploy(_request(project, "local"), kit.tools(), QuietProgress())
    assert kit.journal == ["compile"]
    data = json.loads((project / ".pcompile/deployments/local/demo.json").read_text())
    assert data["cloud"] == "local" and data["staging"] == {"app_file": "app.py"}
    assert set(data["functions"]) == {"hello", "web"}
    assert report.steps == ["compile", "manifest"]


def test_destroy_forgets_the_manifest(project: Path, kit: Kit) -> None:
    deploy(_request(project), kit.tools(), QuietProgress())
    settings = load_stack("aws-dev", root=project)
    destroy("demo", settings, project, kit.engine, [kit.manifests], QuietProgress())
    assert kit.engine.calls[-1] == ("destroy", "aws-dev")
    assert kit.manifests.list() == []


def test_destroy_stopped_by_a_volume_with_data_says_so_and_how(project: Path, kit: Kit) -> None:
    deploy(_request(project), kit.tools(), QuietProgress())
    settings = load_stack("aws-dev", root=project)
    kit.engine.fail_with = RuntimeError("deleting S3 Bucket (gpu-mix-vol): BucketNotEmpty: not empty")
    with pytest.raises(UserError, match="volume bucket that still holds data") as err:
        destroy("demo", settings, project, kit.engine, [kit.manifests], QuietProgress())
    assert "aws s3 rm" in (err.value.fix or "") and "pcompile destroy" in (err.value.fix or "")
    assert kit.manifests.list() == ["demo"]  # nothing forgotten while resources remain
    kit.engine.fail_with = RuntimeError("throttled")
    with pytest.raises(DeploymentFailed, match="throttled"):  # other failures stay cloud failures
        destroy("demo", settings, project, kit.engine, [kit.manifests], QuietProgress())


def test_destroy_without_emitted_project_says_how(project: Path, kit: Kit) -> None:
    settings = load_stack("aws-dev", root=project)
    with pytest.raises(UserError, match="--preview"):
        destroy("demo", settings, project, kit.engine, [kit.manifests], QuietProgress())


def test_code_defined_secrets_reach_the_engine_only_as_secret_config(project: Path, kit: Kit) -> None:
    import dataclasses

    from deploy_kit import make_program

    from pcompile.compiler.ir import SecretSpec

    base = make_program()
    secrets = (SecretSpec("api", kind="dict", keys=("TOKEN",)), SecretSpec("db", kind="named"))
    program = dataclasses.replace(base, apps=(dataclasses.replace(base.apps[0], secrets=secrets),))
    tools = kit.tools()
    tools.compile = lambda path: program
    tools.secret_values = lambda app: {"api": {"TOKEN": "s3cr3t-value"}}
    deploy(_request(project), tools, QuietProgress())
    (sent,) = kit.engine.projects
    assert sent.secret_config == {"pcompile-demo:secret-api": '{"TOKEN": "s3cr3t-value"}'}
    assert sent.config == {}
    for path in (project / ".pcompile").rglob("*"):
        assert not path.is_file() or b"s3cr3t-value" not in path.read_bytes(), path


def test_missing_secret_values_are_a_user_error(project: Path, kit: Kit) -> None:
    import dataclasses

    from deploy_kit import make_program

    from pcompile.compiler.ir import SecretSpec

    base = make_program()
    app = dataclasses.replace(base.apps[0], secrets=(SecretSpec("env", kind="local_environ", keys=("K",)),))
    tools = kit.tools()
    tools.compile = lambda path: dataclasses.replace(base, apps=(app,))
    with pytest.raises(UserError, match="no values for secret 'env'"):
        deploy(_request(project), tools, QuietProgress())
    assert kit.journal == ["engine.check"]  # the replaced compiler does not journal
    assert kit.publisher.built == [] and kit.artifacts.objects == {}


def test_several_apps_need_app_option(project: Path, kit: Kit) -> None:
    import dataclasses

    from deploy_kit import make_program

    base = make_program()
    other = dataclasses.replace(base.apps[0], name="other")
    tools = kit.tools()
    tools.compile = lambda path: dataclasses.replace(base, apps=(base.apps[0], other))
    with pytest.raises(UserError, match="--app"):
        deploy(_request(project), tools, QuietProgress())
    request = dataclasses.replace(_request(project), app="other")
    assert deploy(request, tools, QuietProgress()).app == "other"


def test_manifest_written_by_the_provider_program_wins(project: Path, kit: Kit) -> None:
    from pcompile.providers.manifest import FunctionAddress

    written = Manifest(
        "demo",
        "aws-dev",
        "aws",
        "us-east-1",
        {
            "hello": FunctionAddress("lambda", {"function_name": "demo-hello"}),
            "web": FunctionAddress("lambda", {}, "https://from-the-program.example/"),
        },
    )
    tools = kit.tools()
    tools.deployed_manifest = lambda app: written
    report = deploy(_request(project), tools, QuietProgress())
    assert report.endpoints == {"web": "https://from-the-program.example/"}
    assert kit.manifests.read("demo") == written
