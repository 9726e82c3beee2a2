"""Local image environments: run each function in a Python environment built from its ``Image``.

Most Modal programs declare their dependencies only in the image
(``Image.debian_slim().uv_pip_install("scikit-learn~=1.5.0")``). ``pcompile run`` and
``pcompile serve`` honour that without a container engine: for each distinct image of
the app they create, once, a virtual environment holding

* the image's Python version when one is installed here (else the nearest, with a
  warning),
* the image's ``pip_install`` / ``uv_pip_install`` / ``pip_install_from_requirements`` /
  ``pip_install_from_pyproject`` packages, installed in the order they were chained,
* the pcompile runtime: a link (a meta-path finder in a ``.pth`` file) to the pcompile
  source the caller runs, plus the caller's exact cloudpickle version (arguments and
  results are pickled on one side and unpickled on the other).

Environments live under :func:`envs_root` (``$PCOMPILE_ENVS_DIR``, default
``~/.cache/pcompile/envs``), one folder per content hash (:attr:`EnvPlan.key`) of the
parts above, so every project and every run that needs the same packages shares one.
The image's ``env``, ``workdir`` and ``add_local_*`` steps are applied when workers
start (see :class:`~pcompile.providers.local.pool.WorkerSetup`), not stored in the
environment. Steps that need a container (``apt_install``, ``run_commands``, ...) are
skipped with one warning per image suggesting ``pcompile run --containers``.

uv builds the environment when it is installed (fast, with its shared download cache);
otherwise ``python -m venv`` and pip. Set ``PCOMPILE_ENV_INSTALLER=pip`` to force pip.
The installer is not part of the key: an environment pip built is reused once uv appears.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, ImageSpec, ImageStep

from .pool import WorkerSetup

FORMAT = "pcompile-local-env/1"  # bump when the layout or the build changes meaning
META = "pcompile-env.json"  # written last: an environment without it is incomplete
INSTALL_LOG = "install.log"  # every install command run in the environment, appended
LAST_USED = "last-used"  # touched on every use; `pcompile image prune` reads its mtime
LINK_MODULE = "_pcompile_link"
MIN_PYTHON = (3, 11)  # pcompile's runtime needs it

INSTALL_STEPS = (
    "pip_install",
    "uv_pip_install",
    "pip_install_from_requirements",
    "pip_install_from_pyproject",
)
# Steps whose effect needs a container; reported once per image, never fatal.
CONTAINER_STEPS = (
    "apt_install",
    "run_commands",
    "dockerfile_commands",
    "micromamba_install",
    "run_function",
    "uv_sync",
    "poetry_install_from_file",
    "pip_install_private_repos",
)
CONTAINER_BASES = (
    "from_registry",
    "from_dockerfile",
    "from_aws_ecr",
    "from_gcp_artifact_registry",
    "micromamba",
    "from_id",
    "from_name",
)
Say = Callable[[str], None]


def envs_root() -> Path:
    """Where environments live: ``$PCOMPILE_ENVS_DIR`` or ``$XDG_CACHE_HOME/pcompile/envs``."""
    configured = os.environ.get("PCOMPILE_ENVS_DIR")
    if configured:
        return Path(configured).resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "pcompile" / "envs"


def enabled_by_default() -> bool:
    """Image environments are on unless ``PCOMPILE_IMAGE_ENV=0`` (same as ``--no-image-env``)."""
    return os.environ.get("PCOMPILE_IMAGE_ENV", "1").strip().lower() not in ("0", "false", "no", "off")


# --------------------------------------------------------------------------- interpreters


@dataclass(frozen=True)
class Interpreter:
    """A Python found on this machine."""

    path: str
    version: tuple[int, int, int]

    @property
    def minor(self) -> str:
        """``"3.11"``."""
        return f"{self.version[0]}.{self.version[1]}"


def _probe(path: str) -> Interpreter | None:
    """The interpreter at ``path`` and its version, or None when it does not run."""
    code = "import sys; print(sys.executable); print(*sys.version_info[:3])"
    try:
        out = subprocess.run([path, "-c", code], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split("\n")
    if out.returncode != 0 or len(lines) < 2:
        return None
    major, minor, micro = (int(x) for x in lines[1].split())
    return Interpreter(lines[0].strip() or path, (major, minor, micro))


def caller_interpreter() -> Interpreter:
    """The Python running pcompile."""
    return Interpreter(sys.executable, (sys.version_info[0], sys.version_info[1], sys.version_info[2]))


def installed_interpreters() -> list[Interpreter]:
    """Pythons on PATH (``python3.N``) and under pyenv, the caller's first."""
    found: dict[tuple[int, int], Interpreter] = {}
    caller = caller_interpreter()
    found[caller.version[:2]] = caller
    paths: list[str] = []
    for minor in range(MIN_PYTHON[1], 20):
        located = shutil.which(f"python3.{minor}")
        if located:
            paths.append(located)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        paths += [
            str(p / "bin" / "python3") for p in sorted(pyenv.iterdir()) if (p / "bin" / "python3").exists()
        ]
    for path in paths:
        interp = _probe(path)
        if interp is not None and interp.version[:2] not in found:
            found[interp.version[:2]] = interp
    return list(found.values())


