"""Builders: command lines, skip-when-exists, push, logins, and the container worker argv."""

from __future__ import annotations

from pathlib import Path

import pytest
from image_kit import acceptance_image, app_with

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import ImageStep
from pcompile.providers import builders
from pcompile.providers.builders import (
    BuilderPublisher,
    Completed,
    DockerBuilder,
    FakeBuilder,
    ImageBuilder,
    PodmanBuilder,
    RecordingRunner,
    plan_image_refs,
)
from pcompile.providers.containers import worker_argv
from pcompile.providers.settings import StackSettings

CTX, DF = Path("/ctx"), Path("/ctx/Dockerfile")


def test_podman_build_push_exists_argv() -> None:
    runner = RecordingRunner()
    podman = PodmanBuilder(runner, default_flags=("--isolation", "chroot"))
    podman.build(
        CTX,
        "localhost/pcompile/a:pc-1",
        DF,
        ["--pull=never"],
        build_args={"V": "1"},
        secrets={"s": Path("/s")},
    )
    assert runner.calls[-1] == [
        "podman", "build", "-f", "/ctx/Dockerfile", "-t", "localhost/pcompile/a:pc-1", "--build-arg", "V=1",
        "--secret", "id=s,src=/s", "--isolation", "chroot", "--pull=never", "/ctx",
    ]  # fmt: skip
    assert podman.push("localhost/pcompile/a:pc-1", "127.0.0.1:5000/team") == "127.0.0.1:5000/team/a:pc-1"
    assert runner.calls[-1] == ["podman", "push", "--tls-verify=false", "127.0.0.1:5000/team/a:pc-1"]
    assert podman.exists("localhost/pcompile/a:pc-1")
    assert runner.calls[-1] == ["podman", "image", "exists", "localhost/pcompile/a:pc-1"]


def test_docker_uses_buildx_when_present() -> None:
    runner = RecordingRunner()
    DockerBuilder(runner).build(CTX, "t", DF)
    assert runner.calls[-1][:4] == ["docker", "buildx", "build", "--load"]
    plain = RecordingRunner({"docker buildx version": Completed(1, "unknown command")})
    DockerBuilder(plain).build(CTX, "t", DF)
    assert plain.calls[-1][:2] == ["docker", "build"]


def test_cloud_builds_pin_linux_amd64_and_buildx_drops_provenance() -> None:
    runner = RecordingRunner()
    DockerBuilder(runner).build(CTX, "t", DF, platform="linux/amd64")
    assert runner.calls[-1] == [
        "docker", "buildx", "build", "--load", "--provenance=false", "-f", "/ctx/Dockerfile", "-t", "t",
        "--platform", "linux/amd64", "/ctx",
    ]  # fmt: skip
    plain = RecordingRunner({"docker buildx version": Completed(1, "unknown command")})
    DockerBuilder(plain).build(CTX, "t", DF, platform="linux/amd64")
    assert plain.calls[-1] == [
        "docker",
        "build",
        "-f",
        "/ctx/Dockerfile",
        "-t",
        "t",
        "--platform",
        "linux/amd64",
        "/ctx",
    ]
    podman = RecordingRunner()
    PodmanBuilder(podman).build(CTX, "t", DF, platform="linux/amd64")
    assert podman.calls[-1] == [
        "podman",
        "build",
        "-f",
        "/ctx/Dockerfile",
        "-t",
        "t",
        "--platform",
        "linux/amd64",
        "/ctx",
    ]


def test_cloud_stacks_build_for_amd64_and_local_runs_for_this_host(project: Path) -> None:
    from pcompile.providers.containers import image_builder_for_run

    aws = StackSettings(cloud="aws", builder="fake")
    assert ImageBuilder.for_stack(aws, project).platform == "linux/amd64"
    assert ImageBuilder.for_stack(StackSettings(cloud="local", builder="fake"), project).platform is None
    assert image_builder_for_run(aws, project).platform is None
    arm = StackSettings(cloud="gcp", builder="fake", extra={"image_platform": "linux/arm64"})
    assert ImageBuilder.for_stack(arm, project).platform == "linux/arm64"


