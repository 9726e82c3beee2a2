"""Pulumi components for GCP, one per IR concept (DESIGN.md section 3).

* :class:`AppShared` (``pcompile:gcp:AppShared``): the staging bucket (images live in
  bootstrap's Artifact Registry repository); :class:`DeploymentManifest` - the manifest object;
* :class:`Volume` - a private GCS bucket; :class:`Secret` - a Secret Manager secret
  (``from_name`` is referenced, others are created from Pulumi secret config);
* :class:`Service` - a Cloud Run v2 service (CPU, L4 GPU or web endpoint);
* :class:`BatchFunction` - a GCP Batch job template stored as a GCS object;
* :class:`Schedule` - a Cloud Scheduler job calling a service (OIDC) or creating a Batch job.

Each function gets its own service account holding only what it needs: object
access on its own volume buckets, read on its own staging inputs and read/write on
its own staging results (IAM conditions on the object name, from
:func:`pcompile.runtime.staging.prefix`), read on the code bundle object and on the
Artifact Registry repository of its image, ``secretAccessor`` on its own secrets (plus, on Batch, the two project roles the
Batch agent requires). Callers (``invokers``) may write each function's inputs and
read its results, the manifest and the job templates; nobody but the deploying
identity may write the manifest or a job template.
Each component takes ``(name, args, opts)``, names its children ``f"{name}-..."`` with
``parent=self``, creates nothing inside ``apply`` and calls ``register_outputs`` last.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_gcp as gcp

from pcompile.compiler.ir import AppSpec, FunctionSpec, SecretSpec, VolumeSpec, to_jsonable
from pcompile.providers.gcp import jobs, names
from pcompile.providers.gcp.placement import (
    CLOUD_RUN_PROBE_PERIOD_S,
    CloudRunPlacement,
    GcpBatchPlacement,
    GcpPlacement,
)
from pcompile.providers.gcp.schedules import Trigger
from pcompile.providers.gcp.secrets import proxy_auth_secret
from pcompile.runtime import gcp_env, proxy_auth, staging
from pcompile.runtime.web import HEALTH_PATH, front_port

OBJECT_READ_WRITE = "roles/storage.objectUser"
OBJECT_READ = "roles/storage.objectViewer"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
IMAGE_READER = "roles/artifactregistry.reader"
RUN_INVOKER = "roles/run.invoker"
# Batch VMs report task state and write logs; Batch offers these only at project level.
BATCH_AGENT_ROLES = ("roles/batch.agentReporter", "roles/logging.logWriter")
HTTP_PORT = 8080
CONFIG_NAMESPACE = "pcompile"


def secret_config_key(secret: str) -> str:
    """Pulumi secret config key (namespace ``pcompile``) holding a code-defined secret's JSON."""
    return f"secret-{names.slug(secret)}"


def objects_under(bucket: str, *prefixes: str) -> str:
    """An IAM condition expression: objects of ``bucket`` whose name starts with one of ``prefixes``."""
    return " || ".join(
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}/")' for prefix in prefixes
    )


def object_named(bucket: str, name: str) -> str:
    """An IAM condition expression: exactly one object."""
    return f'resource.name == "projects/_/buckets/{bucket}/objects/{name}"'


def object_grant(
    name: str,
    bucket: pulumi.Input[str],
    role: str,
    member: pulumi.Input[str],
    expression: str,
    parent: pulumi.Resource,
) -> Any:
    """A bucket role for ``member`` limited by an IAM condition to some objects."""
    return gcp.storage.BucketIAMMember(
        name,
        bucket=bucket,
        role=role,
        member=member,
        condition=gcp.storage.BucketIAMMemberConditionArgs(title=name[-100:], expression=expression),
        opts=_child(parent),
    )


def _child(
    parent: pulumi.Resource, depends_on: list[pulumi.Resource] | None = None
) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, depends_on=depends_on)


def private_bucket(
    name: str,
    bucket: str,
    region: str,
    labels: dict[str, str],
    parent: pulumi.Resource,
    *,
    force_destroy: bool = False,
) -> Any:
    """A bucket nobody outside the project reaches: uniform access, public access prevention.

    ``force_destroy`` empties it on ``pcompile destroy``: only for buckets whose objects are
    pcompile's own (staging), never for volumes, which hold the user's data.
    """
    return gcp.storage.Bucket(
        name,
        name=bucket,
        location=region.upper(),
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        force_destroy=force_destroy,
        labels=labels,
        opts=_child(parent),
    )


