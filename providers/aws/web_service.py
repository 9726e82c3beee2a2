"""Web services on AWS: ECS services behind an Application Load Balancer and CloudFront.

:class:`WebCluster` is the app's one ECS cluster with a GPU capacity provider per
``EcsPlacement.capacity_key`` (an Auto Scaling group of the placement's instance types
on the ECS GPU-optimized AL2023 AMI, managed scaling, minimum 0). :class:`WebService`
is one function: task definition (the runtime's ``ecs`` mode behind ``front_port``),
ECS service, ALB with its target group and health check, CloudFront (default) or an
HTTPS listener with a DNS alias (stack ``web.domain``), and autoscaling.

Scale to zero (``min_containers=0``): the service's desired count drops to 0 after
``scaledown_window`` without requests (the *idle* alarm), and managed scaling then
empties the GPU Auto Scaling group. While no task is healthy the ALB answers ``503``;
CloudFront replaces its body with the starting page (``STARTING_PATH``, a fixed ALB
response) and a CloudFront Function adds ``Retry-After``. That 503 is counted by
``HTTPCode_ELB_503_Count``, whose alarm (the *waker*) adds ``1 + buffer_containers``
tasks. The runtime front itself answers ``503`` with ``Retry-After`` until the user's
server is up. No request waits silently. docs/aws.md ("Web services") has the map from
decorator arguments to these resources and the caps.

Components take ``(name, args, opts)``, name children ``f"{name}-<role>"`` with
``parent=self``, create nothing inside ``apply`` and call ``register_outputs`` last.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from pcompile.compiler.ir import FunctionSpec
from pcompile.providers.aws import iam, names
from pcompile.providers.aws.components import Grants, RuntimeEnv, _role, image_pull_grants, region_env
from pcompile.providers.aws.placement import EcsPlacement
from pcompile.providers.aws.shared import GPU_IMAGE_TYPE, InstanceRole
from pcompile.providers.outputs import filled

ECS_COMMAND = ("python", "-m", "pcompile.runtime", "ecs", "--function")
# The runtime's front server listens on this port inside the container (``EcsPlacement.front_port``).
FRONT_PORT_ENV = "PCOMPILE_FRONT_PORT"
CONTAINER_NAME = "app"
HEALTH_PATH = "/__pcompile/healthz"
STARTING_PATH = "/__pcompile/starting"
# CloudFront → ALB: this header carries the origin secret; the ALB forwards only when it matches.
ORIGIN_HEADER = "X-Pcompile-Origin"
ORIGIN_SECRET_CONFIG = "web-origin-secret"
CLOUDFRONT_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"
# AWS managed CloudFront policies: no caching; forward every viewer header but Host (the ALB's
# own name must reach it). Source:
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
# The SSM parameter of the ECS GPU-optimized AL2023 AMI (``shared.GPU_IMAGE_TYPE``); launch
# templates resolve it at each launch, so instances get the current AMI.
# Source: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/retrieve-ecs-optimized_AMI.html
GPU_AMI_PARAMETER = {
    "ECS_AL2023_NVIDIA": "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
}[GPU_IMAGE_TYPE]
# Seconds a client is told to wait when a service is starting: a Fargate task, a GPU instance.
RETRY_AFTER_S = {"fargate": 30, "ec2": 120}
HEALTH_INTERVAL_S = 10
# Dynamic host ports of bridge-mode tasks on EC2 (the Linux ephemeral range and above).
EPHEMERAL_PORTS = (32768, 65535)
# ALBRequestCountPerTarget is requests per target per minute; one in-flight request is
# taken to last this long (stack extra ``ecs_request_seconds``).
DEFAULT_REQUEST_SECONDS = 1.0
SCALE_OUT_COOLDOWN_S = 60
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


# --------------------------------------------------------------------------- cluster


@dataclass(frozen=True)
class CapacityArgs:
    """One GPU capacity provider: its instance types and how many instances at most."""

    instance_types: tuple[str, ...]
    max_instances: int


@dataclass(frozen=True)
class WebClusterArgs:
    """The cluster and its GPU capacity (``capacity_key`` → instance types), on this network."""

    physical_name: str
    capacity: Mapping[str, CapacityArgs]
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    tags: dict[str, str]


class WebCluster(pulumi.ComponentResource):
    """The app's ECS cluster; Fargate plus one EC2 capacity provider per GPU capacity key, whose
    instances share one security group (each service admits its own ALB to it)."""

    def __init__(self, name: str, args: WebClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:WebCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=args.physical_name,
            settings=[{"name": "containerInsights", "value": "disabled"}],
            tags=args.tags,
            opts=child,
        )
        self.instance_security_group: aws.ec2.SecurityGroup | None = None
        self.capacity_providers: dict[str, aws.ecs.CapacityProvider] = {}
        if args.capacity:
            role = InstanceRole(f"{name}-instance", args.tags, opts=child)
            self.instance_security_group = aws.ec2.SecurityGroup(
                f"{name}-instance-sg",
                name=names.fitted(f"{name}-instance-sg", names.SECURITY_GROUP),
                vpc_id=args.vpc_id,
                description="pcompile GPU service instances: their ALBs only (rules per service)",
                egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
                tags=args.tags,
                opts=child,
            )
            self.capacity_providers = {
                key: self._gpu_capacity(f"{name}-{key}", args, cap, role.profile.arn, child)
                for key, cap in sorted(args.capacity.items())
            }
        self.providers = aws.ecs.ClusterCapacityProviders(
            f"{name}-providers",
            cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", *(p.name for p in self.capacity_providers.values())],
            opts=child,
        )
        self.register_outputs({"cluster": self.cluster.name})

    def _gpu_capacity(
        self,
        name: str,
        args: WebClusterArgs,
        cap: CapacityArgs,
        profile_arn: pulumi.Output[str],
        child: pulumi.ResourceOptions,
    ) -> aws.ecs.CapacityProvider:
        """Launch template (GPU AMI, joins the cluster), Auto Scaling group from 0, capacity provider."""
        assert self.instance_security_group is not None
        user_data = self.cluster.name.apply(_user_data)
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            name=names.fitted(f"{name}-lt", names.LAUNCH_TEMPLATE),
            image_id=f"resolve:ssm:{GPU_AMI_PARAMETER}",
            iam_instance_profile={"arn": profile_arn},
            vpc_security_group_ids=[self.instance_security_group.id],
            user_data=user_data,
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled"},
            tag_specifications=[{"resource_type": "instance", "tags": args.tags}],
            tags=args.tags,
            opts=child,
        )
        group = aws.autoscaling.Group(
            f"{name}-asg",
            name=names.fitted(f"{name}-asg", names.AUTOSCALING_GROUP),
            min_size=0,
            max_size=cap.max_instances,
            desired_capacity=0,
            vpc_zone_identifiers=args.subnet_ids,
            protect_from_scale_in=True,
            mixed_instances_policy={
                "launch_template": {
                    "launch_template_specification": {
                        "launch_template_id": template.id,
                        "version": "$Latest",
                    },
                    "overrides": [{"instance_type": t} for t in cap.instance_types],
                },
                "instances_distribution": {"on_demand_allocation_strategy": "prioritized"},
            },
            tags=[{"key": "AmazonECSManaged", "value": "true", "propagate_at_launch": True}],
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
        )
        return aws.ecs.CapacityProvider(
            f"{name}-cp",
            name=capacity_provider_name(f"{name}-cp"),
            auto_scaling_group_provider={
                "auto_scaling_group_arn": group.arn,
                "managed_termination_protection": "ENABLED",
                "managed_scaling": {
                    "status": "ENABLED",
                    "target_capacity": 100,
                    "minimum_scaling_step_size": 1,
                    "maximum_scaling_step_size": max(1, cap.max_instances),
                },
            },
            tags=args.tags,
            opts=child,
        )


def capacity_provider_name(logical: str) -> str | None:
    """ECS refuses provider names starting ``aws``, ``ecs`` or ``fargate`` (an app may be
    called ``ecs-demo``): those get a ``pcompile-`` prefix; others as :func:`names.fitted`."""
    if logical.lower().startswith(("aws", "ecs", "fargate")):
        return f"pcompile-{logical}"[: names.CAPACITY_PROVIDER]
    return names.fitted(logical, names.CAPACITY_PROVIDER)


def _user_data(cluster: str) -> str:
    """Instances join the cluster; the NVIDIA runtime is on the GPU AMI already."""
    import base64

    script = f"#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n"
    return base64.b64encode(script.encode()).decode()


# --------------------------------------------------------------------------- service


@dataclass(frozen=True)
class WebDomain:
    """A stack's ``web`` domain: the service answers at ``host`` with ``certificate_arn``."""

    zone: str
    host: str
    certificate_arn: str


