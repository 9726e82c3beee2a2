"""Pulumi components for GCP, one per IR concept (DESIGN.md section 3).

* :class:`AppShared` (``pcompile:gcp:AppShared``): the staging bucket (images live in
  bootstrap's Artifact Registry repository); :class:`DeploymentManifest` - the manifest object;
* :class:`Volume` - a private GCS bucket; :class:`Secret` - a Secret Manager secret
  (``from_name`` is referenced, others are created from Pulumi secret config);
* :class:`NetworkFileSystem` - a Filestore instance (BASIC_HDD) on the stack's VPC network;
* :class:`KvCollections` - the Firestore TTL policy of each named Dict/Queue collection
  (the database itself is the stack's, made by ``pcompile bootstrap``);
* :class:`Service` - a Cloud Run v2 service (CPU, L4 GPU or web endpoint);
* :class:`BatchFunction` - a GCP Batch job template stored as a GCS object;
* :class:`Schedule` - a Cloud Scheduler job calling a service (OIDC) or creating a Batch job.

Each function gets its own service account holding only what it needs: object
access on its own volume buckets, read on its own staging inputs and read/write on
its own staging results (IAM conditions on the object name, from
:func:`pcompile.runtime.staging.prefix`), object access on exactly the GCS buckets its
bucket mounts name (read-only mounts: viewer), ``datastore.user`` on the stack's
Firestore database only (an IAM condition on the database name) when the app has Dicts or
Queues, read on the code bundle object and on the
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
from pcompile.providers.gcp import jobs, kv, mounts, names
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
# Firestore IAM stops at the database: no role or condition names a collection.
DATASTORE_USER = "roles/datastore.user"
FILESTORE_TIER = "BASIC_HDD"
FILESTORE_MIN_GB = 1024  # BASIC_HDD's smallest share
KV_TTL_FIELD = "expire_time"  # the timestamp a Firestore TTL policy sweeps (providers/gcp/kv.py)
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
    filestores: dict[str, NetworkFileSystem] = field(default_factory=dict)
    network: str | None = None
    subnetwork: str | None = None
    zone: str = ""

    @property
    def kv_database(self) -> str:
        """The stack's Firestore database id (Dicts and Queues)."""
        return names.firestore_database(self.stack)

    @property
    def uses_kv(self) -> bool:
        """Whether the app names a Dict or a Queue (its functions then reach Firestore)."""
        return bool(self.app.dicts or self.app.queues)

    def network_path(self) -> str:
        """The VPC network as a full resource path (the stack may give a bare name)."""
        assert self.network, "mounts.check_function refused NFS without a network"
        if self.network.startswith("projects/"):
            return self.network
        return f"projects/{self.project}/global/networks/{self.network}"

    def subnetwork_path(self) -> str | None:
        """The subnetwork as a full resource path, or None (the one named like the network)."""
        if not self.subnetwork or self.subnetwork.startswith("projects/"):
            return self.subnetwork
        return f"projects/{self.project}/regions/{self.region}/subnetworks/{self.subnetwork}"

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


