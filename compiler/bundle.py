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
import os
import tarfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, ImageSpec, ImageStep

BUNDLE_FORMAT = 1
INDEX_NAME = "pcompile-bundle.json"

# Files that hold credentials: never uploaded (bundle or image) unless a ``.pcompileignore``
# re-includes them with ``!pattern``; each one left out or re-included is warned about.
CREDENTIAL_PATTERNS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".aws/",
    ".ssh/",
    ".gnupg/",
    ".docker/",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
)

# Never shipped, silently: VCS data, caches, environments, pcompile's own state.
DEFAULT_IGNORE: tuple[str, ...] = (
    "__pycache__/",
    "*.pyc",
    "*.pyo",
    ".git",  # a folder, or the file that points a worktree or submodule at one
    ".hg/",
    ".svn/",
    ".pcompile/",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
    "node_modules/",
    "*.egg-info/",
    ".DS_Store",
)

# The user's own ignore files, gitignore syntax, honoured in every folder that holds one.
IGNORE_FILES = (".gitignore", ".pcompileignore")


class CredentialFileWarning(UserWarning):
    """A file that looks like a credential was left out of an upload, or is uploaded anyway."""


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


@dataclass(frozen=True)
class Excluded:
    """A file that looks like a credential and was left out of an upload."""

    path: Path
    pattern: str


class IgnoreRules:
    """What one walk of ``folder`` leaves out, in gitignore syntax throughout.

    Order of precedence: a ``.pcompileignore`` (the deepest matching line wins, so
    ``!prod.env`` re-includes), then the built-in lists (:data:`CREDENTIAL_PATTERNS`,
    :data:`DEFAULT_IGNORE`), then ``.gitignore``. Ignore files apply in the folder that
    holds them and below, from ``root`` (the project) down when ``folder`` is inside it.
    """

    def __init__(self, folder: Path, root: Path | None = None) -> None:
        self.folder = folder
        self.top = root if root is not None and folder.is_relative_to(root) else folder
        self.credentials = pathspec.GitIgnoreSpec.from_lines(CREDENTIAL_PATTERNS)
        self.defaults = pathspec.GitIgnoreSpec.from_lines(DEFAULT_IGNORE)
        self._files: dict[Path, pathspec.GitIgnoreSpec | None] = {}

    def _spec(self, path: Path) -> pathspec.GitIgnoreSpec | None:
        if path not in self._files:
            lines = path.read_text(errors="replace").splitlines() if path.is_file() else None
            self._files[path] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._files[path]

    def _user(self, path: Path, is_dir: bool, name: str) -> bool | None:
        """The verdict of the ``name`` files from :attr:`top` down to ``path``'s folder."""
        verdict = None
        folders = [self.top]
        for part in path.relative_to(self.top).parts[:-1]:
            folders.append(folders[-1] / part)
        for directory in folders:
            spec = self._spec(directory / name)
            if spec is not None:
                rel = path.relative_to(directory).as_posix() + ("/" if is_dir else "")
                found = spec.check_file(rel).include
                verdict = verdict if found is None else found
        return verdict

    def credential(self, rel: str) -> str | None:
        """The credential pattern ``rel`` (``/``-terminated for folders) matches, if any."""
        index = self.credentials.check_file(rel).index
        return None if index is None else CREDENTIAL_PATTERNS[index]

    def ignored(self, path: Path, is_dir: bool) -> tuple[bool, bool]:
        """``(left out, by the user's own ignore files)`` for ``path`` under the walked folder."""
        rel = path.relative_to(self.folder).as_posix() + ("/" if is_dir else "")
        chosen = self._user(path, is_dir, ".pcompileignore")
        if chosen is not None:
            return chosen, chosen
        if self.credential(rel) or self.defaults.check_file(rel).include:
            return True, bool(self._user(path, is_dir, ".gitignore"))
        git = self._user(path, is_dir, ".gitignore")
        return bool(git), bool(git)


