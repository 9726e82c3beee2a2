"""``pcompile run --containers``: runtime workers inside their function's image.

The local pool normally starts ``python -m pcompile.runtime worker --in-fd R
--out-fd W`` as a plain process. With containers it calls
:func:`run_worker_in_container` instead, which starts the same worker inside the
function's image (built on demand, content-addressed, so a second run builds
nothing) with podman or docker:

* the two channel pipes are handed in with ``--preserve-fds`` (podman) and appear
  as fds 3 and 4 inside the container, so the worker's stdout stays free for the
  user's prints;
* host folders the worker needs (the project root, staging and slot folders,
  volume folders) are bind-mounted at the same absolute paths, so the pool's init
  frame works unchanged;
* the container is named, and killing the returned process also removes the
  container (a SIGKILLed ``podman run`` would leave it running).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec
from pcompile.providers.builders import Builder, ImageBuilder
from pcompile.providers.settings import StackSettings

CONTAINER_IN_FD = 3
CONTAINER_OUT_FD = 4
ENGINES = ("podman", "docker")


def container_engine(settings: StackSettings) -> str:
    """The engine that runs containers: the stack's builder when it is one, else the first installed."""
    preferred = [settings.builder] if settings.builder in ENGINES else []
    for engine in (*preferred, *ENGINES):
        if shutil.which(engine):
            return engine
    raise UserError(
        "`pcompile run --containers` needs podman or docker, and neither is installed",
        fix="install podman (apt-get install podman) or docker, or run without --containers",
    )


def ensure_function_images(
    app: AppSpec, images: ImageBuilder, log: Callable[[str], None] = print
) -> dict[str, str]:
    """Build every image ``app``'s functions use (skipping existing tags); ``{function: ref}``."""
    refs: dict[str, str] = {}
    by_image: dict[str, str] = {}
    for fn in app.functions:
        if fn.image not in by_image:
            by_image[fn.image] = images.ensure(app, app.image(fn.image))
            log(f"image for {fn.name}: {by_image[fn.image]}")
        refs[fn.name] = by_image[fn.image]
    return refs


def worker_argv(
    engine: str,
    ref: str,
    worker_args: Sequence[str] = (),
    *,
    name: str,
    binds: Sequence[str | Path] = (),
    env: Mapping[str, str] | None = None,
    run_flags: Sequence[str] = (),
    network: str | None = "host",
) -> list[str]:
    """The ``podman run`` / ``docker run`` command of one containerised worker."""
    argv = [engine, "run", "--rm", "--name", name]
    if engine == "podman":
        argv += ["--preserve-fds", "2"]
    if network:
        argv += ["--network", network]
    for path in sorted({str(Path(b).resolve()) for b in binds}):
        argv += ["-v", f"{path}:{path}"]
    for key in sorted(env or {}):
        argv += ["-e", f"{key}={(env or {})[key]}"]
    argv += [*run_flags, ref, "python", "-m", "pcompile.runtime", "worker"]
    return [*argv, "--in-fd", str(CONTAINER_IN_FD), "--out-fd", str(CONTAINER_OUT_FD), *worker_args]


class ContainerProcess(subprocess.Popen[bytes]):
    """A ``podman run`` process whose ``kill``/``terminate`` also remove its container."""

    engine: str = "podman"
    container: str = ""

    def kill(self) -> None:
        """Kill the client and force-remove the container."""
        super().kill()
        self.remove_container()

    def terminate(self) -> None:
        """SIGTERM is proxied to the container by the engine."""
        super().terminate()

    def remove_container(self) -> None:
        """``<engine> rm -f <name>``; quiet when it is already gone."""
        subprocess.run([self.engine, "rm", "-f", "-t", "0", self.container], capture_output=True, check=False)


def _remap_fds(in_fd: int, out_fd: int) -> Callable[[], None]:
    """A preexec hook putting the pipe ends on fds 3 and 4 (inheritable) in the child."""

    def remap() -> None:
        a, b = os.dup(in_fd), os.dup(out_fd)
        os.dup2(a, CONTAINER_IN_FD)
        os.dup2(b, CONTAINER_OUT_FD)
        os.set_inheritable(CONTAINER_IN_FD, True)
        os.set_inheritable(CONTAINER_OUT_FD, True)

    return remap


