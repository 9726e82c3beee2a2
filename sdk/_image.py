"""``modal.Image``: an immutable chain of build steps, recorded as data.

Every method returns a new Image; nothing is built here. Steps are ``(kind, args)``
with ``kind`` the method's name and ``args`` its arguments as JSON values, which the
compiler turns into an IR ``ImageSpec`` and the image renderer into a Dockerfile.
Local paths are resolved against the working directory (as Modal does) and made
project-relative by the compiler.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pcompile._context import in_container
from pcompile._source import CallSite, caller_site
from pcompile.exception import InvalidError
from pcompile.gpu import gpu_string

# Arguments of each step that name local files; stored absolute, made relative by the compiler.
PATH_ARGS: dict[str, tuple[str, ...]] = {
    "add_local_dir": ("local_path",),
    "add_local_file": ("local_path",),
    "pip_install_from_requirements": ("requirements_txt",),
    "pip_install_from_pyproject": ("pyproject_toml",),
    "poetry_install_from_file": ("poetry_pyproject_toml", "poetry_lockfile"),
    "uv_pip_install": ("requirements",),
    "uv_sync": ("uv_project_dir",),
    "micromamba_install": ("spec_file",),
    "from_dockerfile": ("path", "context_dir"),
    "dockerfile_commands": ("context_dir",),
}


def _flatten(items: Sequence[Any], what: str) -> list[str]:
    """Modal accepts strings and lists of strings as varargs; flatten them."""
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list | tuple):
            out.extend(_flatten(item, what))
        elif item is None:
            continue
        else:
            raise InvalidError(f"{what}: expected strings, got {item!r}")
    return out


def _abspath(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [_abspath(v) for v in value]
    return os.path.abspath(os.fspath(value))


def _step_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """A step's arguments as JSON values: local paths absolute, ``modal.gpu`` objects as strings."""
    for name in PATH_ARGS.get(kind, ()):
        args[name] = _abspath(args.get(name))
    if "gpu" in args:
        args["gpu"] = gpu_string(args["gpu"])
    return args


def _secret_names(secrets: Sequence[Any] | None) -> list[str]:
    return [s.name for s in (secrets or [])]


def _local_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