@dataclass
class Deployment:
    """What every function component of one app needs to know: where, and the shared pieces."""

    app: AppSpec
    stack: str
    project: str
    region: str
    registry: str
    labels: dict[str, str]
    invokers: tuple[str, ...] = ()
    image_refs: dict[str, str] = field(default_factory=dict)
    bundle_url: str | None = None
    shared: AppShared | None = None
    volumes: dict[str, Volume] = field(default_factory=dict)
    secrets: dict[str, Secret] = field(default_factory=dict)

    @property
    def staging_bucket(self) -> str:
        """Name of the staging bucket."""
        return names.staging_bucket(self.project, self.stack, self.app.name)

    def image(self, fn: FunctionSpec) -> str:
        """The image URI a function runs (the deploy's pushed reference when it passed one)."""
        return self.image_ref(fn.image)

    def image_ref(self, image_id: str) -> str:
        """The reference of image ``image_id``."""
        return self.image_refs.get(image_id) or names.image_uri(self.registry, self.app.name, image_id)

    def account_email(self, fn: FunctionSpec) -> str:
        """The function's service account e-mail (known before deploy: it is derived from ids)."""
        return f"{names.account_id(self.app.name, fn.name)}@{self.project}.iam.gserviceaccount.com"


@dataclass(frozen=True)
class AppSharedArgs:
    """The per-app resources of one deployment."""

    dep: Deployment


class AppShared(pulumi.ComponentResource):
    """Per-app resources: the staging bucket and callers' grants on it."""

    def __init__(self, name: str, args: AppSharedArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:gcp:AppShared", name, None, opts)
        dep = args.dep
        self.name = name
        # Staging holds call payloads, results, templates and the manifest: destroy must not stop at them.
        self.staging = private_bucket(
            f"{name}-staging", dep.staging_bucket, dep.region, dep.labels, self, force_destroy=True
        )
        for member in dep.invokers:
            self._grant_caller(name, member, dep)
        self.register_outputs({"staging": self.staging.name})

    def _grant_caller(self, name: str, member: str, dep: Deployment) -> None:
        """A caller stages every function's inputs, reads its results, the manifest and job templates."""
        bucket, label = dep.staging_bucket, f"{name}-caller-{names.slug(member)}"
        for fn in sorted(dep.app.functions, key=lambda f: f.name):
            own = f"{label}-{names.slug(fn.name)}"
            inputs, results = (
                staging.prefix(fn.name, staging.INPUTS),
                staging.prefix(fn.name, staging.RESULTS),
            )
            object_grant(
                f"{own}-in", self.staging.name, OBJECT_READ_WRITE, member, objects_under(bucket, inputs), self
            )
            object_grant(
                f"{own}-out", self.staging.name, OBJECT_READ, member, objects_under(bucket, results), self
            )
        deployment = objects_under(bucket, names.MANIFESTS, names.TEMPLATES)
        object_grant(f"{label}-deployment", self.staging.name, OBJECT_READ, member, deployment, self)


@dataclass(frozen=True)
class ManifestArgs:
    """The manifest object: its key in ``shared``'s staging bucket and its text (which resolves
    once every service URL is known), written after ``after``."""

    shared: AppShared
    key: str
    content: pulumi.Input[str]
    after: tuple[pulumi.Resource, ...] = ()


class DeploymentManifest(pulumi.ComponentResource):
    """The deployment manifest as an object of the staging bucket (invokers read it)."""

    def __init__(self, name: str, args: ManifestArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:gcp:Manifest", name, None, opts)
        # It was AppShared's child ``<shared>-manifest`` before: the alias keeps deployed stacks' object.
        moved = pulumi.Alias(name=f"{args.shared.name}-manifest", parent=args.shared)
        self.object = gcp.storage.BucketObject(
            f"{name}-object",
            bucket=args.shared.staging.name,
            name=args.key,
            content=args.content,
            content_type="application/json",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after), aliases=[moved]),
        )
        self.register_outputs({"object": self.object.name})


@dataclass(frozen=True)
class VolumeArgs:
    """One volume of the deployment."""

    spec: VolumeSpec
    dep: Deployment