@dataclass(frozen=True)
class WebServiceArgs:
    """One web function as a service: spec, placement, image, environment, grants, network."""

    fn: FunctionSpec
    placement: EcsPlacement
    physical_name: str
    image_uri: pulumi.Input[str]
    env: RuntimeEnv
    grants: Grants
    arns: iam.Arns
    region: str
    cluster: WebCluster
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    origin_secret: pulumi.Input[str]
    tags: dict[str, str]
    assign_public_ip: bool = True
    domain: WebDomain | None = None
    log_retention_days: int = 30
    request_seconds: float = DEFAULT_REQUEST_SECONDS
    extra_env: Mapping[str, str] = field(default_factory=dict)


class WebService(pulumi.ComponentResource):
    """One function as an ECS service behind an ALB and CloudFront, with autoscaling."""

    def __init__(self, name: str, args: WebServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:WebService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.physical_name = args.physical_name
        self.cluster_name = args.cluster.cluster.name
        log_name = f"/aws/ecs/{args.physical_name}"
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_name,
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=child,
        )
        trust = iam.trust_policy("ecs-tasks.amazonaws.com")
        task_role, _ = _role(name, trust, args.grants.statements(), child, args.tags)
        exec_statements = iam.log_statements(args.arns.log_group(log_name)) + image_pull_grants(
            args.image_uri
        )
        execution, _ = _role(f"{name}-exec", trust, exec_statements, child, args.tags)
        self.task_definition = self._task_definition(name, args, task_role.arn, execution.arn, child)
        self.alb_security_group = self._alb_security_group(name, args, child)
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=names.fitted(f"{name}-alb", names.LOAD_BALANCER),
            load_balancer_type="application",
            internal=False,
            security_groups=[self.alb_security_group.id],
            subnets=args.subnet_ids,
            idle_timeout=args.placement.idle_timeout_s,
            drop_invalid_header_fields=True,
            tags=args.tags,
            opts=child,
        )
        self.target_group = self._target_group(name, args, child)
        # ECS refuses a target group no listener uses yet: the listener (and its rules) first.
        if args.domain is None:
            forwarding = self._origin_listener(name, args, child)
        else:
            forwarding = self._https_listener(name, args, args.domain, child)
        self.service = self._service(name, args, forwarding)
        if args.placement.launch_type == "ec2":
            self._admit_alb_to_instances(name, args, child)
        if args.domain is None:
            self.distribution = self._cloudfront(name, args, child)
            self.url: pulumi.Output[str] = pulumi.Output.concat("https://", self.distribution.domain_name)
        else:
            self.url = pulumi.Output.from_input(f"https://{args.domain.host}")
        self._autoscaling(name, args, child)
        self.register_outputs(
            {
                "url": self.url,
                "service": self.service.name,
                "task_definition": self.task_definition.arn,
                "load_balancer": self.load_balancer.arn,
            }
        )

    # ------------------------------------------------------------------ task and service

    def _task_definition(
        self,
        name: str,
        args: WebServiceArgs,
        task_role: pulumi.Output[str],
        execution_role: pulumi.Output[str],
        child: pulumi.ResourceOptions,
    ) -> aws.ecs.TaskDefinition:
        """Fargate (awsvpc) or EC2 GPU (bridge, dynamic host port) task of one container."""
        p = args.placement
        fargate = p.launch_type == "fargate"
        variables = args.env.variables()
        containers = filled(
            [args.image_uri, variables, self.log_group.name],
            lambda v: container_definitions(args, v[0], v[1], v[2]),
        )
        return aws.ecs.TaskDefinition(
            f"{name}-task",
            family=args.physical_name,
            requires_compatibilities=["FARGATE" if fargate else "EC2"],
            network_mode="awsvpc" if fargate else "bridge",
            cpu=str(int(p.cpu * 1024)),
            memory=str(p.memory_mib),
            task_role_arn=task_role,
            execution_role_arn=execution_role,
            container_definitions=containers,
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            tags=args.tags,
            opts=child,
        )

    def _service(self, name: str, args: WebServiceArgs, after: list[pulumi.Resource]) -> aws.ecs.Service:
        """The service: Fargate in the app's subnets, or the GPU capacity provider's strategy."""
        child = pulumi.ResourceOptions(parent=self)
        p = args.placement
        fargate = p.launch_type == "fargate"
        placement: dict[str, Any] = {}
        if fargate:
            group = self._task_security_group(name, args, child)
            placement["launch_type"] = "FARGATE"
            placement["network_configuration"] = {
                "subnets": args.subnet_ids,
                "security_groups": [group.id],
                "assign_public_ip": args.assign_public_ip,
            }
        else:
            provider = args.cluster.capacity_providers[str(p.capacity_key)]
            placement["capacity_provider_strategies"] = [
                {"capacity_provider": provider.name, "weight": 1, "base": 0}
            ]
        return aws.ecs.Service(
            f"{name}-service",
            name=args.physical_name,
            cluster=args.cluster.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=floor_tasks(p),
            health_check_grace_period_seconds=p.health_check_grace_s,
            load_balancers=[
                {
                    "target_group_arn": self.target_group.arn,
                    "container_name": CONTAINER_NAME,
                    "container_port": p.front_port,
                }
            ],
            deployment_minimum_healthy_percent=100 if p.scaling.min_containers else 0,
            deployment_maximum_percent=200,
            propagate_tags="SERVICE",
            wait_for_steady_state=False,
            tags=args.tags,
            # The autoscaler owns the desired count once the service exists; a capacity provider
            # strategy needs the provider attached to the cluster first.
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["desiredCount"],
                depends_on=[*after, args.cluster.providers],
            ),
            **placement,
        )

    def _task_security_group(
        self, name: str, args: WebServiceArgs, child: pulumi.ResourceOptions
    ) -> aws.ec2.SecurityGroup:
        """Fargate tasks admit only the ALB, on the front port."""
        port = args.placement.front_port
        return aws.ec2.SecurityGroup(
            f"{name}-task-sg",
            name=names.fitted(f"{name}-task-sg", names.SECURITY_GROUP),
            vpc_id=args.vpc_id,
            description="pcompile web service tasks: the ALB only, on the front port",
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": port,
                    "to_port": port,
                    "security_groups": [self.alb_security_group.id],
                }
            ],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags,
            opts=child,
        )

    def _admit_alb_to_instances(self, name: str, args: WebServiceArgs, child: pulumi.ResourceOptions) -> None:
        """Bridge-mode tasks listen on dynamic host ports: this ALB may reach them, nothing else."""
        group = args.cluster.instance_security_group
        assert group is not None
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-alb",
            security_group_id=group.id,
            referenced_security_group_id=self.alb_security_group.id,
            ip_protocol="tcp",
            from_port=EPHEMERAL_PORTS[0],
            to_port=EPHEMERAL_PORTS[1],
            description=f"{args.physical_name}: its ALB",
            tags=args.tags,
            opts=child,
        )

    # ------------------------------------------------------------------ load balancer

    def _alb_security_group(
        self, name: str, args: WebServiceArgs, child: pulumi.ResourceOptions
    ) -> aws.ec2.SecurityGroup:
        """CloudFront's origin-facing addresses only (default), or HTTPS from anywhere with a domain."""
        if args.domain is None:
            prefix_list = aws.ec2.get_managed_prefix_list_output(name=CLOUDFRONT_PREFIX_LIST)
            ingress = [
                {"protocol": "tcp", "from_port": 80, "to_port": 80, "prefix_list_ids": [prefix_list.id]}
            ]
        else:
            ingress = [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}]
        return aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            name=names.fitted(f"{name}-alb-sg", names.SECURITY_GROUP),
            vpc_id=args.vpc_id,
            description="pcompile web service ALB: "
            + ("CloudFront only" if args.domain is None else "HTTPS (stack web.domain)"),
            ingress=ingress,  # type: ignore[arg-type]
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags,
            opts=child,
        )

    def _target_group(
        self, name: str, args: WebServiceArgs, child: pulumi.ResourceOptions
    ) -> aws.lb.TargetGroup:
        """The tasks' front port; healthy once ``/__pcompile/healthz`` answers 200."""
        p = args.placement
        return aws.lb.TargetGroup(
            f"{name}-tg",
            name=names.fitted(f"{name}-tg", names.TARGET_GROUP),
            port=p.front_port,
            protocol="HTTP",
            target_type="ip" if p.launch_type == "fargate" else "instance",
            vpc_id=args.vpc_id,
            deregistration_delay=p.deregistration_delay_s,
            health_check=health_check(p),
            tags=args.tags,
            opts=child,
        )

    def _origin_listener(
        self, name: str, args: WebServiceArgs, child: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """HTTP :80 answers 403 unless the CloudFront origin header carries the secret."""
        listener = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[_fixed(403, "forbidden: requests reach this service through CloudFront only\n")],
            tags=args.tags,
            opts=child,
        )
        header: Any = {"http_header_name": ORIGIN_HEADER, "values": [args.origin_secret]}
        retry = RETRY_AFTER_S[args.placement.launch_type]
        aws.lb.ListenerRule(
            f"{name}-starting",
            listener_arn=listener.arn,
            priority=10,
            conditions=[{"http_header": header}, {"path_pattern": {"values": [STARTING_PATH]}}],
            # 200 here: CloudFront serves this page as the body of its 503 (custom error response).
            actions=[_fixed(200, starting_body(retry))],
            tags=args.tags,
            opts=child,
        )
        forward = aws.lb.ListenerRule(
            f"{name}-forward",
            listener_arn=listener.arn,
            priority=20,
            conditions=[{"http_header": header}],
            actions=[{"type": "forward", "target_group_arn": self.target_group.arn}],
            tags=args.tags,
            opts=child,
        )
        return [listener, forward]

    def _https_listener(
        self, name: str, args: WebServiceArgs, domain: WebDomain, child: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """HTTPS :443 with the stack's certificate, and ``host`` aliased to the ALB."""
        listener = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=self.load_balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=domain.certificate_arn,
            default_actions=[{"type": "forward", "target_group_arn": self.target_group.arn}],
            tags=args.tags,
            opts=child,
        )
        zone = aws.route53.get_zone_output(name=domain.zone, private_zone=False)
        aws.route53.Record(
            f"{name}-dns",
            zone_id=zone.zone_id,
            name=domain.host,
            type="A",
            aliases=[
                {
                    "name": self.load_balancer.dns_name,
                    "zone_id": self.load_balancer.zone_id,
                    "evaluate_target_health": False,
                }
            ],
            opts=child,
        )
        return [listener]

    # ------------------------------------------------------------------ CloudFront

    def _cloudfront(
        self, name: str, args: WebServiceArgs, child: pulumi.ResourceOptions
    ) -> aws.cloudfront.Distribution:
        """HTTPS with CloudFront's certificate; nothing cached, nothing buffered beyond a chunk."""
        p = args.placement
        retry = aws.cloudfront.Function(
            f"{name}-retry-after",
            name=names.fitted(f"{name}-retry-after", names.CLOUDFRONT_FUNCTION),
            runtime="cloudfront-js-2.0",
            comment="pcompile: Retry-After on 503 while the service starts",
            code=retry_after_function(RETRY_AFTER_S[p.launch_type]),
            publish=True,
            opts=child,
        )
        return aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=names.fitted(args.physical_name, 128),
            http_version="http2and3",
            price_class="PriceClass_100",
            origins=[
                {
                    "origin_id": "alb",
                    "domain_name": self.load_balancer.dns_name,
                    "custom_origin_config": {
                        "http_port": 80,
                        "https_port": 443,
                        "origin_protocol_policy": "http-only",
                        "origin_ssl_protocols": ["TLSv1.2"],
                        "origin_read_timeout": p.origin_read_timeout_s,
                        "origin_keepalive_timeout": min(60, p.idle_timeout_s),
                    },
                    "custom_headers": [{"name": ORIGIN_HEADER, "value": args.origin_secret}],
                }
            ],
            default_cache_behavior={
                "target_origin_id": "alb",
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ALL_METHODS,
                "cached_methods": ["GET", "HEAD"],
                "cache_policy_id": CACHING_DISABLED,
                "origin_request_policy_id": ALL_VIEWER_EXCEPT_HOST,
                # Compression would hold back streamed chunks (server-sent events, tokens).
                "compress": False,
                "function_associations": [{"event_type": "viewer-response", "function_arn": retry.arn}],
            },
            custom_error_responses=[
                {
                    "error_code": 503,
                    "response_code": 503,
                    "response_page_path": STARTING_PATH,
                    "error_caching_min_ttl": 0,
                }
            ],
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate={"cloudfront_default_certificate": True},
            tags=args.tags,
            opts=child,
        )

    # ------------------------------------------------------------------ autoscaling

    def _autoscaling(self, name: str, args: WebServiceArgs, child: pulumi.ResourceOptions) -> None:
        """Bounds, target tracking on requests per target, and the waker/idle pair for zero."""
        p, scaling = args.placement, args.placement.scaling
        resource_id = pulumi.Output.concat("service/", args.cluster.cluster.name, "/", self.service.name)
        target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=resource_id,
            min_capacity=floor_tasks(p),
            max_capacity=scaling.max_containers,
            tags=args.tags,
            opts=child,
        )
        label = pulumi.Output.concat(self.load_balancer.arn_suffix, "/", self.target_group.arn_suffix)
        aws.appautoscaling.Policy(
            f"{name}-requests",
            name=names.fitted(f"{name}-requests", names.SCALING_POLICY),
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "ALBRequestCountPerTarget",
                    "resource_label": label,
                },
                "target_value": requests_per_target_minute(p, args.request_seconds),
                "scale_in_cooldown": scaling.scale_in_cooldown_s,
                "scale_out_cooldown": SCALE_OUT_COOLDOWN_S,
            },
            opts=child,
        )
        if scaling.min_containers == 0:
            self._scale_to_zero(name, args, target, child)

    def _scale_to_zero(
        self,
        name: str,
        args: WebServiceArgs,
        target: aws.appautoscaling.Target,
        child: pulumi.ResourceOptions,
    ) -> None:
        """The waker (ALB 503s → add tasks) and the idle alarm (no request → 0 tasks)."""
        scaling = args.placement.scaling
        common: dict[str, Any] = {
            "service_namespace": target.service_namespace,
            "scalable_dimension": target.scalable_dimension,
            "resource_id": target.resource_id,
        }
        wake = aws.appautoscaling.Policy(
            f"{name}-wake",
            name=names.fitted(f"{name}-wake", names.SCALING_POLICY),
            policy_type="StepScaling",
            step_scaling_policy_configuration={
                "adjustment_type": "ChangeInCapacity",
                "cooldown": SCALE_OUT_COOLDOWN_S,
                "metric_aggregation_type": "Maximum",
                "step_adjustments": [
                    {"metric_interval_lower_bound": "0", "scaling_adjustment": 1 + scaling.buffer_containers}
                ],
            },
            opts=child,
            **common,
        )
        sleep = aws.appautoscaling.Policy(
            f"{name}-idle",
            name=names.fitted(f"{name}-idle", names.SCALING_POLICY),
            policy_type="StepScaling",
            step_scaling_policy_configuration={
                "adjustment_type": "ExactCapacity",
                "cooldown": scaling.scale_in_cooldown_s,
                "metric_aggregation_type": "Maximum",
                "step_adjustments": [{"metric_interval_upper_bound": "0", "scaling_adjustment": 0}],
            },
            opts=child,
            **common,
        )
        dimensions = {"LoadBalancer": self.load_balancer.arn_suffix}
        aws.cloudwatch.MetricAlarm(
            f"{name}-wake-alarm",
            name=names.fitted(f"{name}-wake-alarm", names.ALARM),
            namespace="AWS/ApplicationELB",
            metric_name="HTTPCode_ELB_503_Count",
            dimensions=dimensions,
            statistic="Sum",
            period=60,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[wake.arn],
            tags=args.tags,
            opts=child,
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-idle-alarm",
            name=names.fitted(f"{name}-idle-alarm", names.ALARM),
            namespace="AWS/ApplicationELB",
            metric_name="RequestCount",
            dimensions=dimensions,
            statistic="Sum",
            period=60,
            evaluation_periods=max(1, math.ceil(scaling.scale_in_cooldown_s / 60)),
            threshold=0,
            comparison_operator="LessThanOrEqualToThreshold",
            # No datapoint at all is what an idle ALB reports.
            treat_missing_data="breaching",
            alarm_actions=[sleep.arn],
            tags=args.tags,
            opts=child,
        )


