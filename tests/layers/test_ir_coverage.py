"""Every IR node kind (:mod:`ir_nodes`, derived from ``compiler/ir.py``) against every provider.

Each kind either has a handler, shown by what the provider produced for the fixture
apps in ``tests/fixtures/layers_nodes/`` (a resource, the deployment manifest, the
function's runtime environment), or an explicit refusal: a ``UserError`` naming the
user's line, or a ``not_deployed`` entry in the synth output. A kind added to the IR
fails here until every provider says which.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ir_nodes
import pytest
from servers import free_port, popen_group, stop_group

from pcompile.compiler import compile_file, ir
from pcompile.compiler.errors import UserError
from pcompile.providers.gcp import names as gcp_names
from pcompile.providers.settings import NetworkSettings, StackSettings
from pcompile.providers.synth import SynthOutput, synthesize

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "layers_nodes"
APPS = ("every_node.py", "web_server.py", "app_server.py")
CLOUDS = ("aws", "gcp")
SETTINGS = {
    "aws": StackSettings(name="dev", cloud="aws", region="us-east-1"),
    "gcp": StackSettings(
        name="dev",
        cloud="gcp",
        region="us-central1",
        project="acme-ml",
        network=NetworkSettings(vpc_id="default"),  # Filestore (NetworkFileSystem) needs one
    ),
}
# Environment each cloud compiles the fixtures with: GCP mounts only GCS buckets.
COMPILE_ENV = {"aws": {}, "gcp": {"NODES_BUCKET_ENDPOINT": "https://storage.googleapis.com"}}

# Kinds a cloud refuses at compile time: kind -> words of the UserError (the fixture's only node of it).
REFUSED = {
    "aws": {},
    "gcp": {},
}
# Kinds a cloud deploys nothing for, said in the synth output's ``not_deployed`` list.
NOT_DEPLOYED = {
    "aws": set(),
    "gcp": set(),
}

# Silent drops found here in files other branches own this round: (cloud, kind) -> owner: what.
# Each must still fail its check (a fixed one fails test_known_gaps_are_still_gaps: remove it).
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass
class Deployed:
    """What one synth run shows, in the terms both clouds share."""

    functions: dict[str, dict[str, Any]]  # the deployment manifest's functions
    envs: dict[str, dict[str, str]]  # function -> its runtime environment
    images: dict[str, str]  # function -> image reference
    resources: list[tuple[str, str]]  # (type, logical name)
    not_deployed: set[str] = field(default_factory=set)
    platform_mounts: dict[str, set[str]] = field(
        default_factory=dict
    )  # function -> paths the platform mounts

    def named(self, type_part: str, name_part: str) -> list[str]:
        return [n for t, n in self.resources if type_part in t and name_part in n]


def _manifest(out: SynthOutput) -> dict[str, Any]:
    for r in out.result.resources:
        content = r.inputs.get("content")
        if isinstance(content, dict):  # a Pulumi secret: {sig: ..., "value": ...}
            content = content.get("value")
        if isinstance(content, str) and '"functions"' in content:
            return dict(json.loads(content))
    raise AssertionError("no deployment manifest among the resources")


def _aws_compute(out: SynthOutput) -> Iterator[tuple[dict[str, str], str]]:
    for r in out.result.of_type("aws:lambda/function:Function"):
        yield dict(r.inputs["environment"]["variables"]), str(r.inputs["imageUri"])
    for r in out.result.of_type("aws:batch/jobDefinition:JobDefinition"):
        props = json.loads(r.inputs["containerProperties"])
        yield {e["name"]: e["value"] for e in props["environment"]}, str(props["image"])
    for r in out.result.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        (container,) = json.loads(r.inputs["containerDefinitions"])
        yield {e["name"]: e["value"] for e in container["environment"]}, str(container["image"])


def _gcp_compute(out: SynthOutput) -> Iterator[tuple[dict[str, str], str]]:
    for r in out.result.of_type("gcp:cloudrunv2/service:Service"):
        (container,) = r.inputs["template"]["containers"]
        yield {e["name"]: e.get("value", "") for e in container.get("envs", [])}, str(container["image"])
    for template in out.extras.get("job_templates", {}).values():
        for group in template["taskGroups"]:
            for runnable in group["taskSpec"]["runnables"]:
                env = runnable.get("environment", {}).get("variables", {})
                yield dict(env), str(runnable["container"]["imageUri"])


def _gcp_platform_mounts(out: SynthOutput) -> dict[str, set[str]]:
    """Paths Cloud Run (volumeMounts) and Batch (taskSpec.volumes) mount: GCS buckets, NFS."""
    found: dict[str, set[str]] = {}
    for r in out.result.of_type("gcp:cloudrunv2/service:Service"):
        (container,) = r.inputs["template"]["containers"]
        env = {e["name"]: e.get("value", "") for e in container.get("envs", [])}
        found[env["PCOMPILE_FUNCTION"]] = {m["mountPath"] for m in container.get("volumeMounts") or []}
    for name, template in out.extras.get("job_templates", {}).items():
        found[name] = {v["mountPath"] for v in template["taskGroups"][0]["taskSpec"].get("volumes", [])}
    return found


def _aws_secrets(env: dict[str, str]) -> set[str]:
    return set(json.loads(env.get("PCOMPILE_SECRETS") or "{}"))


def _gcp_secrets(env: dict[str, str]) -> set[str]:
    return {k for k in env if k.startswith("PCOMPILE_SECRET_JSON_")}


@dataclass(frozen=True)
class CloudFacts:
    """Where one cloud's program puts what the checks look for."""

    compute: Callable[[SynthOutput], Iterator[tuple[dict[str, str], str]]]  # (runtime env, image)
    schedule_type: str
    bucket_type: str
    secret_ref: Callable[[str], str]  # secret name -> how a function's environment names it
    secrets_in: Callable[[dict[str, str]], set[str]]


