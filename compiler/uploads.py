"""Every local file a deploy uploads, with where it lands: what ``pcompile image files`` shows.

Two routes carry local files off this machine:

* the **code bundle** (:mod:`.bundle`): the functions' sources and
  ``add_local_python_source`` modules (on ``sys.path`` in the container), and the
  ``add_local_dir`` / ``add_local_file`` steps without ``copy=True`` (at their
  ``remote_path``, linked at container start);
* each **image** whose steps have ``copy=True`` (``COPY`` into the image), and the
  build context of ``from_dockerfile`` / ``dockerfile_commands``.

The same ignore rules as the uploads themselves apply (:class:`.bundle.IgnoreRules`),
because both call the same functions; credential-looking files left out are listed
with the pattern they matched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pcompile.compiler import bundle
from pcompile.compiler.ir import AppSpec, ImageSpec, ImageStep

CODE_ON_PATH = "<sys.path>"
CODE_DIR = "/root"  # where copy=True python sources go (compiler.images.CODE_DIR)


@dataclass(frozen=True)
class Upload:
    """One local file and its destination; ``via`` is ``code bundle`` or ``image <id>``."""

    local: str
    destination: str
    via: str


@dataclass(frozen=True)
class UploadPlan:
    """What a deploy of one app uploads, and what it leaves out as credentials."""

    files: tuple[Upload, ...]
    excluded: tuple[bundle.Excluded, ...]

    def to_json(self, root: Path) -> dict[str, list[dict[str, str]]]:
        """``{"files": [...], "excluded": [...]}``, sorted, paths relative to ``root``."""
        return {
            "files": [{"local": u.local, "destination": u.destination, "via": u.via} for u in self.files],
            "excluded": [
                {"local": shown(e.path, root) + ("/" if e.path.is_dir() else ""), "pattern": e.pattern}
                for e in self.excluded
            ],
        }


def shown(path: Path, root: Path) -> str:
    """``path`` relative to the project when inside it, else absolute (posix)."""
    path = path.absolute()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def upload_plan(app: AppSpec, root: Path) -> UploadPlan:
    """Every file the code bundle and the app's images take from this machine."""
    root = root.absolute()
    files: set[Upload] = set()
    excluded: dict[Path, bundle.Excluded] = {}
    for rel, path in bundle.app_code_files(app, root).items():
        files.add(Upload(shown(path, root), f"{CODE_ON_PATH}/{rel}", "code bundle"))
    for step in _unique(s for image in app.images for s in _local_steps(image, copy=False)):
        files.update(_step_uploads(step, root, "code bundle", excluded))
    for image in sorted(app.images, key=lambda i: i.id):
        for step in _local_steps(image, copy=True):
            files.update(_step_uploads(step, root, f"image {image.id}", excluded))
        for folder in _context_dirs(image):
            found, left_out = bundle.scan_files(_local(root, folder), root=root)
            excluded.update((e.path, e) for e in left_out)
            files.update(
                Upload(shown(p, root), f"(build context)/{rel}", f"image {image.id}")
                for rel, p in found.items()
            )
    ordered = sorted(files, key=lambda u: (u.local, u.destination, u.via))
    return UploadPlan(tuple(ordered), tuple(excluded[p] for p in sorted(excluded)))


def _local_steps(image: ImageSpec, *, copy: bool) -> list[ImageStep]:
    kinds = ("add_local_dir", "add_local_file", "add_local_python_source")
    return [s for s in image.steps if s.kind in kinds and bool(s.args.get("copy")) == copy]


def _unique(steps: Iterable[ImageStep]) -> list[ImageStep]:
    """The same step used by several images is uploaded once (as the bundle does)."""
    seen: dict[str, ImageStep] = {}
    for step in steps:
        seen.setdefault(json.dumps([step.kind, step.args], sort_keys=True, default=str), step)
    return [seen[k] for k in sorted(seen)]


def _step_uploads(
    step: ImageStep, root: Path, via: str, excluded: dict[Path, bundle.Excluded]
) -> set[Upload]:
    if step.kind == "add_local_python_source":
        if via == "code bundle":
            return set()  # already among app_code_files
        out: set[Upload] = set()
        for module in step.args.get("modules") or []:
            out.update(
                Upload(shown(p, root), f"{CODE_DIR}/{rel}", via)
                for rel, p in bundle.module_files(module, root).items()
            )
        return out
    found, left_out = bundle.scan_step(step, root)
    excluded.update((e.path, e) for e in left_out)
    if step.kind == "add_local_file":
        ((name, path),) = found.items()
        return {Upload(shown(path, root), bundle.file_target(step, name), via)}
    remote = PurePosixPath(str(step.args["remote_path"]))
    return {Upload(shown(p, root), (remote / rel).as_posix(), via) for rel, p in found.items()}


def _context_dirs(image: ImageSpec) -> list[str]:
    steps = [image.base, *image.steps]
    return [str(s.args["context_dir"]) for s in steps if s.args.get("context_dir")]


def _local(root: Path, value: str) -> Path:
    return Path(value) if os.path.isabs(value) else root / value