def test_a_push_rebuilds_for_the_cloud_platform_even_when_a_local_image_exists(project: Path) -> None:
    app = app_with(acceptance_image())
    local = ImageBuilder(FakeBuilder(), project)
    local_ref = local.ensure(app, app.images[0])
    fake = FakeBuilder(built={local_ref: "FROM host-arch"})
    images = ImageBuilder(fake, project, registry="reg.example.com/team", platform="linux/amd64")
    ref = images.ensure(app, app.images[0])
    assert ("build", local_ref) in fake.calls and fake.platforms[local_ref] == "linux/amd64"
    assert ref in fake.pushed


def test_failed_build_raises_with_output_tail() -> None:
    runner = RecordingRunner({"podman build": Completed(1, "step 3 failed: no such package")})
    with pytest.raises(builders.BuildError, match="no such package"):
        PodmanBuilder(runner).build(CTX, "t", DF)


def test_remote_exists_uses_skopeo_or_manifest_inspect(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = RecordingRunner({"skopeo inspect": Completed(1, "manifest unknown")})
    monkeypatch.setattr(
        builders.shutil, "which", lambda tool: "/usr/bin/skopeo" if tool == "skopeo" else None
    )
    assert not PodmanBuilder(runner).exists("reg.example.com/a:pc-1")
    assert runner.calls[-1] == ["skopeo", "inspect", "--raw", "docker://reg.example.com/a:pc-1"]
    monkeypatch.setattr(builders.shutil, "which", lambda tool: None)
    assert DockerBuilder(runner).exists("reg.example.com/a:pc-1")
    assert runner.calls[-1] == ["docker", "manifest", "inspect", "reg.example.com/a:pc-1"]


def test_login_commands_for_ecr_and_artifact_registry() -> None:
    ecr = builders.login_command("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app")
    assert ecr == (["aws", "ecr", "get-login-password", "--region", "eu-west-1"], "AWS")
    gcp = builders.login_command("us-central1-docker.pkg.dev/proj/repo")
    assert gcp == (["gcloud", "auth", "print-access-token"], "oauth2accesstoken")
    assert builders.login_command("127.0.0.1:5000") is None
    runner = RecordingRunner({"aws ecr": Completed(0, "s3cret\n")})
    podman = PodmanBuilder(runner)
    assert builders.registry_login(podman, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app", runner)
    assert runner.calls[-1] == [
        "podman", "login", "--username", "AWS", "--password-stdin", "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    ]  # fmt: skip
    assert "s3cret" not in " ".join(runner.calls[-1])


def test_image_builder_builds_once_and_skips_existing(project: Path) -> None:
    fake = FakeBuilder()
    images = ImageBuilder(fake, project, mirror="localhost/mirror")
    app = app_with(acceptance_image())
    ref = images.ensure(app, app.images[0])
    assert ref.startswith("localhost/pcompile/demo:pc-")
    assert fake.built[ref].splitlines()[1] == "FROM localhost/mirror/python:3.11-slim"
    assert images.ensure(app, app.images[0]) == ref
    assert [c for c in fake.calls if c[0] == "build"] == [("build", ref)]


def test_image_builder_pushes_and_skips_when_remote_has_tag(project: Path) -> None:
    fake = FakeBuilder()
    images = ImageBuilder(fake, project, registry="reg.example.com/team")
    app = app_with(acceptance_image())
    refs = plan_image_refs(app, images)
    ref = refs["im-accept"]
    assert fake.calls == []  # planning builds nothing
    BuilderPublisher(images, app).publish(app.images[0], ref, project)
    assert ref in fake.pushed and ref.startswith("reg.example.com/team/demo:pc-")
    again = FakeBuilder(remote={ref})
    assert ImageBuilder(again, project, registry="reg.example.com/team").ensure(app, app.images[0]) == ref
    assert [c[0] for c in again.calls] == ["exists"]


def test_build_secrets_are_resolved_into_0600_files(project: Path) -> None:
    step = ImageStep("run_commands", {"commands": ["true"], "secrets": ["hf"]})
    app = app_with(acceptance_image(step))
    seen: dict[str, str] = {}

    class Peek(FakeBuilder):
        def build(
            self, context_dir, tag, dockerfile, flags=(), *, build_args=None, secrets=None, platform=None
        ):  # type: ignore[no-untyped-def]
            for sid, path in (secrets or {}).items():
                seen[sid] = path.read_text()
                assert path.stat().st_mode & 0o777 == 0o600
            super().build(context_dir, tag, dockerfile, flags)

    ImageBuilder(Peek(), project, resolve_secret=lambda name: {"TOKEN": "a b"}).ensure(app, app.images[0])
    assert seen == {"pcompile-hf": "TOKEN='a b'\n"}
    with pytest.raises(UserError, match="secret 'hf'"):
        ImageBuilder(FakeBuilder(), project).ensure(app, app.images[0])


def test_make_builder_from_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(builders.make_builder(StackSettings(builder="fake")), FakeBuilder)
    with pytest.raises(UserError, match="unknown builder"):
        builders.make_builder(StackSettings(builder="kaniko"))
    monkeypatch.setattr(builders.shutil, "which", lambda tool: None)
    with pytest.raises(UserError, match="not installed"):
        builders.make_builder(StackSettings(builder="podman"))


def test_mirror_from_stack_settings() -> None:
    assert builders.mirror_of(StackSettings(base_image_mirror="m.example/hub")) == "m.example/hub"
    mapping = StackSettings(extra={"base_image_map": {"python:3.11-slim": "m/py:3.11"}})
    assert builders.mirror_of(mapping) == {"python:3.11-slim": "m/py:3.11"}


def test_container_worker_argv() -> None:
    argv = worker_argv(
        "podman", "localhost/pcompile/demo:pc-1", ["--slot", "/s/slot-1"], name="w1", binds=["/proj"],
        env={"PCOMPILE_WORKER": "1"}, run_flags=["--runtime", "runc"],
    )  # fmt: skip
    assert argv == [
        "podman", "run", "--rm", "--name", "w1", "--preserve-fds", "2", "--network", "host",
        "-v", "/proj:/proj", "-e", "PCOMPILE_WORKER=1", "--runtime", "runc", "localhost/pcompile/demo:pc-1",
        "python", "-m", "pcompile.runtime", "worker", "--in-fd", "3", "--out-fd", "4", "--slot", "/s/slot-1",
    ]  # fmt: skip


def test_container_env_keeps_only_worker_specific_variables() -> None:
    from pcompile.providers.containers import container_env

    host = {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C"}
    worker = {**host, "PATH": "/venv/bin", "PCOMPILE_WORKER": "1", "API_KEY": "k", "PYTHONUNBUFFERED": "1"}
    assert container_env(worker, host) == {"API_KEY": "k", "PCOMPILE_WORKER": "1", "PYTHONUNBUFFERED": "1"}


def test_missing_tool_is_a_failed_command_not_a_crash() -> None:
    result = builders.subprocess_runner(["pcompile-no-such-tool", "x"])
    assert result.returncode == 127 and "command not found" in result.output


def test_container_workers_prepare_builds_once_per_image(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pcompile.providers import containers

    monkeypatch.setattr(containers.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    fake = FakeBuilder()
    app = app_with(acceptance_image())
    workers = containers.ContainerWorkers.prepare(
        app,
        StackSettings(builder="podman", run_flags=("--runtime", "runc")),
        project,
        fake,
        log=lambda m: None,
    )
    assert list(workers.refs) == ["square"] and workers.refs["square"].startswith(
        "localhost/pcompile/demo:pc-"
    )
    assert [c[0] for c in fake.calls].count("build") == 1
    assert workers.run_flags == ("--runtime", "runc") and workers.engine == "podman"
    binds = workers.bind_paths(["--slot", "/tmp/slots/slot-1"], {"PCOMPILE_LOCAL_DIR": "/p/.pcompile/local"})
    assert binds == [project, Path("/p/.pcompile/local"), Path("/tmp/slots")]
