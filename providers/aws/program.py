"""The AWS Pulumi program for one app: IR + placements → components.

:func:`define` is what ``providers.synth.synthesize("aws", ...)`` runs under the mock
engine and what the emitted ``__main__.py`` runs under ``pulumi up``. It creates, in
this order: shared resources (ECR, staging bucket), secrets, volumes, Batch compute
(network, instance role, one compute environment per GPU type, queues), functions,
schedules, and the deployment manifest. Names come from IR names (sorted), never
from declaration order.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from pcompile.compiler.errors import UserError
from pcompile.compiler.images import image_ref
from pcompile.compiler.ir import AppSpec, FunctionSpec, SecretSpec
from pcompile.providers.aws import (
    components,
    concurrency,
    iam,
    kv_resources,
    names,
    schedules,
    shared,
    web_service,
)
from pcompile.providers.aws.placement import AwsPlacement, BatchPlacement, EcsPlacement, LambdaPlacement, slug
from pcompile.providers.aws.secrets import proxy_auth_secret
from pcompile.providers.manifest import FunctionAddress, Manifest
from pcompile.providers.outputs import filled
from pcompile.providers.settings import DeployInputs, ManifestLocation, StackSettings

MANIFEST_KEY = "pcompile/manifest.json"


def manifest_parameter(app: str, stack: str) -> str:
    """The SSM parameter that points at an app's manifest (read by the invoker)."""
    return f"/pcompile/{slug(stack)}/{slug(app)}/manifest"


def manifest_location(app: str, stack: str) -> ManifestLocation:
    """Where the manifest goes unless deploy says otherwise: a key in the staging bucket,
    pointed at by :func:`manifest_parameter`."""
    return ManifestLocation(MANIFEST_KEY, manifest_parameter(app, stack))


def secret_config_key(secret: str) -> str:
    """The Pulumi secret config key holding a non-named secret's JSON object of values."""
    return f"secret-{slug(secret)}"


@dataclass
class Context:
    """Per-run facts every component needs: names, region, account, tags."""

    app: AppSpec
    settings: StackSettings
    inputs: DeployInputs
    manifest: ManifestLocation
    region: str
    account: pulumi.Output[str]
    tags: dict[str, str]
    arns: iam.Arns
    names: dict[str, str] = field(default_factory=dict)
    image_uris: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    network: shared.BatchNetwork | None = None
    web: WebShared | None = None

    def logical(self, kind: str, ir_name: str) -> str:
        """A logical resource name from a stable IR name; two IR names that collide are an error."""
        name = (
            f"{slug(self.app.name)}-{kind}-{slug(ir_name)}"
            if kind
            else f"{slug(self.app.name)}-{slug(ir_name)}"
        )
        previous = self.names.setdefault(name, ir_name)
        if previous != ir_name:
            raise UserError(
                f"{previous!r} and {ir_name!r} would get the same AWS resource name {name!r}",
                fix="rename one of them so they differ in more than punctuation or case",
            )
        return name

    def physical(self, *parts: str, limit: int = 64) -> str:
        """A physical name unique per app and stack, shortened with a hash when too long."""
        base = "-".join([slug(self.app.name), slug(self.settings.name), *(slug(p) for p in parts)])
        if len(base) <= limit:
            return base
        digest = hashlib.sha256(base.encode()).hexdigest()[:8]
        return f"{base[: limit - 9]}-{digest}"