class Volume(pulumi.ComponentResource):
    """A ``modal.Volume`` as a private GCS bucket (the runtime syncs it on commit/reload)."""

    def __init__(self, name: str, args: VolumeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pcompile:gcp:Volume", name, None, opts)
        spec, dep = args.spec, args.dep
        self.spec = spec
        self.bucket_name = names.bucket_name(dep.project, dep.stack, dep.app.name, f"vol-{spec.name}")
        self.bucket = private_bucket(f"{name}-bucket", self.bucket_name, dep.region, dep.labels, self)
        self.register_outputs({"bucket": self.bucket.name})


@dataclass(frozen=True)
class SecretArgs:
    """One secret of the deployment."""

    spec: SecretSpec
    dep: Deployment


class Secret(pulumi.ComponentResource):
    """A ``modal.Secret`` in Secret Manager: its keys as one JSON value.

    ``from_name`` secrets already exist and are referenced by name. Code-defined ones
    (``from_dict``, ``from_dotenv``, ``from_local_environ``) are created here; their
    value comes only from the Pulumi secret config key :func:`secret_config_key`.
    """

    def __init__(self, name: str, args: SecretArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pcompile:gcp:Secret", name, None, opts)
        spec, dep = args.spec, args.dep
        self.spec = spec
        named = spec.kind == "named"
        self.secret_id: pulumi.Input[str] = names.secret_id(dep.app.name, spec.name, named)
        self.id_text = names.secret_id(dep.app.name, spec.name, named)
        self.missing_value = False
        if not named:
            secret = gcp.secretmanager.Secret(
                f"{name}-secret",
                secret_id=self.id_text,
                replication=gcp.secretmanager.SecretReplicationArgs(
                    auto=gcp.secretmanager.SecretReplicationAutoArgs()
                ),
                labels=dep.labels,
                opts=_child(self),
            )
            self.secret_id = secret.secret_id
            self._add_version(name, secret)
        self.register_outputs({"secret_id": self.secret_id})

    def _add_version(self, name: str, secret: Any) -> None:
        value = pulumi.Config(CONFIG_NAMESPACE).get_secret(secret_config_key(self.spec.name))
        if value is None:
            # Deploy sets this config from the live secret; synth shows the secret without a value.
            self.missing_value = True
            return
        gcp.secretmanager.SecretVersion(
            f"{name}-value", secret=secret.id, secret_data=value, opts=_child(self)
        )

    def version_path(self, project: str) -> str:
        """The resource path Batch's ``secretVariables`` take."""
        return f"projects/{project}/secrets/{self.id_text}/versions/latest"


@dataclass(frozen=True)
class FunctionArgs:
    """One function of the deployment and where it runs."""

    fn: FunctionSpec
    dep: Deployment


class FunctionIdentity(pulumi.ComponentResource):
    """A function's identity: one service account and grants on only its own buckets and secrets."""

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pcompile:gcp:FunctionIdentity", name, None, opts)
        fn, dep = args.fn, args.dep
        self.fn = fn
        self.account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=names.account_id(dep.app.name, fn.name),
            display_name=f"pcompile {dep.app.name} {fn.name}"[:100],
            opts=_child(self),
        )
        self.member = pulumi.Output.concat("serviceAccount:", self.account.email)
        self._grant_storage(name, fn, dep)
        self._grant_secrets(name, fn, dep)
        self._grant_image(name, fn, dep)
        self.register_outputs({"email": self.account.email})

    def _grant_image(self, name: str, fn: FunctionSpec, dep: Deployment) -> None:
        """Read on the repository of the exact image reference the function runs (bootstrap's)."""
        repository = names.artifact_repository(dep.image(fn))
        if repository is None:
            return  # not Artifact Registry: a public or user-managed registry
        location, project, repo = repository
        gcp.artifactregistry.RepositoryIamMember(
            f"{name}-pull",
            project=project,
            repository=repo,
            location=location,
            role=IMAGE_READER,
            member=self.member,
            opts=_child(self),
        )

    def _grant_storage(self, name: str, fn: FunctionSpec, dep: Deployment) -> None:
        assert dep.shared is not None
        self._grant_staging(name, fn, dep)
        buckets = []
        # A NetworkFileSystem is a bucket-mirrored volume here, as on AWS.
        for volume in sorted(set(fn.volumes.values()) | set(fn.network_file_systems.values())):
            spec = dep.volumes[volume].spec
            role = OBJECT_READ if spec.read_only else OBJECT_READ_WRITE
            buckets.append((f"vol-{names.slug(volume)}", dep.volumes[volume].bucket, role))
        for label, bucket, role in buckets:
            gcp.storage.BucketIAMMember(
                f"{name}-{label}-access", bucket=bucket.name, role=role, member=self.member, opts=_child(self)
            )

    def _grant_staging(self, name: str, fn: FunctionSpec, dep: Deployment) -> None:
        """Its own inputs (read) and results (read and write), and the code bundle object (read)."""
        assert dep.shared is not None
        bucket, staged = dep.staging_bucket, dep.shared.staging.name
        inputs = objects_under(bucket, staging.prefix(fn.name, staging.INPUTS))
        results = objects_under(bucket, staging.prefix(fn.name, staging.RESULTS))
        object_grant(f"{name}-staging-in", staged, OBJECT_READ, self.member, inputs, self)
        object_grant(f"{name}-staging-out", staged, OBJECT_READ_WRITE, self.member, results, self)
        if dep.bundle_url and dep.bundle_url.startswith("gs://"):
            code_bucket, _, key = dep.bundle_url.removeprefix("gs://").partition("#")[0].partition("/")
            object_grant(
                f"{name}-bundle", code_bucket, OBJECT_READ, self.member, object_named(code_bucket, key), self
            )

    def _grant_secrets(self, name: str, fn: FunctionSpec, dep: Deployment) -> None:
        if fn.web is not None and fn.web.requires_auth:  # read the stack's proxy-auth token set
            gcp.secretmanager.SecretIamMember(
                f"{name}-proxy-auth",
                project=dep.project,
                secret_id=proxy_auth_secret(dep.stack),
                role=SECRET_ACCESSOR,
                member=self.member,
                opts=_child(self),
            )
        for secret in sorted(fn.secrets):
            gcp.secretmanager.SecretIamMember(
                f"{name}-secret-{names.slug(secret)}",
                secret_id=dep.secrets[secret].secret_id,
                role=SECRET_ACCESSOR,
                member=self.member,
                opts=_child(self),
            )


def runtime_env(fn: FunctionSpec, placement: GcpPlacement, dep: Deployment) -> dict[str, str]:
    """Environment the runtime modes read (the contract is :mod:`pcompile.runtime.gcp_env`)."""
    volumes = {
        mount: {
            "url": f"gs://{dep.volumes[volume].bucket_name}",
            "read_only": dep.volumes[volume].spec.read_only,
        }
        for mount, volume in sorted({**fn.volumes, **fn.network_file_systems}.items())
    }
    env = {
        gcp_env.APP: dep.app.name,
        gcp_env.FUNCTION: fn.name,
        gcp_env.STACK: dep.stack,
        gcp_env.SPEC: json.dumps(to_jsonable(fn), sort_keys=True, separators=(",", ":")),
        gcp_env.STAGING: f"gs://{dep.staging_bucket}",
        gcp_env.VOLUMES: json.dumps(volumes, sort_keys=True),
    }
    if dep.bundle_url:
        env[gcp_env.BUNDLE] = dep.bundle_url
    if placement.schedule is not None and placement.schedule.period_s:
        env[gcp_env.SCHEDULE] = json.dumps(placement.schedule.to_json(), sort_keys=True)
    if fn.web is not None and fn.web.requires_auth:
        env[proxy_auth.ENV] = f"gcpsecret://projects/{dep.project}/secrets/{proxy_auth_secret(dep.stack)}"
    return env


@dataclass(frozen=True)
class ServiceArgs:
    """A function on Cloud Run: the function, its placement and the deployment."""

    fn: FunctionSpec
    placement: CloudRunPlacement
    dep: Deployment


class Service(pulumi.ComponentResource):
    """A function served by Cloud Run v2: private unless it is a public web endpoint."""

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:gcp:Service", name, None, opts)
        fn, placement, dep = args.fn, args.placement, args.dep
        self.identity = FunctionIdentity(f"{name}-id", FunctionArgs(fn, dep), _child(self))
        self.service = gcp.cloudrunv2.Service(
            f"{name}-run",
            name=names.service_name(dep.app.name, fn.name),
            location=dep.region,
            ingress="INGRESS_TRAFFIC_ALL",
            deletion_protection=False,
            labels=dep.labels,
            template=self._template(fn, placement, dep),
            scaling=gcp.cloudrunv2.ServiceScalingArgs(min_instance_count=placement.min_instances),
            opts=_child(self, [self.identity]),
        )
        self.url = self.service.uri
        members = ["allUsers"] if placement.public else list(dep.invokers)
        for member in members:
            gcp.cloudrunv2.ServiceIamMember(
                f"{name}-invoker-{names.slug(member)}",
                name=self.service.name,
                location=dep.region,
                role=RUN_INVOKER,
                member=member,
                opts=_child(self),
            )
        self.register_outputs({"url": self.url})

    def _template(self, fn: FunctionSpec, placement: CloudRunPlacement, dep: Deployment) -> Any:
        accelerator = placement.accelerator
        gpu = accelerator is not None
        return gcp.cloudrunv2.ServiceTemplateArgs(
            service_account=self.identity.account.email,
            timeout=f"{placement.timeout_s}s",
            max_instance_request_concurrency=placement.concurrency,
            scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                min_instance_count=placement.min_instances, max_instance_count=placement.max_instances
            ),
            node_selector=gcp.cloudrunv2.ServiceTemplateNodeSelectorArgs(accelerator=accelerator)
            if accelerator is not None
            else None,
            gpu_zonal_redundancy_disabled=True if gpu else None,
            containers=[self._container(fn, placement, dep)],
        )

    def _container(self, fn: FunctionSpec, placement: CloudRunPlacement, dep: Deployment) -> Any:
        limits = {"cpu": f"{placement.cpu:g}", "memory": f"{placement.memory_mib}Mi"}
        if placement.accelerator:
            limits["nvidia.com/gpu"] = "1"
        # a web function's front (proxy auth, health path) owns the container port
        port = front_port(fn.web.port) if fn.web is not None else HTTP_PORT
        env = [
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=k, value=v)
            for k, v in sorted(runtime_env(fn, placement, dep).items())
        ]
        env += [
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                name=names.secret_env(secret),
                value_source=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
                    secret_key_ref=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                        secret=dep.secrets[secret].secret_id, version="latest"
                    )
                ),
            )
            for secret in sorted(fn.secrets)
        ]
        return gcp.cloudrunv2.ServiceTemplateContainerArgs(
            image=dep.image(fn),
            commands=["python", "-m", "pcompile.runtime"],
            args=["http"],
            envs=env,
            ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(container_port=port),
            startup_probe=_startup_probe(port, placement.startup_s, HEALTH_PATH if fn.web else None),
            # A GPU instance must keep its CPU allocated between requests (instance-based billing).
            resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                limits=limits, cpu_idle=False if placement.accelerator else None
            ),
        )


