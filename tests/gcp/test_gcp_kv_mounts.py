"""``synth --cloud gcp`` of an app with a Dict, a Queue, GCS bucket mounts (read-only and
read-write) and a NetworkFileSystem, under Pulumi's mock engine: nothing is left under
``not_deployed``; the KV environment, the platform mounts and the IAM on exactly the
mounted buckets and the stack's Firestore database are emitted; bad input is refused at
the user's line with the fix."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pcompile.compiler import compile_file, ir
from pcompile.compiler.errors import UserError
from pcompile.providers.settings import NetworkSettings, StackSettings
from pcompile.providers.synth import synthesize

SETTINGS = StackSettings(
    name="dev",
    cloud="gcp",
    region="us-central1",
    project="acme-ml",
    network=NetworkSettings(vpc_id="default", subnet_ids=("run-egress",)),
)
DATABASE = "projects/acme-ml/databases/pcompile-dev"
GCS = "https://storage.googleapis.com"

APP = f"""\
import modal

app = modal.App("kvmix")
counts = modal.Dict.from_name("counts", create_if_missing=True)
jobs = modal.Queue.from_name("jobs", create_if_missing=True)
shared = modal.NetworkFileSystem.from_name("shared", create_if_missing=True)
data = modal.CloudBucketMount("acme-data", bucket_endpoint_url="{GCS}", key_prefix="train/", read_only=True)
out = modal.CloudBucketMount("acme-out", bucket_endpoint_url="{GCS}")


@app.function(volumes={{"/data": data, "/out": out}}, network_file_systems={{"/shared": shared}})
def serve(x: int) -> int:
    counts["last"] = x
    return x


@app.function(volumes={{"/data": data}}, network_file_systems={{"/shared": shared}}, timeout=7200)
def train(x: int) -> int:
    return jobs.get()


@app.function()
def plain() -> int:
    return counts.len()
"""


def _write(tmp_path: Path, text: str, name: str = "kvmix.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = compile_file(str(_write(tmp_path_factory.mktemp("kvmix"), APP))).app()
    return synthesize("gcp", app, SETTINGS).to_json()


def _of(out: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in out["resources"] if r["type"] == type_token]


def _service(out: dict[str, Any], fn: str) -> dict[str, Any]:
    (found,) = [
        r["inputs"]["template"]
        for r in _of(out, "gcp:cloudrunv2/service:Service")
        if r["inputs"]["name"] == f"kvmix-{fn}"
    ]
    return found


def _env(template: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in template["containers"][0]["envs"]}


def test_nothing_is_listed_as_not_deployed(out: dict[str, Any]) -> None:
    assert out["gcp"]["not_deployed"] == []


def test_every_function_gets_the_kv_environment(out: dict[str, Any]) -> None:
    expected = {
        "PCOMPILE_KV_CLOUD": "gcp",
        "PCOMPILE_KV_PREFIX": "pcompile-dev",
        "GOOGLE_CLOUD_PROJECT": "acme-ml",
        "PCOMPILE_KV_DATABASE": "pcompile-dev",
    }
    for fn in ("serve", "plain"):
        assert expected.items() <= _env(_service(out, fn)).items(), fn
    variables = out["job_templates"]["train"]["taskGroups"][0]["taskSpec"]["environment"]["variables"]
    assert expected.items() <= variables.items()


def test_datastore_user_is_granted_on_the_stack_database_only(out: dict[str, Any]) -> None:
    grants = [r["inputs"] for r in _of(out, "gcp:projects/iAMMember:IAMMember")]
    kv = [g for g in grants if g["role"] == "roles/datastore.user"]
    assert len(kv) == 3  # one per function: each its own service account
    assert len({g["member"] for g in kv}) == 3
    for grant in kv:
        assert grant["condition"]["expression"] == f'resource.name == "{DATABASE}"'
    assert not [g for g in grants if g["role"].startswith(("roles/datastore.owner", "roles/owner"))]


def test_each_named_collection_gets_a_ttl_policy(out: dict[str, Any]) -> None:
    fields = {r["inputs"]["collection"]: r["inputs"] for r in _of(out, "gcp:firestore/field:Field")}
    assert sorted(fields) == ["pcompile-dev-dict-counts", "pcompile-dev-queue-jobs"]
    for field in fields.values():
        assert (field["database"], field["field"], field["ttlConfig"]) == ("pcompile-dev", "expire_time", {})


def test_gcs_mounts_are_cloud_run_volumes(out: dict[str, Any]) -> None:
    template = _service(out, "serve")
    volumes = {v["name"]: v for v in template["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in template["containers"][0]["volumeMounts"]}
    assert mounts["/data"]["gcs"] == {
        "bucket": "acme-data",
        "readOnly": True,
        "mountOptions": ["only-dir=train"],
    }
    assert mounts["/out"]["gcs"] == {"bucket": "acme-out", "readOnly": False}
    assert template["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"
    assert "volumes" not in _service(out, "plain")


def test_nfs_is_a_filestore_share_on_the_stack_network(out: dict[str, Any]) -> None:
    (instance,) = _of(out, "gcp:filestore/instance:Instance")
    inputs = instance["inputs"]
    assert (inputs["tier"], inputs["fileShares"]["capacityGb"]) == ("BASIC_HDD", 1024)
    assert inputs["networks"] == [
        {"network": "projects/acme-ml/global/networks/default", "modes": ["MODE_IPV4"]}
    ]
    assert inputs["location"] == "us-central1-b" and inputs["deletionProtectionEnabled"] is True
    template = _service(out, "serve")
    (nfs,) = [v["nfs"] for v in template["volumes"] if "nfs" in v]
    assert nfs["path"] == "/share" and nfs["readOnly"] is False
    assert template["vpcAccess"]["networkInterfaces"] == [
        {
            "network": "projects/acme-ml/global/networks/default",
            "subnetwork": "projects/acme-ml/regions/us-central1/subnetworks/run-egress",
        }
    ]


def test_batch_mounts_with_gcsfuse_and_nfs_on_the_network(out: dict[str, Any]) -> None:
    template = out["job_templates"]["train"]
    volumes = {v["mountPath"]: v for v in template["taskGroups"][0]["taskSpec"]["volumes"]}
    assert volumes["/data"] == {
        "gcs": {"remotePath": "acme-data/train"},
        "mountOptions": ["-o ro"],
        "mountPath": "/data",
    }
    assert volumes["/shared"]["nfs"] == {"server": "${filestore:shared}", "remotePath": "/share"}
    assert template["allocationPolicy"]["network"]["networkInterfaces"][0]["network"].endswith(
        "/networks/default"
    )
    # The stored template has the instance's address in place of the placeholder.
    (obj,) = [
        r for r in _of(out, "gcp:storage/bucketObject:BucketObject") if r["name"].endswith("train-template")
    ]
    assert "${filestore:" not in obj["inputs"]["content"]


def test_the_runtime_copies_only_volumes(out: dict[str, Any]) -> None:
    assert json.loads(_env(_service(out, "serve"))["PCOMPILE_VOLUMES"]) == {}


def test_bucket_access_is_exactly_what_each_mount_needs(out: dict[str, Any]) -> None:
    staging = out["gcp"]["staging_bucket"]
    grants = sorted(
        (r["name"].split("-fn-")[1].split("-")[0], r["inputs"]["bucket"], r["inputs"]["role"])
        for r in _of(out, "gcp:storage/bucketIAMMember:BucketIAMMember")
        if r["inputs"]["bucket"] != staging
    )
    assert grants == [
        ("serve", "acme-data", "roles/storage.objectViewer"),
        ("serve", "acme-out", "roles/storage.objectUser"),
        ("train", "acme-data", "roles/storage.objectViewer"),
    ]


def _refusal(tmp_path: Path, text: str, settings: StackSettings = SETTINGS) -> str:
    app = compile_file(str(_write(tmp_path, text, "bad.py"))).app()
    with pytest.raises(UserError) as info:
        synthesize("gcp", app, settings)
    return str(info.value)


BUCKET_APP = """\
import modal