class Image:
    """A container image definition (``modal.Image``); build it with ``pcompile image build``."""

    def __init__(self, base: tuple[str, dict[str, Any]], steps: tuple[tuple[str, dict[str, Any]], ...] = ()):
        self._base = base
        self._steps = steps
        self._site: CallSite = caller_site()

    # ------------------------------------------------------------------ internals
    def _with(self, kind: str, **args: Any) -> Image:
        return Image(self._base, (*self._steps, (kind, _step_args(kind, args))))

    @staticmethod
    def _new(kind: str, **args: Any) -> Image:
        return Image((kind, _step_args(kind, args)))

    @property
    def python_version(self) -> str | None:
        """The Python ``major.minor`` the image runs, when its base says so."""
        kind, args = self._base
        return args.get("python_version") or args.get("add_python") or None

    def __repr__(self) -> str:
        return f"Image({self._base[0]}, {len(self._steps)} steps)"

    # ------------------------------------------------------------------ bases
    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        """The official ``python:<version>-slim`` image (default: this machine's Python)."""
        return Image._new("debian_slim", python_version=python_version or _local_python_version())

    @staticmethod
    def micromamba(python_version: str | None = None, force_build: bool = False) -> Image:
        """A micromamba base image with the given Python."""
        return Image._new("micromamba", python_version=python_version or _local_python_version())

    @staticmethod
    def from_registry(
        tag: str,
        secret: Any = None,
        *,
        setup_dockerfile_commands: list[str] = [],  # noqa: B006 - Modal's signature
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """Any image from a registry; ``add_python`` installs a standalone Python into it."""
        return Image._new(
            "from_registry",
            tag=tag,
            secret=None if secret is None else secret.name,
            setup_dockerfile_commands=list(setup_dockerfile_commands),
            add_python=add_python,
        )

    @staticmethod
    def from_aws_ecr(
        tag: str,
        secret: Any = None,
        *,
        setup_dockerfile_commands: list[str] = [],  # noqa: B006 - Modal's signature
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """An image from Amazon ECR (same parameters as ``from_registry``)."""
        return Image._new(
            "from_aws_ecr",
            tag=tag,
            secret=None if secret is None else secret.name,
            setup_dockerfile_commands=list(setup_dockerfile_commands),
            add_python=add_python,
        )

    @staticmethod
    def from_gcp_artifact_registry(
        tag: str,
        secret: Any = None,
        *,
        setup_dockerfile_commands: list[str] = [],  # noqa: B006 - Modal's signature
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        """An image from Google Artifact Registry (same parameters as ``from_registry``)."""
        return Image._new(
            "from_gcp_artifact_registry",
            tag=tag,
            secret=None if secret is None else secret.name,
            setup_dockerfile_commands=list(setup_dockerfile_commands),
            add_python=add_python,
        )

    @staticmethod
    def from_dockerfile(
        path: str | os.PathLike[str],
        *,
        force_build: bool = False,
        context_dir: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
        add_python: str | None = None,
        build_args: dict[str, str] = {},  # noqa: B006 - Modal's signature
        ignore: Any = None,
        registry_secret: Any = None,
    ) -> Image:
        """An image built from the user's own Dockerfile."""
        return Image._new(
            "from_dockerfile",
            path=path,
            context_dir=context_dir,
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
            add_python=add_python,
            build_args=dict(build_args),
        )

    @staticmethod
    def from_scratch(force_build: bool = False) -> Image:
        """An empty image."""
        return Image._new("from_scratch")

    @staticmethod
    def from_name(name: str, *, environment_name: str | None = None, client: Any = None) -> Image:
        """A published image by name (recorded; resolved by the builder)."""
        return Image._new("from_name", name=name)

    @staticmethod
    def from_id(image_id: str, client: Any = None) -> Image:
        """An image by id (recorded; resolved by the builder)."""
        return Image._new("from_id", image_id=image_id)

    # ------------------------------------------------------------------ python packages
    def pip_install(
        self,
        *packages: str | list[str],
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install Python packages with pip."""
        return self._with(
            "pip_install",
            packages=_flatten(packages, "pip_install"),
            find_links=find_links,
            index_url=index_url,
            extra_index_url=extra_index_url,
            pre=pre,
            extra_options=extra_options,
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    def uv_pip_install(
        self,
        *packages: str | list[str],
        requirements: list[str] | None = None,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        uv_version: str | None = None,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install Python packages with uv."""
        return self._with(
            "uv_pip_install",
            packages=_flatten(packages, "uv_pip_install"),
            requirements=list(requirements) if requirements else None,
            find_links=find_links,
            index_url=index_url,
            extra_index_url=extra_index_url,
            pre=pre,
            extra_options=extra_options,
            uv_version=uv_version,
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    def uv_pip_install_from_requirements(
        self,
        requirements_txt: str | os.PathLike[str],
        *,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        uv_version: str | None = None,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install a requirements file with uv: ``uv_pip_install(requirements=[requirements_txt])``.

        Newer Modal examples spell it this way; modal 1.6.4 itself has only the
        ``requirements=`` form, which this records, so both render the same step.
        """
        return self.uv_pip_install(
            requirements=[os.fspath(requirements_txt)],
            find_links=find_links,
            index_url=index_url,
            extra_index_url=extra_index_url,
            pre=pre,
            extra_options=extra_options,
            uv_version=uv_version,
            env=env,
            secrets=secrets,
            gpu=gpu,
        )

    def pip_install_private_repos(
        self,
        *repositories: str,
        git_user: str,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        gpu: str | None = None,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        force_build: bool = False,
    ) -> Image:
        """Install packages from private GitHub/GitLab repositories (``github.com/org/repo@ref``).

        A secret must provide ``GITHUB_TOKEN`` / ``GITLAB_TOKEN``; the token is read from the
        mounted secret during the build and never written into the Dockerfile or a layer.
        """
        if not secrets:
            raise InvalidError(
                "pip_install_private_repos needs secrets=[...] holding GITHUB_TOKEN or GITLAB_TOKEN, "
                'e.g. secrets=[modal.Secret.from_name("github-read-private")]'
            )
        _check_git_user(git_user)
        return self._with(
            "pip_install_private_repos",
            repositories=[_private_repo(r) for r in repositories],
            git_user=git_user,
            find_links=find_links,
            index_url=index_url,
            extra_index_url=extra_index_url,
            pre=pre,
            extra_options=extra_options,
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    def uv_sync(
        self,
        uv_project_dir: str = "./",
        *,
        force_build: bool = False,
        groups: list[str] | None = None,
        extras: list[str] | None = None,
        frozen: bool = True,
        extra_options: str = "",
        uv_version: str | None = None,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install a uv project's locked dependencies."""
        return self._with(
            "uv_sync",
            uv_project_dir=uv_project_dir,
            groups=list(groups or []),
            extras=list(extras or []),
            frozen=frozen,
            extra_options=extra_options,
            uv_version=uv_version,
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    def pip_install_from_requirements(
        self,
        requirements_txt: str,
        find_links: str | None = None,
        *,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install the packages of a requirements file."""
        return self._with(
            "pip_install_from_requirements",
            requirements_txt=requirements_txt,
            find_links=find_links,
            index_url=index_url,
            extra_index_url=extra_index_url,
            pre=pre,
            extra_options=extra_options,
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    def pip_install_from_pyproject(
        self,
        pyproject_toml: str,
        optional_dependencies: list[str] = [],  # noqa: B006 - Modal's signature
        *,
        find_links: str | None = None,
        index_url: str | None = None,
        extra_index_url: str | None = None,
        pre: bool = False,
        extra_options: str = "",
        force_build: bool = False,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install the dependencies listed in a pyproject.toml."""
        return self._with(
            "pip_install_from_pyproject",
            pyproject_toml=pyproject_toml,
            optional_dependencies=list(optional_dependencies),
            find_links=find_links,
            index_url=index_url,
            extra_index_url=extra_index_url,
            pre=pre,
            extra_options=extra_options,
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    def poetry_install_from_file(
        self,
        poetry_pyproject_toml: str,
        poetry_lockfile: str | None = None,
        *,
        ignore_lockfile: bool = False,
        force_build: bool = False,
        with_: list[str] = [],  # noqa: B006 - Modal's signature
        without: list[str] = [],  # noqa: B006
        only: list[str] = [],  # noqa: B006
        poetry_version: str | None = "latest",
        old_installer: bool = False,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install a Poetry project's dependencies."""
        return self._with(
            "poetry_install_from_file",
            poetry_pyproject_toml=poetry_pyproject_toml,
            poetry_lockfile=poetry_lockfile,
            ignore_lockfile=ignore_lockfile,
            with_=list(with_),
            without=list(without),
            only=list(only),
            poetry_version=poetry_version,
            old_installer=old_installer,
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    def micromamba_install(
        self,
        *packages: str | list[str],
        spec_file: str | None = None,
        channels: list[str] = [],  # noqa: B006 - Modal's signature
        force_build: bool = False,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install conda packages with micromamba."""
        return self._with(
            "micromamba_install",
            packages=_flatten(packages, "micromamba_install"),
            spec_file=spec_file,
            channels=list(channels),
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    # ------------------------------------------------------------------ system
    def apt_install(
        self,
        *packages: str | list[str],
        force_build: bool = False,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
    ) -> Image:
        """Install Debian packages."""
        return self._with(
            "apt_install",
            packages=_flatten(packages, "apt_install"),
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    def run_commands(
        self,
        *commands: str | list[str],
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        volumes: dict[str, Any] | None = None,
        gpu: str | None = None,
        force_build: bool = False,
    ) -> Image:
        """Run shell commands at build time."""
        return self._with(
            "run_commands",
            commands=_flatten(commands, "run_commands"),
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
        )

    def dockerfile_commands(
        self,
        *dockerfile_commands: str | list[str],
        context_files: dict[str, str] = {},  # noqa: B006 - Modal's signature
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        gpu: str | None = None,
        context_dir: str | None = None,
        force_build: bool = False,
        ignore: Any = None,
        build_args: dict[str, str] = {},  # noqa: B006
    ) -> Image:
        """Raw Dockerfile instructions."""
        return self._with(
            "dockerfile_commands",
            commands=_flatten(dockerfile_commands, "dockerfile_commands"),
            context_files={k: os.path.abspath(v) for k, v in context_files.items()},
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
            context_dir=context_dir,
            build_args=dict(build_args),
        )

    def env(self, vars: dict[str, str]) -> Image:
        """Set environment variables in the image."""
        if not isinstance(vars, dict) or not all(isinstance(v, str) for v in vars.values()):
            raise InvalidError(f"Image.env expects a dict of strings, got {vars!r}")
        return self._with("env", vars=dict(vars))

    def workdir(self, path: str | os.PathLike[str]) -> Image:
        """Set the working directory."""
        return self._with("workdir", path=os.fspath(path))

    def entrypoint(self, entrypoint_commands: list[str]) -> Image:
        """Set the image's ENTRYPOINT (``[]`` clears it, common with CUDA bases)."""
        return self._with("entrypoint", commands=list(entrypoint_commands))

    def cmd(self, cmd: list[str]) -> Image:
        """Set the image's CMD."""
        return self._with("cmd", cmd=list(cmd))

    def shell(self, shell_commands: list[str]) -> Image:
        """Set the image's SHELL."""
        return self._with("shell", commands=list(shell_commands))

    # ------------------------------------------------------------------ local files
    def add_local_dir(
        self,
        local_path: str | os.PathLike[str],
        remote_path: str | os.PathLike[str],
        *,
        copy: bool = False,
        ignore: Sequence[str] | Callable[..., bool] = [],  # noqa: B006 - Modal's signature
    ) -> Image:
        """Add a local directory (at container start, or baked in with ``copy=True``)."""
        patterns = list(ignore) if not callable(ignore) else ["<callable>"]
        return self._with(
            "add_local_dir",
            local_path=local_path,
            remote_path=os.fspath(remote_path),
            copy=copy,
            ignore=patterns,
        )

    def add_local_file(
        self, local_path: str | os.PathLike[str], remote_path: str | os.PathLike[str], *, copy: bool = False
    ) -> Image:
        """Add a local file (at container start, or baked in with ``copy=True``)."""
        return self._with(
            "add_local_file", local_path=local_path, remote_path=os.fspath(remote_path), copy=copy
        )

    def add_local_python_source(self, *modules: str, copy: bool = False, ignore: Any = None) -> Image:
        """Add local Python packages or modules by import name."""
        return self._with("add_local_python_source", modules=list(modules), copy=copy)

    def copy_local_file(self, local_path: str, remote_path: str = "./") -> Image:
        """Old spelling of ``add_local_file(..., copy=True)``."""
        _deprecated("Image.copy_local_file", "Image.add_local_file(local_path, remote_path, copy=True)")
        return self.add_local_file(local_path, remote_path, copy=True)

    def copy_local_dir(self, local_path: str, remote_path: str = ".") -> Image:
        """Old spelling of ``add_local_dir(..., copy=True)``."""
        _deprecated("Image.copy_local_dir", "Image.add_local_dir(local_path, remote_path, copy=True)")
        return self.add_local_dir(local_path, remote_path, copy=True)

    # ------------------------------------------------------------------ build steps in Python
    def run_function(
        self,
        raw_f: Callable[..., Any],
        *,
        env: dict[str, str] | None = None,
        secrets: Sequence[Any] | None = None,
        volumes: dict[str, Any] = {},  # noqa: B006 - Modal's signature
        network_file_systems: dict[str, Any] = {},  # noqa: B006
        gpu: str | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        timeout: int = 3600,
        cloud: str | None = None,
        region: str | None = None,
        force_build: bool = False,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] = {},  # noqa: B006
        include_source: bool = True,
    ) -> Image:
        """Run a Python function at build time (a model download, usually)."""
        raw = getattr(raw_f, "get_raw_f", lambda: raw_f)()
        return self._with(
            "run_function",
            module=raw.__module__,
            qualname=raw.__qualname__,
            env=dict(env or {}),
            secrets=_secret_names(secrets),
            gpu=gpu,
            timeout=timeout,
            args=list(args),
            kwargs=dict(kwargs),
        )

    def pipe(self, func: Callable[..., Image], *args: Any, **kwargs: Any) -> Image:
        """``func(self, *args, **kwargs)``: reusable step groups."""
        return func(self, *args, **kwargs)

    def build(self, app: Any = None) -> Image:
        """Images are built by ``pcompile image build`` / ``pcompile deploy``; this returns self."""
        return self

    def hydrate(self, client: Any = None) -> Image:
        """Nothing to hydrate: returns self."""
        return self

    def publish(
        self,
        name: str,
        *,
        environment_name: str | None = None,
        experimental_options: dict[str, Any] | None = None,
        client: Any = None,
    ) -> None:
        """Publishing goes to your own registry: ``pcompile image build FILE --push REGISTRY``."""
        from pcompile.exception import ExecutionError

        raise ExecutionError(
            f"Image.publish({name!r}) publishes to Modal's image store, which pcompile does not use: "
            "run `pcompile image build FILE --push REGISTRY`, then use Image.from_registry(REF)"
        )

    @property
    def logs(self) -> Any:
        """Build logs are printed by ``pcompile image build`` (and ``pcompile deploy``)."""
        from pcompile.exception import ExecutionError

        raise ExecutionError(
            "Image.logs reads Modal's build logs; pcompile prints build output from "
            "`pcompile image build FILE` and `pcompile deploy`"
        )

    @contextlib.contextmanager
    def imports(self) -> Iterator[None]:
        """Imports that only need to succeed inside this image: locally, ImportError is ignored."""
        try:
            yield
        except ImportError as exc:
            if in_container() and _runs_in(self):
                raise
            where = "in this worker, which runs another image" if in_container() else "outside the image"
            warnings.warn(
                f"{exc}: ignored {where} (the import runs inside the function's image)",
                stacklevel=3,
            )


# Hosts Modal supports for private repositories, and the token each needs.
PRIVATE_REPO_TOKENS = {"github.com": "GITHUB_TOKEN", "gitlab.com": "GITLAB_TOKEN"}
# The refs end up inside a double-quoted shell word: no quotes, spaces, '$' or backquotes.
_REPO_REF = re.compile(r"[A-Za-z0-9._~/@#=+:-]+")


def _private_repo(ref: Any) -> str:
    host = ref.split("/")[0] if isinstance(ref, str) else None
    if host not in PRIVATE_REPO_TOKENS or not _REPO_REF.fullmatch(ref) or ref.count("/") < 2:
        raise InvalidError(
            f"pip_install_private_repos: {ref!r} is not a repository ref; write it without a scheme, "
            "e.g. 'github.com/org/repo@v1.0' or 'gitlab.com/org/repo#subdirectory=pkg'"
        )
    return str(ref)


def _check_git_user(user: Any) -> None:
    if not isinstance(user, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", user):
        raise InvalidError(
            f"pip_install_private_repos(git_user={user!r}): pass the account name the token belongs to"
        )


def _runs_in(image: Image) -> bool:
    """Inside a worker: whether it runs ``image`` (True when the worker does not say which).

    ``pcompile run`` starts workers in image environments with ``PCOMPILE_IMAGE_ID`` and
    ``PCOMPILE_PROJECT_ROOT`` set, so a module holding several images' ``imports()``
    blocks imports in each image's workers only what that image has, as in Modal.
    """
    current, root = os.environ.get("PCOMPILE_IMAGE_ID"), os.environ.get("PCOMPILE_PROJECT_ROOT")
    if not current or not root:
        return True
    from pcompile.compiler.build import image_spec  # only on this error path

    return image_spec(image, Path(root)).id == current


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is an old Modal spelling; use {new}", DeprecationWarning, stacklevel=3)