FACTS = {
    "aws": CloudFacts(_aws_compute, "scheduler/schedule", "s3/bucket:Bucket", str, _aws_secrets),
    "gcp": CloudFacts(
        _gcp_compute, "cloudscheduler/job", "storage/bucket:Bucket", gcp_names.secret_env, _gcp_secrets
    ),
}


def deployed(cloud: str, out: SynthOutput) -> Deployed:
    compute = list(FACTS[cloud].compute(out))
    return Deployed(
        functions=_manifest(out)["functions"],
        envs={env["PCOMPILE_FUNCTION"]: env for env, _ in compute},
        images={env["PCOMPILE_FUNCTION"]: image for env, image in compute},
        resources=[(r.type, r.name) for r in out.result.resources],
        not_deployed=set(out.to_json()[cloud].get("not_deployed", [])),
        platform_mounts=_gcp_platform_mounts(out) if cloud == "gcp" else {},
    )


# ---------------------------------------------------------------- one check per kind
# Each takes the cloud, what it deployed and one node; returns a problem or None.


def _function(cloud: str, d: Deployed, fn: ir.FunctionSpec) -> str | None:
    if fn.name not in d.functions or fn.name not in d.envs:
        return f"function {fn.name} has no compute or no manifest entry"
    return None


def _web(cloud: str, d: Deployed, fn: ir.FunctionSpec) -> str | None:
    return None if (d.functions.get(fn.name) or {}).get("web_url") else f"{fn.name} has no web_url"


def _schedule(cloud: str, d: Deployed, fn: ir.FunctionSpec) -> str | None:
    return (
        None if d.named(FACTS[cloud].schedule_type, slug(fn.name)) else f"no schedule resource for {fn.name}"
    )


def _volume(cloud: str, d: Deployed, vol: ir.VolumeSpec) -> str | None:
    if cloud == "gcp" and vol.kind == "network_file_system":
        found = d.named("filestore/instance:Instance", f"nfs-{slug(vol.name)}")
        return None if found else f"no Filestore instance for {vol.name}"
    found = d.named(FACTS[cloud].bucket_type, f"vol-{slug(vol.name)}")
    return None if found else f"no bucket for volume {vol.name}"