app = modal.App("bad")


@app.function(volumes={{"/d": modal.CloudBucketMount("data"{endpoint})}})
def f() -> None:
    pass
"""


@pytest.mark.parametrize(
    ("endpoint", "said"),
    [
        ("", "no bucket_endpoint_url, which Modal reads as S3"),
        (', bucket_endpoint_url="https://acct.r2.cloudflarestorage.com"', "r2.cloudflarestorage.com"),
    ],
)
def test_a_bucket_on_another_cloud_is_refused_at_its_line(tmp_path: Path, endpoint: str, said: str) -> None:
    message = _refusal(tmp_path, BUCKET_APP.format(endpoint=endpoint))
    assert "bad.py:6" in message and said in message and "not a GCS bucket" in message
    assert f'fix: pass bucket_endpoint_url="{GCS}"' in message


def test_nfs_without_the_stack_network_is_refused_with_the_key(tmp_path: Path) -> None:
    text = """\
    import modal

    app = modal.App("bad")
    nfs = modal.NetworkFileSystem.from_name("n", create_if_missing=True)


    @app.function(network_file_systems={"/n": nfs})
    def f() -> None:
        pass
    """
    message = _refusal(tmp_path, text, dataclasses.replace(SETTINGS, network=NetworkSettings()))
    assert "bad.py:7" in message and "Filestore" in message and "fix: set `network.vpc_id`" in message


def test_an_invalid_dict_name_is_refused_at_its_line(tmp_path: Path) -> None:
    text = """\
    import modal

    app = modal.App("bad")
    d = modal.Dict.from_name("bad/name", create_if_missing=True)
    """
    with pytest.raises(UserError) as info:
        compile_file(str(_write(tmp_path, text, "bad.py")))
    assert "bad.py:4" in str(info.value) and "rename it, e.g. 'bad-name'" in str(info.value)


def test_an_invalid_queue_name_in_the_ir_is_refused_by_synth(out: dict[str, Any], tmp_path: Path) -> None:
    app = compile_file(str(_write(tmp_path, APP))).app()
    bad = dataclasses.replace(app, queues=(ir.StoreSpec("__jobs__"),))
    with pytest.raises(UserError) as info:
        synthesize("gcp", bad, SETTINGS)
    assert "modal.Queue.from_name('__jobs__')" in str(info.value) and "rename it" in str(info.value)
