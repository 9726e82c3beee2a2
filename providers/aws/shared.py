"""Per-app AWS components: the staging bucket, the network and
instance role Batch needs, Batch compute environments and queues, and private
buckets (shared by the staging bucket and volumes).

Children are named ``f"{name}-<role>"`` with ``parent=self``; ``register_outputs``
comes last; no resource is created inside an ``apply``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from pcompile.providers.aws import iam, names
from pcompile.runtime import staging

GPU_IMAGE_TYPE = "ECS_AL2023_NVIDIA"  # successor of ECS_AL2_NVIDIA (AL2 AMIs blocked from mid-2026)
CPU_IMAGE_TYPE = "ECS_AL2023"
ECS_INSTANCE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"


def private_bucket(
    name: str,
    parent: pulumi.Resource,
    tags: dict[str, str],
    expire: dict[str, int] | None = None,
    *,
    force_destroy: bool = False,
) -> aws.s3.Bucket:
    """An S3 bucket with public access blocked, SSE, TLS-only policy and optional expiry by prefix.

    ``force_destroy`` empties it on ``pcompile destroy``: only for buckets whose objects are
    pcompile's own (staging), never for volumes, which hold the user's data.
    """
    opts = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        name, bucket=names.fitted(name, names.BUCKET), force_destroy=force_destroy, tags=tags, opts=opts
    )
    block = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"},
                "bucket_key_enabled": True,
            }
        ],
        opts=opts,
    )
    aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.id,
        policy=iam.deny_insecure_transport(bucket.arn),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[block]),
    )
    if expire:
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-expiry",
            bucket=bucket.id,
            rules=[
                {
                    "id": f"expire-{prefix}",
                    "status": "Enabled",
                    "filter": {"prefix": f"{prefix}/"},
                    "expiration": {"days": days},
                }
                for prefix, days in sorted(expire.items())
            ],
            opts=opts,
        )
    return bucket


@dataclass(frozen=True)
class SharedArgs:
    """What the per-app component needs: tags, expiry days, and whether Batch is used."""

    tags: dict[str, str]
    staging_expiry_days: int = 7


class AppShared(pulumi.ComponentResource):
    """The app's staging bucket (inputs, outputs, manifest). Images live in the stack's
    registry (:func:`pcompile.providers.aws.names.registry`), where deploy pushes them."""

    def __init__(self, name: str, args: SharedArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:AppShared", name, None, opts)
        days = args.staging_expiry_days
        # Staging holds call payloads, results and the manifest: destroy must not stop at them.
        self.staging = private_bucket(
            f"{name}-staging", self, args.tags, {staging.ROOT: days}, force_destroy=True
        )
        self.register_outputs({"staging_bucket": self.staging.bucket})


@dataclass(frozen=True)
class NetworkArgs:
    """A small public VPC (egress only: no ingress rule) with one subnet per availability zone.

    ``zones`` empty means every zone the account is offered in the region
    (:func:`available_zones`); a stack names them with ``extra.availability_zones``.
    """

    region: str
    tags: dict[str, str]
    cidr: str = "10.40.0.0/16"
    zones: tuple[str, ...] = ()


# One /20 per zone: room for 16 zones (regions have at most 6) and 4,091 instances each.
SUBNET_PREFIX = 20


def available_zones(region: str) -> tuple[str, ...]:
    """The region's available zones for this account (letters differ per account, and Local
    Zones are left out: they offer no GPU instances)."""
    result = aws.get_availability_zones(
        state="available",
        filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
        region=region,
    )
    return tuple(sorted(result.names or ()))


def subnet_cidrs(cidr: str, count: int) -> list[str]:
    """The first ``count`` /20 blocks of ``cidr``."""
    blocks = ipaddress.ip_network(cidr).subnets(new_prefix=SUBNET_PREFIX)
    return [str(next(blocks)) for _ in range(count)]


class Network(pulumi.ComponentResource):
    """Where Batch instances run when the stack names no VPC: they need egress to pull images."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=args.tags,
            opts=child,
        )
        self.vpc_id: pulumi.Output[str] = vpc.id
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=args.tags, opts=child)
        routes = aws.ec2.RouteTable(
            f"{name}-routes",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            tags=args.tags,
            opts=child,
        )
        self.subnet_ids: list[pulumi.Output[str]] = []
        zones = args.zones or available_zones(args.region)
        for zone, cidr in zip(zones, subnet_cidrs(args.cidr, len(zones)), strict=True):
            subnet = aws.ec2.Subnet(
                f"{name}-subnet-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=True,
                tags=args.tags,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-subnet-{zone}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )
            self.subnet_ids.append(subnet.id)
        group = aws.ec2.SecurityGroup(
            f"{name}-batch-sg",
            name=names.fitted(f"{name}-batch-sg", names.SECURITY_GROUP),
            vpc_id=vpc.id,
            description="pcompile Batch instances: egress only",
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags,
            opts=child,
        )
        self.security_group_ids: list[pulumi.Output[str]] = [group.id]
        self.register_outputs(
            {"subnet_ids": self.subnet_ids, "security_group_ids": self.security_group_ids, "vpc_id": vpc.id}
        )


