"""A hand-written Pulumi program with the shape of an AWS web service, and a simulate engine for it.

The program declares what a web service on ECS needs (VPC, an ALB that forwards only
requests carrying the CloudFront origin header, a target group with a health check,
an ECS cluster, a Fargate task definition running ``python -m pcompile.runtime ecs``, a
service, Application Auto Scaling, an alarm, a GPU capacity provider with its launch
template and Auto Scaling group, a CloudFront function and distribution). Config keys
(``ecs-kit:<key>``) change values so a second ``up`` updates in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from pcompile.providers.deploy import PulumiProject
from pcompile.providers.settings import StackSettings
from pcompile.providers.simulate.engine import SimulateEngine

PROJECT = "ecs-kit"
ORIGIN_HEADER = "X-Pcompile-Origin"

PROGRAM = """\
import json

import pulumi
import pulumi_aws as aws

cfg = pulumi.Config()
revision = int(cfg.get("revision") or "1")
desired = int(cfg.get("desired") or "0")
origin_secret = cfg.require_secret("origin")
environment = json.loads(cfg.get("environment") or "{}")

vpc = aws.ec2.Vpc("vpc", cidr_block="10.20.0.0/16", enable_dns_hostnames=True)
subnets = [
    aws.ec2.Subnet(f"subnet-{zone}", vpc_id=vpc.id, cidr_block=f"10.20.{n}.0/24", availability_zone=f"us-east-1{zone}")
    for n, zone in enumerate("ab")
]
cloudfront = aws.ec2.get_managed_prefix_list_output(name="com.amazonaws.global.cloudfront.origin-facing")
alb_sg = aws.ec2.SecurityGroup(
    "alb", vpc_id=vpc.id, description="ALB: CloudFront only",
    ingress=[{"protocol": "tcp", "from_port": 80, "to_port": 80, "prefix_list_ids": [cloudfront.id]}],
)
task_sg = aws.ec2.SecurityGroup("task", vpc_id=vpc.id, description="tasks: from the ALB only")
aws.vpc.SecurityGroupIngressRule(
    "task-from-alb", security_group_id=task_sg.id, ip_protocol="tcp", from_port=8080, to_port=8080,
    referenced_security_group_id=alb_sg.id,
)
aws.vpc.SecurityGroupEgressRule("task-out", security_group_id=task_sg.id, ip_protocol="-1", cidr_ipv4="0.0.0.0/0")

trust = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
task_role = aws.iam.Role("task-role", assume_role_policy=trust)
execution_role = aws.iam.Role("execution-role", assume_role_policy=trust)
aws.iam.RolePolicy("task-read", role=task_role.id, policy=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
     "Resource": ["arn:aws:s3:::*"]}]}))

lb = aws.lb.LoadBalancer(
    "alb", load_balancer_type="application", subnets=[s.id for s in subnets], security_groups=[alb_sg.id],
    idle_timeout=300 + revision, enable_http2=True, drop_invalid_header_fields=True,
)
tg = aws.lb.TargetGroup(
    "web", port=8080, protocol="HTTP", target_type="ip", vpc_id=vpc.id, deregistration_delay=30,
    health_check={"path": "/__pcompile/healthz" if revision == 1 else "/ready", "matcher": "200", "interval": 15,
                  "healthy_threshold": 2, "unhealthy_threshold": 3, "timeout": 5},
)
listener = aws.lb.Listener(
    "http", load_balancer_arn=lb.arn, port=80, protocol="HTTP",
    default_actions=[{"type": "fixed-response",
                      "fixed_response": {"content_type": "text/plain", "message_body": "forbidden", "status_code": "403"}}],
)
aws.lb.ListenerRule(
    "starting", listener_arn=listener.arn, priority=10,
    conditions=[{"http_header": {"http_header_name": "__HEADER__", "values": [origin_secret]}},
                {"path_pattern": {"values": ["/__pcompile/starting"]}}],
    actions=[{"type": "fixed-response", "fixed_response": {
        "content_type": "text/plain", "message_body": "starting: retry in 7 s", "status_code": "200"}}],
)
aws.lb.ListenerRule(
    "from-cloudfront", listener_arn=listener.arn, priority=20,
    conditions=[{"http_header": {"http_header_name": "__HEADER__", "values": [origin_secret]}}],
    actions=[{"type": "forward", "target_group_arn": tg.arn}],
)

