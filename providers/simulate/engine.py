"""``engine: simulate``: ``pulumi up`` without the Pulumi CLI, into an AWS API emulator.

:class:`SimulateEngine` implements :class:`pcompile.providers.deploy.Engine`. ``up``
runs the emitted project's own ``__main__.py`` (what ``pulumi up`` would run) under
Pulumi's mock engine (:func:`pcompile.providers.synth.run_mocked`), with mocks whose
``new_resource`` creates, updates or keeps each resource in the emulator through
boto3 (:mod:`.aws_resources`) and records it in the simulated state
(:mod:`.state`). Resources of the last deploy that the program no longer declares are
deleted afterwards, dependants first; ``destroy`` deletes everything the state holds.

When the emulator refuses a resource the engine stops asking it for more, and ``up``
raises :class:`~pcompile.providers.deploy.DeploymentFailed` (exit 2) naming the
resource and the emulator's message; the state file still lists exactly what exists.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pulumi.runtime import mocks as pulumi_mocks

from pcompile.compiler.errors import UserError
from pcompile.providers.deploy import DeploymentFailed, EngineResult, OnOutput, PulumiProject
from pcompile.providers.settings import StackSettings
from pcompile.providers.simulate import aws_resources as res
from pcompile.providers.simulate.state import Entry, SimState, state_path
from pcompile.providers.synth import RecordingMocks, _fake_outputs, run_mocked

_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi.runtime.rpc._special_sig_key
_FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
URLHook = Callable[[str], str | None]


def _api_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


_API_ERRORS = _api_errors()


class _Stop(Exception):
    """An earlier resource failed: later ones are not attempted (the engine stops too)."""


def plain(value: Any) -> Any:
    """Inputs as the API needs them: secret markers unwrapped, whole floats as ints (the
    mock engine turns every number into a float)."""
    if isinstance(value, dict):
        if _SECRET_SIG in value and "value" in value:
            return plain(value["value"])
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def hidden(value: Any) -> Any:
    """:func:`plain`, with each secret value replaced by its sha256 (what the state file keeps:
    a changed secret still changes the inputs, and the file never holds the value)."""
    if isinstance(value, dict) and _SECRET_SIG in value and "value" in value:
        digest = hashlib.sha256(json.dumps(plain(value["value"]), sort_keys=True).encode()).hexdigest()
        return f"<sha256:{digest}>"
    if isinstance(value, dict):
        return {str(k): hidden(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hidden(v) for v in value]
    return plain(value)


class _EmulatorMocks(RecordingMocks):
    """Answers every registration from the emulator and keeps the state file current."""

    def __init__(
        self,
        aws: res.Emulator,
        state: SimState,
        on_output: OnOutput,
        function_url: URLHook,
        distribution_host: URLHook | None = None,
    ) -> None:
        super().__init__(aws.region)
        self.aws = aws
        self.state = state
        self.on_output = on_output
        self.function_url = function_url
        self.distribution_host = distribution_host
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.changes: Counter[str] = Counter()
        self.failure: str | None = None

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        super().new_resource(args)  # keep the synth record
        if not args.custom:
            return f"{args.name}-component", dict(args.inputs)
        urn = str(getattr(self.pending, "urn", ""))
        deps = tuple(getattr(self.pending, "dependencies", ()))
        request = res.Request(args.typ, args.name, urn, plain(dict(args.inputs)))
        kept = res.redacted(args.typ, hidden(dict(args.inputs)))
        with self.lock:
            if self.failure is not None:
                raise _Stop(f"{args.typ} {args.name!r} not attempted: {self.failure}")
            try:
                entry, op = self._apply(request, deps, kept)
            except res.Unmapped as exc:
                self.failure = str(exc)
                raise
            except _API_ERRORS as exc:
                self.failure = f"the emulator rejected {args.typ} {args.name!r}: {_message(exc)}"
                raise DeploymentFailed(self.failure) from exc
            self.seen.add(urn)
            self.changes[op] += 1
            if op != "same":
                self.on_output(f"{op} {args.typ} {args.name}")
        return entry.id, {**dict(args.inputs), **entry.outputs}

    def _apply(self, r: res.Request, deps: tuple[str, ...], inputs: dict[str, Any]) -> tuple[Entry, str]:
        old = self.state.resources.get(r.urn)
        if old is not None and old.type == r.type and old.inputs == inputs:
            return old, "same"
        handler = res.lookup(r.type)
        handler.check(r)
        if old is None:
            op, created = "create", self._create(handler, r)
        elif handler.update is not None and old.pass_through is None:
            op, created = "update", (*handler.update(self.aws, r, _recorded(old)), None)
        else:
            self._delete(r.urn, old)
            op, created = "replace", self._create(handler, r)
        rid, outputs, passed = created
        outputs = self._answering_url(r, rid, outputs) if passed is None else outputs
        entry = Entry(r.type, r.name, rid, inputs, plain(outputs), deps, passed)
        self.state.put(r.urn, entry)
        return entry, op

    def _create(self, handler: res.Handler, r: res.Request) -> tuple[str, dict[str, Any], str | None]:
        try:
            rid, outputs = handler.create(self.aws, r)
        except res.PassThrough as exc:
            self.on_output(f"pass-through {r.type} {r.name}: {exc}")
            return r.auto_name(), dict(getattr(exc, "outputs", None) or {}), str(exc)
        return rid, outputs, None

    def _delete(self, urn: str, old: Entry) -> None:
        if old.pass_through is None:
            res.lookup(old.type).delete(self.aws, _recorded(old))
        self.state.remove(urn)

    def _answering_url(self, r: res.Request, rid: str, outputs: dict[str, Any]) -> dict[str, Any]:
        """A Function URL (a CloudFront domain) that answers: the simulated compute's, where it has one."""
        if r.type == _DISTRIBUTION and self.distribution_host is not None:
            host = self.distribution_host(rid)
            return {**outputs, "domainName": host} if host else outputs
        if r.type != _FUNCTION_URL:
            return outputs
        url = self.function_url(str(r.inputs["functionName"]))
        return {**outputs, "functionUrl": url} if url else outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return res.invoke(self.aws, args.token, plain(dict(args.args))), []