# --------------------------------------------------------------------------- pure helpers


def floor_tasks(p: EcsPlacement) -> int:
    """Tasks kept running: ``min_containers`` plus ``buffer_containers`` when any is kept warm."""
    low = p.scaling.min_containers
    return min(p.scaling.max_containers, low + p.scaling.buffer_containers) if low else 0


def requests_per_target_minute(p: EcsPlacement, request_seconds: float = DEFAULT_REQUEST_SECONDS) -> float:
    """``target_inputs`` in-flight requests of ``request_seconds`` each, per minute."""
    return round(p.scaling.target_inputs * 60 / max(0.001, request_seconds), 3)


def health_check(p: EcsPlacement) -> aws.lb.TargetGroupHealthCheckArgsDict:
    """The target group's check: 200 from the front's health path; unhealthy after as many
    misses as ``startup_timeout`` spans (2 to 10, ELB's bounds)."""
    return {
        "enabled": True,
        "path": HEALTH_PATH,
        "port": "traffic-port",
        "protocol": "HTTP",
        "matcher": "200",
        "interval": HEALTH_INTERVAL_S,
        "timeout": 5,
        "healthy_threshold": 2,
        "unhealthy_threshold": min(10, max(2, math.ceil(p.startup_timeout_s / HEALTH_INTERVAL_S))),
    }