def choose_interpreter(
    requested: str | None, available: Callable[[], list[Interpreter]] = installed_interpreters
) -> tuple[Interpreter, str | None]:
    """The interpreter for an image asking for ``requested`` (``"3.12"``) and a warning, if any.

    The caller's Python when it matches (or nothing was asked); else an installed
    ``python3.N`` of that version; else the nearest usable one (at least 3.11).
    """
    caller = caller_interpreter()
    wanted = _parse_minor(requested)
    if wanted is None or wanted == caller.version[:2]:
        return caller, None
    candidates = [i for i in available() if i.version[:2] >= MIN_PYTHON]
    for interp in candidates:
        if interp.version[:2] == wanted:
            return interp, None
    nearest = min(
        candidates or [caller], key=lambda i: (abs(i.version[1] - wanted[1]), i.path != caller.path)
    )
    why = "pcompile's runtime needs 3.11 or newer" if wanted < MIN_PYTHON else "which is not installed here"
    return nearest, (
        f"the image asks for Python {requested}, {why}; "
        f"its local environment uses Python {nearest.minor} ({nearest.path})"
    )


def _parse_minor(text: str | None) -> tuple[int, int] | None:
    match = re.match(r"^\s*(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Install:
    """One install step: what to pass to ``pip install`` / ``uv pip install``."""

    step: str  # the Image method, for messages
    packages: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()  # absolute paths of requirements files
    options: tuple[str, ...] = ()  # --index-url and friends
    env: tuple[tuple[str, str], ...] = ()  # the step's own env=...

    def describe(self) -> str:
        """``pip_install(scikit-learn, numpy)`` for messages."""
        what = [*self.packages, *(f"-r {Path(r).name}" for r in self.requirements)]
        return f"{self.step}({', '.join(what)})"


@dataclass(frozen=True)
class EnvPlan:
    """What the environment of one image holds, and what its workers get at start."""

    image_id: str
    interpreter: Interpreter
    installs: tuple[Install, ...]
    runtime: tuple[str, ...]  # cloudpickle pin (and anything else the runtime needs)
    link: Mapping[str, str]  # pcompile package -> source folder, for the link finder
    key_parts: Mapping[str, Any]
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    mounts: Mapping[str, str] = field(default_factory=dict)  # remote dir -> local dir
    files: Mapping[str, str] = field(default_factory=dict)  # remote file -> local file
    python_paths: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # steps that need a container
    warnings: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Content hash of everything installed in the environment."""
        blob = json.dumps(self.key_parts, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def path(self) -> Path:
        """The environment's folder."""
        return envs_root() / self.key

    @property
    def python(self) -> Path:
        """The environment's interpreter."""
        return self.path / "bin" / "python"


def runtime_requirements(web_kinds: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """What the runtime needs in an environment: the caller's exact cloudpickle and, for
    ``pcompile serve`` of web functions, a server (unpinned: what the image has wins)."""
    extra: set[str] = set()
    if web_kinds:  # every web function is served by its front (pcompile.runtime.web)
        extra.add("uvicorn")
    if web_kinds & {"web_server", "server"}:
        extra.add("httpx")  # the front's proxy to the user's own server
    if "fastapi" in web_kinds:
        extra.add("fastapi")
    if "wsgi" in web_kinds:
        extra.add("a2wsgi")
    return (f"cloudpickle=={importlib.metadata.version('cloudpickle')}", *sorted(extra))


def pcompile_link() -> dict[str, str]:
    """pcompile's packages and the folders they are imported from in this process."""
    from pcompile.compiler.images import RUNTIME_PACKAGES

    link: dict[str, str] = {}
    for package in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise UserError(f"cannot locate pcompile package {package}", fix="reinstall pcompile")
        link[package] = str(Path(next(iter(spec.submodule_search_locations))).resolve())
    return link


def plan_image(
    image: ImageSpec,
    root: Path,
    *,
    interpreters: Callable[[], list[Interpreter]] = installed_interpreters,
    web_kinds: frozenset[str] = frozenset(),
) -> EnvPlan:
    """The environment plan of ``image`` (paths in its steps are relative to ``root``);
    ``web_kinds`` are the web kinds of its functions (their server is added)."""
    interpreter, py_warning = choose_interpreter(image.python_version, interpreters)
    warnings = [py_warning] if py_warning else []
    skipped: list[str] = []
    if image.base.kind in CONTAINER_BASES:
        skipped.append(image.base.kind)
    installs: list[Install] = []
    env: dict[str, str] = {}
    workdir: str | None = None
    mounts: dict[str, str] = {}
    files: dict[str, str] = {}
    python_paths: list[str] = []
    for step in image.steps:
        args = step.args
        if step.kind in INSTALL_STEPS:
            installs.append(_install(step, root))
        elif step.kind in CONTAINER_STEPS:
            skipped.append(step.kind)
        elif step.kind == "env":
            env.update({str(k): str(v) for k, v in (args.get("vars") or {}).items()})
        elif step.kind == "workdir":
            workdir = str(args.get("path") or "") or None
        elif step.kind == "add_local_dir":
            mounts[_remote(args.get("remote_path"), workdir)] = str(_local(root, args["local_path"]))
        elif step.kind == "add_local_file":
            local = _local(root, args["local_path"])
            remote = _remote(args.get("remote_path"), workdir)
            files[remote + local.name if remote.endswith("/") else remote] = str(local)
        elif step.kind == "add_local_python_source":
            python_paths += _source_paths(args.get("modules") or [])
    link = pcompile_link()
    runtime = runtime_requirements(web_kinds)
    key_parts = {
        "format": FORMAT,
        "pcompile": _pcompile_version(),
        "link": link,
        "python": list(interpreter.version),
        "interpreter": os.path.realpath(interpreter.path),
        "runtime": list(runtime),
        "installs": [_install_key(i) for i in installs],
    }
    return EnvPlan(
        image_id=image.id,
        interpreter=interpreter,
        installs=tuple(installs),
        runtime=runtime,
        link=link,
        key_parts=key_parts,
        env=env,
        workdir=workdir,
        mounts=mounts,
        files=files,
        python_paths=tuple(dict.fromkeys(python_paths)),
        skipped=tuple(dict.fromkeys(skipped)),
        warnings=tuple(warnings),
    )


def _pcompile_version() -> str:
    from pcompile import __version__

    return str(__version__)


def _local(root: Path, path: Any) -> Path:
    return (root / str(path)).resolve()


def _remote(path: Any, workdir: str | None) -> str:
    text = str(path or ".")
    if text.startswith("/"):
        return text
    base = workdir or "/root"
    joined = os.path.normpath(os.path.join(base, text))
    return joined + "/" if text.endswith("/") else joined


def _source_paths(modules: list[str]) -> list[str]:
    """The folders to put on workers' ``sys.path`` so ``modules`` import there as here."""
    paths = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        folder = Path(spec.origin).resolve().parent
        depth = name.count(".") + (1 if spec.submodule_search_locations else 0)
        for _ in range(depth):
            folder = folder.parent
        paths.append(str(folder))
    return paths


def _options(args: Mapping[str, Any]) -> list[str]:
    opts: list[str] = []
    for flag in ("find_links", "index_url", "extra_index_url"):
        if args.get(flag):
            opts += [f"--{flag.replace('_', '-')}", str(args[flag])]
    if args.get("pre"):
        opts.append("--pre")  # pip's spelling; uv's is put in at install time
    extra = str(args.get("extra_options") or "").strip()
    return opts + (extra.split() if extra else [])


def _install(step: ImageStep, root: Path) -> Install:
    args = step.args
    packages = [str(p) for p in args.get("packages") or []]
    requirements: list[str] = []
    if step.kind == "uv_pip_install":
        requirements = [str(_local(root, r)) for r in args.get("requirements") or []]
    elif step.kind == "pip_install_from_requirements":
        path = _local(root, args["requirements_txt"])
        if not path.is_file():
            raise UserError(f"pip_install_from_requirements: {args['requirements_txt']} is not a file")
        requirements = [str(path)]
    elif step.kind == "pip_install_from_pyproject":
        packages = _pyproject_dependencies(_local(root, args["pyproject_toml"]), args)
    env = tuple(sorted((str(k), str(v)) for k, v in (args.get("env") or {}).items()))
    return Install(step.kind, tuple(packages), tuple(requirements), tuple(_options(args)), env)


def _pyproject_dependencies(path: Path, args: Mapping[str, Any]) -> list[str]:
    try:
        project = tomllib.loads(path.read_text()).get("project", {})
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UserError(f"pip_install_from_pyproject: cannot read {path}: {err}") from None
    packages = list(project.get("dependencies") or [])
    optional = project.get("optional-dependencies") or {}
    for group in args.get("optional_dependencies") or []:
        packages.extend(optional.get(group) or [])
    return [str(p) for p in packages]


def _install_key(install: Install) -> dict[str, Any]:
    """An install step as hashed: requirements files by content, not by path."""
    return {
        "step": install.step,
        "packages": list(install.packages),
        "requirements": [hashlib.sha256(Path(r).read_bytes()).hexdigest() for r in install.requirements],
        "options": list(install.options),
        "env": [list(kv) for kv in install.env],
    }


def container_warning(plan: EnvPlan) -> str | None:
    """The one warning for an image with steps that need a container, or None."""
    if not plan.skipped:
        return None
    return (
        f"image {plan.image_id}: {', '.join(plan.skipped)} cannot be reproduced without a container; "
        "skipped in its local environment (use `pcompile run --containers` to run in the real image)"
    )


# --------------------------------------------------------------------------- building


def installer() -> str:
    """``uv`` when it is installed (unless ``PCOMPILE_ENV_INSTALLER=pip``), else ``pip``."""
    forced = os.environ.get("PCOMPILE_ENV_INSTALLER", "").strip().lower()
    if forced in ("uv", "pip"):
        return forced
    return "uv" if shutil.which("uv") else "pip"


def _say_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (two runs building the same environment wait for each other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_built(path: Path) -> bool:
    """Whether ``path`` holds a complete environment."""
    return (path / META).is_file() and (path / "bin" / "python").exists()


def ensure(plan: EnvPlan, say: Say = _say_stderr) -> Path:
    """The environment of ``plan``: reused when built, else built now (UserError on failure)."""
    path = plan.path
    with _locked(path.parent / f"{path.name}.lock"):
        if is_built(path):
            say(f"✓ Reusing environment for image {plan.image_id} ({path})")
        else:
            _build(plan, path, say)
    (path / LAST_USED).touch()
    return path


def _build(plan: EnvPlan, path: Path, say: Say) -> None:
    if path.exists():
        shutil.rmtree(path)  # an interrupted build
    tool = installer()
    say(f"• Building environment for image {plan.image_id} with {tool} (Python {plan.interpreter.minor})")
    with _status(f"Building environment for image {plan.image_id}") as status:
        try:
            _create(plan, path, tool)
            for install in plan.installs:
                status(install.describe())
                say(f"  installing {install.describe()}")
                _run_install(path, tool, install)
            status("pcompile runtime")
            _run_install(path, tool, Install("pcompile runtime", plan.runtime))
            _write_link(path, plan)
            _write_meta(path, plan, tool)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
    say(f"✓ Built environment for image {plan.image_id} ({path})")


@contextlib.contextmanager
def _status(title: str) -> Iterator[Callable[[str], None]]:
    """A rich spinner on a terminal; nothing otherwise. Yields a function to update it."""
    if not sys.stderr.isatty():
        yield lambda _text: None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(title) as status:
        yield lambda text: status.update(f"{title}: {text}")


def _create(plan: EnvPlan, path: Path, tool: str) -> None:
    if tool == "uv":
        cmd = ["uv", "venv", "--quiet", "--no-python-downloads", "--python", plan.interpreter.path, str(path)]
    else:
        cmd = [plan.interpreter.path, "-m", "venv", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise UserError(
            f"could not create the environment for image {plan.image_id}: {_reason(out.stderr or out.stdout)}",
            fix="pass --no-image-env to run in this environment instead",
        )


def _run_install(path: Path, tool: str, install: Install) -> None:
    python = str(path / "bin" / "python")
    options = ["--prerelease=allow" if o == "--pre" and tool == "uv" else o for o in install.options]
    args = [*install.packages, *(x for r in install.requirements for x in ("-r", r)), *options]
    if not args:
        return
    if tool == "uv":
        # bytecode now: workers often run with PYTHONDONTWRITEBYTECODE and would recompile
        # every module of numpy/scipy on each start
        cmd = ["uv", "pip", "install", "--compile-bytecode", "--python", python, *args]
    else:
        cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", *args]
    with open(path / INSTALL_LOG, "a") as log:
        log.write(" ".join(cmd) + "\n")
    env = {**os.environ, **dict(install.env)}
    env.pop("VIRTUAL_ENV", None)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise UserError(
            f"{install.describe()} failed in the local environment: {_reason(out.stderr or out.stdout)}",
            fix="fix the package name or version in the image, or pass --no-image-env "
            "to run in this environment instead",
        )


def _reason(text: str) -> str:
    """The part of pip's / uv's output that says why (its error lines), short."""
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    marked = [ln for ln in lines if re.search(r"error|×|╰─▶|not found|no matching|because", ln, re.I)]
    chosen = marked or lines[-5:]
    return "\n".join(chosen[-8:]) or "no output"


def _site_packages(path: Path) -> Path:
    found = sorted(path.glob("lib/python*/site-packages"))
    if not found:
        raise UserError(f"the environment at {path} has no site-packages folder")
    return found[0]


_LINK_SOURCE = '''"""pcompile's link: import pcompile from {origin!r} (written by pcompile)."""
import importlib.util
import os
import sys

MAPPING = {mapping!r}


class _PcompileFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        folder = MAPPING.get(fullname)
        if folder is None:
            return None
        init = os.path.join(folder, "__init__.py")
        return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[folder])


if _PcompileFinder not in sys.meta_path:
    sys.meta_path.insert(0, _PcompileFinder)
'''


def _write_link(path: Path, plan: EnvPlan) -> None:
    """Make pcompile importable in the environment, from the caller's own source."""
    site = _site_packages(path)
    mapping = dict(sorted(plan.link.items()))
    text = _LINK_SOURCE.format(origin=mapping.get("pcompile", ""), mapping=mapping)
    (site / f"{LINK_MODULE}.py").write_text(text)
    (site / f"{LINK_MODULE}.pth").write_text(f"import {LINK_MODULE}\n")


def _freeze(path: Path, tool: str) -> list[str]:
    python = str(path / "bin" / "python")
    cmd = ["uv", "pip", "freeze", "--python", python] if tool == "uv" else [python, "-m", "pip", "freeze"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return sorted(ln.strip() for ln in out.stdout.splitlines() if ln.strip())


def _write_meta(path: Path, plan: EnvPlan, tool: str) -> None:
    meta = {
        "format": FORMAT,
        "image": plan.image_id,
        "key": plan.key,
        "installer": tool,
        "python": plan.interpreter.minor,
        "interpreter": plan.interpreter.path,
        "installs": [i.describe() for i in plan.installs],
        "packages": _freeze(path, tool),
        "spec": plan.key_parts,
    }
    (path / META).write_text(json.dumps(meta, sort_keys=True, indent=2) + "\n")


def read_meta(path: Path) -> dict[str, Any]:
    """The metadata of a built environment ({} when it is incomplete)."""
    try:
        data = json.loads((path / META).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- running


class ImageEnvs:
    """The built environments of one app, as the pool asks for them (one per image)."""

    def __init__(self, plans: Mapping[str, EnvPlan], root: Path | None = None) -> None:
        self.plans = dict(plans)
        self.root = root

    def worker_setup(self, functions: list[dict[str, Any]]) -> WorkerSetup | None:
        """How to start a worker for ``functions`` (they share one image)."""
        plan = self.plans.get(str(functions[0].get("image") or ""))
        if plan is None:
            return None
        # which image this worker runs: `Image.imports()` blocks of other images in the same
        # module are then ignored here, as in Modal's containers (see pcompile._image)
        env = {**plan.env, "PCOMPILE_IMAGE_ID": plan.image_id}
        if self.root is not None:
            env["PCOMPILE_PROJECT_ROOT"] = str(self.root)
        if plan.python_paths:
            env["PYTHONPATH"] = os.pathsep.join(
                [*plan.python_paths, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        # Workers keep the caller's working directory even with a `workdir` step: a local
        # program opens its files relative to where it is run (workdir only places the
        # relative remote paths of add_local_*).
        return WorkerSetup(python=str(plan.python), env=env, mounts=dict(plan.mounts))


def app_images(app: AppSpec) -> list[ImageSpec]:
    """The images used by the app's functions, in id order."""
    used = {f.image for f in app.functions}
    return sorted((i for i in app.images if i.id in used), key=lambda i: i.id)


def plan_app(app: AppSpec, root: Path) -> dict[str, EnvPlan]:
    """An environment plan per image of ``app``."""
    web: dict[str, set[str]] = {}
    for function in app.functions:
        if function.web is not None:
            web.setdefault(function.image, set()).add(function.web.kind)
    return {
        image.id: plan_image(image, root, web_kinds=frozenset(web.get(image.id, ())))
        for image in app_images(app)
    }


def prepare(app: AppSpec, root: Path, say: Say = _say_stderr) -> ImageEnvs:
    """Build (or reuse) every environment of ``app`` before anything runs; warn once per image."""
    plans = plan_app(app, root)
    for plan in plans.values():
        for warning in plan.warnings:
            say(f"! image {plan.image_id}: {warning}")
        container = container_warning(plan)
        if container:
            say(f"! {container}")
        _link_files(plan, say)
        ensure(plan, say)
    return ImageEnvs(plans, root)


def _link_files(plan: EnvPlan, say: Say) -> None:
    """``add_local_file``: a symlink at the remote path when it can be made, else a warning."""
    for remote, local in sorted(plan.files.items()):
        if os.path.islink(remote) and os.path.realpath(remote) == os.path.realpath(local):
            continue
        parent = os.path.dirname(remote) or "/"
        try:
            if os.path.lexists(remote) or not os.access(parent, os.W_OK):
                raise OSError("exists or not writable")
            os.symlink(local, remote)
        except OSError:
            say(
                f"! image {plan.image_id}: add_local_file could not place {local} at {remote}; "
                "functions should open it at its local path"
            )


@contextlib.contextmanager
def activated(app: AppSpec, root: Path, say: Say = _say_stderr) -> Iterator[ImageEnvs]:
    """Build the app's environments and make local worker pools start in them for the block."""
    from . import pool

    envs = prepare(app, root, say)
    previous = pool.image_env_hook
    pool.image_env_hook = envs.worker_setup
    try:
        yield envs
    finally:
        pool.image_env_hook = previous


# --------------------------------------------------------------------------- listing, pruning


def describe(app: AppSpec, root: Path) -> list[dict[str, Any]]:
    """Where each image's environment lives and what it holds (built or not), for ``image env``."""
    rows = []
    for image_id, plan in sorted(plan_app(app, root).items()):
        meta = read_meta(plan.path)
        rows.append(
            {
                "image": image_id,
                "functions": sorted(f.name for f in app.functions if f.image == image_id),
                "path": str(plan.path),
                "built": bool(meta),
                "python": plan.interpreter.minor,
                "installs": [i.describe() for i in plan.installs],
                "packages": meta.get("packages", []),
                "env": dict(sorted(plan.env.items())),
                "workdir": plan.workdir,
                "mounts": dict(sorted({**plan.mounts, **plan.files}.items())),
                "skipped": list(plan.skipped),
                "warnings": list(plan.warnings),
            }
        )
    return rows


def prune(older_than_days: float | None = 30.0, keep: set[str] | None = None) -> list[Path]:
    """Remove environments unused for ``older_than_days`` (None: all), incomplete ones, and
    leftover lock files; ``keep`` holds keys never removed. Returns what was removed."""
    root = envs_root()
    if not root.is_dir():
        return []
    removed: list[Path] = []
    now = time.time()
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        if keep and path.name in keep:
            continue
        lock = root / f"{path.name}.lock"
        with _locked(lock):
            if is_built(path) and older_than_days is not None:
                marker = path / LAST_USED
                used = marker.stat().st_mtime if marker.exists() else (path / META).stat().st_mtime
                if now - used < older_than_days * 86400:
                    continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        lock.unlink(missing_ok=True)
    return removed