class _PreviewMocks(RecordingMocks):
    """Compares each registration with the state; touches nothing."""

    def __init__(self, state: SimState, aws: res.Emulator) -> None:
        super().__init__(aws.region)
        self.state = state
        self.aws = aws
        self.seen: set[str] = set()
        self.changes: Counter[str] = Counter()

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        super().new_resource(args)
        if not args.custom:
            return f"{args.name}-component", dict(args.inputs)
        urn = str(getattr(self.pending, "urn", ""))
        self.seen.add(urn)
        old = self.state.resources.get(urn)
        if old is None:
            self.changes["create"] += 1
            return _fake_outputs(args, self.region)
        same = old.inputs == res.redacted(args.typ, hidden(dict(args.inputs)))
        self.changes["same" if same else "update"] += 1
        return old.id, {**dict(args.inputs), **old.outputs}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return res.invoke(self.aws, args.token, plain(dict(args.args))), []


def _recorded(entry: Entry) -> res.Recorded:
    return res.Recorded(entry.type, entry.name, entry.id, entry.inputs, entry.outputs)


def _message(exc: BaseException) -> str:
    """The emulator's own words: ``Code: message`` for API errors."""
    error = (getattr(exc, "response", None) or {}).get("Error") or {}
    if error.get("Code") or error.get("Message"):
        return f"{error.get('Code', '')}: {error.get('Message', '')}".strip(": ")
    return f"{type(exc).__name__}: {exc}"


