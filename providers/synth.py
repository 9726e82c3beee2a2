"""Run a provider's Pulumi program offline under Pulumi's own mock engine.

There is no Pulumi engine binary on build machines, so ``pcompile synth`` runs the
same component code that ``pulumi up`` would, against :class:`pulumi.runtime.Mocks`,
and records every resource as the engine would receive it: ``(type, name, inputs)``.

Two things the stock mock monitor does not do, and we must:

* fill the auto-named outputs (``name``, ``arn``, ``id``, ``url`` ...) of every
  resource, or inputs that reference them silently vanish;
* reject two resources with the same URN, as the real engine does.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import json
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

from pcompile.compiler.ir import AppSpec
from pcompile.compiler.placement import Placement
from pcompile.providers.settings import DeployInputs, StackSettings

MOCK_ACCOUNT = "123456789012"
MOCK_PROJECT = "pcompile-mock-project"


class DuplicateResourceError(Exception):
    """Two resources would get the same URN; the real engine refuses to deploy this."""


@dataclass
class SynthResource:
    """One resource as the engine received it: Pulumi type token, logical name, inputs."""

    type: str
    name: str
    inputs: dict[str, Any]
    urn: str
    custom: bool

    def to_json(self) -> dict[str, Any]:
        """The ``{"type", "name", "inputs"}`` shape ``pcompile synth --json`` prints."""
        return {"type": self.type, "name": self.name, "inputs": _jsonable(self.inputs)}


@dataclass
class SynthResult:
    """Everything one mock run produced, resources sorted by (type, name)."""

    resources: list[SynthResource] = field(default_factory=list)
    # The stack's exports (``pulumi.export``), resolved; the stock mock monitor drops them.
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[SynthResource]:
        """Resources whose Pulumi type token is ``type_token``."""
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> SynthResource:
        """The one resource with logical name ``name``."""
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]


def _fake_outputs(args: pulumi_mocks.MockResourceArgs, region: str) -> tuple[str, dict[str, Any]]:
    """Outputs a real provider would compute, so references between resources resolve;
    an input of the same name wins, as with a real provider."""
    name = args.inputs.get("name") or args.name
    rid = f"{args.name}-id"
    service = args.typ.split(":")[1] if args.typ.count(":") >= 2 else "x"
    state = {
        "name": name,
        "id": rid,
        "arn": f"arn:aws:{service.split('/')[0]}:{region}:{MOCK_ACCOUNT}:{args.name}",
        "url": f"https://{args.name}.example.invalid/",
        "uri": f"https://{args.name}.example.invalid/",
        "bucket": args.inputs.get("bucket") or name,
        "email": f"{args.name}@{MOCK_PROJECT}.iam.gserviceaccount.com",
        "functionUrl": f"https://{args.name}.lambda-url.{region}.on.aws/",
        "functionName": args.inputs.get("functionName") or name,
        "repositoryUrl": f"{MOCK_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{name}",
        "selfLink": f"https://www.googleapis.com/mock/{args.name}",
        # Load balancers, target groups and CloudFront distributions (web services).
        "dnsName": f"{args.name}.elb.{region}.example.invalid",
        "domainName": f"{args.name}.cloudfront.example.invalid",
        "arnSuffix": f"app/{args.name}/0123456789abcdef",
        "zoneId": "ZMOCKZONE",
    }
    # Only what the provider computes: the SDK resolves every other output from the inputs
    # it sent (outside preview), so echoing them back only doubled the (de)serializing.
    return rid, {key: value for key, value in state.items() if key not in args.inputs}


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every resource and answers with stable fakes; the simulate engine subclasses
    it to answer from an emulator instead. ``pending`` (per thread) holds the URN, parent
    and dependencies of the registration ``new_resource`` is answering."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.recorded: list[SynthResource] = []
        # Registrations run on executor threads; each carries its own URN to new_resource.
        self.pending = threading.local()

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.recorded.append(
            SynthResource(
                args.typ, args.name, dict(args.inputs), getattr(self.pending, "urn", ""), bool(args.custom)
            )
        )
        return _fake_outputs(args, self.region)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        # Data-source lookups (caller identity, AMIs, default VPC ...) answer with stable fakes.
        return {
            "accountId": MOCK_ACCOUNT,
            "id": "mock-id",
            "ids": ["subnet-mock-a", "subnet-mock-b"],
            "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:user/mock",
            "name": "mock",
            "region": self.region,
            "project": MOCK_PROJECT,
            "number": "123456789",
            # Availability zones with the gaps real accounts have (no "b" here, as in ap-northeast-1).
            "names": [f"{self.region}a", f"{self.region}c", f"{self.region}d"],
            "value": "mock",
            "json": "{}",
        }, []  # no check failures (the mock monitor iterates this)


_RecordingMocks = RecordingMocks


_THREAD_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _track_thread_loop() -> None:
    """Give this executor thread its event loop here, where it is known.

    The mock monitor answers in executor threads, and Pulumi gives each one a loop that
    nobody closes; collected during interpreter shutdown, such a loop printed
    "Exception ignored in BaseEventLoop.__del__" after ``pcompile synth``.
    """
    if threading.current_thread() is threading.main_thread():
        return
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    _THREAD_LOOPS.add(loop)


@atexit.register
def _close_thread_loops() -> None:
    for loop in list(_THREAD_LOOPS):
        if not loop.is_closed() and not loop.is_running():
            loop.close()


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock monitor, plus a record of inputs and the engine's duplicate-URN check."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks
        self.urns: set[str] = set()
        self.duplicates: list[str] = []

    def Invoke(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        _track_thread_loop()
        return super().Invoke(request)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        _track_thread_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type != "pulumi:pulumi:Stack":
            if urn in self.urns:
                self.duplicates.append(urn)
            self.urns.add(urn)
            self.recording.pending.urn = urn
            self.recording.pending.parent = request.parent
            self.recording.pending.dependencies = sorted(set(request.dependencies))
        return super().RegisterResource(request)


def run_mocked(
    program: Callable[[], None],
    *,
    project: str,
    stack: str,
    region: str,
    mocks: RecordingMocks | None = None,
    config: dict[str, str] | None = None,
    secret_keys: tuple[str, ...] = (),
    quiet: tuple[type[BaseException], ...] = (),
) -> SynthResult:
    """Run ``program`` (which creates Pulumi resources) under the mock engine.

    ``mocks`` answers the registrations (default: stable fakes); ``config`` is the stack
    config the program reads (``{"aws:region": ...}``, secrets named in ``secret_keys``).
    Raises what the program raises, and :class:`DuplicateResourceError` when two
    resources share a URN. Futures that fail with one of the ``quiet`` exception types
    are not printed by asyncio: the caller reports that failure once itself.
    """
    mocks = mocks if mocks is not None else RecordingMocks(region)
    monitor = _RecordingMonitor(mocks)
    # Pulumi's futures belong to the loop that is current when the mocks are set.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if quiet:
        loop.set_exception_handler(_quiet_handler(quiet))
    # A fresh root stack per run: exports of an earlier run in this process must not leak in.
    pulumi.runtime.settings.ROOT.set(None)
    if config is not None:
        pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    settings = pulumi_mocks.SETTINGS
    settings.rpc_manager.clear()
    settings.outputs.clear()
    outputs: dict[str, Any] = {}

    async def run_and_collect() -> None:
        program()
        root = pulumi.runtime.settings.get_root_resource()
        for key, value in sorted(getattr(root, "outputs", {}).items()):
            outputs[key] = await pulumi.Output.from_input(value).future()

    try:
        with _collector_paused(), _no_stack_traces():
            _run_and_close(loop, pulumi_mocks.run_pulumi_func(run_and_collect))
    finally:
        settings.rpc_manager.clear()
        settings.outputs.clear()
        # Pulumi's settings keep the root stack (whose exports reach every resource they
        # depend on, with its outputs and futures) and the monitor until the next run: let
        # them go now, so later collections, shutdown's included, do not walk a dead program.
        pulumi.runtime.settings.ROOT.set(None)
        settings.monitor = None
        if config is not None:
            pulumi.runtime.set_all_config({}, [])
    if monitor.duplicates:
        raise DuplicateResourceError(
            "two resources share a URN (the engine would refuse to deploy): " + ", ".join(monitor.duplicates)
        )
    resources = sorted(mocks.recorded, key=lambda r: (r.type, r.name))
    return SynthResult(resources, outputs)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the program runs.

    Every registration allocates hundreds of futures, tasks and outputs, so the
    collector kept scanning the growing heap (all of pulumi_aws's classes included):
    about 40 % of a 100-function synth, growing faster than the app. The cycles it would
    free are a few MB per 100 functions; they are freed when collection resumes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            # What the run left (live resources and their garbage alike) joins the oldest
            # generation, swept at the next full collection like any long-lived objects;
            # left young, millions of them were scanned at the first allocation after
            # the collector resumed (0.5 s of a 100-function synth).
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def _no_stack_traces() -> Iterator[None]:
    """Skip the call-stack capture Pulumi attaches to every registration request.

    The real engine shows it as the resource's source position; the mock monitor never
    reads it, and walking the stack (a stat and a line lookup per frame) was a tenth of
    a synth. The program and every input the engine records are unchanged.
    """
    from pulumi.runtime import resource as pulumi_resource
    from pulumi.runtime.proto import source_pb2

    capture = getattr(pulumi_resource, "_get_stack_trace", None)
    if capture is None:  # another Pulumi version: nothing to skip
        yield
        return
    pulumi_resource._get_stack_trace = source_pb2.StackTrace  # an empty trace
    try:
        yield
    finally:
        pulumi_resource._get_stack_trace = capture


def _quiet_handler(
    quiet: tuple[type[BaseException], ...],
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not isinstance(context.get("exception"), quiet):
            loop.default_exception_handler(context)

    return handle


def _run_and_close(loop: asyncio.AbstractEventLoop, awaitable: Any) -> None:
    """Run ``awaitable`` on ``loop``, then close the loop with its tasks and executor.

    Pulumi's own helper leaves its loop open; collected at exit, that loop printed
    "Exception ignored in BaseEventLoop.__del__" after ``pcompile synth``.
    """
    try:
        loop.run_until_complete(awaitable)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _jsonable(value: Any) -> Any:
    """Mocked inputs as plain JSON values, with keys sorted by the JSON encoder later."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


