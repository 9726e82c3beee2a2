"""The emitted Pulumi project for GCP runs the same components as ``synth`` (under the mock engine)."""

from __future__ import annotations

import dataclasses
import json
import runpy
from pathlib import Path

import pytest
from gcp_kit import SETTINGS

from pcompile.compiler import compile_file
from pcompile.compiler.emit import emit_project
from pcompile.providers.settings import DeployInputs, ManifestLocation
from pcompile.providers.synth import run_mocked, synthesize

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gpu_mix_gcp.py"


def test_emitted_program_matches_synth_and_uses_deploy_refs(tmp_path: Path) -> None:
    program = compile_file(str(EXAMPLE))
    app = program.app()
    refs = {
        img.id: f"us-central1-docker.pkg.dev/acme-ml/pushed/gpu-mix@sha256:{'a' * 64}" for img in app.images
    }
    bundle = "gs://acme-ml-pcompile-staging/bundles/gpu-mix/abc.tar#sha256=" + "b" * 64
    out = emit_project(program, app, SETTINGS, tmp_path / "proj", image_refs=refs, bundle_url=bundle)
    emitted = run_mocked(
        lambda: runpy.run_path(str(out / "__main__.py")), project="p", stack="dev", region="r"
    )
    direct = synthesize("gcp", app, SETTINGS).result
    # The deploy's bundle URL adds one read grant per function on exactly that object.
    bundle_grants = [r for r in emitted.resources if r.name.endswith("-id-bundle")]
    assert sorted((r.type, r.name) for r in emitted.resources if r not in bundle_grants) == sorted(
        (r.type, r.name) for r in direct.resources
    )
    assert len(bundle_grants) == len(app.functions)
    for grant in bundle_grants:
        assert grant.inputs["bucket"] == "acme-ml-pcompile-staging"
        assert grant.inputs["role"] == "roles/storage.objectViewer"
        assert grant.inputs["condition"]["expression"] == (
            'resource.name == "projects/_/buckets/acme-ml-pcompile-staging/objects/bundles/gpu-mix/abc.tar"'
        )
    services = [r for r in emitted.resources if r.type == "gcp:cloudrunv2/service:Service"]
    for service in services:
        container = service.inputs["template"]["containers"][0]
        assert container["image"] in refs.values()
        assert {"name": "PCOMPILE_CODE_BUNDLE", "value": bundle} in container["envs"]
    text = json.dumps([r.inputs for r in emitted.resources], default=str)
    assert "PROJECT_ID" not in text


def test_staging_is_emptied_on_destroy_and_volume_buckets_are_kept() -> None:
    from gcp_ir_apps import gpu_mix_app

    buckets = synthesize("gcp", gpu_mix_app(), SETTINGS).result.of_type("gcp:storage/bucket:Bucket")
    force = {r.name: r.inputs.get("forceDestroy") for r in buckets}
    staging = [n for n in force if n.endswith("-staging")]
    volumes = [n for n in force if n not in staging]
    assert staging and volumes
    assert all(force[n] is True for n in staging) and not any(force[n] for n in volumes)


def test_cloud_run_functions_with_volumes_warn_that_volumes_take_memory() -> None:
    from gcp_ir_apps import gpu_mix_app

    out = synthesize("gcp", gpu_mix_app(), SETTINGS)
    on_run = sorted(
        f.name for f in gpu_mix_app().functions if f.volumes and out.placements[f.name].target == "cloudrun"
    )
    assert on_run
    (warning,) = out.extras["warnings"]
    assert "in-memory file system" in warning and all(f"{name} (" in warning for name in on_run)


def test_the_emitted_program_takes_its_deploy_inputs_typed_from_deploy_json(tmp_path: Path) -> None:
    program = compile_file(str(EXAMPLE))
    out = emit_project(program, program.app(), SETTINGS, tmp_path / "proj", bundle_url="gs://b/x.tar")
    inputs = DeployInputs.from_json(json.loads((out / "deploy.json").read_text()))
    assert inputs == DeployInputs(bundle_url="gs://b/x.tar")
    assert "bundle_url" not in json.loads((out / "stack.json").read_text())["extra"]
    # A manifest location handed in is where the program writes the manifest.
    moved = dataclasses.replace(inputs, manifest=ManifestLocation("manifests/elsewhere.json"))
    (out / "deploy.json").write_text(json.dumps(moved.to_json()))
    emitted = run_mocked(
        lambda: runpy.run_path(str(out / "__main__.py")), project="p", stack="dev", region="r"
    )
    (manifest,) = [r for r in emitted.resources if r.name == "gpu-mix-manifest-object"]
    assert manifest.inputs["name"] == "manifests/elsewhere.json"
    # A misnamed key (the bug typed inputs exist for) stops the program instead of being ignored.
    (out / "deploy.json").write_text(json.dumps({"bundle": "gs://b/x.tar"}))
    with pytest.raises(ValueError, match=r"unknown keys \['bundle'\]"):
        runpy.run_path(str(out / "__main__.py"))
