"""``synth --json``: every placement has the same top-level keys on AWS and GCP (issue 14).

Over every example app and the cloud fixtures: the plan of each cloud, and the JSON that
a full synth prints for the examples.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pcompile.compiler import compile_file
from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec
from pcompile.compiler.placement import JSON_KEYS, local_plan
from pcompile.providers.aws import placement as aws_placement
from pcompile.providers.gcp import placement as gcp_placement
from pcompile.providers.settings import StackSettings
from pcompile.providers.synth import synthesize

REPO = Path(__file__).resolve().parents[2]
FIXTURES = ("spine_*.py", "aws_*.py", "gcp_*.py", "sim_*.py", "gpu_showcase.py", "compat_gpu_objects.py")
PATHS = sorted(
    [*(REPO / "examples").glob("*.py"), *(p for g in FIXTURES for p in (REPO / "tests/fixtures").glob(g))]
)
SETTINGS = {
    "aws": StackSettings(name="dev", cloud="aws", region="us-east-1"),
    "gcp": StackSettings(name="dev", cloud="gcp", region="us-central1", project="acme-ml"),
}
PLANS = {"aws": aws_placement.plan, "gcp": gcp_placement.plan}
KEYS = set(JSON_KEYS)


@pytest.fixture(scope="module")
def apps() -> list[AppSpec]:
    with pytest.warns():  # the fixtures include Modal's deprecated spellings
        return [app for path in PATHS for app in compile_file(str(path)).apps]


def _shape_ok(data: dict[str, object]) -> None:
    assert set(data) == KEYS, sorted(data)
    assert isinstance(data["reason"], str) and data["reason"]
    assert isinstance(data["timeout_s"], int) and isinstance(data["memory_mib"], int)
    assert isinstance(data["cpu"], int | float) and isinstance(data["instance_types"], list)
    assert isinstance(data["details"], dict)
    assert data["gpu"] is None or set(data["gpu"]) == {"type", "count"}  # type: ignore[arg-type]


def test_every_placement_of_every_app_has_the_same_keys_on_both_clouds(apps: list[AppSpec]) -> None:
    targets: Counter[str] = Counter()
    for app in apps:
        for cloud, plan in PLANS.items():
            try:
                placements = plan(app, SETTINGS[cloud])
            except UserError:
                continue  # an app this cloud cannot place (e.g. a GPU GCP has no shape for)
            for p in placements.values():
                _shape_ok(json.loads(json.dumps(p.to_json())))
                targets[p.target] += 1
                # Fargate services run on no instance type of ours, as Lambda and Cloud Run.
                serverless = p.target in ("lambda", "cloudrun") or getattr(p, "launch_type", "") == "fargate"
                assert (p.instance_types == ()) is serverless, (cloud, app.name, p)
    assert set(targets) == {"lambda", "batch", "ecs", "cloudrun", "gcpbatch"} and min(targets.values()) >= 5


def test_local_placements_have_the_same_keys(apps: list[AppSpec]) -> None:
    for app in apps:
        for p in local_plan(app).values():
            _shape_ok(p.to_json())
            assert p.target == "local" and p.details() == {}


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_synth_json_of_the_examples_has_the_keys(cloud: str) -> None:
    seen = 0
    for path in sorted((REPO / "examples").glob("*.py")):
        app = compile_file(str(path)).app()
        try:
            data = synthesize(cloud, app, SETTINGS[cloud]).to_json()
        except UserError:
            continue
        for placement in json.loads(json.dumps(data))["placements"].values():
            _shape_ok(placement)
            seen += 1
    assert seen >= 10