def _startup_probe(port: int, budget_s: int, http_path: str | None = None) -> Any:
    """A probe that waits ``budget_s`` for the port (volume sync and ``@enter`` run first): TCP,
    or for a web function its front's health path (200 once its server accepts connections)."""
    period = CLOUD_RUN_PROBE_PERIOD_S
    http = gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(path=http_path, port=port)
    return gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
        http_get=http if http_path else None,
        tcp_socket=None
        if http_path
        else gcp.cloudrunv2.ServiceTemplateContainerStartupProbeTcpSocketArgs(port=port),
        period_seconds=period,
        timeout_seconds=period // 2,
        failure_threshold=-(-budget_s // period),
    )


@dataclass(frozen=True)
class BatchFunctionArgs:
    """A function on GCP Batch: the function, its placement and the deployment."""

    fn: FunctionSpec
    placement: GcpBatchPlacement
    dep: Deployment


class BatchFunction(pulumi.ComponentResource):
    """A function run as GCP Batch jobs: its job template, stored with the deployment."""

    def __init__(
        self, name: str, args: BatchFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pcompile:gcp:BatchFunction", name, None, opts)
        fn, placement, dep = args.fn, args.placement, args.dep
        assert dep.shared is not None
        self.identity = FunctionIdentity(f"{name}-id", FunctionArgs(fn, dep), _child(self))
        for role in BATCH_AGENT_ROLES:
            gcp.projects.IAMMember(
                f"{name}-{role.split('/')[1].replace('.', '-').lower()}",
                project=dep.project,
                role=role,
                member=self.identity.member,
                opts=_child(self),
            )
        for member in dep.invokers:
            # Callers create jobs that run as this function's account.
            gcp.serviceaccount.IAMMember(
                f"{name}-caller-{names.slug(member)}",
                service_account_id=self.identity.account.name,
                role="roles/iam.serviceAccountUser",
                member=member,
                opts=_child(self),
            )
        self.template = jobs.job_template(
            placement,
            image=dep.image(fn),
            service_account=dep.account_email(fn),
            region=dep.region,
            env=runtime_env(fn, placement, dep),
            secret_env={names.secret_env(s): dep.secrets[s].version_path(dep.project) for s in fn.secrets},
            labels=dep.labels,
        )
        self.key = names.template_key(fn.name)
        self.object = gcp.storage.BucketObject(
            f"{name}-template",
            bucket=dep.shared.staging.name,
            name=self.key,
            content=json.dumps(self.template, sort_keys=True, indent=2),
            content_type="application/json",
            opts=_child(self, [self.identity]),
        )
        self.register_outputs({"template": self.object.name})


@dataclass(frozen=True)
class ScheduleArgs:
    """A function's Cloud Scheduler trigger and what it starts (``runner``)."""

    fn: FunctionSpec
    trigger: Trigger
    dep: Deployment
    runner: Service | BatchFunction


class Schedule(pulumi.ComponentResource):
    """Cloud Scheduler firing a function: OIDC POST to its service, or Batch ``jobs.create``."""

    def __init__(self, name: str, args: ScheduleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:gcp:Schedule", name, None, opts)
        fn, trigger, dep, runner = args.fn, args.trigger, args.dep, args.runner
        self.account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=names.account_id(dep.app.name, f"cron-{fn.name}"),
            display_name=f"pcompile scheduler {dep.app.name} {fn.name}"[:100],
            opts=_child(self),
        )
        member = pulumi.Output.concat("serviceAccount:", self.account.email)
        if isinstance(runner, Service):
            target = self._run_target(name, runner, member, dep)
        else:
            target = self._batch_target(name, runner, member, dep)
        self.job = gcp.cloudscheduler.Job(
            f"{name}-job",
            name=names.scheduler_job_name(dep.app.name, fn.name),
            region=dep.region,
            schedule=trigger.cron,
            time_zone=trigger.time_zone,
            attempt_deadline=f"{min(max(fn.timeout, 15), 1800)}s",
            http_target=target,
            opts=_child(self),
        )
        self.register_outputs({"job": self.job.name})

    def _run_target(self, name: str, runner: Service, member: pulumi.Output[str], dep: Deployment) -> Any:
        gcp.cloudrunv2.ServiceIamMember(
            f"{name}-invoker",
            name=runner.service.name,
            location=dep.region,
            role=RUN_INVOKER,
            member=member,
            opts=_child(self),
        )
        body = json.dumps({"scheduled": True}, sort_keys=True).encode()
        return gcp.cloudscheduler.JobHttpTargetArgs(
            uri=runner.url.apply(lambda url: url.rstrip("/") + "/invoke"),
            http_method="POST",
            headers={"Content-Type": "application/json"},
            body=base64.b64encode(body).decode(),
            oidc_token=gcp.cloudscheduler.JobHttpTargetOidcTokenArgs(
                service_account_email=self.account.email, audience=runner.url
            ),
        )

    def _batch_target(
        self, name: str, runner: BatchFunction, member: pulumi.Output[str], dep: Deployment
    ) -> Any:
        # Batch has no per-job IAM: creating jobs needs jobsEditor on the project, and
        # running them as the function's account needs actAs on that one account only.
        gcp.projects.IAMMember(
            f"{name}-jobs-editor",
            project=dep.project,
            role="roles/batch.jobsEditor",
            member=member,
            opts=_child(self),
        )
        gcp.serviceaccount.IAMMember(
            f"{name}-act-as",
            service_account_id=runner.identity.account.name,
            role="roles/iam.serviceAccountUser",
            member=member,
            opts=_child(self),
        )
        job = jobs.for_call(runner.template, call_env={gcp_env.CALL: gcp_env.SCHEDULED_CALL}, task_count=1)
        body = json.dumps(job, sort_keys=True).encode()
        return gcp.cloudscheduler.JobHttpTargetArgs(
            uri=f"https://batch.googleapis.com/v1/projects/{dep.project}/locations/{dep.region}/jobs",
            http_method="POST",
            headers={"Content-Type": "application/json"},
            body=base64.b64encode(body).decode(),
            oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(
                service_account_email=self.account.email,
                scope="https://www.googleapis.com/auth/cloud-platform",
            ),
        )
