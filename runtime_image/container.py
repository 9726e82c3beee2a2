"""The container runtime both clouds share: one function's container, driven by requests.

A *request* (the body of a Cloud Run ``POST /invoke``, a Lambda invoke event, a Batch
task's input object) is an envelope (:mod:`.protocol`) holding::

    {"function": name, "kind": "call" | "gen", "cls_params": {...},
     "inputs": payload of [(args, kwargs), ...], "first": index of inputs[0],
     "call": "<id>" or None}

Each input gives one result dict (``{"status": "ok", "value": payload}`` or
``{"status": "error", "error": {...}}``; a generator's value is the list of its
items). With a ``call`` each result is also stored as an envelope at
``fn/<function>/out/<id>/<index>.result`` in the staging bucket (:func:`result_key`;
the layout is :mod:`.staging`), which is where a durable ``FunctionCall`` id points.

At start: the code bundle is installed, the cloud's secrets are exported to the
environment (:meth:`ContainerRuntime.export_secrets`, per cloud), volumes
(``{mount: {"url": "gs://bucket" | "s3://bucket", "read_only": bool}}``) are copied
down and made to reach their mount path, and ``@enter`` hooks run. After every
input, files changed under a writable volume are copied back (an automatic
``commit``). :mod:`.gcp_container` and :mod:`.aws_runtime` read their cloud's
environment contract into a :class:`ContainerRuntime`.
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import mounts, protocol, staging
from .execute import Container, retry_delay
from .storage import Storage, open_storage

# A synchronous answer larger than this is staged: Lambda answers at most 6 MB (base64 adds a
# third), Cloud Run 32 MiB.
RESPONSE_LIMIT = 4 * 1024 * 1024


def result_key(function: str, call: str, index: int) -> str:
    """Where the function stores the result of input ``index`` of a call."""
    return staging.key(function, staging.RESULTS, call, f"{index}.result")


class VolumeTooBig(RuntimeError):
    """A volume does not fit the local space it is copied into (Lambda ``/tmp``, Cloud Run memory)."""

    def __init__(self, mount: str, key: str, local: Path) -> None:
        free = shutil.disk_usage(local).free if local.exists() else 0
        super().__init__(
            f"volume at {mount} does not fit in {local} ({free // 2**20} MiB free when copying {key!r}): "
            "the whole volume is copied there at start; set ephemeral_disk= (MiB; Lambda up to 10240, "
            "more runs on Batch) or, on Cloud Run, memory=, or use a smaller volume"
        )


class VolumeSync:
    """A bucket (S3 or GCS) mirrored in a local directory: ``pull`` at start, ``push`` after each input."""

    def __init__(self, mount: str, storage: Storage, local: Path, read_only: bool) -> None:
        self.mount = mount
        self.storage = storage
        self.local = local
        self.read_only = read_only
        self._seen: dict[str, tuple[int, int]] = {}

    def _files(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for path in sorted(self.local.rglob("*")):
            if path.is_file():
                st = path.stat()
                found[path.relative_to(self.local).as_posix()] = (st.st_size, st.st_mtime_ns)
        return found

    def pull(self) -> None:
        """Copy every object of the bucket into the local directory (``reload``)."""
        lister = getattr(self.storage, "list", None)
        remote = set(lister("")) if lister else set()
        for key in sorted(remote):
            target = self.local / key
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.write_bytes(self.storage.get(key))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                raise VolumeTooBig(self.mount, key, self.local) from None
        for key in set(self._seen) - remote:  # committed elsewhere as deleted
            (self.local / key).unlink(missing_ok=True)
        self._seen = self._files()

    def push(self) -> None:
        """Upload files added or changed since the last sync, delete removed ones (``commit``)."""
        if self.read_only:
            return
        now = self._files()
        for key, stamp in now.items():
            if self._seen.get(key) != stamp:
                self.storage.put(key, (self.local / key).read_bytes())
        for key in set(self._seen) - set(now):
            self.storage.delete(key)
        self._seen = now


class MirroredVolume:
    """What ``modal.Volume`` methods reach inside a cloud container: ``commit``/``reload`` sync the mirror."""

    def __init__(self, name: str, sync: VolumeSync | None) -> None:
        self.name = name
        self.sync = sync

    def _mounted(self) -> VolumeSync:
        if self.sync is None:
            raise RuntimeError(
                f"volume {self.name!r} is not mounted in this function; add it to volumes={{...}}"
            )
        return self.sync

    def commit(self) -> None:
        """Upload what changed under the mount path."""
        self._mounted().push()

    def reload(self) -> None:
        """Fetch what other containers committed."""
        self._mounted().pull()

    def __getattr__(self, attr: str) -> Any:
        raise NotImplementedError(
            f"Volume.{attr}() is not available inside a cloud container; read and write files under the "
            "volume's mount path instead"
        )


class ContainerRuntime:
    """One container's state: its function spec, staging storage, volumes and class instances.

    Each cloud's subclass reads its own environment contract into these values and
    says where secrets come from (:meth:`export_secrets`).
    """

    def __init__(
        self, spec: dict[str, Any], storage: Storage, volumes: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self.spec = spec
        self.storage = storage
        self.volumes = self._volumes(volumes)
        self._containers: dict[bytes, Container] = {}
        self._lock = threading.Lock()
        # Sync functions under @concurrent run side by side; async ones share one event loop.
        concurrency = self.spec.get("concurrency") or {}
        self.serial = self.spec.get("is_async") or int(concurrency.get("max_inputs") or 1) <= 1
        self.max_inputs = 1 if self.serial else int(concurrency["max_inputs"])
        self._run_lock = threading.Lock()
        # Large results go under this function's own output prefix, the only one it may write.
        self.result_blobs = staging.blobs(self.spec["name"], staging.RESULTS)

    def _volumes(self, buckets: Mapping[str, Mapping[str, Any]]) -> list[VolumeSync]:
        root = Path(tempfile.mkdtemp(prefix="pcompile-volumes-"))
        return [
            VolumeSync(mount, open_storage(vol["url"]), root / str(i), bool(vol.get("read_only")))
            for i, (mount, vol) in enumerate(sorted(buckets.items()))
        ]

    def start(self) -> None:
        """Code, secrets, volumes, and ``@enter`` hooks of a parameterless class (before serving)."""
        from . import bundle

        bundle.install_from_env(dict(os.environ))
        try:
            from pcompile import _modal_alias

            _modal_alias.install()  # user modules say ``import modal``
        except ImportError:
            pass
        self.export_secrets()
        for vol in self.volumes:
            vol.local.mkdir(parents=True, exist_ok=True)
            vol.pull()
        mounts.apply({vol.mount: str(vol.local) for vol in self.volumes})
        self._install_volume_backend()
        # Web functions are built (and servers started) by the http mode; others warm up here.
        if not self.spec.get("web") and not (self.spec.get("cls") or {}).get("parameters"):
            self.container({}).start()

    def export_secrets(self) -> None:
        """Put the function's secrets into ``os.environ`` before user code runs (per cloud)."""
        raise NotImplementedError(f"{type(self).__name__} does not say where its secrets come from")

    def _install_volume_backend(self) -> None:
        """Route ``Volume.commit()`` / ``reload()`` in user code to this container's mirrors."""
        names = dict(self.spec.get("volumes") or {})
        by_name = {names[vol.mount]: vol for vol in self.volumes if vol.mount in names}
        try:
            from pcompile import _storage
        except ImportError:  # pragma: no cover - the SDK ships with the runtime
            return
        _storage.set_factory("volume", lambda name: MirroredVolume(name, by_name.get(name)))

    def container(self, cls_params: dict[str, Any]) -> Container:
        """The container serving ``cls_params`` (Modal runs one parameter set per container)."""
        key = pickle.dumps(sorted(cls_params.items()))
        with self._lock:
            if key not in self._containers:
                self._containers[key] = Container([self.spec], cls_params)
            return self._containers[key]

    def handle(self, request: dict[str, Any], skip_done: bool = False) -> list[dict[str, Any]]:
        """Run every input of a request; store results under its prefix when it has one.

        A request packs many inputs: a function under ``@modal.concurrent`` runs up to
        ``max_inputs`` of them at once, others one after another. Each input settles on its
        own (retries, its own exception); with a ``call`` its result is stored as it finishes.
        With ``skip_done`` (a re-run Batch task) inputs whose result is already stored are skipped.
        """
        if request["function"] != self.spec["name"]:
            raise ValueError(f"this container serves {self.spec['name']!r}, not {request['function']!r}")
        inputs = staging.unpack(request["inputs"], self.storage)
        container = self.container(dict(request.get("cls_params") or {}))
        call, first = request.get("call"), int(request.get("first", 0))
        done = self._stored(call) if call and skip_done else set()
        todo = []
        for offset, (args, kwargs) in enumerate(inputs):
            key = result_key(self.spec["name"], call, first + offset) if call else None
            if key is None or not (key in done if done is not None else self.storage.exists(key)):
                todo.append((key, tuple(args), dict(kwargs)))
        kind = request.get("kind", "call")

        def settle(item: tuple[str | None, tuple[Any, ...], dict[str, Any]]) -> dict[str, Any]:
            key, args, kwargs = item
            result = self._run_one(container, kind, args, kwargs)
            if key:
                self.storage.put(key, protocol.dump_envelope(result))
            return result

        workers = min(len(todo), self.max_inputs)
        if workers <= 1:
            return [settle(item) for item in todo]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pcompile-input") as pool:
            return list(pool.map(settle, todo))

    def _stored(self, call: str) -> set[str] | None:
        """Keys of the call's results already stored: one listing, not a request per input
        (None when the storage cannot list)."""
        under = f"{staging.prefix(self.spec['name'], staging.RESULTS)}/{call}/"
        lister = getattr(self.storage, "list", None)
        return set(lister(under)) if lister else None

    def answer(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """The body of a synchronous answer: the results inline, or staged under the
        function's results prefix when together they would pass :data:`RESPONSE_LIMIT`
        (a packed request's results each fit inline; dozens of them may not)."""
        body = {"results": results}
        if len(protocol.dump_envelope(body)) <= RESPONSE_LIMIT:
            return body
        return {"staged": staging.pack(results, self.storage, blobs=self.result_blobs, limit=0)}

    def _run_one(
        self, container: Container, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """One input with Modal's retries (delays from ``modal.Retries``); volumes committed after."""
        retries = self.spec.get("retries") or {}
        attempt = 0
        while True:
            try:
                value = self._call(container, kind, args, kwargs)
                result = {
                    "status": "ok",
                    "value": staging.pack(value, self.storage, blobs=self.result_blobs),
                }
                break
            except Exception as exc:
                result = {"status": "error", "error": protocol.error_info(exc)}
                attempt += 1
                if attempt > int(retries.get("max_retries") or 0):
                    break
                time.sleep(retry_delay(retries, attempt))
        for vol in self.volumes:
            vol.push()
        return result

    def _call(self, container: Container, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.serial:
            with self._run_lock:
                return self._call_unlocked(container, kind, args, kwargs)
        return self._call_unlocked(container, kind, args, kwargs)

    def _call_unlocked(
        self, container: Container, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        name = self.spec["name"]
        if kind == "gen":
            return list(container.iterate(name, args, kwargs))
        return container.run(name, args, kwargs)

    def scheduled(self, schedule_time_s: float) -> dict[str, Any] | None:
        """A scheduled firing: the result, or None when :meth:`due` skips this tick."""
        if not self.due(schedule_time_s):
            return None
        return self._run_one(self.container({}), "call", (), {})

    def due(self, schedule_time_s: float) -> bool:
        """Whether a firing at ``schedule_time_s`` runs the function (every one, unless a cloud gates them)."""
        return True