@dataclass(frozen=True)
class ComputeArgs:
    """One managed EC2 compute environment: its instance types and vCPU bounds."""

    instance_types: tuple[str, ...]
    gpu: bool
    subnet_ids: list[pulumi.Input[str]]
    security_group_ids: list[pulumi.Input[str]]
    instance_profile_arn: pulumi.Input[str]
    tags: dict[str, str]
    min_vcpus: int = 0
    max_vcpus: int = 512
    image_type: str | None = None


class BatchCompute(pulumi.ComponentResource):
    """A managed EC2 compute environment; GPU ones use the NVIDIA ECS AMI and GPU instances only."""

    def __init__(self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:BatchCompute", name, None, opts)
        image_type = args.image_type or (GPU_IMAGE_TYPE if args.gpu else CPU_IMAGE_TYPE)
        self.environment = aws.batch.ComputeEnvironment(
            f"{name}-ce",
            name=names.fitted(f"{name}-ce", names.COMPUTE_ENVIRONMENT),
            type="MANAGED",
            compute_resources={
                "type": "EC2",
                "allocation_strategy": "BEST_FIT_PROGRESSIVE",
                "instance_types": list(args.instance_types),
                "min_vcpus": args.min_vcpus,
                "max_vcpus": max(args.max_vcpus, args.min_vcpus),
                "subnets": args.subnet_ids,
                "security_group_ids": args.security_group_ids,
                "instance_role": args.instance_profile_arn,
                "ec2_configurations": [{"image_type": image_type}],
                "tags": args.tags,
            },
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"arn": self.environment.arn})


class BatchQueue(pulumi.ComponentResource):
    """A job queue over compute environments in preference order (GPU fallbacks)."""

    def __init__(
        self,
        name: str,
        physical_name: str,
        environments: list[BatchCompute],
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pcompile:aws:BatchQueue", name, None, opts)
        self.queue = aws.batch.JobQueue(
            f"{name}-queue",
            name=physical_name,
            priority=1,
            state="ENABLED",
            compute_environment_orders=[
                {"order": i + 1, "compute_environment": env.environment.arn}
                for i, env in enumerate(environments)
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"arn": self.queue.arn})


class InstanceRole(pulumi.ComponentResource):
    """The EC2 instance role and profile Batch instances run with (ECS agent, ECR pull, logs)."""

    def __init__(self, name: str, tags: dict[str, str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:InstanceRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            name=names.fitted(f"{name}-role", names.ROLE),
            assume_role_policy=iam.trust_policy("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ecs", role=role.name, policy_arn=ECS_INSTANCE_POLICY, opts=child
        )
        self.profile = aws.iam.InstanceProfile(
            f"{name}-profile",
            name=names.fitted(f"{name}-profile", names.INSTANCE_PROFILE),
            role=role.name,
            tags=tags,
            opts=child,
        )
        self.register_outputs({"arn": self.profile.arn})


@dataclass
class BatchNetwork:
    """Subnets and security groups Batch compute uses (from the stack or a new Network); web
    services also need the VPC and whether the subnets are the public ones pcompile made."""

    subnet_ids: list[pulumi.Input[str]] = field(default_factory=list)
    security_group_ids: list[pulumi.Input[str]] = field(default_factory=list)
    vpc_id: pulumi.Input[str] | None = None
    public: bool = False
