"""Proxy auth in the Cloud Run runtime (``python -m pcompile.runtime http``), from the
synthesized service's own environment, against gcp-storage-emulator.

What this does not reach: Secret Manager has no emulator, so the service's
``PCOMPILE_PROXY_AUTH=gcpsecret://...`` is swapped for the local token store
(``pcompile proxy-auth create`` without ``--stack``); the Secret Manager read itself is
checked only as synthesized (tests/proxyauth/test_proxy_auth_synth.py).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gcp_sim_kit import storage_emulator
from servers import free_port, popen_group, stop_group

from pcompile.compiler import compile_file
from pcompile.providers.gcp import names
from pcompile.providers.settings import StackSettings
from pcompile.providers.synth import synthesize
from pcompile.runtime import proxy_auth

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SETTINGS = StackSettings(name="dev", cloud="gcp", region="us-central1", project="acme-ml")
CLI = [sys.executable, "-c", "from pcompile.cli.main import main; main()"]
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's secret wrapper in mocked inputs


def _plain(value: Any) -> Any:
    return value["value"] if isinstance(value, dict) and SECRET_SIG in value else value


def _service_env(synth: dict[str, Any], app: str, function: str) -> dict[str, str]:
    wanted = names.service_name(app, function)
    (service,) = [
        r["inputs"]
        for r in synth["resources"]
        if r["type"] == "gcp:cloudrunv2/service:Service" and r["inputs"]["name"] == wanted
    ]
    return {e["name"]: e["value"] for e in service["template"]["containers"][0]["envs"] if "value" in e}


@pytest.fixture(scope="module")
def cloud_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The guarded endpoint's Cloud Run container on loopback; yields (url, CLI env)."""
    tmp = tmp_path_factory.mktemp("cloudrun")
    cli_env = {**os.environ, "PCOMPILE_LOCAL_DIR": str(tmp / "local")}
    with storage_emulator() as emulator, contextlib.ExitStack() as stack:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator
        stack.callback(os.environ.pop, "STORAGE_EMULATOR_HOST", None)
        from pcompile.runtime.storage_gcs import gcs_client

        app = compile_file(str(FIXTURES / "proxy_auth_endpoints.py")).app()
        synth = synthesize("gcp", app, SETTINGS).to_json()
        client = gcs_client()
        for r in synth["resources"]:
            if r["type"] == "gcp:storage/bucket:Bucket":
                client.create_bucket(r["inputs"]["name"])
        for r in synth["resources"]:
            if r["type"] == "gcp:storage/bucketObject:BucketObject":
                obj = r["inputs"]
                client.bucket(obj["bucket"]).blob(obj["name"]).upload_from_string(_plain(obj["content"]))
        env = _service_env(synth, app.name, "guarded")
        assert env[proxy_auth.ENV].startswith("gcpsecret://projects/acme-ml/secrets/pcompile-dev-proxy-auth")
        port = free_port()
        env = {
            **os.environ,
            **env,
            proxy_auth.ENV: f"file://{tmp / 'local' / 'secrets' / 'proxy-auth.tokens'}",  # see the docstring
            "STORAGE_EMULATOR_HOST": emulator,
            "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")]),
            "PORT": str(port),
            "PCOMPILE_HOST": "127.0.0.1",
        }
        proc = popen_group([sys.executable, "-m", "pcompile.runtime", "http"], env=env)
        stack.callback(stop_group, proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:  # as Cloud Run's startup probe
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/__pcompile/healthz").status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "the http runtime did not start"
            time.sleep(0.1)
        yield url, cli_env


def test_cloud_run_front_gives_401_without_a_token_and_200_with_one(cloud_run, tmp_path) -> None:
    url, cli_env = cloud_run
    refused = httpx.get(url + "/")
    assert refused.status_code == 401 and "Modal-Key" in refused.text
    made = subprocess.run(
        [*CLI, "proxy-auth", "create"], env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert made.returncode == 0, made.stderr
    token = dict(line.split(": ", 1) for line in made.stdout.splitlines() if line.startswith("Modal-"))
    deadline = time.monotonic() + 5
    while (answer := httpx.get(url + "/", headers=token)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer.status_code == 200 and answer.json() == {"ok": True, "saw_token": False}
