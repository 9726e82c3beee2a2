"""The GCP Pulumi program for one app: components in a fixed order, then the manifest.

:func:`define` is what the emitted ``__main__.py`` and ``pcompile synth --cloud gcp``
call. It returns extras for the synth output: ``job_templates`` (one GCP Batch job
body per Batch function) and ``gcp`` (project, region, staging bucket, manifest).
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_gcp as gcp

from pcompile.compiler.ir import AppSpec, FunctionSpec
from pcompile.providers.gcp import components as c
from pcompile.providers.gcp import names
from pcompile.providers.gcp.placement import CloudRunPlacement, GcpPlacement
from pcompile.providers.manifest import FunctionAddress, Manifest
from pcompile.providers.settings import DeployInputs, ManifestLocation, StackSettings


def manifest_location(app: str) -> ManifestLocation:
    """Where the manifest goes unless deploy says otherwise: a key in the staging bucket."""
    return ManifestLocation(names.manifest_key(app))


def define(
    app: AppSpec,
    placements: dict[str, GcpPlacement],
    settings: StackSettings,
    inputs: DeployInputs | None = None,
) -> dict[str, Any]:
    """Create every resource of ``app`` on GCP; returns synth extras.

    ``inputs`` are what deploy computed (pushed images, code bundle, manifest location);
    ``synth`` passes none.
    """
    inputs = inputs or DeployInputs()
    dep = deployment(app, settings, inputs)
    base = names.slug(app.name)
    warnings = volume_memory_warnings(app, placements)
    for warning in warnings:
        pulumi.log.warn(warning)
    dep.shared = c.AppShared(f"{base}-shared", c.AppSharedArgs(dep))
    dep.volumes = {
        v.name: c.Volume(f"{base}-vol-{names.slug(v.name)}", c.VolumeArgs(v, dep))
        for v in app.volumes
        if v.kind == "volume"
    }
    dep.filestores = {
        v.name: c.NetworkFileSystem(f"{base}-nfs-{names.slug(v.name)}", c.VolumeArgs(v, dep))
        for v in app.volumes
        if v.kind == "network_file_system" and (dep.network or _mounted(app, v.name))
    }
    if dep.uses_kv:
        c.KvCollections(f"{base}-kv", c.KvArgs(dep))
    dep.secrets = {
        s.name: c.Secret(f"{base}-secret-{names.slug(s.name)}", c.SecretArgs(s, dep)) for s in app.secrets
    }
    runners: dict[str, c.Service | c.BatchFunction] = {}
    for fn in app.functions:
        placement = placements[fn.name]
        runners[fn.name] = _function(f"{base}-fn-{names.slug(fn.name)}", fn, placement, dep)
        if placement.schedule is not None:
            args = c.ScheduleArgs(fn, placement.schedule, dep, runners[fn.name])
            c.Schedule(f"{base}-cron-{names.slug(fn.name)}", args)
    manifest_key = (inputs.manifest or manifest_location(app.name)).key
    content = _manifest(dep, placements, runners)
    c.DeploymentManifest(
        f"{base}-manifest", c.ManifestArgs(dep.shared, manifest_key, content, tuple(runners.values()))
    )
    return {
        "warnings": warnings,
        "job_templates": {
            name: r.template for name, r in sorted(runners.items()) if isinstance(r, c.BatchFunction)
        },
        "gcp": {
            "project": dep.project,
            "region": dep.region,
            "staging_bucket": dep.staging_bucket,
            "manifest": f"gs://{dep.staging_bucket}/{manifest_key}",
            "secret_config_missing": sorted(s.spec.name for s in dep.secrets.values() if s.missing_value),
            "not_deployed": _not_deployed(app, dep),
        },
    }


def volume_memory_warnings(app: AppSpec, placements: dict[str, GcpPlacement]) -> list[str]:
    """Cloud Run's file system is in memory: a volume copied in at start uses the service's memory."""
    held = [
        f"{fn.name} ({p.memory_mib}Mi)"
        for fn in sorted(app.functions, key=lambda f: f.name)
        if fn.volumes and isinstance(p := placements[fn.name], CloudRunPlacement)
    ]
    if not held:
        return []
    return [
        f"Cloud Run functions {', '.join(held)} mount volumes, which are copied whole into the "
        "container's in-memory file system at start: a volume near that memory fails the start; "
        "raise memory= or run the function on Batch"
    ]


def deployment(app: AppSpec, settings: StackSettings, inputs: DeployInputs) -> c.Deployment:
    """Project, region, registry and labels for ``app`` on this stack."""
    project = settings.project or gcp.config.project or names.PLACEHOLDER_PROJECT
    region = settings.region or gcp.config.region or names.DEFAULT_REGION
    invokers = tuple(sorted(settings.extra.get("invokers", ())))
    return c.Deployment(
        app=app,
        stack=settings.name,
        project=project,
        region=region,
        registry=names.registry(project, region, settings.registry),
        labels=labels(app, settings),
        invokers=invokers,
        image_refs=dict(inputs.image_refs),
        bundle_url=inputs.bundle_url,
        network=settings.network.vpc_id,
        subnetwork=next(iter(settings.network.subnet_ids), None),
        zone=str(settings.extra.get("zone") or f"{region}-{names.DEFAULT_ZONE_SUFFIX}"),
    )


def labels(app: AppSpec, settings: StackSettings) -> dict[str, str]:
    """GCP labels: lower-case keys and values of letters, digits, ``_`` and ``-``, at most 63."""
    raw = {**app.tags, **settings.labels, "pcompile-app": app.name, "pcompile-stack": settings.name}
    return {_label(k): _label(v) for k, v in sorted(raw.items())}


def _label(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def _function(
    name: str, fn: FunctionSpec, placement: GcpPlacement, dep: c.Deployment
) -> c.Service | c.BatchFunction:
    if isinstance(placement, CloudRunPlacement):
        return c.Service(name, c.ServiceArgs(fn, placement, dep))
    return c.BatchFunction(name, c.BatchFunctionArgs(fn, placement, dep))


def _manifest(
    dep: c.Deployment, placements: dict[str, GcpPlacement], runners: dict[str, c.Service | c.BatchFunction]
) -> pulumi.Output[str]:
    """The manifest text once every service URL is known; also exported for ``pcompile deploy``."""
    services = {n: r for n, r in runners.items() if isinstance(r, c.Service)}
    urls = (
        pulumi.Output.all(**{n: s.url for n, s in services.items()})
        if services
        else pulumi.Output.from_input({})
    )
    staging = {"bucket": dep.staging_bucket, "url": f"gs://{dep.staging_bucket}", "project": dep.project}

    def addresses(known: dict[str, str]) -> dict[str, FunctionAddress]:
        return {
            fn.name: _address(fn, placements[fn.name], dep, known.get(fn.name)) for fn in dep.app.functions
        }

    def render(known: dict[str, str]) -> str:
        return Manifest(
            app=dep.app.name,
            stack=dep.stack,
            cloud="gcp",
            region=dep.region,
            functions=addresses(known),
            staging=staging,
            image_tags={img.id: dep.image_ref(img.id) for img in dep.app.images},
            code_bundle=dep.bundle_url,
        ).dumps()

    pulumi.export("functions", urls.apply(lambda known: _exported(addresses(known))))
    pulumi.export("staging", staging)
    return urls.apply(render)


def _exported(functions: dict[str, FunctionAddress]) -> dict[str, Any]:
    return {
        name: {"target": f.target, "addresses": f.addresses, "web_url": f.web_url}
        for name, f in sorted(functions.items())
    }


def _address(
    fn: FunctionSpec, placement: GcpPlacement, dep: c.Deployment, url: str | None
) -> FunctionAddress:
    if isinstance(placement, CloudRunPlacement):
        addresses = {"service": names.service_name(dep.app.name, fn.name), "service_url": url or ""}
        return FunctionAddress(placement.target, addresses, url if fn.web is not None else None)
    addresses = {
        "job_template": f"gs://{dep.staging_bucket}/{names.template_key(fn.name)}",
        "project": dep.project,
        "region": dep.region,
    }
    return FunctionAddress(placement.target, addresses)


def _mounted(app: AppSpec, volume: str) -> bool:
    """Whether a function mounts the NetworkFileSystem (placement refused that without a network)."""
    return any(volume in fn.network_file_systems.values() for fn in app.functions)


def _not_deployed(app: AppSpec, dep: c.Deployment) -> list[str]:
    """IR nodes this provider does not create: only a NetworkFileSystem no function mounts on a
    stack without a VPC network (Filestore needs one). Dicts and Queues are Firestore
    collections; bucket mounts and mounted NFS shares are platform volumes."""
    return [
        f"network_file_system:{v.name}"
        for v in app.volumes
        if v.kind == "network_file_system" and v.name not in dep.filestores
    ]
