"""The simulated Firestore and Filestore APIs (providers/simulate/gcp_resources.py) on the
resources the GCP program declares for Dicts, Queues and NetworkFileSystems: accepted as
synthesized, and each mistake the Google APIs refuse is refused, naming the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pcompile.compiler import compile_file
from pcompile.providers.settings import NetworkSettings, StackSettings
from pcompile.providers.simulate import gcp_resources as gr
from pcompile.providers.synth import SynthOutput, synthesize

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "pcompile-sim"
SETTINGS = StackSettings(
    name="sim", cloud="gcp", region="us-central1", project=PROJECT, network=NetworkSettings(vpc_id="default")
)
DATABASE = "gcp:firestore/database:Database"
FIELD = "gcp:firestore/field:Field"
FILESTORE = "gcp:filestore/instance:Instance"
SERVICE = "gcp:cloudrunv2/service:Service"
# What bootstrap declares (providers/gcp/bootstrap.py), as the engine hands it over.
DATABASE_INPUTS = {
    "name": "pcompile-sim",
    "project": PROJECT,
    "locationId": "us-central1",
    "type": "FIRESTORE_NATIVE",
    "deletionPolicy": "ABANDON",
}


@pytest.fixture(scope="module")
def synth() -> SynthOutput:
    app = compile_file(str(ROOT / "tests" / "fixtures" / "gcp_sim_kv_app.py")).app()
    return synthesize("gcp", app, SETTINGS)


@pytest.fixture()
def resources(tmp_path: Path) -> gr.GcpResources:
    # Neither API touches storage.
    return gr.GcpResources(gr.ControlPlane.load(tmp_path / gr.PLANE_FILE), None, PROJECT, "us-central1")


def _one(synth: SynthOutput, type_token: str) -> tuple[str, dict[str, Any]]:
    found = synth.result.of_type(type_token)
    return found[0].name, copy.deepcopy(dict(found[0].inputs))


def test_ttl_fields_need_the_bootstrapped_database(synth: SynthOutput, resources: gr.GcpResources) -> None:
    name, inputs = _one(synth, FIELD)
    with pytest.raises(gr.ResourceRejected, match="pcompile bootstrap creates"):
        resources.create(FIELD, name, inputs)
    resources.create(DATABASE, "pcompile-kv", dict(DATABASE_INPUTS))
    rid, _ = resources.create(FIELD, name, inputs)
    assert rid.startswith("projects/pcompile-sim/databases/pcompile-sim/collectionGroups/pcompile-sim-")
    assert resources.plane.table("firestore_fields")[rid]["ttlConfig"] == {}


@pytest.mark.parametrize(
    ("change", "said"),
    [({"name": "Bad_DB"}, "database id 'Bad_DB'"), ({"type": "DATASTORE_MODE"}, "FIRESTORE_NATIVE")],
)
def test_a_bad_database_is_refused(resources: gr.GcpResources, change: dict[str, str], said: str) -> None:
    with pytest.raises(gr.ResourceRejected, match=said):
        resources.create(DATABASE, "pcompile-kv", {**DATABASE_INPUTS, **change})


def test_filestore_gets_a_stable_address(synth: SynthOutput, resources: gr.GcpResources) -> None:
    name, inputs = _one(synth, FILESTORE)
    _, first = resources.create(FILESTORE, name, copy.deepcopy(inputs))
    _, again = resources.create(FILESTORE, name, copy.deepcopy(inputs))
    (address,) = first["networks"][0]["ipAddresses"]
    assert address.startswith("10.") and again["networks"] == first["networks"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"fileShares": {"name": "share", "capacityGb": 100}}, "at least 1024 GB"),
        ({"location": "us-central1"}, "needs a zone"),
        ({"tier": "ULTRA"}, "tier 'ULTRA'"),
        ({"networks": []}, "exactly one network"),
    ],
)
def test_a_bad_filestore_instance_is_refused(
    synth: SynthOutput, resources: gr.GcpResources, change: dict[str, Any], said: str
) -> None:
    name, inputs = _one(synth, FILESTORE)
    with pytest.raises(gr.ResourceRejected, match=said):
        resources.create(FILESTORE, name, {**inputs, **change})


def test_an_nfs_volume_without_a_vpc_route_is_refused(synth: SynthOutput, resources: gr.GcpResources) -> None:
    (service,) = [r for r in synth.result.of_type(SERVICE) if r.inputs["name"] == "gcp-kv-produce"]
    inputs = copy.deepcopy(dict(service.inputs))
    resources.create(SERVICE, service.name, copy.deepcopy(inputs))  # as synthesized: accepted
    del inputs["template"]["vpcAccess"]
    with pytest.raises(gr.ResourceRejected, match="an NFS server needs vpcAccess"):
        resources.create(SERVICE, service.name, inputs)