def scan_files(
    folder: Path, patterns: Iterable[str] = (), *, python_only: bool = False, root: Path | None = None
) -> tuple[dict[str, Path], list[Excluded]]:
    """Files under ``folder`` by relative posix path, sorted, and the credential-looking files
    that were left out only because they look like credentials.

    ``patterns`` are a step's own ``ignore=`` patterns (:func:`is_ignored`). Symlinks to
    files are followed; symlinked folders are not entered (loops).
    """
    rules = IgnoreRules(folder, root)
    found: dict[str, Path] = {}
    excluded: list[Excluded] = []
    # A .py-only walk would not ship a credential folder's files anyway: nothing to report.
    folders_left_out: list[Excluded] = [] if python_only else excluded
    for current, dirs, names in os.walk(folder):
        here = Path(current)
        kept = []
        for name in sorted(dirs):
            path = here / name
            if not path.is_symlink() and _keep(rules, path, True, patterns, folders_left_out):
                kept.append(name)
        dirs[:] = kept
        for name in sorted(names):
            path = here / name
            if path.is_file() and not (python_only and path.suffix not in (".py", ".pyi")):
                if _keep(rules, path, False, patterns, excluded):
                    found[path.relative_to(folder).as_posix()] = path
    return dict(sorted(found.items())), sorted(excluded, key=lambda e: e.path)


def _keep(rules: IgnoreRules, path: Path, is_dir: bool, patterns: Iterable[str], out: list[Excluded]) -> bool:
    rel = path.relative_to(rules.folder).as_posix()
    if is_ignored(rel, patterns):
        return False
    left_out, by_user = rules.ignored(path, is_dir)
    credential = rules.credential(rel + ("/" if is_dir else ""))
    if credential and left_out and not by_user:
        out.append(Excluded(path, credential))
    elif credential and not left_out:
        warn_included(path, credential)
    return not left_out


def walk_files(
    folder: Path, patterns: Iterable[str] = (), *, python_only: bool = False, root: Path | None = None
) -> dict[str, Path]:
    """:func:`scan_files`, warning about each credential-looking file it left out."""
    found, excluded = scan_files(folder, patterns, python_only=python_only, root=root)
    base = root if root is not None and folder.is_relative_to(root) else folder
    for item in excluded:
        shown = item.path.relative_to(base).as_posix() + ("/" if item.path.is_dir() else "")
        warnings.warn(
            f"not uploading {shown}: it looks like a credential (matches {item.pattern!r}); "
            f"to upload it anyway, add '!{shown}' to .pcompileignore",
            CredentialFileWarning,
            stacklevel=2,
        )
    return found


def warn_included(path: Path, pattern: str) -> None:
    """An upload that carries a file looking like a credential, because the user asked for it."""
    warnings.warn(
        f"uploading {path} although it looks like a credential (matches {pattern!r}); anyone who can "
        "read the code bundle or the image can read it: prefer modal.Secret",
        CredentialFileWarning,
        stacklevel=3,
    )


# ------------------------------------------------------------------ module sources


def module_files(module: str, root: Path) -> dict[str, Path]:
    """The ``.py`` files of ``module`` (a module or a whole package), keyed by their
    path relative to the sys.path entry they import from (``pkg/sub/mod.py``).

    Looked up under ``root`` first, then on this interpreter's ``sys.path``.
    """
    head = module.split(".")[0]
    package_dir = root / head
    if (package_dir / "__init__.py").is_file():
        found = walk_files(package_dir, python_only=True, root=root)
        return {f"{head}/{rel}": p for rel, p in found.items()}
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
        for rel, p in walk_files(package_dir, python_only=True, root=root).items()
    }


# ------------------------------------------------------------------ what an app ships


def local_step_files(step: ImageStep, root: Path) -> dict[str, Path]:
    """Files of one ``add_local_dir`` / ``add_local_file`` step, relative to its target,
    warning about credential-looking files left out (or, for ``add_local_file``, shipped)."""
    local = _local(root, step.args["local_path"])
    if step.kind == "add_local_file":
        return scan_step(step, root)[0]
    if not local.is_dir():
        raise UserError(f"add_local_dir: {step.args['local_path']} is not a folder")
    patterns = [p for p in step.args.get("ignore") or [] if p != "<callable>"]
    return walk_files(local, patterns, root=root)


def scan_step(step: ImageStep, root: Path) -> tuple[dict[str, Path], list[Excluded]]:
    """:func:`local_step_files` without warnings: the files and what was left out as credentials."""
    local = _local(root, step.args["local_path"])
    if step.kind == "add_local_file":
        if not local.is_file():
            raise UserError(f"add_local_file: {step.args['local_path']} is not a file")
        # Named explicitly: shipped, but said out loud when it looks like a credential.
        pattern = IgnoreRules(local.parent).credential(local.name)
        if pattern:
            warn_included(local, pattern)
        return {local.name: local}, []
    if not local.is_dir():
        raise UserError(f"add_local_dir: {step.args['local_path']} is not a folder")
    patterns = [p for p in step.args.get("ignore") or [] if p != "<callable>"]
    return scan_files(local, patterns, root=root)


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
