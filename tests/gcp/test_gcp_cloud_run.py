"""Cloud Run services a real deploy would refuse or kill at start (issue 19, item 13): the
startup probe follows ``startup_timeout``, and L4 services only go to regions that offer them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from gcp_ir_apps import fn
from gcp_kit import SETTINGS

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, GpuSpec, WebSpec
from pcompile.providers.gcp import catalog as cat
from pcompile.providers.gcp import placement
from pcompile.providers.synth import synthesize

SERVICE = "gcp:cloudrunv2/service:Service"


def _probes(app: AppSpec) -> dict[str, dict[str, Any]]:
    out = synthesize("gcp", app, SETTINGS).to_json()
    return {
        r["name"]: r["inputs"]["template"]["containers"][0]["startupProbe"]
        for r in out["resources"]
        if r["type"] == SERVICE
    }


def test_the_startup_probe_waits_as_long_as_the_function_may_start() -> None:
    app = AppSpec(
        name="probe",
        functions=(
            fn("slow_enter", 10, startup_timeout=900),
            fn("plain", 20, timeout=600),
            fn("web", 30, web=WebSpec("fastapi")),
            fn("server", 40, web=WebSpec("web_server", port=8000, startup_timeout=600.0)),
        ),
        images=(),
    )
    probes = _probes(app)
    budget = {name: p["periodSeconds"] * p["failureThreshold"] for name, p in probes.items()}
    assert budget == {
        "probe-fn-slow-enter-run": 900.0,
        "probe-fn-plain-run": 600.0,
        "probe-fn-web-run": 240.0,
        "probe-fn-server-run": 600.0,
    }
    # a web service's probe asks its front (on the container port, not the server's 8000)
    assert probes["probe-fn-server-run"]["httpGet"] == {"path": "/__pcompile/healthz", "port": 8080.0}
    assert probes["probe-fn-plain-run"]["tcpSocket"] == {"port": 8080.0}
    for p in probes.values():
        assert p["timeoutSeconds"] < p["periodSeconds"] <= 240


def test_the_startup_budget_is_capped_at_an_hour() -> None:
    assert placement.startup_budget(fn("f", 1, startup_timeout=10_000)) == 3600
    assert placement.startup_budget(fn("f", 1, startup_timeout=1)) == placement.CLOUD_RUN_PROBE_PERIOD_S


def _l4(region: str, **extra: Any) -> placement.GcpPlacement:
    settings = dataclasses.replace(SETTINGS, region=region, extra={**SETTINGS.extra, **extra})
    web = fn("serve", 12, gpu=GpuSpec("L4"), web=WebSpec("fastapi"))
    return placement.place(web, settings, cat.default_catalog())


def test_an_l4_service_in_a_region_without_cloud_run_gpus_is_an_error_naming_the_line() -> None:
    assert _l4("us-central1").target == "cloudrun"
    with pytest.raises(UserError, match="offers L4 GPUs only in .*not in us-west2") as err:
        _l4("us-west2")
    assert "gpu_mix_gcp.py:12" in str(err.value) and "region:" in str(err.value)


def test_a_stack_may_list_a_region_google_added() -> None:
    assert _l4("us-west2", cloud_run_gpu_regions=["us-west2"]).target == "cloudrun"