def container_definitions(args: WebServiceArgs, image: str, env: dict[str, str], log_group: str) -> str:
    """The task's one container as ``containerDefinitions`` JSON (sorted keys)."""
    p = args.placement
    fargate = p.launch_type == "fargate"
    environment = {**region_env(env, args.region), FRONT_PORT_ENV: str(p.front_port), **args.extra_env}
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        "command": [*ECS_COMMAND, args.fn.name],
        "portMappings": [
            {"containerPort": p.front_port, "hostPort": p.front_port if fargate else 0, "protocol": "tcp"}
        ],
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": args.region,
                "awslogs-stream-prefix": "pcompile",
            },
        },
        "stopTimeout": 120 if fargate else 30,
    }
    if p.gpus:
        container["resourceRequirements"] = [{"type": "GPU", "value": str(p.gpus)}]
    return json.dumps([container], sort_keys=True)


def starting_body(retry_after_s: int) -> str:
    """What a client reads while the service wakes."""
    return f"starting: this service was idle and is starting; retry in {retry_after_s} s\n"


def retry_after_function(retry_after_s: int) -> str:
    """CloudFront Function (viewer response): a 503 gets ``Retry-After``."""
    return (
        "function handler(event) {\n"
        "  var response = event.response;\n"
        "  if (response.statusCode === 503 && !response.headers['retry-after']) {\n"
        f"    response.headers['retry-after'] = {{ value: '{retry_after_s}' }};\n"
        "  }\n"
        "  return response;\n"
        "}\n"
    )