class NetworkFileSystem(pulumi.ComponentResource):
    """A ``modal.NetworkFileSystem`` as a Filestore instance (BASIC_HDD, its 1 TiB minimum)
    on the stack's VPC network; functions mount its share over NFS. Deletion protection is
    on: its files are the user's, and ``pcompile destroy`` stops at it rather than lose them."""

    def __init__(self, name: str, args: VolumeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pcompile:gcp:NetworkFileSystem", name, None, opts)
        spec, dep = args.spec, args.dep
        self.spec = spec
        self.path = f"/{names.FILESTORE_SHARE}"
        self.instance = gcp.filestore.Instance(
            f"{name}-instance",
            name=names.filestore_instance(dep.app.name, spec.name),
            location=dep.zone,
            tier=FILESTORE_TIER,
            file_shares=gcp.filestore.InstanceFileSharesArgs(
                name=names.FILESTORE_SHARE, capacity_gb=FILESTORE_MIN_GB
            ),
            networks=[gcp.filestore.InstanceNetworkArgs(network=dep.network_path(), modes=["MODE_IPV4"])],
            deletion_protection_enabled=True,
            deletion_protection_reason="pcompile NetworkFileSystem: holds the user's files",
            labels=dep.labels,
            opts=_child(self),
        )
        self.server: pulumi.Output[str] = self.instance.networks.apply(_first_ip)
        self.register_outputs({"server": self.server})


def _first_ip(networks: Any) -> str:
    """The instance's address (unknown to ``synth``: the placeholder shows where it goes)."""
    for network in networks or []:
        found = network.get("ip_addresses") if isinstance(network, dict) else network.ip_addresses
        if found:
            return str(found[0])
    return "FILESTORE_IP"


@dataclass(frozen=True)
class KvArgs:
    """The app's named Dicts and Queues on the stack's database."""

    dep: Deployment


class KvCollections(pulumi.ComponentResource):
    """A Firestore TTL policy on ``expire_time`` of each named Dict/Queue collection, so
    expired entries are swept (readers skip them before that). The policy is a collection
    group setting, shared by every app naming the object: it is kept when one app goes
    (``retain_on_delete``), as a policy on an empty collection costs nothing."""

    def __init__(self, name: str, args: KvArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pcompile:gcp:KvCollections", name, None, opts)
        dep = args.dep
        prefix = kv.stack_prefix(dep.stack)
        self.collections = []
        for kind, stores in (("dict", dep.app.dicts), ("queue", dep.app.queues)):
            for store in stores:
                collection = kv.collection_name(prefix, kind, store.name)
                self.collections.append(collection)
                gcp.firestore.Field(
                    f"{name}-{kind}-{names.slug(store.name)}-ttl",
                    project=dep.project,
                    database=dep.kv_database,
                    collection=collection,
                    field=KV_TTL_FIELD,
                    ttl_config=gcp.firestore.FieldTtlConfigArgs(),
                    # Never queried: no single-field index to pay for on every write.
                    index_config=gcp.firestore.FieldIndexConfigArgs(indexes=[]),
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                )
        self.register_outputs({"collections": self.collections})


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
        self._grant_buckets(name, fn, dep)
        self._grant_kv(name, dep)
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
        # A NetworkFileSystem is reached over NFS (network access, no IAM).
        for volume in sorted(set(fn.volumes.values())):
            spec = dep.volumes[volume].spec
            role = OBJECT_READ if spec.read_only else OBJECT_READ_WRITE
            gcp.storage.BucketIAMMember(
                f"{name}-vol-{names.slug(volume)}-access",
                bucket=dep.volumes[volume].bucket.name,
                role=role,
                member=self.member,
                opts=_child(self),
            )

    def _grant_buckets(self, name: str, fn: FunctionSpec, dep: Deployment) -> None:
        """Each mounted GCS bucket: viewer when every mount of it is read-only, else objectUser."""
        writes: dict[str, bool] = {}
        for mount in mounts.gcs_mounts(fn, dep.project):
            writes[mount.bucket] = writes.get(mount.bucket, False) or not mount.read_only
        for bucket, write in sorted(writes.items()):
            gcp.storage.BucketIAMMember(
                f"{name}-bucket-{names.slug(bucket)}-access",
                bucket=bucket,
                role=OBJECT_READ_WRITE if write else OBJECT_READ,
                member=self.member,
                opts=_child(self),
            )

    def _grant_kv(self, name: str, dep: Deployment) -> None:
        """``datastore.user`` on the stack's Firestore database alone: the condition names the
        database; Firestore IAM cannot narrow it to the app's collections."""
        if not dep.uses_kv:
            return
        database = f"projects/{dep.project}/databases/{dep.kv_database}"
        gcp.projects.IAMMember(
            f"{name}-kv",
            project=dep.project,
            role=DATASTORE_USER,
            member=self.member,
            condition=gcp.projects.IAMMemberConditionArgs(
                title=f"pcompile-kv-{dep.kv_database}"[:100], expression=f'resource.name == "{database}"'
            ),
            opts=_child(self),
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
    # Only volumes are copied by the runtime; bucket mounts and NFS shares are the platform's.
    volumes = {
        mount: {
            "url": f"gs://{dep.volumes[volume].bucket_name}",
            "read_only": dep.volumes[volume].spec.read_only,
        }
        for mount, volume in sorted(fn.volumes.items())
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
    if dep.uses_kv:
        env |= {
            kv.ENV_CLOUD: "gcp",
            kv.ENV_PREFIX: kv.stack_prefix(dep.stack),
            kv.ENV_PROJECT: dep.project,
            kv.ENV_DATABASE: dep.kv_database,
        }
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
            **platform_mounts(fn, dep),
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
            volume_mounts=[
                gcp.cloudrunv2.ServiceTemplateContainerVolumeMountArgs(name=volume, mount_path=path)
                for volume, path in _mount_names(fn, dep)
            ]
            or None,
            # A GPU instance must keep its CPU allocated between requests (instance-based billing).
            resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                limits=limits, cpu_idle=False if placement.accelerator else None
            ),
        )


def _mount_names(fn: FunctionSpec, dep: Deployment) -> list[tuple[str, str]]:
    """(volume name, mount path) of each platform mount, in path order."""
    paths = [m.path for m in mounts.gcs_mounts(fn, dep.project)] + sorted(fn.network_file_systems)
    return [(f"mount-{i}", path) for i, path in enumerate(sorted(paths))]


def platform_mounts(fn: FunctionSpec, dep: Deployment) -> dict[str, Any]:
    """Cloud Run template fields for the function's GCS and NFS mounts: the volumes, the
    second-generation execution environment they need, and Direct VPC egress for NFS."""
    by_path = {m.path: m for m in mounts.gcs_mounts(fn, dep.project)}
    volumes = []
    for volume, path in _mount_names(fn, dep):
        if path in by_path:
            gcs = by_path[path]
            volumes.append(
                gcp.cloudrunv2.ServiceTemplateVolumeArgs(
                    name=volume,
                    gcs=gcp.cloudrunv2.ServiceTemplateVolumeGcsArgs(
                        bucket=gcs.bucket, read_only=gcs.read_only, mount_options=list(gcs.options) or None
                    ),
                )
            )
        else:
            share = dep.filestores[fn.network_file_systems[path]]
            volumes.append(
                gcp.cloudrunv2.ServiceTemplateVolumeArgs(
                    name=volume,
                    nfs=gcp.cloudrunv2.ServiceTemplateVolumeNfsArgs(
                        server=share.server, path=share.path, read_only=share.spec.read_only
                    ),
                )
            )
    if not volumes:
        return {}
    out: dict[str, Any] = {"volumes": volumes, "execution_environment": "EXECUTION_ENVIRONMENT_GEN2"}
    if fn.network_file_systems:
        out["vpc_access"] = gcp.cloudrunv2.ServiceTemplateVpcAccessArgs(
            egress="PRIVATE_RANGES_ONLY",
            network_interfaces=[
                gcp.cloudrunv2.ServiceTemplateVpcAccessNetworkInterfaceArgs(
                    network=dep.network_path(), subnetwork=dep.subnetwork_path()
                )
            ],
        )
    return out


def batch_mounts(fn: FunctionSpec, dep: Deployment) -> list[dict[str, Any]]:
    """Batch ``taskSpec.volumes`` for the function's GCS (gcsfuse) and NFS mounts; Batch binds
    each into the container at the same path. NFS servers are :data:`NFS_SERVER` placeholders
    that :meth:`BatchFunction` resolves once Filestore has an address."""
    out: list[dict[str, Any]] = []
    for m in mounts.gcs_mounts(fn, dep.project):
        remote = m.bucket
        options = [o for o in m.options if not o.startswith("only-dir=")]
        prefix = next((o.removeprefix("only-dir=") for o in m.options if o.startswith("only-dir=")), "")
        if prefix:
            remote = f"{m.bucket}/{prefix}"
        flags = [f"--{o}" for o in options] + (["-o ro"] if m.read_only else [])
        out.append(
            {"gcs": {"remotePath": remote}, "mountPath": m.path, **({"mountOptions": flags} if flags else {})}
        )
    for path, volume in sorted(fn.network_file_systems.items()):
        share = dep.filestores[volume]
        out.append(
            {
                "nfs": {"server": NFS_SERVER.format(volume), "remotePath": share.path},
                "mountPath": path,
                **({"mountOptions": ["ro"]} if share.spec.read_only else {}),
            }
        )
    return out


NFS_SERVER = "${{filestore:{}}}"


def _batch_network(dep: Deployment) -> dict[str, Any]:
    """Batch VMs on the stack's network, where the Filestore share is."""
    interface = {"network": dep.network_path()}
    if dep.subnetwork_path():
        interface["subnetwork"] = str(dep.subnetwork_path())
    return {"networkInterfaces": [interface]}


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
            volumes=batch_mounts(fn, dep),
            network=_batch_network(dep) if fn.network_file_systems else None,
        )
        self.servers = {v: dep.filestores[v].server for v in sorted(set(fn.network_file_systems.values()))}
        self.key = names.template_key(fn.name)
        self.object = gcp.storage.BucketObject(
            f"{name}-template",
            bucket=dep.shared.staging.name,
            name=self.key,
            content=self.resolve(json.dumps(self.template, sort_keys=True, indent=2)),
            content_type="application/json",
            opts=_child(self, [self.identity]),
        )
        self.register_outputs({"template": self.object.name})

    def resolve(self, text: str) -> pulumi.Output[str]:
        """``text`` (the template, or a job made from it) with each Filestore address filled in."""
        if not self.servers:
            return pulumi.Output.from_input(text)

        def fill(servers: dict[str, str]) -> str:
            out = text
            for volume, server in sorted(servers.items()):
                out = out.replace(NFS_SERVER.format(volume), server)
            return out

        return pulumi.Output.all(**self.servers).apply(fill)


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
        body = runner.resolve(json.dumps(job, sort_keys=True))
        return gcp.cloudscheduler.JobHttpTargetArgs(
            uri=f"https://batch.googleapis.com/v1/projects/{dep.project}/locations/{dep.region}/jobs",
            http_method="POST",
            headers={"Content-Type": "application/json"},
            body=body.apply(lambda text: base64.b64encode(text.encode()).decode()),
            oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(
                service_account_email=self.account.email,
                scope="https://www.googleapis.com/auth/cloud-platform",
            ),
        )
