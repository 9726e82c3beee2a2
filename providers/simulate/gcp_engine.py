"""The ``engine: simulate`` :class:`~pcompile.providers.deploy.Engine` of GCP stacks.

The GCP twin of :class:`.engine.SimulateEngine`, sharing its parts: the emitted
project's own ``__main__.py`` runs under Pulumi's mock engine
(:func:`pcompile.providers.synth.run_mocked`, with the stack config ``pulumi up`` would
give it), every custom resource goes to :class:`.gcp_resources.GcpResources` (buckets
and objects in gcp-storage-emulator at the stack's ``endpoint_url``; Cloud Run services,
Scheduler jobs and secrets validated as google-cloud messages and kept in the control
plane), and what exists is recorded in the same state file (:mod:`.state`), written
after every resource: after a refused resource it still lists exactly what exists.
A second ``up`` updates in place (every GCP handler is an upsert) and deletes what the
program no longer declares, dependants first; ``destroy`` deletes everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.providers import deploy as dep
from pcompile.providers.simulate import gcp_resources as gr
from pcompile.providers.simulate.engine import run_program
from pcompile.providers.simulate.state import Entry, SimState, state_path
from pcompile.providers.synth import RecordingMocks, _fake_outputs


class _GcpMocks(RecordingMocks):
    """Answers every registration from the simulated GCP APIs and keeps the state current."""

    def __init__(self, resources: gr.GcpResources, state: SimState, on_output: dep.OnOutput) -> None:
        super().__init__(resources.region)
        self.resources = resources
        self.state = state
        self.on_output = on_output
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.changes: Counter[str] = Counter()
        self.failure: str | None = None

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        super().new_resource(args)  # the synth record and duplicate-URN bookkeeping
        if not args.custom:  # a component: nothing exists in the cloud for it
            return f"{args.name}-component", dict(args.inputs)
        urn = str(getattr(self.pending, "urn", ""))
        deps = tuple(getattr(self.pending, "dependencies", ()))
        with self.lock:
            if self.failure is not None:
                raise gr.ResourceRejected(args.typ, args.name, f"not attempted: {self.failure}")
            try:
                entry, op = self._apply(args, urn, deps)
            except gr.ResourceRejected as exc:
                self.failure = f"the simulated GCP API rejected {exc}"
                raise
            self.seen.add(urn)
            self.changes[op] += 1
        if op != "same":
            self.on_output(f"{op} {args.typ} {args.name}")
        return entry.id, {**gr.plain(dict(args.inputs)), **entry.outputs}

    def _apply(self, args: Any, urn: str, deps: tuple[str, ...]) -> tuple[Entry, str]:
        if not args.typ.startswith("gcp:"):
            raise gr.ResourceRejected(args.typ, args.name, "only gcp:* resources exist on a GCP stack")
        inputs = gr.plain(dict(args.inputs))
        rid, outputs = self.resources.create(args.typ, args.name, inputs)
        kept = _redacted(args.inputs, inputs)
        old = self.state.resources.get(urn)
        op = "create" if old is None else ("same" if old.inputs == kept else "update")
        entry = Entry(args.typ, args.name, rid, kept, _redacted(args.inputs, outputs), deps)
        self.state.put(urn, entry)
        return entry, op


class _PreviewMocks(RecordingMocks):
    """Compares each registration with the state; creates nothing."""

    def __init__(self, state: SimState, region: str) -> None:
        super().__init__(region)
        self.state = state
        self.seen: set[str] = set()
        self.changes: Counter[str] = Counter()

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        super().new_resource(args)
        if not args.custom:
            return f"{args.name}-component", dict(args.inputs)
        urn = str(getattr(self.pending, "urn", ""))
        self.seen.add(urn)
        old = self.state.resources.get(urn)
        if old is None:
            self.changes["create"] += 1
            return _fake_outputs(args, self.region)
        same = old.inputs == _redacted(args.inputs, gr.plain(dict(args.inputs)))
        self.changes["same" if same else "update"] += 1
        return old.id, {**dict(args.inputs), **old.outputs}


class GcpSimulateEngine:
    """Deploys a GCP stack into the storage emulator and the simulated control plane."""

    def __init__(self, settings: Any, root: Path) -> None:
        self.settings = settings
        self.root = root
        self.storage_host = str(settings.endpoint_url).rstrip("/")
        self.project = settings.project or ""
        self.region = settings.region or "us-central1"
        self.folder = gr.state_dir(root, settings.name)

    def check(self) -> None:
        """The storage emulator must answer before anything is built."""
        try:
            urllib.request.urlopen(f"{self.storage_host}/storage/v1/b?project={self.project}", timeout=5)
        except (OSError, ValueError) as exc:
            raise UserError(
                f"the GCP storage emulator at endpoint_url {self.storage_host} (stack "
                f"{self.settings.name!r}) does not answer: {getattr(exc, 'reason', exc)}",
                fix="start it (`gcp-storage-emulator start -H 127.0.0.1 --port PORT --in-memory`) or "
                f"correct endpoint_url in stacks/{self.settings.name}.yaml",
            ) from None
        os.environ["STORAGE_EMULATOR_HOST"] = self.storage_host

    def preview(self, project: dep.PulumiProject, on_output: dep.OnOutput) -> dep.EngineResult:
        """What ``up`` would change, from the program and the state."""
        state = self._state(project)
        mocks = _PreviewMocks(state, self.region)
        result = self._run(project, mocks)
        changes = dict(mocks.changes)
        if set(state.resources) - mocks.seen:
            changes["delete"] = len(set(state.resources) - mocks.seen)
        text = ", ".join(f"{op} {n}" for op, n in sorted(changes.items()))
        on_output(f"simulate preview: {text}")
        return dep.EngineResult(dict(sorted(changes.items())), result.outputs, text)

    def up(self, project: dep.PulumiProject, on_output: dep.OnOutput) -> dep.EngineResult:
        """Create or update every declared resource; delete the ones the program dropped."""
        state = self._state(project)
        mocks = _GcpMocks(self._resources(), state, on_output)
        try:
            result = self._run(project, mocks)
        except Exception as exc:
            if mocks.failure is not None:
                raise dep.DeploymentFailed(mocks.failure) from exc
            raise
        stale = set(state.resources) - mocks.seen
        self._delete(state, stale, on_output)
        changes = dict(mocks.changes)
        if stale:
            changes["delete"] = len(stale)
        state.outputs = json.loads(json.dumps(result.outputs, default=str))
        state.save()
        if mocks.resources.plane.table("services"):
            # The URLs deploy prints must answer, so the Cloud Run player starts now.
            from pcompile.providers.simulate.gcp_compute import ensure_running

            url = ensure_running(self.folder, self.storage_host, self.project)
            on_output(f"Cloud Run and Batch play at {url}")
        text = ", ".join(f"{op} {n}" for op, n in sorted(changes.items()))
        return dep.EngineResult(dict(sorted(changes.items())), dict(state.outputs), text)

    def destroy(self, project: dep.PulumiProject, on_output: dep.OnOutput) -> dep.EngineResult:
        """Delete everything the state holds, dependants first."""
        state = self._state(project)
        count = len(state.resources)
        self._delete(state, set(state.resources), on_output)
        state.outputs = {}
        state.save()
        return dep.EngineResult({"delete": count} if count else {}, {}, f"delete {count}")

    def outputs(self, project: dep.PulumiProject) -> dict[str, Any]:
        """The exports of the last ``up``."""
        return dict(self._state(project).outputs)

    # ----------------------------------------------------------------- helpers

    def _resources(self) -> gr.GcpResources:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[attr-defined]

        os.environ["STORAGE_EMULATOR_HOST"] = self.storage_host
        client = storage.Client(project=self.project, credentials=AnonymousCredentials())
        return gr.GcpResources(gr.gcp_plane(self.root, self.settings.name), client, self.project, self.region)

    def _state(self, project: dep.PulumiProject) -> SimState:
        return SimState.load(state_path(self.root, project.stack, project.project), self.storage_host)

    def _delete(self, state: SimState, urns: set[str], on_output: dep.OnOutput) -> None:
        resources = self._resources()
        for urn in state.deletion_order(urns):
            entry = state.resources[urn]
            resources.delete(entry.type, entry.id, entry.outputs)
            state.remove(urn)
            on_output(f"delete {entry.type} {entry.name}")

    def _run(self, project: dep.PulumiProject, mocks: RecordingMocks) -> Any:
        return run_program(project, mocks, self.region, (dep.DeploymentFailed, gr.ResourceRejected))


def _redacted(raw: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` for the state file: what Pulumi marked secret in ``raw`` kept as its sha256."""
    kept = dict(values)
    for key, value in dict(raw).items():
        if isinstance(value, dict) and gr.SECRET_SIG in value:
            digest = hashlib.sha256(json.dumps(gr.plain(value), sort_keys=True).encode()).hexdigest()
            kept[key] = f"<sha256:{digest}>"
    data: dict[str, Any] = json.loads(json.dumps(kept, sort_keys=True, default=str))
    return data


def engine_for(settings: Any, root: Path) -> GcpSimulateEngine:
    """The engine of a GCP simulate stack (``endpoint_url`` is its storage emulator)."""
    if not settings.endpoint_url:
        raise UserError(
            f"stack {settings.name!r} uses engine simulate without an endpoint_url",
            fix="add `endpoint_url: http://127.0.0.1:PORT` (a gcp-storage-emulator) to the stack file",
        )
    return GcpSimulateEngine(settings, root)


def image_publisher(settings: Any, root: Path, app: Any) -> dep.ImagePublisher:
    """How a GCP simulate deploy "pushes" images: there is no Artifact Registry emulator, so
    each image becomes its local environment, recorded under its URI (:mod:`.compute_images`)."""
    from pcompile.providers.simulate.compute_images import SimulatedImages

    return SimulatedImages(gr.state_dir(root, settings.name), app, cloud="gcp")
