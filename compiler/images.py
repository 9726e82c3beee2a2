"""Runtime images: an IR :class:`~pcompile.compiler.ir.ImageSpec` as a Dockerfile,
a build context and a content-addressed tag.

``render_image(image, root=...)`` is pure local work: it reads the files the build
needs (requirements files, ``add_local_*(copy=True)`` sources, pcompile's own
package source) and returns an :class:`ImageBuild`. Nothing is built here; builders
live in :mod:`pcompile.providers.builders`.

Determinism: packages are sorted within a step, steps keep the user's order, the
Dockerfile carries no timestamps or host paths, and the tag hashes the Dockerfile
text, the sha256 of every context file, the build args, pcompile's version and
:data:`BUILDER_VERSION`. The user's code is not in the image (it travels in the code
bundle, :mod:`pcompile.compiler.bundle`) unless the stack sets ``bake_code``, so a
code-only change never changes a tag. The base-image mirror is applied when the
context is written, after hashing: the same image has one tag behind any mirror.

Each Modal ``Image`` method has one renderer in :data:`STEP_RENDERERS` (steps) or
:data:`BASE_RENDERERS` (bases); an unknown kind is a :class:`UserError`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import re
import shlex
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from pcompile.compiler import bundle
from pcompile.compiler.bundle import Content
from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, ImageSpec, ImageStep

# Bump when the rendering changes meaning, so old tags are not reused for new builds.
BUILDER_VERSION = "pcompile-image/1"
CTX = "_pcompile"  # our files inside the build context, apart from the user's
RUNTIME_LIB = "/opt/pcompile/lib"  # pcompile's package source in the image
CODE_DIR = "/root"  # where baked code goes and what is on sys.path, as in Modal
MICROMAMBA_IMAGE = "mambaorg/micromamba:1.5.10"
UV_VERSION = "0.5.11"
PIP = "python -m pip install --no-cache-dir"

# pcompile packages copied into every image; a test keeps this equal to pyproject's list.
RUNTIME_PACKAGES: tuple[str, ...] = (
    "pcompile",
    "pcompile.cli",
    "pcompile.compiler",
    "pcompile.providers",
    "pcompile.providers.aws",
    "pcompile.providers.gcp",
    "pcompile.providers.local",
    "pcompile.providers.simulate",
    "pcompile.runtime",
)
PACKAGE_FILE_SUFFIXES = (".py", ".pyi", ".j2", ".csv", ".json", ".yaml", ".typed")

# Distributions the runtime needs per cloud, beyond the pinned cloudpickle. Version
# specifiers come from pcompile's own metadata, so pyproject stays the one source.
RUNTIME_EXTRAS: dict[str, tuple[str, ...]] = {
    "local": (),
    # ECS web services serve the front with uvicorn; a web_server's front proxies with httpx
    "aws": ("boto3", "httpx", "uvicorn"),
    # the http mode serves with uvicorn; a web_server's front proxies with httpx; Dicts and
    # Queues are Firestore (providers/gcp/kv.py)
    "gcp": ("fastapi", "google-cloud-firestore", "google-cloud-storage", "httpx", "uvicorn"),
}


@dataclass(frozen=True)
class RenderOptions:
    """How to render: which cloud's runtime extras, and where wheels come from.

    ``wheelhouse`` (a folder of wheels on this machine) makes every pcompile runtime
    install offline (``--no-index --find-links``), for builders without PyPI access.
    ``bake_code`` copies the app's code bundle into the image (the stack setting).
    ``extra_requirements`` are more runtime requirement lines (another cloud's extras).
    """

    cloud: str = "local"
    bake_code: bool = False
    wheelhouse: Path | None = None
    extra_requirements: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderedStep:
    """One chained step as Dockerfile lines."""

    kind: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class ImageBuild:
    """Everything a builder needs, and the tag it will carry.

    ``files`` maps build-context paths to local files or bytes; ``secrets`` are the
    names of the secrets build steps mount (``--secret id=<secret_id(name)>``).
    """

    image_id: str
    dockerfile: str
    files: dict[str, Content]
    build_args: dict[str, str]
    secrets: tuple[str, ...]
    tag: str

    def to_json(self) -> dict[str, Any]:
        """``{"tag", "dockerfile"}`` as ``pcompile image dockerfile --json`` prints it."""
        return {"tag": self.tag, "dockerfile": self.dockerfile}

    def write_context(self, dest: Path, mirror: str | Mapping[str, str] | None = None) -> Path:
        """Write the Dockerfile and context files into ``dest``; returns the Dockerfile path."""
        dest.mkdir(parents=True, exist_ok=True)
        for rel, content in sorted(self.files.items()):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content if isinstance(content, bytes) else content.read_bytes())
        dockerfile = dest / f"{CTX}.Dockerfile"
        dockerfile.write_text(apply_mirror(self.dockerfile, mirror))
        return dockerfile


@dataclass
class _Context:
    """What renderers add while walking the steps (files, build args, secrets)."""

    root: Path
    options: RenderOptions
    files: dict[str, Content] = field(default_factory=dict)
    build_args: dict[str, str] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)

    def add_file(self, rel: str, content: Content) -> str:
        """Put ``content`` in the context at ``rel``; returns ``rel``."""
        self.files[rel] = content
        return rel

    def add_tree(self, prefix: str, files: Mapping[str, Content]) -> str:
        """Put many files under ``prefix``; returns ``prefix``."""
        for rel, content in files.items():
            self.files[f"{prefix}/{rel}"] = content
        return prefix

    def local(self, value: str) -> Path:
        """A user path from the IR (relative to the project root, or absolute)."""
        path = Path(value)
        return path if path.is_absolute() else self.root / path


# ===================================================================== entry points


def render_image(
    image: ImageSpec,
    *,
    root: Path,
    options: RenderOptions | None = None,
    app: AppSpec | None = None,
) -> ImageBuild:
    """The Dockerfile, context and tag of ``image`` for the project at ``root``.

    ``app`` is needed only with ``options.bake_code`` (its code bundle goes in).
    """
    ctx = _Context(root=root, options=options or RenderOptions())
    base_lines = BASE_RENDERERS.get(image.base.kind, _unknown_base)(image.base, ctx)
    runtime_lines = _runtime_lines(ctx)
    steps = [RenderedStep(s.kind, tuple(_render_step(s, ctx))) for s in image.steps]
    final_lines = _final_lines(ctx, app)
    dockerfile = _template().render(
        image_id=image.id,
        builder_version=BUILDER_VERSION,
        runtime_version=pcompile_version(),
        base_lines=base_lines,
        runtime_lines=runtime_lines,
        steps=steps,
        final_lines=final_lines,
    )
    tag = content_tag(dockerfile, ctx.files, ctx.build_args)
    return ImageBuild(
        image.id, dockerfile, dict(sorted(ctx.files.items())), ctx.build_args, tuple(sorted(ctx.secrets)), tag
    )


def content_tag(dockerfile: str, files: Mapping[str, Content], build_args: Mapping[str, str]) -> str:
    """``pc-<32 hex>``: a hash of everything that decides the image's content."""
    manifest = {
        "builder": BUILDER_VERSION,
        "pcompile": pcompile_version(),
        "dockerfile": dockerfile,
        "files": {rel: bundle.sha256_of(content) for rel, content in sorted(files.items())},
        "build_args": dict(sorted(build_args.items())),
    }
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    return f"pc-{digest[:32]}"


def image_ref(registry: str | None, app: str, tag: str) -> str:
    """``<registry>/<app>:<tag>``, or ``localhost/pcompile/<app>:<tag>`` with no registry.

    The app name is slugged as the AWS provider names its ECR repository (lower case,
    ``[a-z0-9-]``), since registries refuse upper-case repository names.
    """
    name = re.sub(r"[^a-z0-9]+", "-", app.lower()).strip("-") or "app"
    repo = f"{registry.rstrip('/')}/{name}" if registry else f"localhost/pcompile/{name}"
    return f"{repo}:{tag}"


def function_image(app: AppSpec, function: str | None) -> ImageSpec:
    """The image of ``function`` (or of the app's only image when None)."""
    if function is not None:
        try:
            return app.image(app.function(function).image)
        except KeyError as err:
            raise UserError(str(err.args[0]), fix="pass --function with one of the names listed") from None
    if len(app.images) == 1:
        return app.images[0]
    names = sorted(f.name for f in app.functions)
    raise UserError(
        f"app {app.name!r} has {len(app.images)} images; choose a function",
        fix=f"pass --function NAME (one of {names})",
    )


# ===================================================================== shared pieces


def pcompile_version() -> str:
    """pcompile's version, as the image's runtime version."""
    from pcompile import __version__

    return str(__version__)


def pinned_requirement(distribution: str) -> str:
    """pcompile's own requirement line for ``distribution`` (``cloudpickle==3.1.1``)."""
    for line in importlib.metadata.requires("pcompile") or []:
        spec = line.split(";")[0].strip()
        if ";" not in line and _dist_name(spec) == _normalise(distribution):
            return spec
    raise RuntimeError(f"pcompile's metadata has no requirement on {distribution}; reinstall pcompile")


def _dist_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", spec)
    return _normalise(match.group(0)) if match else ""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(cloud: str) -> tuple[str, ...]:
    """What every image of ``cloud`` pip-installs for the runtime, sorted."""
    extras = RUNTIME_EXTRAS.get(cloud, ())
    return tuple(sorted(pinned_requirement(d) for d in ("cloudpickle", *extras)))


def runtime_source_files() -> dict[str, bytes]:
    """pcompile's package source laid out as installed (``pcompile/runtime/...``).

    Read once per process: the image then holds exactly the code this process runs,
    and its content cannot drift from the tag if files change while building.
    """
    return dict(_runtime_snapshot())


@functools.lru_cache(maxsize=1)
def _runtime_snapshot() -> tuple[tuple[str, bytes], ...]:
    files: list[tuple[str, bytes]] = []
    for package in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"cannot locate pcompile package {package}; reinstall pcompile")
        folder = Path(next(iter(spec.submodule_search_locations)))
        prefix = package.replace(".", "/")
        for child in sorted(folder.iterdir()):
            if child.is_file() and child.suffix in PACKAGE_FILE_SUFFIXES:
                files.append((f"{prefix}/{child.name}", child.read_bytes()))
    return tuple(files)


