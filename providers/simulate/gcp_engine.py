"""The ``engine: simulate`` :class:`~pcompile.providers.deploy.Engine` for GCP stacks.

It runs the emitted project's own ``__main__.py`` (what ``pulumi up`` would run) under
Pulumi's mock engine, with the duplicate-URN check of :mod:`pcompile.providers.synth`,
and hands every custom resource to :class:`.gcp_resources.GcpResources`: buckets and
objects land in gcp-storage-emulator (the stack's ``endpoint_url``), Cloud Run services,
Scheduler jobs and secrets are validated as google-cloud messages and kept in the
control plane. Outputs come from those answers.

The engine state (``.pcompile/simulate/<stack>/gcp-state.json``: URN → type, id,
inputs, outputs) is written after every resource, so a failed step leaves it
describing what exists. A second ``up`` updates in place (every handler is an
upsert) and deletes what the program no longer declares; ``destroy`` deletes all,
newest first.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from pcompile.compiler.errors import UserError
from pcompile.providers import deploy as dep
from pcompile.providers.simulate import gcp_resources as gr

STATE_FILE = "gcp-state.json"


class GcpSimulateEngine:
    """Deploys a GCP stack into the storage emulator and the simulated control plane."""

    def __init__(self, storage_host: str, project: str, region: str, folder: Path) -> None:
        self.storage_host = storage_host.rstrip("/")
        self.project = project
        self.region = region
        self.folder = folder

    def check(self) -> None:
        """The storage emulator must answer before anything is built."""
        try:
            urllib.request.urlopen(f"{self.storage_host}/storage/v1/b?project={self.project}", timeout=5)
        except OSError as exc:
            raise UserError(
                f"the GCP storage emulator at endpoint_url {self.storage_host} does not answer ({exc})",
                fix="start it (`gcp-storage-emulator start -H 127.0.0.1 --port PORT --in-memory`) "
                "or fix endpoint_url in the stack file",
            ) from None
        os.environ["STORAGE_EMULATOR_HOST"] = self.storage_host

    def preview(self, project: dep.PulumiProject, on_output: dep.OnOutput) -> dep.EngineResult:
        """Run the program with recording mocks only: what ``up`` would create or keep."""
        from pcompile.providers.synth import _RecordingMocks

        state = self._state(project)
        mocks = _RecordingMocks(self.region)
        _run_program(project, mocks)
        changes: dict[str, int] = {}
        for resource in mocks.recorded:
            if resource.custom:
                op = "same" if resource.urn in state else "create"
                changes[op] = changes.get(op, 0) + 1
                on_output(f"{op} {resource.type} {resource.name}")
        return dep.EngineResult(dict(sorted(changes.items())), {}, "")

    def up(self, project: dep.PulumiProject, on_output: dep.OnOutput) -> dep.EngineResult:
        """Create or update every resource; delete the ones the program dropped."""
        state = self._state(project)
        mocks = _CreatingMocks(self._resources(), state, self._state_path(project), self.region, on_output)
        _run_program(project, mocks)
        for urn in [u for u in _newest_first(state) if u not in mocks.seen]:
            self._delete(state, urn, project, on_output)
            mocks.changes["delete"] = mocks.changes.get("delete", 0) + 1
        if mocks.resources.plane.table("services"):
            # The URLs deploy prints must answer, so the Cloud Run player starts now.
            from pcompile.providers.simulate.gcp_compute import ensure_running

            on_output(
                f"Cloud Run and Batch play at {ensure_running(self.folder, self.storage_host, self.project)}"
            )
        # Stack exports are not kept by the mock monitor; deploy reads the manifest the
        # program wrote to the staging bucket instead.
        return dep.EngineResult(dict(sorted(mocks.changes.items())), {}, "")

    def destroy(self, project: dep.PulumiProject, on_output: dep.OnOutput) -> dep.EngineResult:
        """Delete everything in the state, newest first."""
        state = self._state(project)
        for urn in _newest_first(state):
            self._delete(state, urn, project, on_output)
        return dep.EngineResult({"delete": len(state)} if state else {}, {}, "")

    def outputs(self, project: dep.PulumiProject) -> dict[str, Any]:
        """No stack outputs: the mock monitor drops exports (the manifest object holds them)."""
        return {}

    # ----------------------------------------------------------------- helpers

    def _resources(self) -> gr.GcpResources:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[attr-defined]

        os.environ["STORAGE_EMULATOR_HOST"] = self.storage_host
        client = storage.Client(project=self.project, credentials=AnonymousCredentials())
        plane = gr.ControlPlane.load(self.folder / gr.PLANE_FILE)
        return gr.GcpResources(plane, client, self.project, self.region)

    def _state_path(self, project: dep.PulumiProject) -> Path:
        return self.folder / project.project / STATE_FILE

    def _state(self, project: dep.PulumiProject) -> dict[str, Any]:
        path = self._state_path(project)
        return dict(json.loads(path.read_text())) if path.is_file() else {}

    def _delete(
        self, state: dict[str, Any], urn: str, project: dep.PulumiProject, on_output: dep.OnOutput
    ) -> None:
        entry = state[urn]
        self._resources().delete(entry["type"], entry["id"], entry["outputs"])
        on_output(f"delete {entry['type']} {urn.rsplit('::', 1)[-1]}")
        del state[urn]
        _save(self._state_path(project), state)


def _newest_first(state: dict[str, Any]) -> list[str]:
    """URNs in reverse creation order: dependents go before what they depend on."""
    return sorted(state, key=lambda urn: -int(state[urn]["seq"]))


def _save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(state, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def _creating_base() -> Any:
    from pcompile.providers.synth import _RecordingMocks

    return _RecordingMocks


class _CreatingMocks(_creating_base()):  # type: ignore[misc]
    """Mocks whose ``new_resource`` creates the resource and records it in the state."""

    def __init__(
        self,
        resources: gr.GcpResources,
        state: dict[str, Any],
        path: Path,
        region: str,
        on_output: dep.OnOutput,
    ) -> None:
        super().__init__(region)
        self.resources = resources
        self.state = state
        self.path = path
        self.on_output = on_output
        self.seen: set[str] = set()
        self.changes: dict[str, int] = {}
        self.lock = threading.Lock()

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        super().new_resource(args)  # the duplicate-URN bookkeeping of synth
        urn = getattr(self.pending, "urn", "") or f"{args.typ}::{args.name}"
        if not args.custom:  # a component: nothing exists in the cloud for it
            return f"{args.name}-id", dict(args.inputs)
        if not args.typ.startswith("gcp:"):
            raise gr.ResourceRejected(
                args.typ, args.name, "only gcp:* resources are simulated on a GCP stack"
            )
        inputs = gr.plain(dict(args.inputs))
        rid, outputs = self.resources.create(args.typ, args.name, inputs)
        with self.lock:
            before = self.state.get(urn)
            op = (
                "create"
                if before is None
                else ("same" if before["inputs"] == _redacted(args.inputs, inputs) else "update")
            )
            self.changes[op] = self.changes.get(op, 0) + 1
            self.seen.add(urn)
            seq = before["seq"] if before else 1 + max((e["seq"] for e in self.state.values()), default=0)
            self.state[urn] = {
                "seq": seq,
                "type": args.typ,
                "id": rid,
                "inputs": _redacted(args.inputs, inputs),
                "outputs": _redacted(args.inputs, outputs),
            }
            _save(self.path, self.state)
        if op != "same":
            self.on_output(f"{op} {args.typ} {args.name}")
        return rid, outputs


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _redacted(raw: Any, values: dict[str, Any]) -> Any:
    """``values`` for the state file: what Pulumi marked secret in ``raw`` kept as its sha256."""
    kept = dict(values)
    for key, value in dict(raw).items():
        if isinstance(value, dict) and gr.SECRET_SIG in value:
            digest = hashlib.sha256(json.dumps(gr.plain(value), sort_keys=True).encode()).hexdigest()
            kept[key] = {"sha256": digest}
    return _jsonable(kept)


def _run_program(project: dep.PulumiProject, mocks: Any) -> None:
    """Run ``project``'s ``__main__.py`` under the mock engine with its stack config."""
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks

    from pcompile.providers.synth import DuplicateResourceError, _RecordingMonitor

    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks, project=project.project, stack=project.stack, preview=False, monitor=monitor
    )
    for key, value in sorted(_config(project).items()):
        pulumi.runtime.set_config(key, value)
    settings = pulumi_mocks.SETTINGS
    settings.rpc_manager.clear()
    settings.outputs.clear()
    main = str(project.path / "__main__.py")

    def program() -> None:
        runpy.run_path(main, run_name="__main__")

    sys.path.insert(0, str(project.path))
    try:
        pulumi_mocks._sync_await(pulumi_mocks.run_pulumi_func(program))
    finally:
        sys.path.remove(str(project.path))
        settings.rpc_manager.clear()
        settings.outputs.clear()
    if monitor.duplicates:
        raise DuplicateResourceError("two resources share a URN: " + ", ".join(monitor.duplicates))