def define(
    app: AppSpec,
    placements: dict[str, AwsPlacement],
    settings: StackSettings,
    inputs: DeployInputs | None = None,
) -> dict[str, Any]:
    """Create every AWS resource of ``app``; returns extras for ``synth --json``.

    ``inputs`` are what deploy computed (pushed images, code bundle, manifest location);
    ``synth`` passes none.
    """
    ctx = _context(app, settings, inputs or DeployInputs())
    warnings = concurrency.warnings(app, placements, settings) + volume_scratch_warnings(app, placements)
    for warning in warnings:
        pulumi.log.warn(warning)
    base = shared.AppShared(slug(app.name), shared.SharedArgs(tags=ctx.tags, **_shared_options(settings)))
    secrets = {s.name: _secret(ctx, s) for s in sorted(app.secrets, key=lambda s: s.name)}
    volumes = {v.name: _volume(ctx, v.name) for v in sorted(app.volumes, key=lambda v: v.name)}
    queues = _batch(ctx, placements)
    ctx.web = _web_shared(ctx, placements)
    made: dict[str, Made] = {}
    for fn in sorted(app.functions, key=lambda f: f.name):
        made[fn.name] = _function(ctx, fn, placements[fn.name], base, secrets, volumes, queues)
        if fn.schedule is not None:
            _schedule(ctx, fn, made[fn.name])
    _manifest(ctx, base, made)
    kv_tables = [t.table for t in kv_resources.tables(app, settings.name)]
    return {
        "warnings": warnings,
        "aws": {
            # Dict/Queue tables the functions are granted; deploy creates the missing ones.
            **({"kv_tables": kv_tables} if kv_tables else {}),
            "manifest_parameter": _pointer(ctx),
            "secret_config_keys": {
                s.name: secret_config_key(s.name) for s in app.secrets if s.kind != "named"
            },
            # IR nodes this program does not create yet, said aloud as GCP's program does.
            "not_deployed": [],
            **web_services_summary(ctx, placements),
        },
    }


def volume_scratch_warnings(app: AppSpec, placements: dict[str, AwsPlacement]) -> list[str]:
    """Lambda copies each mounted volume whole into ``/tmp`` at start; say how big it is."""
    small = [
        f"{fn.name} ({p.ephemeral_storage_mib} MiB)"
        for fn in sorted(app.functions, key=lambda f: f.name)
        if fn.volumes and isinstance(p := placements[fn.name], LambdaPlacement)
    ]
    if not small:
        return []
    return [
        f"Lambda functions {', '.join(small)} mount volumes, which are copied whole into /tmp at "
        "start: a volume bigger than that space stops the start; set ephemeral_disk= (MiB, up to "
        "10240 on Lambda; more runs the function on Batch)"
    ]


def _context(app: AppSpec, settings: StackSettings, inputs: DeployInputs) -> Context:
    region = settings.region or pulumi.Config("aws").get("region") or "us-east-1"
    account = aws.get_caller_identity_output().account_id
    tags = {"pcompile-app": app.name, "pcompile-stack": settings.name, **app.tags, **settings.labels}
    arns = iam.Arns(region, account, str(settings.extra.get("partition", "aws")))
    manifest = inputs.manifest or manifest_location(app.name, settings.name)
    return Context(app, settings, inputs, manifest, region, account, dict(sorted(tags.items())), arns)


def _shared_options(settings: StackSettings) -> dict[str, int]:
    keys = ("staging_expiry_days",)
    return {k: int(settings.extra[k]) for k in keys if k in settings.extra}


def _image_uri(ctx: Context, base: shared.AppShared, image_id: str) -> pulumi.Input[str]:
    """The image a function runs: from the deploy step's build, else ``{repo}:{image_id}``."""
    built = ctx.inputs.image_refs
    if image_id in built:
        return str(built[image_id])
    tag = slug(image_id)[:128]
    if ctx.settings.registry:
        return image_ref(ctx.settings.registry, ctx.app.name, tag)
    if image_id not in ctx.image_uris:  # one output per image, however many functions run it
        ctx.image_uris[image_id] = ctx.account.apply(
            lambda account: image_ref(names.registry(str(account), ctx.region), ctx.app.name, tag)
        )
    return ctx.image_uris[image_id]


# --------------------------------------------------------------------------- secrets


def _secret(ctx: Context, spec: SecretSpec) -> components.Secret:
    value = None if spec.kind == "named" else _secret_value(secret_config_key(spec.name))
    args = components.SecretArgs(
        spec=spec,
        physical_name=f"pcompile/{slug(ctx.settings.name)}/{slug(ctx.app.name)}/{slug(spec.name)}",
        arns=ctx.arns,
        value=value,
    )
    return components.Secret(ctx.logical("secret", spec.name), args)


