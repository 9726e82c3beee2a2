"""Code bundles: the user's source as one deterministic, content-addressed archive.

A function's image holds its dependencies, never the user's code; the code travels
in a bundle that the runtime fetches and verifies (sha256) at container start
(``pcompile.runtime.bundle``). Editing a function body therefore changes the bundle
hash and nothing else: no image is rebuilt.

What goes in (Modal's rules):

* ``include_source`` (default on): the module that defines each function; when the
  module is part of a package, the whole top-level package (``.py`` files only);
* ``Image.add_local_python_source(*modules)`` without ``copy=True``: those modules
  or packages (``.py`` files only);
* ``Image.add_local_dir`` / ``add_local_file`` without ``copy=True``: those files,
  placed at their ``remote_path`` at container start.

Archive layout (a plain ``tar``: uncompressed, so the bytes and the hash do not
depend on the zlib version of the machine)::

    pcompile-bundle.json        {"version": 1, "code": "code", "mounts": {"/remote": "mounts/0"}}
    code/<module files>         goes on sys.path
    mounts/<n>/...              one folder or file per add_local_* step

Entries are sorted and carry fixed metadata (mtime 0, uid/gid 0, mode 0644 or 0755),
so the same sources give the same bytes on every machine.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, ImageSpec, ImageStep

BUNDLE_FORMAT = 1
INDEX_NAME = "pcompile-bundle.json"

# Never shipped, whatever the user's patterns say: caches, VCS data, environments.
DEFAULT_IGNORE: tuple[str, ...] = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    ".git",
    ".hg",
    ".svn",
    ".pcompile",
    ".venv",
    "venv",
    ".env",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "node_modules",
    "*.egg-info",
    ".DS_Store",
)

# A context or archive entry: the local file to read, or the bytes themselves.
Content = Path | bytes


@dataclass(frozen=True)
class CodeBundle:
    """One app's code bundle: the archive bytes, their sha256 and its storage key.

    ``key`` and ``data`` match what ``pcompile.providers.deploy`` uploads.
    """

    app: str
    data: bytes
    sha256: str
    files: tuple[str, ...]

    @property
    def key(self) -> str:
        """Content-addressed object key: ``bundles/<app>/<sha256>.tar``."""
        return f"bundles/{self.app}/{self.sha256}.tar"


# ------------------------------------------------------------------ ignore patterns


def is_ignored(rel: str, patterns: Iterable[str]) -> bool:
    """Whether the relative posix path ``rel`` matches a pattern (dockerignore-like).

    A pattern without ``/`` matches any single path component (``__pycache__``,
    ``*.pyc``); one with ``/`` matches the whole relative path (``data/*.bin``).
    """
    parts = PurePosixPath(rel).parts
    for raw in patterns:
        pattern = raw.strip().rstrip("/")
        if not pattern or pattern.startswith("#"):
            continue
        if pattern.startswith("**/"):
            pattern = pattern[3:]
        if "/" in pattern:
            if fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(rel, pattern + "/*"):
                return True
        elif any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
    return False


def walk_files(folder: Path, patterns: Iterable[str] = (), *, python_only: bool = False) -> dict[str, Path]:
    """Files under ``folder`` by relative posix path, sorted, minus ignored ones.

    Symlinks to files are followed; symlinked folders are not entered (loops).
    """
    rules = (*DEFAULT_IGNORE, *patterns)
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or is_ignored(rel, rules):
            continue
        if _inside_symlinked_dir(path, folder):
            continue
        if python_only and path.suffix not in (".py", ".pyi"):
            continue
        found[rel] = path
    return found


def _inside_symlinked_dir(path: Path, folder: Path) -> bool:
    return any(p.is_symlink() for p in path.relative_to(folder).parents if str(p) != ".")


# ------------------------------------------------------------------ module sources


def module_files(module: str, root: Path) -> dict[str, Path]:
    """The ``.py`` files of ``module`` (a module or a whole package), keyed by their
    path relative to the sys.path entry they import from (``pkg/sub/mod.py``).

    Looked up under ``root`` first, then on this interpreter's ``sys.path``.
    """
    head = module.split(".")[0]
    package_dir = root / head
    if (package_dir / "__init__.py").is_file():
        return {f"{head}/{rel}": p for rel, p in walk_files(package_dir, python_only=True).items()}
    single = root / f"{head}.py"
    if single.is_file():
        return {single.name: single}
    return _installed_module_files(head)


def _installed_module_files(head: str) -> dict[str, Path]:
    spec = importlib.util.find_spec(head)
    if spec is None:
        raise UserError(
            f"add_local_python_source: no module named {head!r} here",
            fix="run pcompile from the folder that holds it, or fix the module name",
        )
    if spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations)))
        return {f"{head}/{rel}": p for rel, p in walk_files(folder, python_only=True).items()}
    if spec.origin is None or not spec.origin.endswith(".py"):
        raise UserError(f"add_local_python_source: {head!r} is not a Python source module ({spec.origin})")
    return {f"{head}.py": Path(spec.origin)}