cluster = aws.ecs.Cluster("cluster", settings=[{"name": "containerInsights", "value": "enabled"}])
container = pulumi.Output.all(environment).apply(lambda _: json.dumps([{
    "name": "web",
    "image": cfg.get("image") or "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs-kit:abc",
    "essential": True,
    "command": ["python", "-m", "pcompile.runtime", "ecs", "--function", cfg.get("function") or "web"],
    "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
    "environment": [{"name": k, "value": v} for k, v in sorted({**environment, "PCOMPILE_FRONT_PORT": "8080",
                                                                   "REVISION": str(revision)}.items())],
    "stopTimeout": 30,
}]))
task = aws.ecs.TaskDefinition(
    "web", family="ecs-kit-web", cpu="1024", memory="2048", network_mode="awsvpc",
    requires_compatibilities=["FARGATE"], container_definitions=container,
    task_role_arn=task_role.arn, execution_role_arn=execution_role.arn,
)
service = aws.ecs.Service(
    "web", cluster=cluster.arn, task_definition=task.arn, desired_count=desired, launch_type="FARGATE",
    network_configuration={"subnets": [s.id for s in subnets], "security_groups": [task_sg.id], "assign_public_ip": True},
    load_balancers=[{"target_group_arn": tg.arn, "container_name": "web", "container_port": 8080}],
    health_check_grace_period_seconds=60,
)
resource_id = pulumi.Output.all(cluster.name, service.name).apply(lambda a: f"service/{a[0]}/{a[1]}")
target = aws.appautoscaling.Target(
    "web", service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount", resource_id=resource_id,
    min_capacity=0, max_capacity=3 + revision,
)
aws.appautoscaling.Policy(
    "web-requests", policy_type="TargetTrackingScaling", service_namespace="ecs",
    scalable_dimension="ecs:service:DesiredCount", resource_id=target.resource_id,
    target_tracking_scaling_policy_configuration={
        "target_value": 10.0, "scale_in_cooldown": int(cfg.get("scaledown") or "60"), "scale_out_cooldown": 0,
        "predefined_metric_specification": {"predefined_metric_type": "ALBRequestCountPerTarget",
                                             "resource_label": pulumi.Output.concat(lb.arn_suffix, "/", tg.arn_suffix)}},
)
common = {"service_namespace": "ecs", "scalable_dimension": "ecs:service:DesiredCount", "resource_id": target.resource_id}
wake = aws.appautoscaling.Policy(
    "wake", policy_type="StepScaling", **common,
    step_scaling_policy_configuration={"adjustment_type": "ChangeInCapacity", "cooldown": 60,
        "metric_aggregation_type": "Maximum",
        "step_adjustments": [{"metric_interval_lower_bound": "0", "scaling_adjustment": 1}]},
)
idle = aws.appautoscaling.Policy(
    "idle", policy_type="StepScaling", **common,
    step_scaling_policy_configuration={"adjustment_type": "ExactCapacity", "cooldown": 60,
        "metric_aggregation_type": "Maximum",
        "step_adjustments": [{"metric_interval_upper_bound": "0", "scaling_adjustment": 0}]},
)
aws.cloudwatch.MetricAlarm(
    "wake", comparison_operator="GreaterThanOrEqualToThreshold", evaluation_periods=1,
    metric_name="HTTPCode_ELB_503_Count", namespace="AWS/ApplicationELB", period=60, statistic="Sum",
    threshold=float(revision), dimensions={"LoadBalancer": lb.arn_suffix}, treat_missing_data="notBreaching",
    alarm_actions=[wake.arn],
)
aws.cloudwatch.MetricAlarm(
    "idle", comparison_operator="LessThanOrEqualToThreshold", evaluation_periods=2, metric_name="RequestCount",
    namespace="AWS/ApplicationELB", period=60, statistic="Sum", threshold=0,
    dimensions={"LoadBalancer": lb.arn_suffix}, treat_missing_data="breaching", alarm_actions=[idle.arn],
)