def _config(project: dep.PulumiProject) -> dict[str, str]:
    """The stack's config (``Pulumi.<stack>.yaml``), plus deploy's config and secret config."""
    path = project.path / f"Pulumi.{project.stack}.yaml"
    data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    config = {str(k): str(v) for k, v in ((data or {}).get("config") or {}).items()}
    return {**config, **project.config, **project.secret_config}


def engine_for(settings: Any, root: Path) -> GcpSimulateEngine:
    """The engine of a GCP simulate stack (``endpoint_url`` is its storage emulator)."""
    if not getattr(settings, "endpoint_url", None):
        raise UserError(
            f"stack {settings.name!r} has engine: simulate but no endpoint_url",
            fix="add `endpoint_url: http://127.0.0.1:PORT` (a gcp-storage-emulator) to the stack file",
        )
    return GcpSimulateEngine(
        settings.endpoint_url,
        settings.project or "",
        settings.region or "us-central1",
        gr.state_dir(root, settings.name),
    )


def image_publisher(settings: Any, root: Path, app: Any) -> dep.ImagePublisher:
    """How a GCP simulate deploy "pushes" images: there is no Artifact Registry emulator, so
    each image becomes its local environment, recorded under its URI (:mod:`.compute_images`)."""
    from pcompile.providers.simulate.compute_images import SimulatedImages

    return SimulatedImages(gr.state_dir(root, settings.name), app, cloud="gcp")
