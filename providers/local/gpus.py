"""GPUs for local workers: which devices a worker of a ``gpu=`` function sees.

``nvidia-smi -L`` lists the GPUs present (``GPU 0: NVIDIA H200 (UUID: GPU-...)``); a
caller's ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs) narrows them, as it would for any
CUDA program. Each worker of a GPU function gets as many devices as its ``gpu=`` count
asks, by ``CUDA_VISIBLE_DEVICES`` (PCI bus order, which is ``nvidia-smi``'s), and holds
them until it exits: a device is taken by an exclusive ``flock`` on its lock file under
:func:`lock_dir`, so no two workers share one, across pools, nested calls and
concurrent ``pcompile run``/``serve`` processes of the same user; the kernel drops the
lock when the process holding it dies.

When too few devices are free a new worker waits for them (its inputs stay queued);
an idle GPU worker gives its devices back when another function, in this process or
another one of the user's, is waiting for them (:data:`RECLAIM_IDLE_S`). Workers of
CPU functions see no GPU (``CUDA_VISIBLE_DEVICES=""``), as a Modal CPU container does.
The GPU type is not enforced here: a present device whose name does not mention the
type asked for is a warning. A count larger than the GPUs present is an error naming the function's
``file:line``; with no GPU at all, each GPU function runs on CPU after one warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pcompile.exception import InvalidError

ALLOWED_ENV = "PCOMPILE_GPUS"  # UUIDs this run may use; workers inherit it for nested calls
RECLAIM_IDLE_S = 1.0  # an idle GPU worker gives its devices to a waiting function after this
_LINE = re.compile(r"^GPU (\d+): (.+?) \(UUID: ([^)\s]+)\)\s*$")
Say = Callable[[str, str, bool], None]  # a pool log sink: (label, line, is_err)


@dataclass(frozen=True)
class Gpu:
    """One device from ``nvidia-smi -L``."""

    index: int
    name: str
    uuid: str


@dataclass(frozen=True)
class Found:
    """The GPUs this run may use, or why there are none."""

    gpus: tuple[Gpu, ...]
    problem: str | None = None


def parse_list(text: str) -> list[Gpu]:
    """The GPUs in ``nvidia-smi -L`` output (MIG lines, indented under their GPU, are skipped)."""
    found = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            found.append(Gpu(int(match.group(1)), match.group(2).strip(), match.group(3)))
    return found


def visible(gpus: Iterable[Gpu], env: Mapping[str, str]) -> tuple[Gpu, ...]:
    """``gpus`` narrowed by :data:`ALLOWED_ENV`, else by the caller's ``CUDA_VISIBLE_DEVICES``."""
    chosen = env.get(ALLOWED_ENV, env.get("CUDA_VISIBLE_DEVICES"))
    every = tuple(gpus)
    if chosen is None:
        return every
    wanted = [w.strip() for w in chosen.split(",") if w.strip()]
    return tuple(g for g in every if str(g.index) in wanted or g.uuid in wanted)


_cache: dict[tuple[Any, ...], Found] = {}
_cache_lock = threading.Lock()


def probe(env: Mapping[str, str] | None = None) -> Found:
    """The GPUs present and visible (``nvidia-smi -L``, run once per process and PATH)."""
    env = os.environ if env is None else env
    tool = shutil.which("nvidia-smi", path=env.get("PATH"))
    key = (tool, env.get(ALLOWED_ENV), env.get("CUDA_VISIBLE_DEVICES"))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _run_probe(tool, env)
        return _cache[key]


def _run_probe(tool: str | None, env: Mapping[str, str]) -> Found:
    if tool is None:
        return Found((), "nvidia-smi is not on PATH")
    try:
        out = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return Found((), f"`nvidia-smi -L` did not run: {exc}")
    if out.returncode != 0:
        said = (out.stderr.strip() or out.stdout.strip()).splitlines()
        return Found((), f"`nvidia-smi -L` failed ({said[-1] if said else f'exit code {out.returncode}'})")
    present = parse_list(out.stdout)
    if not present:
        return Found((), "`nvidia-smi -L` lists no GPU")
    gpus = visible(present, env)
    if not gpus:
        return Found((), f"CUDA_VISIBLE_DEVICES / {ALLOWED_ENV} hides all {len(present)} GPUs here")
    return Found(gpus)


