"""``synth --cloud gcp`` on the acceptance app: golden snapshot, acceptance facts, least-privilege properties.

Regenerate the snapshot with ``PCOMPILE_UPDATE_GOLDEN=1 python -m pytest tests/gcp/test_gcp_synth.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from gcp_ir_apps import IMAGE, fn
from gcp_kit import SETTINGS

from pcompile.compiler.ir import AppSpec, SecretSpec
from pcompile.providers.synth import synthesize

GOLDEN = Path(__file__).parent / "golden" / "gpu_mix.json"
SECRET_SENTINEL = "s3cr3t-value-never-in-files"


def resources(out: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in out["resources"] if r["type"] == type_token]


def test_golden_snapshot(mix_app: AppSpec, mix_json: dict[str, Any]) -> None:
    if mix_app.functions[0].source.file != "examples/gpu_mix_gcp.py":
        pytest.skip("the snapshot is of the hand-built IR (compiled image ids follow the image renderer)")
    text = json.dumps(mix_json, sort_keys=True, indent=2) + "\n"
    if os.environ.get("PCOMPILE_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), (
        "snapshot changed; rerun with PCOMPILE_UPDATE_GOLDEN=1 and review the diff"
    )


def test_synth_is_deterministic(mix_app: AppSpec, mix_json: dict[str, Any]) -> None:
    assert synthesize("gcp", mix_app, SETTINGS).to_json() == mix_json


def test_acceptance_resources(mix_app: AppSpec, mix_json: dict[str, Any]) -> None:
    services = resources(mix_json, "gcp:cloudrunv2/service:Service")
    assert len(services) == 6
    gpu = [
        s
        for s in services
        if s["inputs"]["template"].get("nodeSelector", {}).get("accelerator") == "nvidia-l4"
    ]
    assert sorted(s["inputs"]["name"] for s in gpu) == ["gpu-mix-embedder-embed", "gpu-mix-infer-l4"]
    for service in gpu:
        template = service["inputs"]["template"]
        assert template["gpuZonalRedundancyDisabled"] is True
        assert template["containers"][0]["resources"]["limits"] == {
            "cpu": "4",
            "memory": "16384Mi",
            "nvidia.com/gpu": "1",
        }
    templates = json.dumps(mix_json["job_templates"])
    for needle in ("a2-highgpu-1g", "a3-highgpu-8g", "nvidia-tesla-t4"):
        assert needle in templates
    stored = {r["inputs"]["name"] for r in resources(mix_json, "gcp:storage/bucketObject:BucketObject")}
    assert {
        "templates/train-a100.json",
        "templates/train-h100x8.json",
        "templates/transcode-t4.json",
    } <= stored
    crons = {j["inputs"]["schedule"]: j["inputs"] for j in resources(mix_json, "gcp:cloudscheduler/job:Job")}
    nightly = mix_app.function("nightly").schedule
    assert nightly is not None and nightly.kind == "cron"
    assert crons["0 2 * * *"]["timeZone"] == nightly.timezone
    assert crons["0 */6 * * *"]["httpTarget"]["oidcToken"]["serviceAccountEmail"]
    assert resources(mix_json, "gcp:storage/bucket:Bucket")
    assert mix_json["placements"]["Embedder.embed"]["gpu"] == {"type": "L4", "count": 1}


def test_component_tokens(mix_json: dict[str, Any]) -> None:
    tokens = {r["type"] for r in mix_json["resources"] if r["type"].startswith("pcompile:")}
    expected = {
        "AppShared",
        "BatchFunction",
        "FunctionIdentity",
        "Manifest",
        "Schedule",
        "Secret",
        "Service",
        "Volume",
    }
    assert tokens == {f"pcompile:gcp:{t}" for t in expected}


def test_only_web_endpoints_grant_all_users(mix_app: AppSpec, mix_json: dict[str, Any]) -> None:
    from pcompile.providers.gcp import names

    # proxy auth (requires_auth) is checked by the runtime's front, so every web service is public
    public = {names.service_name(mix_app.name, f.name) for f in mix_app.functions if f.web}
    for binding in resources(mix_json, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"):
        if binding["inputs"]["member"] in ("allUsers", "allAuthenticatedUsers"):
            assert binding["inputs"]["name"] in public
    assert public == {"gpu-mix-predict"}


def _identity_prefix(app: AppSpec) -> Iterator[tuple[str, Any]]:
    from pcompile.providers.gcp import names

    for f in app.functions:
        yield f"{names.slug(app.name)}-fn-{names.slug(f.name)}-id-", f


def test_service_account_roles_are_scoped(mix_app: AppSpec, mix_json: dict[str, Any]) -> None:
    from pcompile.providers.gcp import names

    staging = names.staging_bucket("acme-ml", "dev", mix_app.name)
    vol_bucket = {
        v.name: names.bucket_name("acme-ml", "dev", mix_app.name, f"vol-{v.name}") for v in mix_app.volumes
    }
    for prefix, f in _identity_prefix(mix_app):
        mine = f"serviceAccount:{prefix}sa@"
        allowed = {staging} | {vol_bucket[v] for v in f.volumes.values()}
        buckets = {
            b["inputs"]["bucket"]
            for b in resources(mix_json, "gcp:storage/bucketIAMMember:BucketIAMMember")
            if b["inputs"]["member"].startswith(mine)
        }
        assert staging in buckets and buckets <= allowed, f.name
        secrets = {
            s["inputs"]["secretId"]
            for s in resources(mix_json, "gcp:secretmanager/secretIamMember:SecretIamMember")
            if s["inputs"]["member"].startswith(mine)
        }
        assert secrets == set(f.secrets), f.name
    project_roles = {r["inputs"]["role"] for r in resources(mix_json, "gcp:projects/iAMMember:IAMMember")}
    assert project_roles <= {"roles/batch.agentReporter", "roles/logging.logWriter", "roles/batch.jobsEditor"}
    assert all("admin" not in r["inputs"]["role"] for r in mix_json["resources"] if "role" in r["inputs"])


def test_every_bucket_is_private(mix_json: dict[str, Any]) -> None:
    for bucket in resources(mix_json, "gcp:storage/bucket:Bucket"):
        assert bucket["inputs"]["publicAccessPrevention"] == "enforced"
        assert bucket["inputs"]["uniformBucketLevelAccess"] is True


def test_runtime_env_matches_the_contract(mix_json: dict[str, Any]) -> None:
    from pcompile.runtime import gcp_env

    for service in resources(mix_json, "gcp:cloudrunv2/service:Service"):
        container = service["inputs"]["template"]["containers"][0]
        names = {e["name"] for e in container["envs"]}
        assert {gcp_env.APP, gcp_env.FUNCTION, gcp_env.SPEC, gcp_env.STAGING, gcp_env.VOLUMES} <= names
        assert container["args"] == ["http"]
    for template in mix_json["job_templates"].values():
        assert (
            template["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]["commands"][-1] == "gcpbatch"
        )


@pytest.fixture()
def dict_secret_app() -> Iterator[AppSpec]:
    """An app with a ``Secret.from_dict`` whose value is set as Pulumi secret config."""
    pulumi.runtime.set_config("pcompile:secret-db", json.dumps({"DB_PASSWORD": SECRET_SENTINEL}))
    yield AppSpec(
        "sec",
        functions=(fn("uses_db", 3, secrets=("db",)), fn("batchy", 9, secrets=("db",), timeout=9000)),
        images=(IMAGE,),
        secrets=(SecretSpec("db", "dict", keys=("DB_PASSWORD",)),),
    )
    pulumi.runtime.config.CONFIG.get().pop("pcompile:secret-db", None)


def _secret_wrapped(node: Any, inside: bool = False) -> Iterator[bool]:
    """For each string holding the sentinel: whether it sits inside a Pulumi secret value."""
    if isinstance(node, dict):
        wrapped = inside or pulumi.runtime.rpc._special_sig_key in node
        for value in node.values():
            yield from _secret_wrapped(value, wrapped)
    elif isinstance(node, list):
        for value in node:
            yield from _secret_wrapped(value, inside)
    elif isinstance(node, str) and SECRET_SENTINEL in node:
        yield inside


def test_secret_values_only_travel_as_pulumi_secrets(dict_secret_app: AppSpec) -> None:
    out = synthesize("gcp", dict_secret_app, SETTINGS).to_json()
    versions = resources(out, "gcp:secretmanager/secretVersion:SecretVersion")
    assert len(versions) == 1
    found = list(_secret_wrapped(out))
    assert found and all(found), "a secret value appeared outside a Pulumi secret"
    assert SECRET_SENTINEL not in json.dumps(out["job_templates"])
    assert out["gcp"]["secret_config_missing"] == []


def test_missing_secret_config_is_reported_not_invented(dict_secret_app: AppSpec) -> None:
    pulumi.runtime.config.CONFIG.get().pop("pcompile:secret-db", None)
    out = synthesize("gcp", dict_secret_app, SETTINGS).to_json()
    assert resources(out, "gcp:secretmanager/secretVersion:SecretVersion") == []
    assert out["gcp"]["secret_config_missing"] == ["db"]


def test_job_templates_are_valid_batch_jobs(mix_json: dict[str, Any]) -> None:
    """Each template (and each call's job) parses as google.cloud.batch_v1.Job, unknown fields refused."""
    from google.cloud import batch_v1

    from pcompile.providers.gcp import jobs

    assert mix_json["job_templates"]
    for template in mix_json["job_templates"].values():
        batch_v1.Job.from_json(json.dumps(template), ignore_unknown_fields=False)
        call = jobs.for_call(template, call_env={"PCOMPILE_CALL": "calls/x"}, task_count=7)
        parsed = batch_v1.Job.from_json(json.dumps(call), ignore_unknown_fields=False)
        assert parsed.task_groups[0].task_count == 7
        assert parsed.task_groups[0].task_spec.environment.variables["PCOMPILE_CALL"] == "calls/x"


def test_staging_grants_name_only_the_members_own_prefixes(
    mix_app: AppSpec, mix_json: dict[str, Any]
) -> None:
    """A function's account reads its own inputs and writes its own results; callers write inputs
    and read results, the manifest and job templates; nobody else writes anything in staging."""
    from pcompile.providers.gcp import names
    from pcompile.providers.gcp.components import OBJECT_READ, OBJECT_READ_WRITE, objects_under
    from pcompile.runtime import staging

    bucket = names.staging_bucket("acme-ml", "dev", mix_app.name)
    on_staging = [
        b["inputs"]
        for b in resources(mix_json, "gcp:storage/bucketIAMMember:BucketIAMMember")
        if b["inputs"]["bucket"] == bucket
    ]
    expected: set[tuple[str, str, str]] = set()
    for prefix, f in _identity_prefix(mix_app):
        member = f"serviceAccount:{prefix}sa@"
        expected.add((member, OBJECT_READ, objects_under(bucket, staging.prefix(f.name, staging.INPUTS))))
        expected.add(
            (member, OBJECT_READ_WRITE, objects_under(bucket, staging.prefix(f.name, staging.RESULTS)))
        )
    for caller in SETTINGS.extra["invokers"]:
        for f in mix_app.functions:
            expected.add(
                (caller, OBJECT_READ_WRITE, objects_under(bucket, staging.prefix(f.name, staging.INPUTS)))
            )
            expected.add(
                (caller, OBJECT_READ, objects_under(bucket, staging.prefix(f.name, staging.RESULTS)))
            )
        expected.add((caller, OBJECT_READ, objects_under(bucket, names.MANIFESTS, names.TEMPLATES)))
    # The mock engine invents the accounts' e-mail domain; the account is what matters.
    actual = {
        (b["member"].split("@")[0] + "@" if b["member"].startswith("serviceAccount:") else b["member"], b["role"],
         (b.get("condition") or {}).get("expression", ""))
        for b in on_staging
    }  # fmt: skip
    assert actual == expected
    assert len(on_staging) == len(expected)
