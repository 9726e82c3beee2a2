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

import pcompile
import pcompile.testing
from pcompile import _modal_alias as modal_alias_module
from pcompile.cli import pcompile_source as sources
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
        assert f"wrote {tmp_path / rel}\n" in output  # outside the working directory: absolute
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


def test_init_prints_paths_from_the_working_directory_and_says_cd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    output = _init(Path("my-app"), "--cloud", "aws", "--ci", "github", "--yes")
    for rel in ("app.py", "requirements.txt", WORKFLOW):
        assert f"wrote my-app/{rel}\n" in output
    steps = output.split("next:\n", 1)[1].splitlines()
    assert steps[0] == "  cd my-app"
    assert steps.index("  pcompile run app.py") > 0


def test_init_in_the_working_directory_needs_no_cd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    output = _init(Path("."), "--cloud", "local", "--yes")
    assert "wrote app.py\n" in output and "cd " not in output


# ------------------------------------------------ what the scaffold installs

PINNED_REQUIREMENT = re.compile(
    r"--index-url https://\S+"  # the team's own index (never --extra-index-url)
    r"|[A-Za-z0-9][\w.-]*==\d[\w.!+]*"  # an exact version, no wildcard
    r"|\./wheels/pcompile-[\w.]+-py3-none-any\.whl"  # a wheel committed with the app
    r"|pcompile @ https://\S+\.whl#sha256=[0-9a-f]{64}"  # a wheel URL that pip checks
    r"|pcompile @ git\+(https|ssh)://\S+@[0-9a-f]{40}"  # one commit
)
PIPE_TO_SHELL = re.compile(r"\|\s*(sudo\s+)?(ba|z|da)?sh\b")
PIP_INSTALL = re.compile(r"pip install(?P<args>[^\n|;&]*)")


def _fake_wheel(folder: Path, version: str = pcompile.__version__) -> Path:
    wheel = folder / f"pcompile-{version}-py3-none-any.whl"
    wheel.write_bytes(b"not really a zip: init only copies it\n")
    return wheel


def _source_flags(kind: str, tmp_path: Path) -> list[str]:
    sha = "0123456789abcdef" * 4
    return {
        "default": [],
        "wheel-file": ["--pcompile-wheel", str(_fake_wheel(tmp_path))],
        "wheel-url": [
            "--pcompile-wheel",
            f"https://pkgs.example.com/pcompile-{pcompile.__version__}-py3-none-any.whl#sha256={sha}",
        ],
        "git": ["--pcompile-git", f"git+https://git.example.com/acme/pcompile@{sha[:40]}"],
        "index": ["--pcompile-index-url", "https://pkgs.example.com/simple/"],
    }[kind]


def _requirements(folder: Path) -> list[str]:
    lines = (folder / "requirements.txt").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("source", ["default", "wheel-file", "wheel-url", "git", "index"])