def _mount(cloud: str, d: Deployed, node: tuple[ir.FunctionSpec, str]) -> str | None:
    fn, path = node
    mounted = json.loads(d.envs.get(fn.name, {}).get("PCOMPILE_VOLUMES") or "{}")
    mounted |= dict.fromkeys(d.platform_mounts.get(fn.name, set()))
    return None if path in mounted else f"{fn.name} does not mount {path}"


def _secret(cloud: str, d: Deployed, secret: ir.SecretSpec) -> str | None:
    facts = FACTS[cloud]
    users = [env for env in d.envs.values() if facts.secret_ref(secret.name) in facts.secrets_in(env)]
    return None if users else f"secret {secret.name} reaches no function"


def _image(cloud: str, d: Deployed, image: ir.ImageSpec) -> str | None:
    return (
        None if any(ref.endswith(f":{image.id}") for ref in d.images.values()) else f"image {image.id} unused"
    )


def _entrypoint(cloud: str, d: Deployed, entry: ir.EntrypointSpec) -> str | None:
    # Runs on the caller's machine: handled by not being deployed.
    return f"entrypoint {entry.name} was deployed" if entry.name in d.functions else None


def _store(prefix: str) -> Callable[[str, Deployed, ir.StoreSpec], str | None]:
    def check(cloud: str, d: Deployed, store: ir.StoreSpec) -> str | None:
        return (
            None if f"{prefix}:{store.name}" in d.not_deployed else f"{prefix} {store.name} dropped silently"
        )

    return check


def _store_deployed(cloud: str, d: Deployed, store: ir.StoreSpec) -> str | None:
    """Every function can open the store: its environment names the cloud's KV backend."""
    missing = sorted(fn for fn, env in d.envs.items() if env.get("PCOMPILE_KV_CLOUD") != cloud)
    return f"{store.name}: no PCOMPILE_KV_CLOUD={cloud} for {missing}" if missing else None


def _cbm_not_deployed(cloud: str, d: Deployed, node: tuple[ir.FunctionSpec, str]) -> str | None:
    fn, path = node
    key = f"cloud_bucket_mount:{fn.name}:{path}"
    return None if key in d.not_deployed else f"{key} dropped silently"


HANDLERS: dict[str, Callable[[str, Deployed, Any], str | None]] = {
    "FunctionSpec:function": _function,
    "FunctionSpec:method": _function,
    "FunctionSpec:server": _function,
    "WebSpec:fastapi": _web,
    "WebSpec:asgi": _web,
    "WebSpec:wsgi": _web,
    "WebSpec:web_server": _web,
    "WebSpec:server": _web,
    "CronSchedule:cron": _schedule,
    "PeriodSchedule:period": _schedule,
    "VolumeSpec:volume": _volume,
    "VolumeSpec:network_file_system": _volume,
    "mount:volumes": _mount,
    "mount:network_file_systems": _mount,
    "mount:cloud_bucket_mounts": _mount,
    "CloudBucketMountSpec": _mount,
    "SecretSpec:named": _secret,
    "SecretSpec:dict": _secret,
    "SecretSpec:dotenv": _secret,
    "SecretSpec:local_environ": _secret,
    "ImageSpec": _image,
    "EntrypointSpec": _entrypoint,
    "StoreSpec@AppSpec.dicts": _store_deployed,
    "StoreSpec@AppSpec.queues": _store_deployed,
}
NOT_DEPLOYED_CHECKS: dict[str, Callable[[str, Deployed, Any], str | None]] = {
    "StoreSpec@AppSpec.dicts": _store("dict"),
    "StoreSpec@AppSpec.queues": _store("queue"),
    "CloudBucketMountSpec": _cbm_not_deployed,
    "mount:cloud_bucket_mounts": _cbm_not_deployed,
}


# ---------------------------------------------------------------- running the fixtures