def _secret_value(key: str) -> pulumi.Output[str]:
    """The secret's JSON from Pulumi secret config; a visible placeholder only under ``synth``'s mocks."""
    value = pulumi.Config().get_secret(key)
    if value is not None:
        return value
    if _under_mocks():
        return pulumi.Output.secret(f"<pulumi config set --secret {key}>")
    return pulumi.Config().require_secret(key)


def _under_mocks() -> bool:
    from pulumi.runtime.mocks import MockMonitor

    return isinstance(pulumi.runtime.settings.get_monitor(), MockMonitor)


# --------------------------------------------------------------------------- batch


@dataclass
class _ComputePlan:
    instance_types: tuple[str, ...]
    gpu: bool
    min_vcpus: int = 0
    # The fewest GPUs a job in this environment asks for: its instances hold at least that many.
    least_gpus: int = 0


def _batch(
    ctx: Context, placements: dict[str, AwsPlacement]
) -> dict[tuple[str, ...], components.BatchQueueRef]:
    """Compute environments per GPU type and queues per fallback order, for Batch placements."""
    on_batch = [p for _, p in sorted(placements.items()) if isinstance(p, BatchPlacement)]
    if not on_batch:
        return {}
    plans = _compute_plans(ctx, on_batch)
    network = _network(ctx)
    role = shared.InstanceRole(f"{slug(ctx.app.name)}-batch-instance", ctx.tags)
    max_vcpus = int(ctx.settings.extra.get("batch_max_vcpus", 512))
    envs = {
        key: shared.BatchCompute(
            f"{slug(ctx.app.name)}-{key}",
            shared.ComputeArgs(
                instance_types=plan.instance_types,
                gpu=plan.gpu,
                subnet_ids=network.subnet_ids,
                security_group_ids=network.security_group_ids,
                instance_profile_arn=role.profile.arn,
                tags=ctx.tags,
                min_vcpus=plan.min_vcpus,
                max_vcpus=max_vcpus,
            ),
        )
        for key, plan in sorted(plans.items())
    }
    orders = sorted({p.queue_key() for p in on_batch})
    return {order: _queue(ctx, order, [envs[k] for k in order]) for order in orders}


def _queue(ctx: Context, order: tuple[str, ...], envs: list[shared.BatchCompute]) -> components.BatchQueueRef:
    physical = ctx.physical(*order, limit=128)
    queue = shared.BatchQueue(f"{slug(ctx.app.name)}-{'-'.join(order)}", physical, envs, ctx.tags)
    return components.BatchQueueRef(queue.queue.arn, physical)


def _compute_plans(ctx: Context, on_batch: list[BatchPlacement]) -> dict[str, _ComputePlan]:
    """One environment per compute key; jobs of one GPU type share it, so it holds the instances
    of the job asking for the fewest GPUs (those of bigger jobs are among them)."""
    plans: dict[str, _ComputePlan] = {}
    for p in on_batch:
        fn = ctx.app.function(p.function)
        for index, choice in enumerate(p.compute):
            gpus = choice.gpu.count if choice.gpu else 0
            plan = plans.get(choice.key)
            if plan is None or gpus < plan.least_gpus:
                warm = plan.min_vcpus if plan else 0
                plan = plans[choice.key] = _ComputePlan(
                    choice.instance_types, choice.gpu is not None, warm, gpus
                )
            if index == 0 and fn.min_containers:
                plan.min_vcpus += fn.min_containers * p.vcpus
    return plans


def _network(ctx: Context) -> shared.BatchNetwork:
    """The app's network, made once (Batch compute and web services share it)."""
    if ctx.network is None:
        ctx.network = _make_network(ctx)
    return ctx.network