# --------------------------------------------------------------------------- requests


def choices(spec: Mapping[str, Any]) -> list[tuple[str, int]]:
    """``(type, count)`` of a function's ``gpu=`` in order of preference; empty for CPU."""
    gpu = spec.get("gpu")
    if not gpu:
        return []
    first = (str(gpu["type"]), int(gpu.get("count") or 1))
    return [first, *((str(f["type"]), int(f.get("count") or 1)) for f in gpu.get("fallbacks") or ())]


def _site(spec: Mapping[str, Any]) -> str:
    where = spec.get("source") or {}
    return f" ({where['file']}:{where['line']})" if where.get("file") else ""


def _spelled(kind: str, count: int) -> str:
    return f'gpu="{kind}"' if count == 1 else f'gpu="{kind}:{count}"'


def count_for(spec: Mapping[str, Any], found: Found) -> int:
    """Devices each worker of ``spec`` gets: the first choice whose count fits; 0 for CPU."""
    wanted = choices(spec)
    if not wanted or not found.gpus:
        return 0
    for _, count in wanted:
        if count <= len(found.gpus):
            return count
    kind, count = wanted[0]
    raise InvalidError(
        f"function {spec['name']!r}{_site(spec)}: {_spelled(kind, count)} asks for {count} GPUs, but "
        f"only {len(found.gpus)} {'is' if len(found.gpus) == 1 else 'are'} present here (nvidia-smi -L); "
        f"lower the count (e.g. {_spelled(kind, len(found.gpus))}) or run it in the cloud with pcompile deploy"
    )


def _names_type(name: str, kind: str) -> bool:
    """Whether a device name such as ``NVIDIA A100-SXM4-80GB`` is of type ``A100-80GB``."""
    base = kind.rstrip("!").split("-")[0].upper()
    return (
        base == "ANY" or re.search(rf"(?<![A-Z0-9]){re.escape(base)}(?![A-Z0-9])", name.upper()) is not None
    )


def check_app(specs: Iterable[Mapping[str, Any]], say: Say) -> None:
    """Before any function runs: refuse GPU counts larger than the GPUs present, and warn,
    once per function, that a GPU function runs on CPU (no GPU here) or on another type."""
    gpu_specs = sorted((s for s in specs if s.get("gpu")), key=lambda s: str(s["name"]))
    if not gpu_specs or os.environ.get("PCOMPILE_WORKER"):
        return  # in a worker (nested calls) the top level has checked and warned already
    found = probe()
    for spec in gpu_specs:
        count = count_for(spec, found)
        kind, asked = choices(spec)[0]
        if not count:
            say(
                str(spec["name"]),
                f"warning: {spec['name']}{_site(spec)} asks for {_spelled(kind, asked)} "
                f"but there is no GPU here ({found.problem}); it runs on CPU",
                True,
            )
        elif not any(_names_type(g.name, k) for g in found.gpus for k, _ in choices(spec)):
            names = ", ".join(sorted({g.name for g in found.gpus}))
            say(
                str(spec["name"]),
                f"warning: {spec['name']}{_site(spec)} asks for {kind}; the GPUs here are {names}, "
                "and it runs on them (the type is not checked locally)",
                True,
            )


# --------------------------------------------------------------------------- claims