@pytest.fixture(scope="module")
def apps() -> dict[str, ir.AppSpec]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NODES_ENVIRON", "from-the-environment")
        return {name: compile_file(FIXTURES / name).app() for name in APPS}


@dataclass
class Outcome:
    deployed: Deployed | None = None
    refused: UserError | None = None


def _compiled(cloud: str, apps: dict[str, ir.AppSpec]) -> dict[str, ir.AppSpec]:
    if not COMPILE_ENV[cloud]:
        return apps
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NODES_ENVIRON", "from-the-environment")
        for key, value in COMPILE_ENV[cloud].items():
            mp.setenv(key, value)
        return {name: compile_file(FIXTURES / name).app() for name in APPS}


@pytest.fixture(scope="module")
def outcomes(apps: dict[str, ir.AppSpec]) -> dict[tuple[str, str], Outcome]:
    out = {}
    for cloud in CLOUDS:
        for name, app in _compiled(cloud, apps).items():
            try:
                out[cloud, name] = Outcome(deployed=deployed(cloud, synthesize(cloud, app, SETTINGS[cloud])))
            except UserError as err:
                out[cloud, name] = Outcome(refused=err)
    return out


def test_every_dataclass_of_the_ir_is_a_node_or_an_attribute() -> None:
    assert ir_nodes.unclassified() == []


def test_the_fixtures_hold_every_kind(apps: dict[str, ir.AppSpec]) -> None:
    held = {kind for app in apps.values() for kind in ir_nodes.instances(app)}
    assert sorted(ir_nodes.node_kinds() - held) == []


def test_every_kind_has_a_check() -> None:
    kinds = ir_nodes.node_kinds()
    assert sorted(kinds - set(HANDLERS) - set(NOT_DEPLOYED_CHECKS)) == []
    for cloud in CLOUDS:
        assert set(REFUSED[cloud]) | NOT_DEPLOYED[cloud] <= kinds, cloud


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_node_is_handled_or_refused(
    cloud: str, apps: dict[str, ir.AppSpec], outcomes: dict[tuple[str, str], Outcome]
) -> None:
    problems = []
    for name, app in apps.items():
        result = outcomes[cloud, name]
        for kind, nodes in sorted(ir_nodes.instances(app).items()):
            if result.refused is not None:
                continue  # test_refusals_are_explicit checks that every kind of a refused app is refused
            if (cloud, kind) in KNOWN_GAPS:
                continue
            problems += _problems(cloud, name, kind, nodes, result)
    assert problems == []


def _problems(cloud: str, name: str, kind: str, nodes: list[Any], result: Outcome) -> list[str]:
    check = NOT_DEPLOYED_CHECKS[kind] if kind in NOT_DEPLOYED[cloud] else HANDLERS[kind]
    assert result.deployed is not None
    return [f"{name} {kind}: {p}" for n in nodes if (p := check(cloud, result.deployed, n))]


def test_known_gaps_are_still_gaps(
    apps: dict[str, ir.AppSpec], outcomes: dict[tuple[str, str], Outcome]
) -> None:
    for cloud, kind in KNOWN_GAPS:
        found = [
            p
            for name, app in apps.items()
            if outcomes[cloud, name].deployed is not None and kind in ir_nodes.instances(app)
            for p in _problems(cloud, name, kind, ir_nodes.instances(app)[kind], outcomes[cloud, name])
        ]
        assert found, f"{cloud} {kind} is handled now: remove it from KNOWN_GAPS"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_refusals_are_explicit(
    cloud: str, apps: dict[str, ir.AppSpec], outcomes: dict[tuple[str, str], Outcome]
) -> None:
    """A refused app is refused for one of the REFUSED kinds it holds, with the user's line;
    every REFUSED kind is the reason some fixture is refused."""
    reasons = set()
    for name, app in apps.items():
        err = outcomes[cloud, name].refused
        if err is None:
            continue
        held = [k for k in ir_nodes.instances(app) if k in REFUSED[cloud]]
        assert held, f"{name} refused on {cloud} for no REFUSED kind: {err}"
        assert all(REFUSED[cloud][k] in str(err) for k in held), str(err)
        assert f"{name}:" in str(err), f"the error names no line of {name}: {err}"
        reasons |= set(held)
    assert reasons == set(REFUSED[cloud])