@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_scaffold_installs_only_pinned_packages(tmp_path: Path, cloud: str, source: str) -> None:
    project = tmp_path / "app"
    _init(project, "--cloud", cloud, "--ci", "github", "--yes", *_source_flags(source, tmp_path))
    requirements = _requirements(project)
    assert [line for line in requirements if not PINNED_REQUIREMENT.fullmatch(line)] == []
    assert sum("pcompile" in line for line in requirements) == 1, requirements
    assert any(line.startswith("pytest==") for line in requirements)
    run = _run_text(_workflow(project), "deploy") + _run_text(_workflow(project), "preview")
    assert not PIPE_TO_SHELL.search(run) and "get.pulumi.com" not in run
    installs = [m["args"].split() for m in PIP_INSTALL.finditer(run)]
    assert installs and all(args == ["-r", "requirements.txt"] for args in installs), installs


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_pulumi_cli_is_pinned_by_one_knob_and_checksum_checked(tmp_path: Path, cloud: str) -> None:
    _init(tmp_path, "--cloud", cloud, "--ci", "github", "--yes")
    workflow = _workflow(tmp_path)
    version = workflow["env"]["PULUMI_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(version))
    assert (tmp_path / WORKFLOW).read_text().count(str(version)) == 1  # the knob, nowhere else
    for job in ("preview", "deploy"):
        (step,) = [s for s in _steps(workflow, job) if s.get("name") == "Install the Pulumi CLI"]
        script = step["run"]
        lines = script.splitlines()
        check = next(i for i, line in enumerate(lines) if line.startswith("sha256sum --check"))
        unpack = next(i for i, line in enumerate(lines) if line.startswith("tar "))
        assert check < unpack  # nothing downloaded is unpacked before its checksum matched
        assert "pulumi-${PULUMI_VERSION}-checksums.txt" in script
        assert "pulumi-v${PULUMI_VERSION}-linux-x64.tar.gz" in script
        assert "set -euo pipefail" in lines[0]


def test_the_wheel_given_is_copied_into_the_project(tmp_path: Path) -> None:
    wheel = _fake_wheel(tmp_path)
    project = tmp_path / "app"
    output = _init(project, "--cloud", "aws", "--yes", "--pcompile-wheel", str(wheel))
    copied = project / "wheels" / wheel.name
    assert copied.read_bytes() == wheel.read_bytes() and f"wrote {copied}\n" in output
    assert f"./wheels/{wheel.name}" in _requirements(project) and "put pcompile's wheel" not in output


def test_without_a_wheel_next_steps_say_where_to_put_it(tmp_path: Path) -> None:
    output = _init(tmp_path, "--cloud", "aws", "--yes")
    name = f"pcompile-{pcompile.__version__}-py3-none-any.whl"
    assert f"./wheels/{name}" in _requirements(tmp_path)
    assert f"put pcompile's wheel at wheels/{name}" in output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--pcompile-index-url", "https://pypi.org/simple"], "not published on public PyPI"),
        (["--pcompile-source", "index"], "--pcompile-index-url https://"),
        (["--pcompile-source", "git"], "--pcompile-git git+https://"),
        (["--pcompile-index-url", "http://pkgs.example.com/simple"], "not an https:// URL"),
        (["--pcompile-git", "git+https://github.com/acme/pcompile@main"], "does not name a commit"),
        (["--pcompile-git", "https://github.com/acme/pcompile"], "does not name a commit"),
        (["--pcompile-wheel", "https://example.com/pcompile-0.1.0-py3-none-any.whl"], "#sha256="),
        (["--pcompile-wheel", "WHEEL-9.9.9"], "is pcompile 9.9.9"),
        (["--pcompile-wheel", "/no/such/pcompile.whl"], "no such file"),
        (["--pcompile-source", "git", "--pcompile-index-url", "https://x.example/simple"], "conflicts"),
        (["--pcompile-source", "pypi"], "wheel, git or index"),
    ],
)
def test_init_refuses_an_unpinned_or_unsafe_pcompile_source(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    project = tmp_path / "app"
    args = [str(_fake_wheel(tmp_path, "9.9.9")) if a == "WHEEL-9.9.9" else a for a in args]
    result = CliRunner().invoke(app, ["init", str(project), "--cloud", "aws", "--yes", *args])
    assert result.exit_code == 1 and needle in result.output, result.output
    assert "Traceback" not in result.output and not project.exists()


def test_installed_git_and_https_wheel_sources_are_pinned_as_installed() -> None:
    sha = "ab" * 20
    git = sources._installed_git("https://github.com/acme/pcompile.git", {"vcs": "git", "commit_id": sha})
    assert git is not None and git.lines == (f"pcompile @ git+https://github.com/acme/pcompile.git@{sha}",)
    url = f"https://pkgs.example.com/pcompile-{pcompile.__version__}-py3-none-any.whl"
    wheel = sources._installed_wheel(url, {"hashes": {"sha256": "cd" * 32}})
    assert wheel is not None and wheel.lines == (f"pcompile @ {url}#sha256={'cd' * 32}",)
    assert sources._installed_wheel("file:///nowhere/pcompile-0.1.0-py3-none-any.whl", {}) is None
    assert sources._installed_git("file:///src/pcompile", {"vcs": "git", "commit_id": sha}) is None


def test_modal_alias_resolves_modal_inside_the_block_only() -> None:
    names = ["modal", *(f"modal.{sub}" for sub in modal_alias_module.SUBMODULES)]
    before = {name: sys.modules.get(name) for name in names}
    with pcompile.testing.modal_alias():
        import modal

        assert modal is pcompile and sys.modules["modal.app"] is sys.modules["pcompile.app"]
    assert {name: sys.modules.get(name) for name in names} == before