def secret_id(name: str) -> str:
    """The BuildKit/podman secret id of a pcompile secret name."""
    return "pcompile-" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def secret_env_text(values: Mapping[str, str]) -> str:
    """A secret's mounted file: ``KEY='value'`` lines a shell sources with ``set -a``."""
    return "".join(f"{key}={shlex.quote(values[key])}\n" for key in sorted(values))


def apply_mirror(dockerfile: str, mirror: str | Mapping[str, str] | None) -> str:
    """Rewrite base images behind a mirror: a prefix for Docker Hub images
    (``python:3.11-slim`` -> ``<mirror>/python:3.11-slim``) or an exact mapping."""
    if not mirror:
        return dockerfile
    stages: set[str] = set()
    out = []
    for line in dockerfile.splitlines(keepends=True):
        out.append(_mirror_line(line, mirror, stages))
    return "".join(out)


def _mirror_line(line: str, mirror: str | Mapping[str, str], stages: set[str]) -> str:
    from_match = re.match(r"(?i)^(FROM\s+(?:--\S+\s+)*)(\S+)(.*)$", line.rstrip("\n"))
    copy_match = re.match(r"(?i)^(COPY\s+(?:--\S+\s+)*?--from=)(\S+)(.*)$", line.rstrip("\n"))
    match = from_match or copy_match
    if not match or match.group(2) in stages:
        return line
    if from_match:
        alias = re.search(r"(?i)\sAS\s+(\S+)", match.group(3))
        if alias:
            stages.add(alias.group(1))
    ref = _mirrored(match.group(2), mirror)
    return f"{match.group(1)}{ref}{match.group(3)}" + ("\n" if line.endswith("\n") else "")