@pytest.mark.parametrize("cloud", CLOUDS)
def test_not_deployed_lists_exactly_the_nodes_left_out(
    cloud: str, apps: dict[str, ir.AppSpec], outcomes: dict[tuple[str, str], Outcome]
) -> None:
    """Nothing is listed that was deployed, nor missing that was not."""
    for name, app in apps.items():
        result = outcomes[cloud, name].deployed
        if result is None:
            continue
        expected = set()
        for kind, nodes in ir_nodes.instances(app).items():
            if kind in NOT_DEPLOYED[cloud] and not kind.startswith("mount:"):
                expected |= {_not_deployed_key(kind, n) for n in nodes}
        assert result.not_deployed == expected, name


def _not_deployed_key(kind: str, node: Any) -> str:
    if kind == "CloudBucketMountSpec":
        fn, path = node
        return f"cloud_bucket_mount:{fn.name}:{path}"
    return f"{'dict' if kind.endswith('dicts') else 'queue'}:{node.name}"


# ---------------------------------------------------------------- the local provider
# Evidence from real `pcompile run`s of the fixtures: each entrypoint uses its nodes and
# prints a NODES-REPORT line. Schedules fire only under `pcompile serve`; their evidence
# is the serve scheduler's own next_fire on the IR's schedule.

CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]
NAMED_SECRET = {"NODES_NAMED": "named-value"}
EXPECTED_SECRETS = {
    "SecretSpec:named": ("NODES_NAMED", "named-value"),
    "SecretSpec:dict": ("NODES_INLINE", "inline-value"),
    "SecretSpec:dotenv": ("NODES_DOTENV", "from-the-file"),
    "SecretSpec:local_environ": ("NODES_ENVIRON", "from-the-environment"),
}
# Kinds the local provider drops silently today: kind -> why (none left).
LOCAL_KNOWN_GAPS: dict[str, str] = {}


def _cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 240) -> tuple[int, str, str]:
    proc = popen_group(
        [*CLI, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop_group(proc)
    return proc.returncode, out, err


@dataclass
class LocalRun:
    """The reports of the fixture apps under `pcompile run`, and where local state went."""

    reports: dict[str, Any]
    state: Path


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> LocalRun:
    root = tmp_path_factory.mktemp("local-nodes")
    env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(root / "local"), "NODES_ENVIRON": "from-the-environment"}
    code, _, err = _cli(
        ["secret", "create", "nodes-named", *(f"{k}={v}" for k, v in NAMED_SECRET.items())], env, root
    )
    assert code == 0, err
    reports = {}
    for name in APPS:
        code, out, err = _cli(["run", str(FIXTURES / name)], {**env, "NODES_PORT": str(free_port())}, root)
        assert code == 0, err[-3000:]
        (line,) = [x for x in out.splitlines() if x.startswith("NODES-REPORT ")]
        reports[name] = json.loads(line.removeprefix("NODES-REPORT "))
    return LocalRun(reports, root / "local")


def _mounted(run: LocalRun, path: str, volume: str | None) -> str | None:
    probe = run.reports["every_node.py"]["plain"]["mounts"].get(path)
    if probe != "ok":
        return f"{path}: {probe}"
    if volume is not None and not (run.state / "volumes" / volume / "probe.txt").is_file():
        return f"{path} is not the local directory of {volume}"
    return None


def _bucket_mounted(run: LocalRun, bucket: str) -> str | None:
    """A CloudBucketMount is the bucket's local stand-in directory under ``pcompile run``."""
    found = (run.state / "buckets" / bucket / "probe.txt").is_file()
    return None if found else f"bucket {bucket} has no local directory with the probe"


def _local_check(kind: str, node: Any, run: LocalRun) -> str | None:
    every = run.reports["every_node.py"]
    if kind in EXPECTED_SECRETS:
        key, value = EXPECTED_SECRETS[kind]
        return (
            None if every["plain"]["secrets"][key] == value else f"{key} = {every['plain']['secrets'][key]!r}"
        )
    if kind.startswith("mount:") or kind == "CloudBucketMountSpec":
        fn, path = node
        if path in fn.cloud_bucket_mounts:
            return _mounted(run, path, None) or _bucket_mounted(run, fn.cloud_bucket_mounts[path].bucket_name)
        names = {**fn.volumes, **fn.network_file_systems}
        return _mounted(run, path, names.get(path))
    if kind.startswith("VolumeSpec:"):
        return None if (run.state / "volumes" / node.name / "probe.txt").is_file() else f"{node.name} unused"
    if kind.startswith(("CronSchedule", "PeriodSchedule")):
        return _local_schedule(node)
    return None if _LOCAL_EVIDENCE[kind](run.reports) else f"no evidence in {run.reports}"


def _local_schedule(fn: ir.FunctionSpec) -> str | None:
    from pcompile.providers.local.serve import next_fire

    start = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC).timestamp()
    fire = next_fire(ir.to_jsonable(fn.schedule), start)
    if isinstance(fn.schedule, ir.PeriodSchedule):
        return None if fire == start + fn.schedule.seconds else f"{fn.name} fires at {fire}"
    expected = datetime.datetime(2026, 12, 2, 3, 0, tzinfo=datetime.UTC).timestamp()  # "0 3 * * *"
    return None if fire == expected else f"{fn.name} fires at {fire}"