def run_worker_in_container(
    ref: str,
    *,
    in_fd: int,
    out_fd: int,
    worker_args: Sequence[str] = (),
    binds: Sequence[str | Path] = (),
    env: Mapping[str, str] | None = None,
    engine: str = "podman",
    run_flags: Sequence[str] = (),
    network: str | None = "host",
    **popen_kwargs: Any,
) -> ContainerProcess:
    """Start ``python -m pcompile.runtime worker`` inside image ``ref``.

    ``in_fd``/``out_fd`` are this process's ends of the channel pipes (what the local
    pool passes with ``pass_fds`` today); ``worker_args`` are the worker's other
    arguments (``--slot PATH``); ``env`` the variables to set inside (not the host
    environment). Extra keyword arguments go to :class:`subprocess.Popen`
    (``stdout=PIPE`` ...).
    """
    if engine != "podman":
        raise UserError(
            f"`pcompile run --containers` passes the worker's pipes with podman's --preserve-fds; {engine} has none",
            fix="install podman, or run without --containers",
        )
    name = f"pcompile-worker-{uuid.uuid4().hex[:12]}"
    argv = worker_argv(
        engine, ref, worker_args, name=name, binds=binds, env=env, run_flags=run_flags, network=network
    )
    popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
    proc = ContainerProcess(argv, close_fds=False, preexec_fn=_remap_fds(in_fd, out_fd), **popen_kwargs)
    proc.engine, proc.container = engine, name
    return proc


def container_env(worker_env: Mapping[str, str], host_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The part of a local worker's environment that belongs inside its container:
    ``PCOMPILE_*``/``PYTHONUNBUFFERED`` and whatever differs from this process's
    environment (secrets, per-function env), never the host's PATH or HOME."""
    host = os.environ if host_env is None else host_env
    skip = {
        "PATH",
        "HOME",
        "HOSTNAME",
        "PWD",
        "SHELL",
        "TERM",
        "USER",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
    }
    keep = {
        k: v
        for k, v in worker_env.items()
        if k not in skip and (k.startswith(("PCOMPILE_", "PYTHONUNBUFFERED")) or host.get(k) != v)
    }
    return dict(sorted(keep.items()))


def image_builder_for_run(
    settings: StackSettings, root: Path, builder: Builder | None = None
) -> ImageBuilder:
    """An :class:`ImageBuilder` that builds local images only (no registry, no push)."""
    images = ImageBuilder.for_stack(settings, root, builder)
    images.registry = None
    images.platform = None  # run here, on this host's architecture
    return images


@dataclass
class ContainerWorkers:
    """Everything the local pool needs to start its workers in containers.

    ``prepare`` builds (or finds) each function's image once; ``popen`` then replaces
    the pool's ``subprocess.Popen([sys.executable, "-m", "pcompile.runtime", "worker",
    ...], pass_fds=...)`` for one worker of ``function``.
    """

    refs: dict[str, str]
    root: Path
    engine: str = "podman"
    run_flags: tuple[str, ...] = ()
    binds: tuple[Path, ...] = field(default_factory=tuple)

    @classmethod
    def prepare(
        cls,
        app: AppSpec,
        settings: StackSettings,
        root: Path,
        builder: Builder | None = None,
        log: Callable[[str], None] = print,
    ) -> ContainerWorkers:
        """Build the app's images for local runs and pick the engine."""
        engine = container_engine(settings)
        images = image_builder_for_run(settings, root, builder)
        images.log = log
        refs = ensure_function_images(app, images, log)
        return cls(refs, root, engine, tuple(settings.run_flags))

    def bind_paths(self, worker_args: Sequence[str], env: Mapping[str, str]) -> list[Path]:
        """Host folders the worker reads or writes: project root, local state, slot file's folder."""
        paths = [self.root, *self.binds]
        if env.get("PCOMPILE_LOCAL_DIR"):
            paths.append(Path(env["PCOMPILE_LOCAL_DIR"]))
        args = list(worker_args)
        if "--slot" in args:
            paths.append(Path(args[args.index("--slot") + 1]).parent)
        return paths

    def popen(
        self,
        function: str,
        *,
        in_fd: int,
        out_fd: int,
        worker_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        **popen_kwargs: Any,
    ) -> ContainerProcess:
        """Start one worker for ``function`` in its image (see :func:`run_worker_in_container`)."""
        worker_env = dict(env if env is not None else os.environ)
        for path in self.bind_paths(worker_args, worker_env):
            path.mkdir(parents=True, exist_ok=True)
        return run_worker_in_container(
            self.refs[function],
            in_fd=in_fd,
            out_fd=out_fd,
            worker_args=worker_args,
            binds=self.bind_paths(worker_args, worker_env),
            env=container_env(worker_env),
            engine=self.engine,
            run_flags=self.run_flags,
            **popen_kwargs,
        )
