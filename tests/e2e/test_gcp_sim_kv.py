"""Dicts, Queues and mounts on a GCP simulate stack, end to end: ``pcompile bootstrap`` makes
the stack's Firestore database, ``pcompile deploy`` the app's TTL policies, its Filestore
instance and services whose GCS and NFS volumes the simulated Cloud Run API accepted. With
Google's Firestore emulator standing in for Firestore (``FIRESTORE_EMULATOR_HOST``), a
Cloud Run function puts to a Dict and a Queue, a GCP Batch function reads them, and
``pcompile dict get`` / ``pcompile queue len --stack`` see the same values.

Unverified here: the simulation does not mount the GCS bucket or the NFS share into the
functions (no gcsfuse, no NFS server), and IAM is kept, never enforced."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gcp_sim_kit import STACK_FILE, storage_emulator
from servers import firestore_emulator, firestore_emulator_launcher

from pcompile.providers.simulate import gcp_compute
from pcompile.providers.simulate import gcp_resources as gr

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "gcp_sim_kv_app.py"
STACK = "gcp-kv-sim"
NETWORK = "network:\n  vpc_id: default\n"

pytestmark = pytest.mark.skipif(
    firestore_emulator_launcher() is None, reason="no Firestore emulator (Google Cloud SDK component)"
)


@dataclass
class Project:
    root: Path
    firestore: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "STORAGE_EMULATOR_HOST"}
        return {**env, "PCOMPILE_IMAGE_ENV": "1", "CI": "true", "FIRESTORE_EMULATOR_HOST": self.firestore}

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=600
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "pcompile.cli", *args)

    def plane(self) -> dict[str, Any]:
        return dict(json.loads((gr.state_dir(self.root, STACK) / gr.PLANE_FILE).read_text()))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with storage_emulator() as url, firestore_emulator("pcompile-sim") as host:
        root = tmp_path_factory.mktemp("gcp-kv-sim")
        (root / "stacks").mkdir()
        (root / "stacks" / f"{STACK}.yaml").write_text(STACK_FILE.format(url=url) + NETWORK)
        shutil.copy(FIXTURE, root / "app.py")
        proj = Project(root, host)
        try:
            boot = proj.cli("bootstrap", "--stack", STACK, "--json")
            assert boot.returncode == 0, boot.stderr
            done = proj.cli("deploy", "app.py", "--stack", STACK, "--yes", "--json")
            assert done.returncode == 0, done.stderr
            yield proj
        finally:
            gcp_compute.stop_running(gr.state_dir(root, STACK))


def test_deploy_declares_the_database_ttl_policies_and_filestore(project: Project) -> None:
    plane = project.plane()
    database = "projects/pcompile-sim/databases/pcompile-gcp-kv-sim"
    assert list(plane["firestore_databases"]) == [database]
    assert sorted(plane["firestore_fields"]) == [
        f"{database}/collectionGroups/pcompile-{STACK}-{kind}/fields/expire_time"
        for kind in ("dict-sim-counts", "queue-sim-jobs")
    ]
    ((instance, share),) = plane["filestore_instances"].items()
    assert instance.startswith(
        "projects/pcompile-sim/locations/us-central1-b/instances/gcp-kv-nfs-sim-shared"
    )
    service = plane["services"]["projects/pcompile-sim/locations/us-central1/services/gcp-kv-produce"]
    volumes = {v["name"]: v for v in service["template"]["volumes"]}
    nfs = [v["nfs"] for v in volumes.values() if "nfs" in v]
    assert nfs == [{"server": share["address"], "path": "/share"}]
    assert [v["gcs"] for v in volumes.values() if "gcs" in v] == [{"bucket": "sim-data", "readOnly": True}]


def test_one_function_puts_another_reads_and_the_cli_sees_it(project: Project) -> None:
    code = (
        "import json, pcompile\n"
        f"produce = pcompile.Function.from_name('gcp-kv', 'produce', stack='{STACK}')\n"
        f"consume = pcompile.Function.from_name('gcp-kv', 'consume', stack='{STACK}')\n"
        "print(json.dumps({'n': produce.remote(3)}))\n"
    )
    put = project.run(sys.executable, "-c", code)
    assert put.returncode == 0, put.stderr
    assert json.loads(put.stdout.splitlines()[-1]) == {"n": 3}
    got = project.cli("dict", "get", "sim-counts", "produced", "--stack", STACK)
    assert (got.returncode, got.stdout.strip()) == (0, "3"), got.stderr
    size = project.cli("queue", "len", "sim-jobs", "--partition", "work", "--stack", STACK)
    assert (size.returncode, size.stdout.strip()) == (0, "3"), size.stderr
    read = project.run(
        sys.executable, "-c", code.replace("produce.remote(3)", "consume.remote()").replace("'n'", "'r'")
    )
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout.splitlines()[-1]) == {"r": {"produced": 3, "items": [0, 1, 2]}}