def _fixed(status: int, body: str) -> Any:
    """A fixed-response action (listener default or rule action)."""
    return {
        "type": "fixed-response",
        "fixed_response": {"content_type": "text/plain", "status_code": str(status), "message_body": body},
    }


# --------------------------------------------------------------------------- origin secret


@dataclass(frozen=True)
class OriginSecretArgs:
    """The CloudFront → ALB header secret: from Pulumi secret config (``configured``) or, when
    none is set, generated once by Secrets Manager at the first deploy and kept."""

    physical_name: str
    tags: dict[str, str]
    configured: pulumi.Input[str] | None = None
    placeholder: str | None = None


class OriginSecret(pulumi.ComponentResource):
    """A Secrets Manager secret holding the origin header value every service of the app checks.

    A generated value comes from ``secretsmanager:GetRandomPassword`` (no ``random`` provider);
    ``ignore_changes`` on the version keeps the first one, so later deploys change nothing.
    ``value`` is the stored version's string (a Pulumi secret)."""

    def __init__(self, name: str, args: OriginSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:OriginSecret", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name=args.physical_name,
            description="pcompile: CloudFront origin header value (the ALB forwards only with it)",
            recovery_window_in_days=0,
            tags=args.tags,
            opts=child,
        )
        value: pulumi.Input[str]
        if args.configured is not None:
            value = args.configured
        elif args.placeholder is not None:
            value = pulumi.Output.secret(args.placeholder)
        else:
            generated = aws.secretsmanager.get_random_password_output(
                password_length=48, exclude_punctuation=True
            )
            value = pulumi.Output.secret(generated.random_password.apply(lambda v: str(v)))
        version = aws.secretsmanager.SecretVersion(
            f"{name}-value",
            secret_id=secret.id,
            secret_string=value,
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=[] if args.configured is not None else ["secretString"]
            ),
        )
        self.arn = secret.arn
        self.value: pulumi.Output[str] = pulumi.Output.secret(
            version.secret_string.apply(lambda v: str(v or ""))
        )
        self.register_outputs({"arn": secret.arn})
