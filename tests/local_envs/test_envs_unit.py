"""Plans, interpreters, warnings, the pip fallback and pruning of local image environments."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from envs_support import FIXTURES, Runner

from pcompile.compiler.ir import ImageSpec, ImageStep
from pcompile.providers.local import envs
from pcompile.providers.local.envs import Interpreter


@pytest.fixture(autouse=True)
def _envs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PCOMPILE_ENVS_DIR", str(tmp_path / "envs"))
    return tmp_path / "envs"


def image(*steps: tuple[str, dict], python: str | None = None, base: str = "debian_slim") -> ImageSpec:
    return ImageSpec(
        "im-test",
        ImageStep(base, {"python_version": python}),
        tuple(ImageStep(k, a) for k, a in steps),
        python,
    )


def test_interpreter_choice_exact_nearest_and_too_old() -> None:
    caller = envs.caller_interpreter()
    assert envs.choose_interpreter(None) == (caller, None)
    assert envs.choose_interpreter(caller.minor) == (caller, None)
    other = Interpreter("/opt/py/bin/python3.99", (3, 99, 0))

    def found() -> list[Interpreter]:
        return [caller, other]

    assert envs.choose_interpreter("3.99", found) == (other, None)
    chosen, warning = envs.choose_interpreter("3.98", found)
    assert chosen == other and warning and "Python 3.98, which is not installed here" in warning
    chosen, warning = envs.choose_interpreter("3.8", found)
    assert (
        chosen == caller and warning and "runtime needs 3.11 or newer" in warning and caller.path in warning
    )


def test_key_covers_installs_only(tmp_path: Path) -> None:
    base = envs.plan_image(image(("pip_install", {"packages": ["a==1"]})), tmp_path)
    same = envs.plan_image(
        image(("pip_install", {"packages": ["a==1"]}), ("env", {"vars": {"X": "1"}})), tmp_path
    )
    other = envs.plan_image(image(("pip_install", {"packages": ["a==2"]})), tmp_path)
    assert base.key == same.key != other.key
    assert same.env == {"X": "1"} and base.path == tmp_path / "envs" / base.key
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("a==1\n")
    first = envs.plan_image(
        image(("pip_install_from_requirements", {"requirements_txt": "requirements.txt"})), tmp_path
    )
    reqs.write_text("a==2\n")
    second = envs.plan_image(
        image(("pip_install_from_requirements", {"requirements_txt": "requirements.txt"})), tmp_path
    )
    assert first.key != second.key and first.installs[0].requirements == (str(reqs),)


def test_pyproject_dependencies_and_options(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["a>=1"]\n[project.optional-dependencies]\ndev = ["b"]\n'
    )
    step = (
        "pip_install_from_pyproject",
        {
            "pyproject_toml": "pyproject.toml",
            "optional_dependencies": ["dev"],
            "index_url": "https://example.invalid/simple",
        },
    )
    (install,) = envs.plan_image(image(step), tmp_path).installs
    assert install.packages == ("a>=1", "b")
    assert install.options == ("--index-url", "https://example.invalid/simple")


def test_container_steps_are_named_once(tmp_path: Path) -> None:
    plan = envs.plan_image(
        image(
            ("apt_install", {"packages": ["curl"]}),
            ("run_commands", {"commands": ["x"]}),
            ("apt_install", {"packages": ["git"]}),
            base="from_registry",
        ),
        tmp_path,
    )
    assert plan.skipped == ("from_registry", "apt_install", "run_commands")
    warning = envs.container_warning(plan)
    assert warning and "from_registry, apt_install, run_commands" in warning and "--containers" in warning
    assert envs.container_warning(envs.plan_image(image(), tmp_path)) is None


def test_local_files_are_mapped(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    plan = envs.plan_image(
        image(
            ("workdir", {"path": "/app"}),
            ("add_local_dir", {"local_path": "data", "remote_path": "data"}),
            ("add_local_file", {"local_path": "data/x.txt", "remote_path": "/etc/conf/"}),
        ),
        tmp_path,
    )
    assert plan.mounts == {"/app/data": str(tmp_path / "data")}
    assert plan.files == {"/etc/conf/x.txt": str(tmp_path / "data" / "x.txt")}
    assert plan.workdir == "/app"


def test_worker_setup_names_the_image() -> None:
    plan = envs.plan_image(image(("env", {"vars": {"A": "b"}})), Path("/proj"))
    setup = envs.ImageEnvs({"im-test": plan}, Path("/proj")).worker_setup([{"name": "f", "image": "im-test"}])
    assert setup is not None and setup.python == str(plan.python)
    assert setup.env == {"A": "b", "PCOMPILE_IMAGE_ID": "im-test", "PCOMPILE_PROJECT_ROOT": "/proj"}
    assert envs.ImageEnvs({}).worker_setup([{"name": "f", "image": "im-other"}]) is None


def test_pip_fallback_builds_a_working_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCOMPILE_ENV_INSTALLER", "pip")
    plan = envs.plan_image(image(), tmp_path)
    said: list[str] = []
    path = envs.ensure(plan, said.append)
    assert said[0].startswith("• Building environment for image im-test with pip")
    probe = "import cloudpickle, pcompile.runtime, sys; print(cloudpickle.__version__, sys.prefix)"
    out = subprocess.run([str(plan.python), "-c", probe], capture_output=True, text=True, check=True)
    version, prefix = out.stdout.split()
    assert version == plan.runtime[0].split("==")[1] and Path(prefix) == path
    meta = json.loads((path / envs.META).read_text())
    assert meta["installer"] == "pip" and f"cloudpickle=={version}" in meta["packages"]
    envs.ensure(plan, said.append)
    assert said[-1].startswith("✓ Reusing environment for image im-test")


def _fake_env(root: Path, name: str, *, built: bool, age_days: float = 0) -> Path:
    path = root / name
    (path / "bin").mkdir(parents=True)
    if built:
        (path / "bin" / "python").write_text("")
        (path / envs.META).write_text("{}")
        (path / envs.LAST_USED).write_text("")
        old = time.time() - age_days * 86400
        os.utime(path / envs.LAST_USED, (old, old))
    return path


def test_prune_removes_old_and_incomplete(_envs_dir: Path) -> None:
    old = _fake_env(_envs_dir, "old", built=True, age_days=40)
    kept = _fake_env(_envs_dir, "kept", built=True, age_days=40)
    recent = _fake_env(_envs_dir, "recent", built=True, age_days=1)
    broken = _fake_env(_envs_dir, "broken", built=False)
    assert envs.prune(30, keep={"kept"}) == [broken, old]
    assert kept.is_dir() and recent.is_dir()
    assert envs.prune(None) == [kept, recent]
    assert envs.prune(None) == []


def test_image_env_and_prune_commands(pcompile: Runner, tmp_path: Path) -> None:
    fixture = str(FIXTURES / "local_envs_container_steps.py")
    shown = pcompile("image", "env", "--json", fixture)
    assert shown.returncode == 0, shown.stderr
    rows = {tuple(r["functions"]): r for r in json.loads(shown.stdout)}
    tools, plain = rows[("greet",)], rows[("where",)]
    assert tools["skipped"] == ["apt_install", "run_commands"] and plain["skipped"] == ["run_commands"]
    assert tools["env"] == {"GREETING": "hello from the image"} and tools["installs"] == [
        "uv_pip_install(termcolor)"
    ]
    envs_root = tmp_path / "pruned"
    _fake_env(envs_root, "stale", built=True, age_days=60)
    pruned = pcompile("image", "prune", PCOMPILE_ENVS_DIR=str(envs_root))
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.strip() == f"removed {envs_root / 'stale'}"


def test_image_env_overrides_ours_but_not_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from pcompile.providers.local.pool import WorkerSetup

    monkeypatch.setenv("SHARED", "caller")
    monkeypatch.delenv("TOKEN", raising=False)
    setup = WorkerSetup("python", env={"SHARED": "image", "TOKEN": "image", "NEW": "image"})
    merged = setup.environment({**os.environ, "TOKEN": "from a secret"})
    assert (merged["SHARED"], merged["TOKEN"], merged["NEW"]) == ("image", "from a secret", "image")


def test_key_is_the_images_not_the_installers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = image(("pip_install", {"packages": ["a==1"], "pre": True}))
    keys = {}
    for tool in ("pip", "uv"):
        monkeypatch.setenv("PCOMPILE_ENV_INSTALLER", tool)
        keys[tool] = envs.plan_image(spec, tmp_path)
    assert keys["pip"].key == keys["uv"].key and keys["pip"].installs[0].options == ("--pre",)
    built = keys["pip"].path  # as pip left it: a complete environment
    (built / "bin").mkdir(parents=True)
    (built / "bin" / "python").write_text("")
    (built / envs.META).write_text("{}")
    said: list[str] = []
    assert envs.ensure(keys["uv"], said.append) == built  # uv appeared: nothing is rebuilt
    assert said == [f"✓ Reusing environment for image im-test ({built})"]