def _make_network(ctx: Context) -> shared.BatchNetwork:
    given = ctx.settings.network
    if (given.vpc_id or given.security_group_ids) and not given.subnet_ids:
        raise UserError(
            f"stack {ctx.settings.name!r} names a VPC or security groups for Batch but no subnets",
            fix="add network.subnet_ids (subnets with a route to the internet or to VPC endpoints for ECR, "
            "S3 and CloudWatch Logs), or remove network to let pcompile create a small VPC",
        )
    if given.subnet_ids:
        return shared.BatchNetwork(list(given.subnet_ids), list(given.security_group_ids), given.vpc_id)
    zones = tuple(str(z) for z in ctx.settings.extra.get("availability_zones", ()))
    made = shared.Network(
        f"{slug(ctx.app.name)}-net", shared.NetworkArgs(region=ctx.region, tags=ctx.tags, zones=zones)
    )
    return shared.BatchNetwork(list(made.subnet_ids), list(made.security_group_ids), made.vpc_id, public=True)


# --------------------------------------------------------------------------- functions


def _function(
    ctx: Context,
    fn: FunctionSpec,
    placement: AwsPlacement,
    base: shared.AppShared,
    secrets: dict[str, components.Secret],
    volumes: dict[str, components.Mount],
    queues: dict[tuple[str, ...], components.BatchQueueRef],
) -> Made:
    mounts = _mounts(ctx, fn, volumes)
    requires_auth = fn.web is not None and fn.web.requires_auth
    token_set = proxy_auth_secret(ctx.settings.name) if requires_auth else None
    env = components.RuntimeEnv(
        app=ctx.app.name,
        fn=fn,
        staging_bucket=base.staging.bucket,
        mounts=mounts,
        secret_ids={s: secrets[s].secret_id for s in sorted(fn.secrets)},
        code_bundle=ctx.inputs.bundle_url,
        endpoint_url=ctx.settings.endpoint_url,
        proxy_auth=f"secretsmanager://{token_set}" if token_set else None,
        extra=kv_resources.environment(ctx.app, ctx.settings.name),
    )
    grants = components.Grants(
        staging_bucket_arn=ctx.arns.bucket(base.staging.bucket),
        function=fn.name,
        mounts=mounts,
        arns=ctx.arns,
        secret_arns=tuple(secrets[s].arn for s in sorted(fn.secrets)),
        code_bundle_arn=_bundle_arn(ctx),
        proxy_auth_arn=ctx.arns.named_secret(token_set) if token_set else None,
        extra=tuple(kv_resources.statements(ctx.app, ctx.settings.name, ctx.arns)),
    )
    image = _image_uri(ctx, base, fn.image)
    retention = int(ctx.settings.extra.get("log_retention_days", 30))
    name = ctx.logical("", fn.name)
    if isinstance(placement, LambdaPlacement):
        return components.Function(
            name,
            components.FunctionArgs(
                fn,
                placement,
                ctx.physical(fn.name),
                image,
                env,
                grants,
                ctx.arns,
                ctx.tags,
                retention,
                concurrency.reserved_for(fn, ctx.settings),
            ),
        )
    if isinstance(placement, EcsPlacement):
        return _web_service(ctx, fn, placement, image, env, grants, retention)
    queue = queues[placement.queue_key()]
    args = components.BatchFunctionArgs(
        fn,
        placement,
        ctx.physical(fn.name, limit=128),
        image,
        queue,
        ctx.region,
        env,
        grants,
        ctx.tags,
        retention,
    )
    return components.BatchFunction(name, args)


def _volume(ctx: Context, name: str) -> components.Mount:
    """A volume's bucket: ``extra.volumes.<name>: s3://bucket[/prefix]`` from the stack file, or a
    new private bucket tagged so ``pcompile volume`` finds it (``pcompile-volume``)."""
    given = str((ctx.settings.extra.get("volumes") or {}).get(name) or "")
    if given:
        bucket, _, prefix = given.removeprefix("s3://").partition("/")
        return components.Mount(bucket, prefix.strip("/"))
    made = components.Volume(ctx.logical("vol", name), {**ctx.tags, "pcompile-volume": name})
    return components.Mount(made.bucket.bucket)


