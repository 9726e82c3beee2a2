"""Image methods added for issue 13: the SDK records them, the renderer turns them into
deterministic Dockerfile lines, and every method of Modal's newest ``Image`` exists."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import pcompile as modal
from pcompile.compiler.images import STEP_RENDERERS, render_image
from pcompile.compiler.ir import ImageSpec, ImageStep
from pcompile.exception import ExecutionError, InvalidError

# Public methods and properties of ``modal.Image`` in modal 1.6.4 (the newest wheel on the
# index, 2026-12), read from its modal/_image.py ``_Image`` class.
MODAL_IMAGE_METHODS = (
    "add_local_dir",
    "add_local_file",
    "add_local_python_source",
    "apt_install",
    "build",
    "cmd",
    "debian_slim",
    "dockerfile_commands",
    "entrypoint",
    "env",
    "from_aws_ecr",
    "from_dockerfile",
    "from_gcp_artifact_registry",
    "from_id",
    "from_name",
    "from_registry",
    "from_scratch",
    "hydrate",
    "imports",
    "logs",
    "micromamba",
    "micromamba_install",
    "pip_install",
    "pip_install_from_pyproject",
    "pip_install_from_requirements",
    "pip_install_private_repos",
    "pipe",
    "poetry_install_from_file",
    "publish",
    "run_commands",
    "run_function",
    "shell",
    "uv_pip_install",
    "uv_sync",
    "workdir",
)


def image_of(image: modal.Image, root: Path | None = None) -> ImageSpec:
    """The IR of an SDK image, its local paths made relative to ``root`` (default: cwd)."""
    from pcompile.compiler.build import image_spec

    return image_spec(image, root or Path.cwd())


def test_every_method_of_modals_image_exists() -> None:
    missing = [name for name in MODAL_IMAGE_METHODS if not hasattr(modal.Image, name)]
    assert missing == []


def test_every_recorded_step_kind_has_a_renderer() -> None:
    base = ("debian_slim", "micromamba", "from_registry", "from_aws_ecr", "from_gcp_artifact_registry")
    base += ("from_dockerfile", "from_scratch", "from_name", "from_id")
    recorders = {
        name
        for name, member in vars(modal.Image).items()
        if inspect.isfunction(member) and not name.startswith("_") and name not in base
    }
    not_steps = {"build", "hydrate", "imports", "pipe", "publish", "copy_local_dir", "copy_local_file"}
    # uv_pip_install_from_requirements records a uv_pip_install step.
    assert recorders - not_steps - {"uv_pip_install_from_requirements"} <= set(STEP_RENDERERS)


def test_uv_pip_install_from_requirements_is_uv_pip_install_with_requirements(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("requests==2.32.3\n")
    one = modal.Image.debian_slim("3.11").uv_pip_install_from_requirements(req, pre=True)
    two = modal.Image.debian_slim("3.11").uv_pip_install(requirements=[str(req)], pre=True)
    assert image_of(one, tmp_path) == image_of(two, tmp_path)
    assert image_of(one, tmp_path).steps[0].args["requirements"] == ["requirements.txt"]
    dockerfile = render_image(image_of(one, tmp_path), root=tmp_path).dockerfile
    assert "uv pip install --system --compile-bytecode -r /tmp/pcompile-files/uv-requirements-" in dockerfile


def test_two_uv_steps_keep_their_own_requirements_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "b.txt").write_text("b\n")
    image = ImageSpec(
        id="im-uv",
        base=ImageStep("debian_slim", {"python_version": "3.11"}),
        steps=(
            ImageStep("uv_pip_install", {"requirements": ["a.txt"]}),
            ImageStep("uv_pip_install", {"requirements": ["b.txt"]}),
        ),
    )
    build = render_image(image, root=tmp_path)
    files = sorted(rel for rel in build.files if "uv-requirements-" in rel)
    assert len(files) == 2
    assert sorted(Path(build.files[rel]).read_text() for rel in files) == ["a\n", "b\n"]  # type: ignore[arg-type]


def test_private_repos_render_tokens_from_the_mounted_secret_only(tmp_path: Path) -> None:
    image = modal.Image.debian_slim("3.11").pip_install_private_repos(
        "gitlab.com/ecorp/two#subdirectory=inner",
        "github.com/ecorp/one@1.0.0",
        git_user="erikbern",
        secrets=[modal.Secret.from_dict({"GITHUB_TOKEN": "ghp_secret_value"})],
        extra_options="--no-deps",
    )
    build = render_image(image_of(image), root=tmp_path)
    lines = build.dockerfile.splitlines()
    git = next(i for i, line in enumerate(lines) if "install -y --no-install-recommends git" in line)
    run = lines[git + 1]
    assert run.startswith("RUN --mount=type=secret,id=pcompile-")
    # Repos in the user's order; the tokens' checks sorted; the token only as a variable.
    assert run.index("gitlab.com/ecorp/two") < run.index("github.com/ecorp/one@1.0.0")
    assert run.index('"${GITHUB_TOKEN:-}"') < run.index('"${GITLAB_TOKEN:-}"')
    assert '"git+https://erikbern:${GITHUB_TOKEN}@github.com/ecorp/one@1.0.0"' in run
    assert run.endswith(" --no-deps")
    assert "ghp_secret_value" not in build.dockerfile
    assert build.secrets and render_image(image_of(image), root=tmp_path).tag == build.tag


@pytest.mark.parametrize(
    "ref",
    [
        "https://github.com/org/repo",
        "bitbucket.org/org/repo",
        'github.com/org/repo"; rm -rf /',
        "github.com/x",
    ],
)
def test_private_repo_refs_are_checked(ref: str) -> None:
    with pytest.raises(InvalidError, match="is not a repository ref"):
        modal.Image.debian_slim().pip_install_private_repos(
            ref, git_user="me", secrets=[modal.Secret.from_name("git")]
        )


def test_private_repos_need_a_secret_and_a_plain_user() -> None:
    with pytest.raises(InvalidError, match="needs secrets="):
        modal.Image.debian_slim().pip_install_private_repos("github.com/o/r", git_user="me")
    with pytest.raises(InvalidError, match="git_user="):
        modal.Image.debian_slim().pip_install_private_repos(
            "github.com/o/r", git_user="me$(id)", secrets=[modal.Secret.from_name("git")]
        )


def test_publish_and_logs_name_the_pcompile_command() -> None:
    image = modal.Image.debian_slim()
    with pytest.raises(ExecutionError, match="pcompile image build FILE --push REGISTRY"):
        image.publish("my-image")
    with pytest.raises(ExecutionError, match="pcompile image build FILE"):
        _ = image.logs


def test_gpu_objects_and_path_remote_paths_in_steps(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="use gpu='T4'"):
        gpu = modal.gpu.T4()
    image = (
        modal.Image.debian_slim("3.11")
        .run_commands("nvidia-smi || true", gpu=gpu)
        .add_local_file(Path(__file__), Path("/app/test.py"))
    )
    steps = image_of(image).steps
    assert steps[0].args["gpu"] == "T4"
    assert steps[1].args["remote_path"] == "/app/test.py"