def _mirrored(ref: str, mirror: str | Mapping[str, str]) -> str:
    if not isinstance(mirror, str):
        return mirror.get(ref, ref)
    first = ref.split("/")[0]
    has_registry = "/" in ref and ("." in first or ":" in first or first == "localhost")
    if has_registry or ref == "scratch" or "$" in ref:
        return ref
    return f"{mirror.rstrip('/')}/{ref}"


def _template() -> jinja2.Template:
    # The template ships inside the runtime package (runtime_image/), next to its entry point.
    text = importlib.resources.files("pcompile.runtime").joinpath("Dockerfile.j2").read_text()
    return jinja2.Environment(keep_trailing_newline=True, autoescape=False).from_string(text)


# ===================================================================== bases


def _debian_slim(step: ImageStep, ctx: _Context) -> list[str]:
    version = step.args.get("python_version") or local_python_minor()
    return [f"FROM python:{version}-slim"]


def local_python_minor() -> str:
    """This interpreter's ``major.minor``: the default image Python, as in Modal."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _from_registry(step: ImageStep, ctx: _Context) -> list[str]:
    lines = [f"FROM {step.args['tag']}"]
    lines.extend(step.args.get("setup_dockerfile_commands") or [])
    if step.args.get("add_python"):
        lines.extend(_add_python(str(step.args["add_python"])))
    return lines


def _add_python(version: str) -> list[str]:
    # The official slim image's interpreter, copied whole: no download during the build.
    return [f"COPY --from=python:{version}-slim /usr/local /usr/local", "RUN ldconfig || true"]


def _from_dockerfile(step: ImageStep, ctx: _Context) -> list[str]:
    path = ctx.local(str(step.args["path"]))
    if not path.is_file():
        raise UserError(f"Image.from_dockerfile: {step.args['path']} is not a file")
    context_dir = step.args.get("context_dir")
    if context_dir:
        ctx.files.update(bundle.walk_files(ctx.local(str(context_dir))))
    ctx.build_args.update({str(k): str(v) for k, v in (step.args.get("build_args") or {}).items()})
    lines = path.read_text().rstrip("\n").splitlines()
    if step.args.get("add_python"):
        lines.extend(_add_python(str(step.args["add_python"])))
    return lines


def _micromamba(step: ImageStep, ctx: _Context) -> list[str]:
    version = step.args.get("python_version") or local_python_minor()
    return [
        f"FROM {MICROMAMBA_IMAGE}",
        "USER root",
        f"RUN micromamba install -y -n base -c conda-forge python={version} pip && micromamba clean -a -y",
        "ENV PATH=/opt/conda/bin:$PATH",
    ]


def _from_scratch(step: ImageStep, ctx: _Context) -> list[str]:
    raise UserError(
        "Image.from_scratch has no Python, and every pcompile image runs the Python runtime",
        fix="start from Image.debian_slim() or Image.from_registry(..., add_python='3.11')",
    )


def _modal_hosted(step: ImageStep, ctx: _Context) -> list[str]:
    raise UserError(
        f"Image.{step.kind} refers to an image stored by Modal, which pcompile cannot reach",
        fix="rebuild it from its definition, or push it to your registry and use Image.from_registry",
    )


def _unknown_base(step: ImageStep, ctx: _Context) -> list[str]:
    raise UserError(f"unsupported image base {step.kind!r}; supported: {sorted(BASE_RENDERERS)}")


BASE_RENDERERS: dict[str, Callable[[ImageStep, _Context], list[str]]] = {
    "debian_slim": _debian_slim,
    "from_registry": _from_registry,
    "from_aws_ecr": _from_registry,
    "from_gcp_artifact_registry": _from_registry,
    "from_dockerfile": _from_dockerfile,
    "micromamba": _micromamba,
    "from_scratch": _from_scratch,
    "from_name": _modal_hosted,
    "from_id": _modal_hosted,
}


# ===================================================================== runtime layer


def _runtime_lines(ctx: _Context) -> list[str]:
    ctx.add_tree(f"{CTX}/runtime", runtime_source_files())
    requirements = sorted({*runtime_requirements(ctx.options.cloud), *ctx.options.extra_requirements})
    install = f"{PIP} {shlex.join(requirements)}"
    mount = ""
    if ctx.options.wheelhouse is not None:
        wheels = bundle.walk_files(ctx.options.wheelhouse)
        ctx.add_tree(f"{CTX}/wheels", {k: v for k, v in wheels.items() if k.endswith(".whl")})
        mount = f"--mount=type=bind,source={CTX}/wheels,target=/tmp/pcompile-wheels "
        install = f"{PIP} --no-index --find-links /tmp/pcompile-wheels {shlex.join(requirements)}"
    pth = (
        "import sysconfig; "
        'open(sysconfig.get_paths()["purelib"] + "/pcompile-runtime.pth", "w")'
        f'.write("{RUNTIME_LIB}\\n{CODE_DIR}\\n")'
    )
    return [
        f"COPY {CTX}/runtime {RUNTIME_LIB}",
        f"RUN {mount}{install} && python -c {shlex.quote(pth)}",
        "ENV PYTHONUNBUFFERED=1 PCOMPILE_IMAGE=1",
        # A base image's ENTRYPOINT (from_registry, from_dockerfile) would run in front of the
        # runtime's command on AWS Batch, which cannot override it. A user's own
        # ``.entrypoint([...])`` step comes later and wraps the runtime, as on Modal.
        "ENTRYPOINT []",
    ]


def _final_lines(ctx: _Context, app: AppSpec | None) -> list[str]:
    pin = pinned_requirement("cloudpickle").split("==")[-1]
    check = (
        "import cloudpickle, sys; v = cloudpickle.__version__; "
        f'sys.exit(0 if v == "{pin}" else "a build step replaced cloudpickle {pin} with " + v)'
    )
    lines = [f"RUN python -c {shlex.quote(check)}"]
    if ctx.options.bake_code:
        if app is None:
            raise RuntimeError("bake_code needs the app whose code is baked in")
        entries, mounts = bundle.bundle_entries(app, ctx.root)
        ctx.add_tree(f"{CTX}/bundle", {k: v for k, v in entries.items()})
        lines.append(f"COPY {CTX}/bundle/code {CODE_DIR}")
        for remote, folder in sorted(mounts.items()):
            lines.append(f"COPY {CTX}/bundle/{folder} {remote}")
    return lines


# ===================================================================== steps


def _render_step(step: ImageStep, ctx: _Context) -> list[str]:
    renderer = STEP_RENDERERS.get(step.kind)
    if renderer is None:
        raise UserError(f"unsupported Image method {step.kind!r}; supported: {sorted(STEP_RENDERERS)}")
    return renderer(step.args, ctx)


def _run(command: str, args: Mapping[str, Any], ctx: _Context, mounts: Iterable[str] = ()) -> str:
    """A RUN line with the step's own ``env`` and ``secrets`` (mounted, never in a layer)."""
    flags = list(mounts)
    prefix = []
    for name in args.get("secrets") or []:
        ctx.secrets.add(name)
        sid = secret_id(name)
        flags.append(f"--mount=type=secret,id={sid}")
        prefix.append(f"set -a && . /run/secrets/{sid} && set +a")
    env = args.get("env") or {}
    if env:
        prefix.append("export " + " ".join(f"{k}={shlex.quote(str(env[k]))}" for k in sorted(env)))
    body = " && ".join([*prefix, command]) if prefix else command
    gpu = (
        f"# gpu={args['gpu']} is not available at build time; this step runs on the build machine\n"
        if args.get("gpu")
        else ""
    )
    return gpu + "RUN " + "".join(f"{f} " for f in flags) + body