def _mounts(
    ctx: Context, fn: FunctionSpec, volumes: dict[str, components.Mount]
) -> dict[str, components.Mount]:
    """Volumes and network file systems (the app's buckets) and S3 ``CloudBucketMount``s."""
    read_only = {v.name: v.read_only for v in ctx.app.volumes}
    out = {
        path: dataclasses.replace(volumes[name], read_only=read_only.get(name, False))
        for path, name in sorted({**fn.volumes, **fn.network_file_systems}.items())
    }
    for path, cbm in sorted(fn.cloud_bucket_mounts.items()):
        if cbm.bucket_endpoint_url or cbm.secret or cbm.oidc_auth_role_arn:
            raise UserError(
                f"CloudBucketMount {cbm.bucket_name!r} at {path} uses another endpoint or credentials; "
                "on AWS only S3 buckets reachable with the function's own role can be mounted",
                source=fn.source,
                fix="drop bucket_endpoint_url/secret/oidc_auth_role_arn and grant the bucket to the stack, "
                "or copy the data into a modal.Volume",
            )
        out[path] = components.Mount(cbm.bucket_name, (cbm.key_prefix or "").strip("/"), cbm.read_only)
    return out


def _bundle_arn(ctx: Context) -> pulumi.Input[str] | None:
    """The code bundle object (``s3://bucket/key#sha256=...``) functions may read, if any."""
    url = ctx.inputs.bundle_url or ""
    if not url.startswith("s3://"):
        return None
    bucket, _, key = url.removeprefix("s3://").partition("#")[0].partition("/")
    return ctx.arns.bucket(f"{bucket}/{key}")


def _schedule(ctx: Context, fn: FunctionSpec, made: Made) -> None:
    assert fn.schedule is not None and not isinstance(made, web_service.WebService)  # placement refuses it
    expression, timezone = schedules.expression(fn.schedule, fn.source)
    job_name = ctx.physical(fn.name, "scheduled", limit=128)
    if isinstance(made, components.Function):
        grant = iam.allow("Invoke", ["lambda:InvokeFunction"], [ctx.arns.function(made.physical_name)])
        args = components.ScheduleArgs(
            expression, timezone, ctx.account, job_name, grant, function_arn=made.function.arn
        )
    else:
        targets = [ctx.arns.job_queue(made.queue.name), ctx.arns.job_definition(made.physical_name)]
        args = components.ScheduleArgs(
            expression,
            timezone,
            ctx.account,
            job_name,
            iam.allow("Submit", ["batch:SubmitJob"], targets),
            job_queue_arn=made.queue.arn,
            job_definition_arn=made.job_definition.arn,
        )
    components.Schedule(ctx.logical("schedule", fn.name), args)


# --------------------------------------------------------------------------- manifest


def _addresses(made: Made) -> dict[str, Any]:
    if isinstance(made, web_service.WebService):
        return web_service_addresses(made)
    if isinstance(made, components.Function):
        out: dict[str, Any] = {
            "function_name": made.function.name,
            "function_arn": made.function.arn,
            "function_url": made.url.function_url,
            "log_group": made.log_group.name,
        }
        if made.qualifier:
            out["qualifier"] = made.qualifier
        return out
    return {
        "job_queue": made.queue.arn,
        "job_definition": made.job_definition.arn,
        "log_group": made.log_group.name,
        "max_tasks": str(made.max_tasks),
    }