_LOCAL_EVIDENCE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "FunctionSpec:function": lambda r: "secrets" in r["every_node.py"]["plain"],
    "FunctionSpec:method": lambda r: r["every_node.py"]["method"] == 4,
    "FunctionSpec:server": lambda r: r["app_server.py"] == 200,
    "WebSpec:fastapi": lambda r: r["every_node.py"]["fastapi"] == {"fastapi": {"a": 1}},
    "WebSpec:asgi": lambda r: r["every_node.py"]["asgi"] == {"asgi": True},
    "WebSpec:wsgi": lambda r: r["every_node.py"]["wsgi"] == {"wsgi": True},
    "WebSpec:web_server": lambda r: r["web_server.py"] == 200,
    "WebSpec:server": lambda r: r["app_server.py"] == 200,
    "StoreSpec@AppSpec.dicts": lambda r: r["every_node.py"]["dict"] == 1,
    "StoreSpec@AppSpec.queues": lambda r: r["every_node.py"]["queue"] == 1,
    # The default image runs in this environment; every app's functions ran in it.
    "ImageSpec": lambda r: set(r) == set(APPS),
    # Each report was printed by its app's local entrypoint.
    "EntrypointSpec": lambda r: set(r) == set(APPS),
}


def test_local_has_a_check_for_every_kind() -> None:
    kinds = ir_nodes.node_kinds()
    other = {k for k in kinds if k in EXPECTED_SECRETS or k.startswith(("mount:", "VolumeSpec:"))}
    other |= {"CloudBucketMountSpec", "CronSchedule:cron", "PeriodSchedule:period"}
    assert sorted(kinds - other - set(_LOCAL_EVIDENCE)) == []


def test_local_handles_every_node(apps: dict[str, ir.AppSpec], local_run: LocalRun) -> None:
    problems, gaps = [], set()
    for name, app in apps.items():
        for kind, nodes in sorted(ir_nodes.instances(app).items()):
            found = [f"{name} {kind}: {p}" for n in nodes if (p := _local_check(kind, n, local_run))]
            if kind in LOCAL_KNOWN_GAPS:
                gaps |= {kind} if found else set()
            else:
                problems += found
    assert problems == []
    assert gaps == set(LOCAL_KNOWN_GAPS), "a known local gap is handled now: remove it from LOCAL_KNOWN_GAPS"