def lock_dir() -> Path:
    """Where device lock files live: ``$PCOMPILE_GPU_LOCK_DIR``, else the user's cache
    (``$XDG_CACHE_HOME/pcompile/gpus``): one place per user, shared by all their runs."""
    configured = os.environ.get("PCOMPILE_GPU_LOCK_DIR")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(configured) if configured else Path(cache) / "pcompile" / "gpus"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class Claim:
    """Devices held for one worker until :meth:`release`."""

    def __init__(self, gpus: tuple[Gpu, ...], fds: list[int], allowed: tuple[Gpu, ...]) -> None:
        self.gpus = gpus
        self.fds = fds
        self.allowed = allowed
        self.lock = threading.Lock()

    def env(self) -> dict[str, str]:
        """The worker's device variables."""
        return {
            "CUDA_VISIBLE_DEVICES": ",".join(str(g.index) for g in self.gpus),
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # indices as nvidia-smi numbers them
            ALLOWED_ENV: ",".join(g.uuid for g in self.allowed),
        }

    def release(self, wake: bool = True) -> None:
        """Give the devices back (idempotent) and, unless ``wake`` is false (the caller holds
        a pool's lock), wake the functions waiting for them."""
        with self.lock:
            fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)  # closing drops the flock
        if fds and wake:
            _wake_waiters()


def cpu_env(found: Found | None = None) -> dict[str, str]:
    """The device variables of a worker that gets no GPU: it sees none, as on Modal."""
    env = {"CUDA_VISIBLE_DEVICES": ""}
    if found is not None and found.gpus:
        env[ALLOWED_ENV] = ",".join(g.uuid for g in found.gpus)  # its nested GPU calls may use them
    return env


def claim(count: int, found: Found) -> Claim | None:
    """Take ``count`` free devices (lowest index first), or None when too few are free."""
    folder = lock_dir()
    held: list[tuple[Gpu, int]] = []
    for gpu in sorted(found.gpus, key=lambda g: g.index):
        name = re.sub(r"[^A-Za-z0-9._-]", "_", gpu.uuid)
        fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        held.append((gpu, fd))
        if len(held) == count:
            return Claim(tuple(g for g, _ in held), [fd for _, fd in held], found.gpus)
    for _, fd in held:
        os.close(fd)
    return None


# --------------------------------------------------------------------------- waiting

_waiters: dict[int, Callable[[], None]] = {}
_waiters_lock = threading.Lock()
# While a pool of this process waits, ``waiting-<pid>.flag`` in the lock folder is held
# (flock): idle GPU workers of other processes (other runs, nested calls in workers) see
# it and give their devices back too. A flag nobody holds is a dead process's: ignored.
_flag: tuple[Path, int] | None = None


def wait_for_devices(owner: object, wake: Callable[[], None]) -> None:
    """``owner`` (a pool) needs devices: ``wake`` is called whenever some are given back."""
    with _waiters_lock:
        _waiters[id(owner)] = wake
        _update_flag()


def stop_waiting(owner: object) -> None:
    """``owner`` got its devices, or is closing."""
    with _waiters_lock:
        _waiters.pop(id(owner), None)
        _update_flag()


def _update_flag() -> None:
    """Hold this process's waiting flag while it has waiters (lock held)."""
    global _flag
    if _waiters and _flag is None:
        path = lock_dir() / f"waiting-{os.getpid()}.flag"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _flag = (path, fd)
    elif not _waiters and _flag is not None:
        (path, fd), _flag = _flag, None
        path.unlink(missing_ok=True)
        os.close(fd)


def others_waiting(owner: object) -> bool:
    """Whether a pool other than ``owner``, here or in another process, waits for devices
    (idle GPU workers then give theirs back)."""
    with _waiters_lock:
        if any(key != id(owner) for key in _waiters):
            return True
    return _waiting_elsewhere()


def _waiting_elsewhere() -> bool:
    folder = lock_dir()
    mine = f"waiting-{os.getpid()}.flag"
    for name in os.listdir(folder):
        if not name.startswith("waiting-") or name == mine:
            continue
        try:
            fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # just removed: that process got its devices
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True  # held: a live process waits
        finally:
            os.close(fd)
    return False


def _wake_waiters() -> None:
    with _waiters_lock:
        wakes = list(_waiters.values())
    for wake in wakes:  # outside the lock: a wake takes its pool's lock
        # A pool that cannot start a worker now tries again from its watchdog; the
        # worker that released these devices must still report its own exit.
        with contextlib.suppress(Exception):
            wake()
