"""The simulate engine creates, updates in place and destroys a web service's resources in moto.

A hand-written Pulumi program (``ecs_kit.PROGRAM``, the shape of an ECS web service
behind an ALB and CloudFront) runs under the simulate engine against a real moto
server; the test then reads moto with boto3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ecs_kit
import pytest

pytestmark = pytest.mark.timeout(600)


def state(root: Path) -> dict[str, Any]:
    """The simulated state file of the program."""
    return dict(json.loads(next((root / ".pcompile" / "simulate" / "sim").glob("ecs-kit*.json")).read_text()))


def tracking(aas: Any) -> dict[str, Any]:
    """The service's target tracking policy."""
    policies = aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    (policy,) = [p for p in policies if p["PolicyType"] == "TargetTrackingScaling"]
    return dict(policy)


def say(lines: list[str]) -> Any:
    return lines.append


def test_up_update_in_place_and_destroy(
    plain_moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "t")
    engine = ecs_kit.engine(tmp_path, plain_moto)
    lines: list[str] = []
    first = engine.up(ecs_kit.project(tmp_path), say(lines))
    assert first.changes.get("create", 0) >= 25 and set(first.changes) == {"create"}, first.changes
    assert any(line.startswith("pass-through aws:cloudfront/function:Function") for line in lines)
    ecs, elb, cf = (
        ecs_kit.client(plain_moto, "ecs"),
        ecs_kit.client(plain_moto, "elbv2"),
        ecs_kit.client(plain_moto, "cloudfront"),
    )
    cluster = first.outputs["cluster"]
    (service,) = ecs.describe_services(cluster=cluster, services=[first.outputs["service"]])["services"]
    assert service["desiredCount"] == 0
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    (container,) = task["containerDefinitions"]
    assert container["command"] == ["python", "-m", "pcompile.runtime", "ecs", "--function", "web"]
    assert {"name": "PCOMPILE_FRONT_PORT", "value": "8080"} in container["environment"]
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["cpu"] == "1024"
    (lb,) = elb.describe_load_balancers()["LoadBalancers"]
    attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
    }
    assert attrs["idle_timeout.timeout_seconds"] == "301"
    (listener,) = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    rules = [
        r for r in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]
    ]
    starting, forward = sorted(rules, key=lambda r: int(r["Priority"]))
    header = {"HttpHeaderName": ecs_kit.ORIGIN_HEADER, "Values": ["origin-secret-1"]}
    assert forward["Conditions"][0]["HttpHeaderConfig"] == header
    assert forward["Actions"][0]["Type"] == "forward"
    assert starting["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "200"
    (dist,) = cf.list_distributions()["DistributionList"]["Items"]
    assert first.outputs["url"] == f"https://{dist['DomainName']}/"
    config = cf.get_distribution_config(Id=dist["Id"])["DistributionConfig"]
    assert config["Origins"]["Items"][0]["DomainName"] == lb["DNSName"]
    aas = ecs_kit.client(plain_moto, "application-autoscaling")
    (target,) = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 4)
    policy = tracking(aas)
    assert policy["TargetTrackingScalingPolicyConfiguration"]["ScaleInCooldown"] == 60
    (provider_arn,) = [
        e["id"]
        for e in state(tmp_path)["resources"].values()
        if e["type"] == "aws:ecs/capacityProvider:CapacityProvider"
    ]
    (provider,) = ecs.describe_capacity_providers(capacityProviders=[provider_arn])["capacityProviders"]
    assert provider["autoScalingGroupProvider"]["managedScaling"]["status"] == "ENABLED"

    assert set(engine.up(ecs_kit.project(tmp_path), say(lines)).changes) == {"same"}

    second = engine.up(
        ecs_kit.project(tmp_path, {"revision": "2", "desired": "1", "scaledown": "120"}), say(lines)
    )
    assert second.changes.get("update", 0) >= 8 and "replace" not in second.changes, second.changes
    (service,) = ecs.describe_services(cluster=cluster, services=[first.outputs["service"]])["services"]
    assert service["desiredCount"] == 1
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert (
        task["revision"] == 2
        and {"name": "REVISION", "value": "2"} in task["containerDefinitions"][0]["environment"]
    )
    old = ecs.describe_task_definition(taskDefinition="ecs-kit-web:1")["taskDefinition"]
    assert old["status"] == "INACTIVE"
    (tg,) = elb.describe_target_groups()["TargetGroups"]
    assert tg["HealthCheckPath"] == "/ready"
    (target,) = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["MaxCapacity"] == 5
    policy = tracking(aas)
    assert policy["TargetTrackingScalingPolicyConfiguration"]["ScaleInCooldown"] == 120
    (alarm,) = ecs_kit.client(plain_moto, "cloudwatch").describe_alarms(AlarmNamePrefix="wake")[
        "MetricAlarms"
    ]
    assert alarm["Threshold"] == 2.0
    assert cf.get_distribution_config(Id=dist["Id"])["DistributionConfig"]["Comment"] == "ecs-kit r2"
    (group,) = ecs_kit.client(plain_moto, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert group["MaxSize"] == 4
    assert "origin-secret-1" not in json.dumps(
        state(tmp_path)
    )  # the origin header's secret is not in the state

    gone = engine.destroy(ecs_kit.project(tmp_path), say(lines))
    assert gone.changes["delete"] == second.changes["update"] + second.changes.get("same", 0)
    assert ecs.describe_services(cluster=cluster, services=[first.outputs["service"]])["services"] in (
        [],
        [{**service, "status": "INACTIVE"}],
    ) or all(
        s["status"] != "ACTIVE"
        for s in ecs.describe_services(cluster=cluster, services=[first.outputs["service"]])["services"]
    )
    assert elb.describe_load_balancers()["LoadBalancers"] == []
    assert elb.describe_target_groups()["TargetGroups"] == []
    assert cf.list_distributions()["DistributionList"].get("Items", []) == []
    assert aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert ecs_kit.client(plain_moto, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert (
        ecs_kit.client(plain_moto, "cloudwatch").describe_alarms(AlarmNamePrefix="wake")["MetricAlarms"] == []
    )
    assert [c["status"] for c in ecs.describe_clusters(clusters=[cluster])["clusters"]] in ([], ["INACTIVE"])