template = aws.ec2.LaunchTemplate(
    "gpu", image_id="ami-12c6146b", instance_type="g5.xlarge",
    metadata_options={"http_tokens": "required", "http_endpoint": "enabled"},
    block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {"volume_size": 100 + revision, "volume_type": "gp3"}}],
    update_default_version=True,
)
group = aws.autoscaling.Group(
    "gpu", min_size=0, max_size=2 + revision, desired_capacity=0, vpc_zone_identifiers=[s.id for s in subnets],
    protect_from_scale_in=True,
    mixed_instances_policy={"launch_template": {
        "launch_template_specification": {"launch_template_id": template.id, "version": "$Latest"},
        "overrides": [{"instance_type": "g5.xlarge"}, {"instance_type": "g5.2xlarge"}]}},
    tags=[{"key": "AmazonECSManaged", "value": "true", "propagate_at_launch": True}],
)
provider = aws.ecs.CapacityProvider(
    "gpu", auto_scaling_group_provider={
        "auto_scaling_group_arn": group.arn, "managed_termination_protection": "ENABLED",
        "managed_scaling": {"status": "ENABLED", "target_capacity": 100, "maximum_scaling_step_size": revision}},
)
aws.ecs.ClusterCapacityProviders(
    "cluster", cluster_name=cluster.name, capacity_providers=[provider.name, "FARGATE"],
    default_capacity_provider_strategies=[{"capacity_provider": "FARGATE", "weight": 1}],
)

retry = "\\n".join([
    "function handler(event) {",
    "  var response = event.response;",
    "  if (response.statusCode === 503 && !response.headers['retry-after']) {",
    "    response.headers['retry-after'] = { value: '7' };",
    "  }",
    "  return response;",
    "}",
])
rewrite = aws.cloudfront.Function("retry-after", runtime="cloudfront-js-2.0", code=retry, publish=True)
distribution = aws.cloudfront.Distribution(
    "web", enabled=True, comment=f"ecs-kit r{revision}", price_class="PriceClass_100",
    origins=[{"origin_id": "alb", "domain_name": lb.dns_name,
              "custom_origin_config": {"http_port": 80, "https_port": 443, "origin_protocol_policy": "http-only",
                                       "origin_ssl_protocols": ["TLSv1.2"], "origin_read_timeout": 60},
              "custom_headers": [{"name": "__HEADER__", "value": origin_secret}]}],
    default_cache_behavior={
        "target_origin_id": "alb", "viewer_protocol_policy": "redirect-to-https",
        "allowed_methods": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
        "cached_methods": ["GET", "HEAD"],
        "cache_policy_id": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        "function_associations": [{"event_type": "viewer-response", "function_arn": rewrite.arn}],
    },
    custom_error_responses=[{"error_code": 503, "response_code": 503, "response_page_path": "/__pcompile/starting",
                             "error_caching_min_ttl": 0}],
    restrictions={"geo_restriction": {"restriction_type": "none"}},
    viewer_certificate={"cloudfront_default_certificate": True},
)
pulumi.export("url", distribution.domain_name.apply(lambda d: f"https://{d}/"))
pulumi.export("service", service.name)
pulumi.export("cluster", cluster.name)
""".replace("__HEADER__", ORIGIN_HEADER)


def project(
    root: Path, config: dict[str, str] | None = None, origin: str = "origin-secret-1"
) -> PulumiProject:
    """The program as an emitted project under ``root`` with its config (``ecs-kit:<key>``)."""
    path = root / "program"
    path.mkdir(parents=True, exist_ok=True)
    (path / "__main__.py").write_text(PROGRAM)
    (path / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
    return PulumiProject(
        path,
        PROJECT,
        "sim",
        f"file://{root / 'state'}",
        config={f"{PROJECT}:{k}": v for k, v in (config or {}).items()},
        secret_config={f"{PROJECT}:origin": origin},
    )


def settings(endpoint_url: str) -> StackSettings:
    """Stack ``sim`` on ``engine: simulate`` at ``endpoint_url``."""
    return StackSettings(
        name="sim", cloud="aws", region="us-east-1", engine="simulate", endpoint_url=endpoint_url
    )


def engine(root: Path, endpoint_url: str, compute: bool = False) -> SimulateEngine:
    """The simulate engine of stack ``sim`` (state under ``root``); with ``compute``, distributions
    answer through the simulated compute service (started under ``root``)."""

    def none(_: str) -> None:
        return None

    if compute:
        return SimulateEngine(settings(endpoint_url), root, function_url=none)
    return SimulateEngine(settings(endpoint_url), root, function_url=none, distribution_host=none)


def environment(values: dict[str, Any]) -> str:
    """The ``environment`` config value (JSON)."""
    return json.dumps(values, sort_keys=True)


def client(url: str, service: str) -> Any:
    """A boto3 client of ``service`` on the moto server at ``url`` (any credentials do)."""
    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    return session.client(service, endpoint_url=url)