class SimulateEngine:
    """The :class:`~pcompile.providers.deploy.Engine` of ``engine: simulate`` stacks."""

    def __init__(
        self,
        settings: StackSettings,
        root: Path,
        function_url: URLHook | None = None,
        distribution_host: URLHook | None = None,
    ) -> None:
        if not settings.endpoint_url:
            raise UserError(
                f"stack {settings.name!r} uses engine simulate without an endpoint_url",
                fix="add `endpoint_url: http://127.0.0.1:PORT` (a moto server) to the stack file",
            )
        self.settings = settings
        self.root = root
        self.endpoint_url = settings.endpoint_url
        self.function_url = function_url or _compute_url(settings, root)
        self.distribution_host = distribution_host or _compute_host(settings, root)

    def check(self) -> None:
        """The emulator must answer before anything is built."""
        try:
            urllib.request.urlopen(self.endpoint_url, timeout=5).close()  # noqa: S310 - http(s) by schema
        except urllib.error.HTTPError:
            return  # it answered (an error page is an answer)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(
                f"the AWS emulator at endpoint_url {self.endpoint_url} (stack {self.settings.name!r}) "
                f"does not answer: {reason}",
                fix=f"start it (e.g. `moto_server -H 127.0.0.1 -p PORT`) or correct endpoint_url in "
                f"stacks/{self.settings.name}.yaml",
            ) from None

    def _emulator(self) -> res.Emulator:
        return res.Emulator(self.endpoint_url, self.settings.region or "us-east-1")

    def _state(self, project: PulumiProject) -> SimState:
        return SimState.load(state_path(self.root, project.stack, project.project), self.endpoint_url)

    def preview(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """What ``up`` would change, from the program and the state; the emulator is only read."""
        state = self._state(project)
        mocks = _PreviewMocks(state, self._emulator())
        result = self._run(project, mocks)
        changes = dict(mocks.changes)
        gone = len(set(state.resources) - mocks.seen)
        if gone:
            changes["delete"] = gone
        text = ", ".join(f"{op} {n}" for op, n in sorted(changes.items()))
        on_output(f"simulate preview: {text}")
        return EngineResult(dict(sorted(changes.items())), result.outputs, text)

    def up(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """Create or update every declared resource in the emulator; delete the stale ones."""
        state = self._state(project)
        mocks = _EmulatorMocks(self._emulator(), state, on_output, self.function_url, self.distribution_host)
        try:
            result = self._run(project, mocks)
        except Exception as exc:
            if mocks.failure is not None:
                raise DeploymentFailed(mocks.failure) from exc
            raise
        stale = set(state.resources) - mocks.seen
        self._delete(state, stale, on_output)
        changes = dict(mocks.changes)
        if stale:
            changes["delete"] = len(stale)
        state.outputs = plain(json.loads(json.dumps(result.outputs, default=str)))
        state.save()
        text = ", ".join(f"{op} {n}" for op, n in sorted(changes.items()))
        return EngineResult(dict(sorted(changes.items())), dict(state.outputs), text)

    def destroy(self, project: PulumiProject, on_output: OnOutput) -> EngineResult:
        """Delete everything the state holds, dependants first."""
        state = self._state(project)
        count = len(state.resources)
        self._delete(state, set(state.resources), on_output)
        state.outputs = {}
        state.save()
        return EngineResult({"delete": count} if count else {}, {}, f"delete {count}")

    def outputs(self, project: PulumiProject) -> dict[str, Any]:
        """The exports of the last ``up``."""
        return dict(self._state(project).outputs)

    def _delete(self, state: SimState, urns: set[str], on_output: OnOutput) -> None:
        aws = self._emulator()
        for urn in state.deletion_order(urns):
            entry = state.resources[urn]
            if entry.pass_through is None:
                try:
                    res.lookup(entry.type).delete(aws, _recorded(entry))
                except _API_ERRORS as exc:
                    raise DeploymentFailed(
                        f"the emulator refused to delete {entry.type} {entry.name!r} ({entry.id}): "
                        f"{_message(exc)}"
                    ) from exc
            state.remove(urn)
            on_output(f"delete {entry.type} {entry.name}")

    def _run(self, project: PulumiProject, mocks: RecordingMocks) -> Any:
        # A refused resource fails every registration waiting on it; the engine reports the
        # first failure itself, so asyncio need not print each orphaned future.
        quiet = (DeploymentFailed, _Stop, res.Unmapped)
        return run_program(project, mocks, self.settings.region or "us-east-1", quiet)


def run_program(
    project: PulumiProject,
    mocks: RecordingMocks,
    region: str,
    quiet: tuple[type[BaseException], ...],
) -> Any:
    """Run the emitted project's own ``__main__.py`` (what ``pulumi up`` runs) with its stack
    config under ``mocks``; futures failing with ``quiet`` types are not printed."""
    main = project.path / "__main__.py"
    if not main.is_file():
        raise UserError(f"no Pulumi program at {main}", fix="run `pcompile deploy` to emit it")
    config, secret_keys = _config(project)

    def program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    return run_mocked(
        program,
        project=project.project,
        stack=project.stack,
        region=region,
        mocks=mocks,
        config=config,
        secret_keys=secret_keys,
        quiet=quiet,
    )


def _config(project: PulumiProject) -> tuple[dict[str, str], tuple[str, ...]]:
    """The stack config ``pulumi up`` would give the program: ``Pulumi.<stack>.yaml``, then
    the deploy's plain and secret config. Values are strings, objects as JSON (as Pulumi)."""
    path = project.path / f"Pulumi.{project.stack}.yaml"
    data = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    config: dict[str, str] = {}
    for key, value in dict(data.get("config") or {}).items():
        config[str(key)] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    config.update(project.config)
    config.update(project.secret_config)
    return config, tuple(sorted(project.secret_config))


def _compute_url(settings: StackSettings, root: Path) -> URLHook:
    """The simulated compute's Function URL for a function, when that service is installed
    (``pcompile.providers.simulate.compute.function_url``); else the emulator's own URL."""
    try:
        from pcompile.providers.simulate import compute
    except ImportError:
        return lambda name: None
    lookup: Callable[[Path, StackSettings, str], str] = compute.function_url
    return lambda name: lookup(root, settings, name)


def _compute_host(settings: StackSettings, root: Path) -> URLHook:
    """Where the simulated compute answers as a CloudFront distribution (``127.0.0.1:<port>``),
    when that service is installed (``compute.distribution_host``)."""
    try:
        from pcompile.providers.simulate import compute
    except ImportError:
        return lambda distribution_id: None
    lookup: Callable[[Path, StackSettings, str], str] = compute.distribution_host
    return lambda distribution_id: lookup(root, settings, distribution_id)