def function_source_files(module: str, source_file: str, root: Path) -> dict[str, Path]:
    """What ``include_source`` ships for a function defined in ``source_file``:
    the file itself, or its whole top-level package when ``module`` is dotted."""
    path = root / source_file
    parts = module.split(".")
    if not path.is_file():
        raise UserError(f"the source file {source_file} of module {module!r} is missing under {root}")
    is_init = path.name == "__init__.py"
    depth = len(parts) - (0 if is_init else 1)
    if depth == 0 or module in ("__main__", ""):
        return {path.name: path}
    package_dir = path.parents[depth - 1]
    sys_root = package_dir.parent
    return {
        (package_dir.relative_to(sys_root) / rel).as_posix(): p
        for rel, p in walk_files(package_dir, python_only=True).items()
    }


# ------------------------------------------------------------------ what an app ships


def local_step_files(step: ImageStep, root: Path) -> dict[str, Path]:
    """Files of one ``add_local_dir`` / ``add_local_file`` step, relative to its target."""
    local = _local(root, step.args["local_path"])
    if step.kind == "add_local_file":
        if not local.is_file():
            raise UserError(f"add_local_file: {step.args['local_path']} is not a file")
        return {local.name: local}
    if not local.is_dir():
        raise UserError(f"add_local_dir: {step.args['local_path']} is not a folder")
    patterns = [p for p in step.args.get("ignore") or [] if p != "<callable>"]
    return walk_files(local, patterns)


def _local(root: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else root / path


def file_target(step: ImageStep, name: str) -> str:
    """Where ``add_local_file`` puts its file: ``remote_path``, or inside it when it ends in ``/``."""
    remote = str(step.args.get("remote_path") or f"/root/{name}")
    return remote + name if remote.endswith("/") else remote


def app_code_files(app: AppSpec, root: Path) -> dict[str, Path]:
    """Every Python file the bundle's ``code/`` folder gets, by import path."""
    files: dict[str, Path] = {}
    for fn in app.functions:
        if fn.include_source:
            files.update(function_source_files(fn.module, fn.source.file, root))
    for step in _runtime_steps(app.images):
        if step.kind == "add_local_python_source":
            for module in step.args.get("modules") or []:
                files.update(module_files(module, root))
    return dict(sorted(files.items()))


def _runtime_steps(images: Iterable[ImageSpec]) -> list[ImageStep]:
    """The ``add_local_*`` steps added at container start (no ``copy=True``)."""
    steps: list[ImageStep] = []
    for image in images:
        steps.extend(s for s in image.steps if s.kind.startswith("add_local_") and not s.args.get("copy"))
    return steps


def bundle_entries(app: AppSpec, root: Path) -> tuple[dict[str, Content], dict[str, str]]:
    """Archive entries (``code/...``, ``mounts/<n>/...``) and the mount index."""
    entries: dict[str, Content] = {f"code/{rel}": p for rel, p in app_code_files(app, root).items()}
    mounts: dict[str, str] = {}
    local_steps = [s for s in _runtime_steps(app.images) if s.kind != "add_local_python_source"]
    for step in _dedupe(local_steps):
        folder = f"mounts/{len(mounts)}"
        files = local_step_files(step, root)
        if step.kind == "add_local_file":
            ((name, path),) = files.items()
            mounts[file_target(step, name)] = f"{folder}/{name}"
            entries[f"{folder}/{name}"] = path
        else:
            mounts[str(step.args["remote_path"])] = folder
            entries.update({f"{folder}/{rel}": p for rel, p in files.items()})
    return entries, mounts


def _dedupe(steps: list[ImageStep]) -> list[ImageStep]:
    """The same step used by several images ships once; order is by content, not by image."""
    unique = {json.dumps([s.kind, s.args], sort_keys=True): s for s in steps}
    return [unique[k] for k in sorted(unique)]


def build_bundle(app: AppSpec, root: Path) -> CodeBundle:
    """The code bundle of ``app`` with sources read from the project at ``root``."""
    entries, mounts = bundle_entries(app, root)
    index = {"version": BUNDLE_FORMAT, "code": "code", "mounts": dict(sorted(mounts.items()))}
    entries[INDEX_NAME] = (json.dumps(index, sort_keys=True, indent=2) + "\n").encode()
    data = deterministic_tar(entries)
    return CodeBundle(app.name, data, hashlib.sha256(data).hexdigest(), tuple(sorted(entries)))


def make_bundle(root: Path, app: AppSpec) -> CodeBundle:
    """:func:`build_bundle` with the argument order of ``pcompile.providers.deploy.Bundler``."""
    return build_bundle(app, root)


# ------------------------------------------------------------------ archive


def deterministic_tar(entries: Mapping[str, Content]) -> bytes:
    """A tar of ``entries`` (archive path -> file or bytes) that depends only on content."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            content = entries[name]
            data = content if isinstance(content, bytes) else content.read_bytes()
            executable = not isinstance(content, bytes) and bool(content.stat().st_mode & 0o111)
            tar.addfile(_tar_info(name, len(data), executable), io.BytesIO(data))
    return buffer.getvalue()


def _tar_info(name: str, size: int, executable: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o755 if executable else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def sha256_of(content: Content) -> str:
    """The sha256 of a file (streamed) or of bytes."""
    digest = hashlib.sha256()
    if isinstance(content, bytes):
        digest.update(content)
        return digest.hexdigest()
    with content.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