def _manifest(ctx: Context, base: shared.AppShared, made: dict[str, Made]) -> None:
    """The manifest object and its SSM pointer; also exported (``functions``, ``staging``) for
    ``pcompile deploy``, which records the manifest from the stack outputs."""
    data = {
        "functions": {name: _addresses(m) for name, m in sorted(made.items())},
        "bucket": base.staging.bucket,
        "images": {img.id: _image_uri(ctx, base, img.id) for img in ctx.app.images},
    }
    targets = {name: _target(m) for name, m in made.items()}
    web = {fn.name for fn in ctx.app.functions if fn.web is not None}
    manifest = pulumi.Output.from_input(filled(data, lambda d: _manifest_of(ctx, d, targets, web)))
    pulumi.export("functions", manifest.apply(_exported_functions))
    pulumi.export("staging", manifest.apply(lambda m: m.staging))
    components.DeploymentManifest(
        f"{slug(ctx.app.name)}-manifest",
        components.ManifestArgs(
            bucket=base.staging.bucket,
            key=ctx.manifest.key,
            parameter_name=_pointer(ctx),
            content=manifest.apply(lambda m: m.dumps()),
            tags=ctx.tags,
        ),
    )


def _pointer(ctx: Context) -> str:
    """The SSM parameter naming the manifest (deploy's, else the well-known name)."""
    return ctx.manifest.pointer or manifest_parameter(ctx.app.name, ctx.settings.name)


def _exported_functions(manifest: Manifest) -> dict[str, Any]:
    return {
        name: {"target": f.target, "addresses": f.addresses, "web_url": f.web_url}
        for name, f in sorted(manifest.functions.items())
    }


def _manifest_of(ctx: Context, data: dict[str, Any], targets: dict[str, str], web: set[str]) -> Manifest:
    functions = {
        name: FunctionAddress(
            target=targets[name],
            addresses={k: str(v) for k, v in addresses.items()},
            web_url=(addresses.get("service_url") or addresses.get("function_url")) if name in web else None,
        )
        for name, addresses in data["functions"].items()
    }
    return Manifest(
        app=ctx.app.name,
        stack=ctx.settings.name,
        cloud="aws",
        region=ctx.region,
        functions=functions,
        staging={"bucket": data["bucket"], "url": f"s3://{data['bucket']}"},
        image_tags=dict(data["images"]),
        code_bundle=ctx.inputs.bundle_url,
    )


# --------------------------------------------------------------------------- web services

Made = components.Function | components.BatchFunction | web_service.WebService
ORIGIN_SECRET_PLACEHOLDER = "<generated at deploy by secretsmanager:GetRandomPassword>"


@dataclass(frozen=True)
class WebShared:
    """What every web service of the app shares: the cluster, the network, the origin secret."""

    cluster: web_service.WebCluster
    network: shared.BatchNetwork
    origin_secret: pulumi.Output[str]


def _target(made: Made) -> str:
    if isinstance(made, web_service.WebService):
        return "ecs"
    return "lambda" if isinstance(made, components.Function) else "batch"


def _web_shared(ctx: Context, placements: dict[str, AwsPlacement]) -> WebShared | None:
    """The ECS cluster (with a GPU capacity provider per capacity key) and the origin secret."""
    services = [p for _, p in sorted(placements.items()) if isinstance(p, EcsPlacement)]
    if not services:
        return None
    _check_web_settings(ctx)
    network = _network(ctx)
    if network.vpc_id is None:
        raise UserError(
            f"stack {ctx.settings.name!r} names subnets but no network.vpc_id; web services need the VPC "
            "for their load balancers",
            fix="add network.vpc_id (the VPC of network.subnet_ids), or remove network to let pcompile make one",
        )
    capacity: dict[str, web_service.CapacityArgs] = {}
    for p in services:
        if p.capacity_key is not None:
            previous = capacity.get(p.capacity_key)
            most = p.scaling.max_containers + (previous.max_instances if previous else 0)
            capacity[p.capacity_key] = web_service.CapacityArgs(p.instance_types, most)
    app = slug(ctx.app.name)
    cluster = web_service.WebCluster(
        f"{app}-web",
        web_service.WebClusterArgs(
            ctx.physical("web"), capacity, network.vpc_id, network.subnet_ids, ctx.tags
        ),
    )
    configured = pulumi.Config().get_secret(web_service.ORIGIN_SECRET_CONFIG)
    secret = web_service.OriginSecret(
        f"{app}-web-origin",
        web_service.OriginSecretArgs(
            physical_name=f"pcompile/{slug(ctx.settings.name)}/{app}/web-origin",
            tags=ctx.tags,
            configured=configured,
            # synth's placeholder keeps its output deterministic; a simulate deploy generates one
            placeholder=ORIGIN_SECRET_PLACEHOLDER
            if configured is None and _under_mocks() and ctx.settings.engine != "simulate"
            else None,
        ),
    )
    return WebShared(cluster, network, secret.value)


