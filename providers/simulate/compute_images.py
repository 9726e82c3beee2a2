"""Which interpreter runs an image on a simulate stack: the image → local environment hand-off.

Lambda functions and Batch job definitions in the emulator name their image only
by URI (``<registry>/<app>:<content tag>``, planned by
:func:`pcompile.providers.builders.plan_image_refs`). Without a container engine
and a registry the simulated compute cannot pull that image, so a simulate
deploy "pushes" an image by building the image's local environment (exactly as
``pcompile run`` builds it, :mod:`pcompile.providers.local.envs`) and recording
``image URI → environment`` in ``.pcompile/simulate/<stack>/images.json``
(:class:`SimulatedImages`, an ``ImagePublisher`` for
:func:`pcompile.providers.deploy.deploy`). The compute service resolves every URI
it reads from the emulator through that record (:func:`resolve`); a URI that was
never published runs on the service's own interpreter, with a warning in the
function's log, as ``pcompile run --no-image-env`` would (also forced by
``PCOMPILE_IMAGE_ENV=0``).

Only the interpreter and the image's own ``env`` step variables come from the
record: the user's code reaches the runtime through the code bundle named in the
function's environment, never through a local path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pcompile.compiler.ir import AppSpec, ImageSpec

IMAGES_FILE = "images.json"
CODE_DIR_ENV = "PCOMPILE_CODE_DIR"  # pcompile.runtime.bundle.DIR_ENV: where the bundle is unpacked


def fresh_code_dir() -> Path:
    """A new, empty folder (mode 0700) for one execution environment's code bundle; the
    runtime unpacks there when ``CODE_DIR_ENV`` names it. The caller removes it.

    On AWS every execution environment starts with an empty ``/tmp``. Here runtimes share
    this machine's, where the runtime would find a bundle another environment (or another
    stack) unpacked and never fetch its own: a role that lost read on the bundle would
    still run. So each environment unpacks into a folder of its own.
    """
    root = Path(tempfile.gettempdir()) / "pcompile-code"
    root.mkdir(mode=0o700, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="simulated-env-", dir=root))


@dataclass(frozen=True)
class Launch:
    """How to start a runtime process for one image."""

    python: str
    env: dict[str, str] = field(default_factory=dict)
    how: str = "interpreter"  # "image-env": the image's local environment; "interpreter": ours

    def argv(self, command: list[str]) -> list[str]:
        """``command`` from the emulator (entry point + command), ``python`` mapped to this image's."""
        if command and Path(command[0]).name in ("python", "python3"):
            return [self.python, *command[1:]]
        return list(command)


def images_file(state_dir: Path) -> Path:
    """The record of published images in a stack's simulate folder."""
    return state_dir / IMAGES_FILE


def read_images(state_dir: Path) -> dict[str, dict[str, Any]]:
    """``{image URI: {"image_id", "python", "env"}}`` ({} before the first publish)."""
    try:
        data = json.loads(images_file(state_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_image(state_dir: Path, ref: str, image_id: str, python: str, env: dict[str, str]) -> None:
    """Add (or replace) ``ref`` in the record, written atomically with mode 0600."""
    state_dir.mkdir(parents=True, exist_ok=True)
    data = read_images(state_dir)
    data[ref] = {"env": dict(sorted(env.items())), "image_id": image_id, "python": python}
    tmp = images_file(state_dir).with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, images_file(state_dir))


def resolve(state_dir: Path, ref: str, use_envs: bool | None = None) -> Launch:
    """The environment that runs image ``ref``: its recorded local environment, else ours."""
    from pcompile.providers.local.envs import enabled_by_default

    if use_envs is None:
        use_envs = enabled_by_default()
    entry = read_images(state_dir).get(ref) if use_envs else None
    if entry and Path(str(entry["python"])).exists():
        return Launch(str(entry["python"]), dict(entry.get("env") or {}), "image-env")
    return Launch(sys.executable, {}, "interpreter")


class SimulatedImages:
    """The ``ImagePublisher`` of a simulate stack: publishing ``ref`` builds the image's local
    environment (shared with ``pcompile run``) and records it under ``ref``."""

    def __init__(
        self, state_dir: Path, app: AppSpec, say: Callable[[str], None] | None = None, cloud: str = "aws"
    ) -> None:
        self.state_dir = state_dir
        self.app = app
        self.say = say
        self.cloud = cloud

    def exists(self, ref: str) -> bool:
        """Whether ``ref`` was published and its environment is still built."""
        entry = read_images(self.state_dir).get(ref)
        return entry is not None and Path(str(entry["python"])).exists()

    def publish(self, image: ImageSpec, ref: str, root: Path) -> None:
        """Build (or reuse) the environment of ``image`` and record it as ``ref``."""
        from pcompile.compiler.images import runtime_requirements
        from pcompile.providers.local import envs

        web = frozenset(f.web.kind for f in self.app.functions if f.image == image.id and f.web is not None)
        plan = envs.plan_image(image, root, web_kinds=web)
        # what the cloud's image adds for the runtime (boto3; google-cloud-storage ...), as the
        # generated Dockerfile does
        runtime = tuple(sorted({*plan.runtime, *runtime_requirements(self.cloud)}))
        plan = dataclasses.replace(
            plan, runtime=runtime, key_parts={**plan.key_parts, "runtime": list(runtime)}
        )
        if self.say is not None:
            envs.ensure(plan, self.say)
        else:
            envs.ensure(plan)
        record_image(
            self.state_dir, ref, image.id, str(plan.python), {**plan.env, "PCOMPILE_IMAGE_ID": image.id}
        )