def _pip_options(args: Mapping[str, Any]) -> list[str]:
    opts: list[str] = []
    for flag in ("find_links", "index_url", "extra_index_url"):
        if args.get(flag):
            opts += [f"--{flag.replace('_', '-')}", str(args[flag])]
    if args.get("pre"):
        opts.append("--pre")
    return opts


def _extra(args: Mapping[str, Any]) -> str:
    extra = str(args.get("extra_options") or "").strip()
    return f" {extra}" if extra else ""


def _pip_install(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    packages = sorted(args.get("packages") or [])
    if not packages:
        return ["# pip_install: no packages"]
    return [_run(f"{PIP} {shlex.join([*packages, *_pip_options(args)])}{_extra(args)}", args, ctx)]


def _uv_pip_install(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    uv = f"uv=={args.get('uv_version') or UV_VERSION}"
    install = ["uv", "pip", "install", "--system", "--compile-bytecode"]
    reqs = []
    for req in args.get("requirements") or []:
        # Named by content: two steps' different files must not share one context path.
        path = ctx.local(req)
        if not path.is_file():
            raise UserError(f"uv_pip_install: requirements file {req} is not a file")
        rel = ctx.add_file(f"{CTX}/files/uv-requirements-{bundle.sha256_of(path)[:16]}.txt", path)
        reqs += ["-r", f"/tmp/pcompile-files/{Path(rel).name}"]
    packages = sorted(args.get("packages") or [])
    command = f"{PIP} {shlex.quote(uv)} && {shlex.join([*install, *packages, *reqs, *_pip_options(args)])}{_extra(args)}"
    mounts = [f"--mount=type=bind,source={CTX}/files,target=/tmp/pcompile-files"] if reqs else []
    return [_run(command, args, ctx, mounts)]


def _uv_sync(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    project = ctx.local(str(args.get("uv_project_dir") or "."))
    for name in ("pyproject.toml", "uv.lock"):
        if (project / name).is_file():
            ctx.add_file(f"{CTX}/uv/{name}", project / name)
    flags = ["--no-install-project"] + (["--frozen"] if args.get("frozen", True) else [])
    for name, opt in (("groups", "--group"), ("extras", "--extra")):
        for value in sorted(args.get(name) or []):
            flags += [opt, value]
    uv = f"uv=={args.get('uv_version') or UV_VERSION}"
    command = (
        f"{PIP} {shlex.quote(uv)} && cd /tmp/pcompile-uv && "
        f"UV_PROJECT_ENVIRONMENT=\"$(python -c 'import sys; print(sys.prefix)')\" "
        f"uv sync {shlex.join(flags)}{_extra(args)}"
    )
    return [f"COPY {CTX}/uv /tmp/pcompile-uv", _run(command, args, ctx)]


def _pip_install_from_requirements(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    path = ctx.local(str(args["requirements_txt"]))
    if not path.is_file():
        raise UserError(f"pip_install_from_requirements: {args['requirements_txt']} is not a file")
    digest = bundle.sha256_of(path)[:16]
    rel = ctx.add_file(f"{CTX}/files/requirements-{digest}.txt", path)
    command = f"{PIP} -r /tmp/{Path(rel).name} {shlex.join(_pip_options(args))}".rstrip() + _extra(args)
    return [_run(command, args, ctx, [f"--mount=type=bind,source={rel},target=/tmp/{Path(rel).name}"])]


def _pip_install_from_pyproject(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    path = ctx.local(str(args["pyproject_toml"]))
    try:
        project = tomllib.loads(path.read_text()).get("project", {})
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UserError(f"pip_install_from_pyproject: cannot read {args['pyproject_toml']}: {err}") from None
    packages = list(project.get("dependencies") or [])
    optional = project.get("optional-dependencies") or {}
    for group in args.get("optional_dependencies") or []:
        packages.extend(optional.get(group) or [])
    return _pip_install({**args, "packages": packages}, ctx)


def _pip_install_private_repos(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    # The SDK checked refs and user for shell safety; "$TOKEN" expands from the mounted
    # secret inside this RUN only, so no layer and no Dockerfile line holds the token.
    tokens = {"github.com": "GITHUB_TOKEN", "gitlab.com": "GITLAB_TOKEN"}
    repos = [str(r) for r in args.get("repositories") or []]
    if not repos:
        return ["# pip_install_private_repos: no repositories"]
    names = ", ".join(args.get("secrets") or [])
    checks = [
        f'test -n "${{{token}:-}}" || {{ echo "{token} is not set by the secrets {names}" >&2; exit 1; }}'
        for token in sorted({tokens[r.split("/")[0]] for r in repos})
    ]
    urls = " ".join(f'"git+https://{args["git_user"]}:${{{tokens[r.split("/")[0]]}}}@{r}"' for r in repos)
    install = f"{PIP} {urls} {shlex.join(_pip_options(args))}".rstrip() + _extra(args)
    git = (
        "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        "git && rm -rf /var/lib/apt/lists/*"
    )
    return [git, _run(" && ".join([*checks, install]), args, ctx)]


def _poetry_install_from_file(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    ctx.add_file(f"{CTX}/poetry/pyproject.toml", ctx.local(str(args["poetry_pyproject_toml"])))
    if args.get("poetry_lockfile") and not args.get("ignore_lockfile"):
        ctx.add_file(f"{CTX}/poetry/poetry.lock", ctx.local(str(args["poetry_lockfile"])))
    version = args.get("poetry_version") or "latest"
    poetry = "poetry" if version == "latest" else f"poetry=={version}"
    flags = ["--no-root", "--no-interaction"]
    for name, opt in (("with_", "--with"), ("without", "--without"), ("only", "--only")):
        for group in sorted(args.get(name) or []):
            flags += [opt, group]
    command = (
        f"{PIP} {shlex.quote(poetry)} && cd /tmp/pcompile-poetry && "
        f"poetry config virtualenvs.create false && poetry install {shlex.join(flags)}"
    )
    return [f"COPY {CTX}/poetry /tmp/pcompile-poetry", _run(command, args, ctx)]


def _micromamba_install(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    channels = [x for ch in args.get("channels") or [] for x in ("-c", ch)]
    packages = sorted(args.get("packages") or [])
    lines = []
    spec: list[str] = []
    if args.get("spec_file"):
        rel = ctx.add_file(f"{CTX}/files/micromamba-spec.yaml", ctx.local(str(args["spec_file"])))
        lines.append(f"COPY {rel} /tmp/pcompile-micromamba-spec.yaml")
        spec = ["-f", "/tmp/pcompile-micromamba-spec.yaml"]
    command = shlex.join(["micromamba", "install", "-y", "-n", "base", *channels, *spec, *packages])
    return [*lines, _run(f"{command} && micromamba clean -a -y", args, ctx)]


def _apt_install(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    packages = sorted(args.get("packages") or [])
    if not packages:
        return ["# apt_install: no packages"]
    command = (
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        f"{shlex.join(packages)} && rm -rf /var/lib/apt/lists/*"
    )
    return [_run(command, args, ctx)]


def _run_commands(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    return [_run(str(c), args, ctx) for c in args.get("commands") or []]


def _dockerfile_commands(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    for remote, local in sorted((args.get("context_files") or {}).items()):
        ctx.add_file(str(remote).lstrip("/"), ctx.local(str(local)))
    if args.get("context_dir"):
        ctx.files.update(bundle.walk_files(ctx.local(str(args["context_dir"]))))
    ctx.build_args.update({str(k): str(v) for k, v in (args.get("build_args") or {}).items()})
    return [str(c) for c in args.get("commands") or []]


def _env(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    variables = args.get("vars") or {}
    return [f"ENV {k}={json.dumps(str(variables[k]))}" for k in sorted(variables)]


def _workdir(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    return [f"WORKDIR {args['path']}"]


def _entrypoint(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    return [f"ENTRYPOINT {json.dumps(list(args.get('commands') or []))}"]


def _cmd(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    return [f"CMD {json.dumps(list(args.get('cmd') or []))}"]


def _shell(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    return [f"SHELL {json.dumps(list(args.get('commands') or []))}"]


def _add_local(kind: str) -> Callable[[Mapping[str, Any], _Context], list[str]]:
    def render(args: Mapping[str, Any], ctx: _Context) -> list[str]:
        step = ImageStep(kind, dict(args))
        if not args.get("copy") and not ctx.options.bake_code:
            return [f"# {kind}: added at container start from the code bundle"]
        files = bundle.local_step_files(step, ctx.root)
        digest = hashlib.sha256(json.dumps(step.args, sort_keys=True).encode()).hexdigest()[:16]
        prefix = ctx.add_tree(f"{CTX}/local/{digest}", files)
        if kind == "add_local_file":
            ((name, _),) = files.items()
            return [f"COPY {prefix}/{name} {bundle.file_target(step, name)}"]
        return [f"COPY {prefix} {args['remote_path']}"]

    return render


def _add_local_python_source(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    if not args.get("copy") and not ctx.options.bake_code:
        return ["# add_local_python_source: added at container start from the code bundle"]
    files: dict[str, Content] = {}
    for module in args.get("modules") or []:
        files.update(bundle.module_files(module, ctx.root))
    digest = hashlib.sha256(json.dumps(sorted(files)).encode()).hexdigest()[:16]
    prefix = ctx.add_tree(f"{CTX}/pysrc/{digest}", files)
    return [f"COPY {prefix} {CODE_DIR}"]


def _run_function(args: Mapping[str, Any], ctx: _Context) -> list[str]:
    module = str(args["module"])
    files = bundle.module_files(module, ctx.root)
    digest = hashlib.sha256(json.dumps(sorted(files)).encode()).hexdigest()[:16]
    prefix = ctx.add_tree(f"{CTX}/build-code/{digest}", files)
    call = {
        "module": module,
        "qualname": args["qualname"],
        "args": args.get("args") or [],
        "kwargs": args.get("kwargs") or {},
    }
    python = ["python", "-c", RUN_FUNCTION_SCRIPT, json.dumps(call, sort_keys=True)]
    command = f"cd /tmp/pcompile-build-code && PCOMPILE_WORKER=1 timeout {int(args.get('timeout') or 3600)} {shlex.join(python)}"
    mount = f"--mount=type=bind,source={prefix},target=/tmp/pcompile-build-code"
    return [_run(command, args, ctx, [mount])]


# Runs inside the image at build time: import the user's function as the runtime
# does (``modal`` aliased to pcompile) and call it with the JSON arguments.
RUN_FUNCTION_SCRIPT = (
    "import asyncio, inspect, json, sys; sys.path.insert(0, '.'); "
    "from pcompile import _modal_alias; _modal_alias.install(); "
    "from pcompile.runtime.execute import import_qualname; "
    "c = json.loads(sys.argv[1]); "
    "r = import_qualname(c['module'], c['qualname'])(*c['args'], **c['kwargs']); "
    "asyncio.run(r) if inspect.iscoroutine(r) else None"
)


STEP_RENDERERS: dict[str, Callable[[Mapping[str, Any], _Context], list[str]]] = {
    "pip_install": _pip_install,
    "uv_pip_install": _uv_pip_install,
    "uv_sync": _uv_sync,
    "pip_install_from_requirements": _pip_install_from_requirements,
    "pip_install_from_pyproject": _pip_install_from_pyproject,
    "pip_install_private_repos": _pip_install_private_repos,
    "poetry_install_from_file": _poetry_install_from_file,
    "micromamba_install": _micromamba_install,
    "apt_install": _apt_install,
    "run_commands": _run_commands,
    "dockerfile_commands": _dockerfile_commands,
    "env": _env,
    "workdir": _workdir,
    "entrypoint": _entrypoint,
    "cmd": _cmd,
    "shell": _shell,
    "add_local_dir": _add_local("add_local_dir"),
    "add_local_file": _add_local("add_local_file"),
    "add_local_python_source": _add_local_python_source,
    "run_function": _run_function,
}