def _check_web_settings(ctx: Context) -> None:
    web = ctx.settings.web
    if web.domain and not web.certificate_arn:
        raise UserError(
            f"stack {ctx.settings.name!r}: web.domain is {web.domain!r} but web.certificate_arn is not set",
            fix=f"add web.certificate_arn (an ACM certificate in {ctx.region} covering *.{web.domain}), "
            "or remove web.domain to serve from CloudFront's default certificate",
        )


def _web_service(
    ctx: Context,
    fn: FunctionSpec,
    placement: EcsPlacement,
    image: pulumi.Input[str],
    env: components.RuntimeEnv,
    grants: components.Grants,
    retention: int,
) -> web_service.WebService:
    assert ctx.web is not None
    web = ctx.settings.web
    domain = None
    if web.domain and web.certificate_arn:
        domain = web_service.WebDomain(web.domain, _service_host(ctx, fn), web.certificate_arn)
    args = web_service.WebServiceArgs(
        fn=fn,
        placement=placement,
        physical_name=ctx.physical(fn.name),
        image_uri=image,
        env=env,
        grants=grants,
        arns=ctx.arns,
        region=ctx.region,
        cluster=ctx.web.cluster,
        vpc_id=ctx.web.network.vpc_id or "",
        subnet_ids=ctx.web.network.subnet_ids,
        origin_secret=ctx.web.origin_secret,
        tags=ctx.tags,
        assign_public_ip=bool(ctx.settings.extra.get("ecs_assign_public_ip", ctx.web.network.public)),
        domain=domain,
        log_retention_days=retention,
        request_seconds=float(
            ctx.settings.extra.get("ecs_request_seconds", web_service.DEFAULT_REQUEST_SECONDS)
        ),
    )
    return web_service.WebService(ctx.logical("", fn.name), args)


def _service_host(ctx: Context, fn: FunctionSpec) -> str:
    """``<app>-<label>.<domain>``: the service's name under the stack's ``web.domain``."""
    label = (fn.web.label if fn.web else None) or fn.name
    return f"{slug(ctx.app.name)}-{slug(label)}.{ctx.settings.web.domain}"


def web_service_addresses(made: web_service.WebService) -> dict[str, Any]:
    """A service's manifest addresses: its URL, cluster, service, task definition and logs."""
    return {
        "service_url": made.url,
        "cluster": made.cluster_name,
        "service": made.service.name,
        "task_definition": made.task_definition.arn,
        "load_balancer": made.load_balancer.arn,
        "log_group": made.log_group.name,
    }


def web_services_summary(ctx: Context, placements: dict[str, AwsPlacement]) -> dict[str, Any]:
    """For ``synth``: ``{"web_services": ...}``, each service's URL output, scaling bounds, ports
    and placement reason (nothing for an app without one)."""
    out: dict[str, Any] = {}
    for name, p in sorted(placements.items()):
        if not isinstance(p, EcsPlacement):
            continue
        out[name] = {
            "url_output": f"functions.{name}.web_url",
            "url": f"https://{_service_host(ctx, ctx.app.function(name))}"
            if ctx.settings.web.domain
            else "https://<CloudFront distribution domain>",
            "launch_type": p.launch_type,
            "min_containers": p.scaling.min_containers,
            "max_containers": p.scaling.max_containers,
            "front_port": p.front_port,
            "port": p.port,
            "reason": p.reason,
        }
    return {"web_services": out} if out else {}