@dataclass
class SynthOutput:
    """What ``pcompile synth --cloud X`` reports: the resources, each function's
    placement, and provider extras (GCP Batch ``job_templates``)."""

    result: SynthResult
    placements: dict[str, Placement]
    extras: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"resources": [...], "placements": {...}}`` plus any extras, keys sorted."""
        data: dict[str, Any] = {
            "resources": [r.to_json() for r in self.result.resources],
            "placements": {name: p.to_json() for name, p in sorted(self.placements.items())},
        }
        data.update(_jsonable(self.extras))
        return data


def synthesize(
    cloud: str, app: AppSpec, settings: StackSettings, inputs: DeployInputs | None = None
) -> SynthOutput:
    """Plan placements and run the cloud's program for ``app`` under the mock engine.

    Each provider package ``pcompile.providers.<cloud>`` has a ``placement`` module
    with ``plan(app, settings) -> dict[str, Placement]`` (no Pulumi import) and a
    ``program`` module with ``define(app, placements, settings, inputs) -> dict[str, Any]``
    that creates the components and returns extras for the output. ``inputs`` are what
    deploy would hand the program (pushed images, code bundle); none for a plain synth.
    """
    from pcompile.providers import registry

    provider = registry.get_remote(cloud)
    placements: dict[str, Placement] = provider.plan(app, settings)
    extras: dict[str, Any] = {}

    def program() -> None:
        extras.update(provider.define(app, placements, settings, inputs or DeployInputs()))

    region = settings.region or "us-east-1"
    result = run_mocked(program, project=f"pcompile-{app.name}", stack=settings.name, region=region)
    return SynthOutput(result, placements, extras)
