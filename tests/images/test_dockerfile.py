"""Dockerfile rendering: order, sorting, determinism, tags, every step kind."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from image_kit import acceptance_image, app_with

from pcompile.compiler import images
from pcompile.compiler.bundle import build_bundle
from pcompile.compiler.errors import UserError
from pcompile.compiler.images import RenderOptions, apply_mirror, render_image
from pcompile.compiler.ir import ImageSpec, ImageStep

ROOT = Path(__file__).resolve().parents[2]


def test_acceptance_chain_in_order_and_sorted(project: Path) -> None:
    text = render_image(acceptance_image(), root=project).dockerfile
    lines = text.splitlines()
    from_line = lines.index("FROM python:3.11-slim")
    apt = next(i for i, line in enumerate(lines) if "apt-get install" in line)
    pip = next(i for i, line in enumerate(lines) if "pip install --no-cache-dir numpy" in line)
    env = lines.index('ENV HF_HOME="/cache"')
    run1 = lines.index("RUN echo built > /built.txt")
    run2 = lines.index("RUN python -c 'import numpy'")
    assert from_line < apt < pip < env < run1 < run2
    assert "--no-install-recommends ffmpeg git &&" in lines[apt]
    assert lines[pip].endswith("numpy==2.1.0 pandas")
    assert lines[env + 1] == 'ENV MODE="prod"'


def test_two_renders_identical_and_no_host_paths(project: Path) -> None:
    first = render_image(acceptance_image(), root=project)
    second = render_image(acceptance_image(), root=project)
    assert first.dockerfile == second.dockerfile
    assert first.tag == second.tag
    assert str(project) not in first.dockerfile
    assert first.tag.startswith("pc-") and len(first.tag) == 35


def test_changing_a_pin_changes_the_tag(project: Path) -> None:
    base = render_image(acceptance_image(), root=project).tag
    steps = list(acceptance_image().steps)
    steps[1] = ImageStep("pip_install", {"packages": ["numpy==2.1.1", "pandas"]})
    bumped = render_image(replace(acceptance_image(), steps=tuple(steps)), root=project).tag
    assert bumped != base


def test_changing_the_cloudpickle_pin_changes_the_tag(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = render_image(acceptance_image(), root=project)
    real = images.pinned_requirement
    monkeypatch.setattr(
        images, "pinned_requirement", lambda d: "cloudpickle==9.9.9" if d == "cloudpickle" else real(d)
    )
    bumped = render_image(acceptance_image(), root=project)
    assert "cloudpickle==9.9.9" in bumped.dockerfile
    assert bumped.tag != base.tag


def test_function_body_edit_changes_bundle_not_tag(project: Path) -> None:
    app = app_with(acceptance_image())
    tag_before = render_image(acceptance_image(), root=project, app=app).tag
    bundle_before = build_bundle(app, project).sha256
    source = project / "demo.py"
    source.write_text(source.read_text().replace("return x * x", "return x * x * 1"))
    assert render_image(acceptance_image(), root=project, app=app).tag == tag_before
    assert build_bundle(app, project).sha256 != bundle_before


def test_cloudpickle_pin_comes_from_package_metadata() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pin = next(d for d in pyproject["project"]["dependencies"] if d.startswith("cloudpickle"))
    assert images.pinned_requirement("cloudpickle") == pin
    assert pin in images.runtime_requirements("local")
    assert any(r.startswith("boto3") for r in images.runtime_requirements("aws"))


def test_runtime_packages_match_pyproject() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert sorted(images.RUNTIME_PACKAGES) == sorted(packages)


def test_runtime_layer_installs_pinned_cloudpickle_and_package_source(project: Path) -> None:
    build = render_image(acceptance_image(), root=project)
    assert "_pcompile/runtime/pcompile/runtime/bundle.py" in build.files
    assert "_pcompile/runtime/pcompile/__init__.py" in build.files
    assert "COPY _pcompile/runtime /opt/pcompile/lib" in build.dockerfile
    assert "cloudpickle==3.1.1" in build.dockerfile
    # The runtime comes before the user's steps so run_function can use it.
    assert build.dockerfile.index("cloudpickle==3.1.1") < build.dockerfile.index("apt-get")


def test_secrets_are_mounted_never_written(project: Path) -> None:
    step = ImageStep(
        "run_commands", {"commands": ["./download.sh"], "secrets": ["hf token"], "env": {"A": "b c"}}
    )
    build = render_image(acceptance_image(step), root=project)
    line = next(x for x in build.dockerfile.splitlines() if "download.sh" in x)
    assert line.startswith("RUN --mount=type=secret,id=pcompile-hf_token ")
    assert ". /run/secrets/pcompile-hf_token" in line and "export A='b c'" in line
    assert build.secrets == ("hf token",)


def test_local_files_baked_only_with_copy(project: Path) -> None:
    lazy = ImageStep(
        "add_local_dir", {"local_path": "data", "remote_path": "/data", "copy": False, "ignore": []}
    )
    baked = ImageStep(
        "add_local_dir", {"local_path": "data", "remote_path": "/assets", "copy": True, "ignore": ["*.tmp"]}
    )
    build = render_image(acceptance_image(lazy, baked), root=project)
    copied = [k for k in build.files if k.startswith("_pcompile/local/")]
    assert [Path(k).name for k in copied] == ["a.txt"]
    assert "added at container start" in build.dockerfile
    assert any(
        line.startswith("COPY _pcompile/local/") and line.endswith(" /assets")
        for line in build.dockerfile.splitlines()
    )


def test_baked_file_contents_change_the_tag(project: Path) -> None:
    baked = ImageStep(
        "add_local_file", {"local_path": "data/a.txt", "remote_path": "/etc/a.txt", "copy": True}
    )
    before = render_image(acceptance_image(baked), root=project).tag
    (project / "data" / "a.txt").write_text("changed\n")
    assert render_image(acceptance_image(baked), root=project).tag != before


def test_bake_code_puts_the_bundle_in_the_image(project: Path) -> None:
    app = app_with(acceptance_image())
    plain = render_image(acceptance_image(), root=project, app=app)
    baked = render_image(acceptance_image(), root=project, app=app, options=RenderOptions(bake_code=True))
    assert "_pcompile/bundle/code/demo.py" in baked.files
    assert "COPY _pcompile/bundle/code /root" in baked.dockerfile
    assert baked.tag != plain.tag


STEP_CASES = [
    (ImageStep("uv_pip_install", {"packages": ["b", "a"]}), "uv pip install --system --compile-bytecode a b"),
    (
        ImageStep("pip_install", {"packages": ["x"], "index_url": "https://i", "pre": True}),
        "x --index-url https://i --pre",
    ),
    (ImageStep("workdir", {"path": "/app"}), "WORKDIR /app"),
    (ImageStep("entrypoint", {"commands": []}), "ENTRYPOINT []"),
    (ImageStep("cmd", {"cmd": ["python", "x.py"]}), 'CMD ["python", "x.py"]'),
    (ImageStep("shell", {"commands": ["/bin/bash", "-c"]}), 'SHELL ["/bin/bash", "-c"]'),
    (ImageStep("dockerfile_commands", {"commands": ["RUN echo raw"]}), "RUN echo raw"),
    (
        ImageStep("micromamba_install", {"packages": ["b", "a"], "channels": ["conda-forge"]}),
        "-c conda-forge a b",
    ),
    (ImageStep("add_local_python_source", {"modules": ["helpers"], "copy": True}), "COPY _pcompile/pysrc/"),
    (
        ImageStep("run_function", {"module": "demo", "qualname": "square", "args": [3]}),
        "_modal_alias.install()",
    ),
]


@pytest.mark.parametrize(("step", "expected"), STEP_CASES, ids=[s.kind for s, _ in STEP_CASES])
def test_step_kinds_render(project: Path, step: ImageStep, expected: str) -> None:
    assert expected in render_image(acceptance_image(step), root=project).dockerfile


def test_run_function_mounts_only_its_module(project: Path) -> None:
    step = ImageStep("run_function", {"module": "demo", "qualname": "square", "args": [3], "timeout": 60})
    build = render_image(acceptance_image(step), root=project)
    code = [k for k in build.files if k.startswith("_pcompile/build-code/")]
    assert [Path(k).name for k in code] == ["demo.py"]
    line = next(x for x in build.dockerfile.splitlines() if "_modal_alias" in x)
    assert (
        line.startswith("RUN --mount=type=bind,source=_pcompile/build-code/") and "timeout 60 python" in line
    )


def test_requirements_file_is_in_context(project: Path) -> None:
    (project / "requirements.txt").write_text("requests==2.32.0\n")
    step = ImageStep("pip_install_from_requirements", {"requirements_txt": "requirements.txt"})
    build = render_image(acceptance_image(step), root=project)
    assert any(k.startswith("_pcompile/files/requirements-") for k in build.files)
    assert "pip install --no-cache-dir -r /tmp/requirements-" in build.dockerfile


def test_pyproject_dependencies_are_installed_sorted(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nname="x"\ndependencies=["zeta", "alpha>=1"]\n[project.optional-dependencies]\ngpu=["torch"]\n'
    )
    step = ImageStep(
        "pip_install_from_pyproject", {"pyproject_toml": "pyproject.toml", "optional_dependencies": ["gpu"]}
    )
    assert "'alpha>=1' torch zeta" in render_image(acceptance_image(step), root=project).dockerfile


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (ImageStep("debian_slim", {}), f"FROM python:{images.local_python_minor()}-slim"),
        (ImageStep("from_registry", {"tag": "nvidia/cuda:12.4.0-runtime-ubuntu22.04", "add_python": "3.11"}),
         "COPY --from=python:3.11-slim /usr/local /usr/local"),
        (ImageStep("micromamba", {"python_version": "3.10"}), "python=3.10 pip"),
    ],
)  # fmt: skip
def test_bases(project: Path, base: ImageStep, expected: str) -> None:
    assert expected in render_image(ImageSpec("b", base), root=project).dockerfile


def test_from_dockerfile_inlines_user_dockerfile_and_context(project: Path) -> None:
    (project / "ctx").mkdir()
    (project / "ctx" / "Dockerfile").write_text("FROM ubuntu:22.04 AS base\nARG V\nCOPY app.txt /app.txt\n")
    (project / "ctx" / "app.txt").write_text("x\n")
    base = ImageStep(
        "from_dockerfile", {"path": "ctx/Dockerfile", "context_dir": "ctx", "build_args": {"V": "1"}}
    )
    build = render_image(ImageSpec("d", base), root=project)
    assert build.dockerfile.splitlines()[1:4] == [
        "FROM ubuntu:22.04 AS base",
        "ARG V",
        "COPY app.txt /app.txt",
    ]
    assert "app.txt" in build.files and build.build_args == {"V": "1"}


@pytest.mark.parametrize("kind", ["from_scratch", "from_name", "frobnicate"])
def test_unsupported_bases_are_user_errors(project: Path, kind: str) -> None:
    with pytest.raises(UserError):
        render_image(ImageSpec("x", ImageStep(kind, {"name": "n"})), root=project)


def test_unknown_step_is_a_user_error(project: Path) -> None:
    with pytest.raises(UserError, match="unsupported Image method 'frobnicate'"):
        render_image(acceptance_image(ImageStep("frobnicate", {})), root=project)


def test_mirror_prefix_and_mapping() -> None:
    text = "FROM python:3.11-slim AS py\nFROM gcr.io/x/y:1\nCOPY --from=py /a /b\nCOPY --from=python:3.11-slim /usr/local /usr/local\n"
    mirrored = apply_mirror(text, "mirror.local:5000/hub")
    assert mirrored.splitlines() == [
        "FROM mirror.local:5000/hub/python:3.11-slim AS py",
        "FROM gcr.io/x/y:1",
        "COPY --from=py /a /b",
        "COPY --from=mirror.local:5000/hub/python:3.11-slim /usr/local /usr/local",
    ]
    mapped = apply_mirror(text, {"python:3.11-slim": "localhost/base:1"})
    assert mapped.splitlines()[0] == "FROM localhost/base:1 AS py"
    assert apply_mirror(text, None) == text


def test_mirror_does_not_change_tag_but_is_written(project: Path, tmp_path: Path) -> None:
    build = render_image(acceptance_image(), root=project)
    dockerfile = build.write_context(tmp_path / "ctx", "localhost/mirror")
    assert dockerfile.read_text().splitlines()[1] == "FROM localhost/mirror/python:3.11-slim"
    assert (tmp_path / "ctx" / "_pcompile/runtime/pcompile/runtime/bundle.py").is_file()


def test_image_ref_and_function_image() -> None:
    app = app_with(acceptance_image())
    assert images.image_ref(None, "demo", "pc-1") == "localhost/pcompile/demo:pc-1"
    assert images.image_ref(None, "My_App.v2", "pc-1") == "localhost/pcompile/my-app-v2:pc-1"
    assert images.image_ref("123.dkr.ecr.us-east-1.amazonaws.com/", "demo", "pc-1").endswith(".com/demo:pc-1")
    assert images.function_image(app, "square").id == "im-accept"
    assert images.function_image(app, None).id == "im-accept"
    with pytest.raises(UserError):
        images.function_image(app, "nope")
