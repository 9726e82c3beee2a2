"""Simulate handlers for the resources of AWS web services (ECS, ALB, CloudFront, autoscaling).

Registered with :func:`.aws_resources.handler` like every other type, so an unknown
type or input is refused by name. Each handler makes the API calls pulumi-aws makes,
against moto:

* ECS clusters, cluster capacity providers, capacity providers, task definitions
  (a change registers a new revision and deregisters the old one) and services;
* ELBv2 load balancers, target groups, listeners and listener rules (attributes such
  as the idle timeout through ``ModifyLoadBalancerAttributes``);
* EC2 launch templates and Auto Scaling groups;
* Application Auto Scaling scalable targets and policies, CloudWatch metric alarms;
* CloudFront distributions, and the security group rules of ``aws:vpc``.

moto 5 has no CloudFront Functions API: ``aws:cloudfront/function`` is recorded in the
simulated state only (its ARN is the one AWS would give), and the simulated CloudFront
(:mod:`.compute_ecs`) does not run its code. ``docs/simulate.md`` lists this.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .aws_resources import INVOKES, Created, Emulator, PassThrough, Recorded, Request, _tags, handler

# ------------------------------------------------------------------------- helpers


class RecordedOnly(PassThrough):
    """No API in the emulator: the resource is recorded with the outputs AWS would give
    (other resources refer to them, e.g. a function's ARN in a distribution)."""

    def __init__(self, message: str, outputs: dict[str, Any]) -> None:
        super().__init__(message)
        self.outputs = outputs


def _key_list(inputs: Mapping[str, Any]) -> list[dict[str, str]]:
    """Tags as ECS spells them (``key``/``value``)."""
    return [{"key": k, "value": v} for k, v in _tags(inputs).items()]


def _tag_list(inputs: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in _tags(inputs).items()]


def _short_name(r: Request, limit: int = 32) -> str:
    """ELBv2 names: at most 32 characters of letters, digits and hyphens."""
    if r.inputs.get("name"):
        return str(r.inputs["name"])
    prefix = str(r.inputs.get("namePrefix") or "")
    suffix = hashlib.sha256(r.urn.encode()).hexdigest()[:7]
    base = prefix or r.name[: limit - 8].rstrip("-") + "-"
    return f"{base}{suffix}"[:limit]


def _strategy(items: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {
            "capacityProvider": s["capacityProvider"],
            "weight": int(s.get("weight") or 0),
            "base": int(s.get("base") or 0),
        }
        for s in items or []
    ]


def _unimplemented(exc: Exception) -> bool:
    response = getattr(exc, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", "")) in ("404", "NotImplemented", "InvalidAction")


# ------------------------------------------------------------------------- ECS


@handler("aws:ecs/cluster:Cluster", "name settings configuration serviceConnectDefaults tags")
class Cluster:
    """``ecs:CreateCluster``; settings update in place."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto(limit=255)
        args: dict[str, Any] = {"clusterName": name, "tags": _key_list(r.inputs)}
        if r.inputs.get("settings"):
            args["settings"] = [{"name": s["name"], "value": s["value"]} for s in r.inputs["settings"]]
        answer = aws.client("ecs").create_cluster(**args)["cluster"]
        return str(answer["clusterArn"]), {"arn": answer["clusterArn"], "name": name}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        settings = [{"name": s["name"], "value": s["value"]} for s in r.inputs.get("settings") or []]
        if settings:
            aws.client("ecs").update_cluster(cluster=old.id, settings=settings)
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ecs").delete_cluster(cluster=rec.id)


@handler(
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
    "clusterName capacityProviders defaultCapacityProviderStrategies",
)
class ClusterCapacityProviders:
    """``ecs:PutClusterCapacityProviders``; deleting it empties the cluster's lists."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        aws.client("ecs").put_cluster_capacity_providers(
            cluster=r.inputs["clusterName"],
            capacityProviders=list(r.inputs.get("capacityProviders") or []),
            defaultCapacityProviderStrategy=_strategy(r.inputs.get("defaultCapacityProviderStrategies")),
        )
        return str(r.inputs["clusterName"]), {}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        return ClusterCapacityProviders.create(aws, r)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ecs").put_cluster_capacity_providers(
            cluster=rec.id, capacityProviders=[], defaultCapacityProviderStrategy=[]
        )


def _asg_provider(provider: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"autoScalingGroupArn": provider["autoScalingGroupArn"]}
    scaling = provider.get("managedScaling")
    if scaling:
        keys = (
            "status",
            "targetCapacity",
            "minimumScalingStepSize",
            "maximumScalingStepSize",
            "instanceWarmupPeriod",
        )
        out["managedScaling"] = {k: scaling[k] for k in keys if k in scaling}
    for key in ("managedTerminationProtection", "managedDraining"):
        if provider.get(key):
            out[key] = provider[key]
    return out


@handler("aws:ecs/capacityProvider:CapacityProvider", "name autoScalingGroupProvider tags")
class CapacityProvider:
    """``ecs:CreateCapacityProvider`` for an Auto Scaling group; managed scaling updates in place."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto(limit=255)
        answer = aws.client("ecs").create_capacity_provider(
            name=name,
            autoScalingGroupProvider=_asg_provider(r.inputs["autoScalingGroupProvider"]),
            tags=_key_list(r.inputs),
        )["capacityProvider"]
        return str(answer["capacityProviderArn"]), {"arn": answer["capacityProviderArn"], "name": name}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        provider = _asg_provider(r.inputs["autoScalingGroupProvider"])
        provider.pop("autoScalingGroupArn")
        aws.client("ecs").update_capacity_provider(
            name=old.outputs["name"], autoScalingGroupProvider=provider
        )
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ecs").delete_capacity_provider(capacityProvider=rec.id)


_TASK_INPUTS = (
    "family containerDefinitions cpu memory networkMode requiresCompatibilities executionRoleArn "
    "taskRoleArn volumes runtimePlatform ephemeralStorage placementConstraints pidMode ipcMode "
    "skipDestroy trackLatest tags"
)


@handler("aws:ecs/taskDefinition:TaskDefinition", _TASK_INPUTS)
class TaskDefinition:
    """``ecs:RegisterTaskDefinition``; a change registers a new revision of the family and
    deregisters the old one, as pulumi-aws does."""

    @staticmethod
    def _args(r: Request) -> dict[str, Any]:
        i = r.inputs
        args: dict[str, Any] = {
            "family": i["family"],
            "containerDefinitions": json.loads(str(i["containerDefinitions"])),
        }
        for key in ("cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn", "pidMode", "ipcMode"):
            if i.get(key) is not None:
                args[key] = str(i[key])
        if i.get("requiresCompatibilities"):
            args["requiresCompatibilities"] = list(i["requiresCompatibilities"])
        if i.get("runtimePlatform"):
            args["runtimePlatform"] = dict(i["runtimePlatform"])
        if i.get("ephemeralStorage"):
            args["ephemeralStorage"] = {"sizeInGiB": int(i["ephemeralStorage"]["sizeInGib"])}
        if i.get("volumes"):
            args["volumes"] = [TaskDefinition._volume(v) for v in i["volumes"]]
        if i.get("placementConstraints"):
            args["placementConstraints"] = [dict(c) for c in i["placementConstraints"]]
        if _key_list(i):
            args["tags"] = _key_list(i)
        return args

    @staticmethod
    def _volume(volume: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"name": volume["name"]}
        if volume.get("hostPath"):
            out["host"] = {"sourcePath": volume["hostPath"]}
        return out

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        answer = aws.client("ecs").register_task_definition(**TaskDefinition._args(r))["taskDefinition"]
        arn = str(answer["taskDefinitionArn"])
        return str(r.inputs["family"]), {
            "arn": arn,
            "arnWithoutRevision": arn.rsplit(":", 1)[0],
            "revision": int(answer["revision"]),
        }

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        created = TaskDefinition.create(aws, r)
        aws.client("ecs").deregister_task_definition(taskDefinition=old.outputs["arn"])
        return created

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        if not rec.inputs.get("skipDestroy"):
            aws.client("ecs").deregister_task_definition(taskDefinition=rec.outputs["arn"])


_SERVICE_INPUTS = (
    "name cluster taskDefinition desiredCount launchType capacityProviderStrategies networkConfiguration "
    "loadBalancers healthCheckGracePeriodSeconds deploymentMinimumHealthyPercent deploymentMaximumPercent "
    "deploymentCircuitBreaker enableExecuteCommand enableEcsManagedTags propagateTags platformVersion "
    "schedulingStrategy waitForSteadyState forceNewDeployment orderedPlacementStrategies "
    "placementConstraints triggers tags"
)


@handler("aws:ecs/service:Service", _SERVICE_INPUTS)
class Service:
    """``ecs:CreateService``; task definition, desired count, strategy and network update in place.

    moto keeps the service's task definition, desired count, load balancers and network
    configuration, which is what the simulated compute (:mod:`.compute_ecs`) runs from.
    """

    @staticmethod
    def _network(i: Mapping[str, Any]) -> dict[str, Any] | None:
        net = i.get("networkConfiguration")
        if not net:
            return None
        vpc: dict[str, Any] = {"subnets": list(net.get("subnets") or [])}
        if net.get("securityGroups"):
            vpc["securityGroups"] = list(net["securityGroups"])
        vpc["assignPublicIp"] = "ENABLED" if net.get("assignPublicIp") else "DISABLED"
        return {"awsvpcConfiguration": vpc}

    @staticmethod
    def _common(i: Mapping[str, Any]) -> dict[str, Any]:
        args: dict[str, Any] = {"desiredCount": int(i.get("desiredCount") or 0)}
        if i.get("taskDefinition"):
            args["taskDefinition"] = i["taskDefinition"]
        if i.get("capacityProviderStrategies"):
            args["capacityProviderStrategy"] = _strategy(i["capacityProviderStrategies"])
        network = Service._network(i)
        if network:
            args["networkConfiguration"] = network
        if i.get("healthCheckGracePeriodSeconds") is not None:
            args["healthCheckGracePeriodSeconds"] = int(i["healthCheckGracePeriodSeconds"])
        deployment: dict[str, Any] = {}
        for key, api in (
            ("deploymentMinimumHealthyPercent", "minimumHealthyPercent"),
            ("deploymentMaximumPercent", "maximumPercent"),
        ):
            if i.get(key) is not None:
                deployment[api] = int(i[key])
        if i.get("deploymentCircuitBreaker"):
            breaker = i["deploymentCircuitBreaker"]
            deployment["deploymentCircuitBreaker"] = {
                "enable": bool(breaker["enable"]),
                "rollback": bool(breaker["rollback"]),
            }
        if deployment:
            args["deploymentConfiguration"] = deployment
        if i.get("enableExecuteCommand") is not None:
            args["enableExecuteCommand"] = bool(i["enableExecuteCommand"])
        if i.get("platformVersion"):
            args["platformVersion"] = i["platformVersion"]
        return args

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        i = r.inputs
        name = r.name_or_auto(limit=255)
        args = {**Service._common(i), "cluster": i["cluster"], "serviceName": name}
        if i.get("launchType"):
            args["launchType"] = i["launchType"]
        if i.get("loadBalancers"):
            args["loadBalancers"] = [
                {
                    "targetGroupArn": lb["targetGroupArn"],
                    "containerName": lb["containerName"],
                    "containerPort": int(lb["containerPort"]),
                }
                for lb in i["loadBalancers"]
            ]
        if i.get("schedulingStrategy"):
            args["schedulingStrategy"] = i["schedulingStrategy"]
        if i.get("propagateTags"):
            args["propagateTags"] = i["propagateTags"]
        if i.get("enableEcsManagedTags") is not None:
            args["enableECSManagedTags"] = bool(i["enableEcsManagedTags"])
        if _key_list(i):
            args["tags"] = _key_list(i)
        answer = aws.client("ecs").create_service(**args)["service"]
        return str(answer["serviceArn"]), {"name": name, "cluster": i["cluster"]}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        args = {
            **Service._common(r.inputs),
            "cluster": old.outputs["cluster"],
            "service": old.outputs["name"],
        }
        if r.inputs.get("forceNewDeployment"):
            args["forceNewDeployment"] = True
        aws.client("ecs").update_service(**args)
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ecs").delete_service(
            cluster=rec.outputs["cluster"], service=rec.outputs["name"], force=True
        )


# ------------------------------------------------------------------------- ELBv2

_LB_ATTRIBUTES = {
    "idleTimeout": "idle_timeout.timeout_seconds",
    "enableHttp2": "routing.http2.enabled",
    "dropInvalidHeaderFields": "routing.http.drop_invalid_header_fields.enabled",
    "enableDeletionProtection": "deletion_protection.enabled",
    "preserveHostHeader": "routing.http.preserve_host_header.enabled",
    "desyncMitigationMode": "routing.http.desync_mitigation_mode",
    "clientKeepAlive": "client_keep_alive.seconds",
    "xffHeaderProcessingMode": "routing.http.xff_header_processing.mode",
}


def _attr_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _elb_attributes(inputs: Mapping[str, Any], table: Mapping[str, str]) -> list[dict[str, str]]:
    """The ELB attributes (``Key``/``Value``) of the inputs ``table`` names that are set."""
    return [
        {"Key": key, "Value": _attr_value(inputs[name])}
        for name, key in table.items()
        if inputs.get(name) is not None
    ]


@handler(
    "aws:lb/loadBalancer:LoadBalancer",
    "name namePrefix internal loadBalancerType securityGroups subnets ipAddressType tags "
    + " ".join(_LB_ATTRIBUTES),
)
class LoadBalancer:
    """``elasticloadbalancing:CreateLoadBalancer`` + its attributes; attributes and security
    groups update in place."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        i = r.inputs
        name = _short_name(r)
        args: dict[str, Any] = {
            "Name": name,
            "Subnets": list(i.get("subnets") or []),
            "Scheme": "internal" if i.get("internal") else "internet-facing",
            "Type": i.get("loadBalancerType") or "application",
        }
        if i.get("securityGroups"):
            args["SecurityGroups"] = list(i["securityGroups"])
        if i.get("ipAddressType"):
            args["IpAddressType"] = i["ipAddressType"]
        if _tag_list(i):
            args["Tags"] = _tag_list(i)
        lb = aws.client("elbv2").create_load_balancer(**args)["LoadBalancers"][0]
        arn = str(lb["LoadBalancerArn"])
        LoadBalancer._attributes(aws, arn, i)
        return arn, {
            "arn": arn,
            "arnSuffix": arn.split(":loadbalancer/", 1)[1],
            "dnsName": lb["DNSName"],
            "zoneId": lb.get("CanonicalHostedZoneId", ""),
            "name": name,
        }

    @staticmethod
    def _attributes(aws: Emulator, arn: str, i: Mapping[str, Any]) -> None:
        attrs = _elb_attributes(i, _LB_ATTRIBUTES)
        if attrs:
            aws.client("elbv2").modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=attrs)

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        LoadBalancer._attributes(aws, old.id, r.inputs)
        if r.inputs.get("securityGroups"):
            aws.client("elbv2").set_security_groups(
                LoadBalancerArn=old.id, SecurityGroups=list(r.inputs["securityGroups"])
            )
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("elbv2").delete_load_balancer(LoadBalancerArn=rec.id)


_HEALTH = {
    "enabled": "HealthCheckEnabled",
    "path": "HealthCheckPath",
    "port": "HealthCheckPort",
    "protocol": "HealthCheckProtocol",
    "interval": "HealthCheckIntervalSeconds",
    "timeout": "HealthCheckTimeoutSeconds",
    "healthyThreshold": "HealthyThresholdCount",
    "unhealthyThreshold": "UnhealthyThresholdCount",
}


def _health(check: Mapping[str, Any] | None) -> dict[str, Any]:
    check = check or {}
    out: dict[str, Any] = {}
    for key, api in _HEALTH.items():
        if check.get(key) is not None:
            value = check[key]
            out[api] = (
                value
                if key in ("enabled", "path", "protocol")
                else (str(value) if key == "port" else int(value))
            )
    if check.get("matcher"):
        out["Matcher"] = {"HttpCode": str(check["matcher"])}
    return out


_TG_ATTRIBUTES = {
    "deregistrationDelay": "deregistration_delay.timeout_seconds",
    "slowStart": "slow_start.duration_seconds",
    "loadBalancingAlgorithmType": "load_balancing.algorithm.type",
}


@handler(
    "aws:lb/targetGroup:TargetGroup",
    "name namePrefix port protocol protocolVersion vpcId targetType healthCheck stickiness tags "
    + " ".join(_TG_ATTRIBUTES),
)
class TargetGroup:
    """``elasticloadbalancing:CreateTargetGroup`` + attributes; the health check and the
    attributes update in place."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        i = r.inputs
        name = _short_name(r)
        args: dict[str, Any] = {
            "Name": name,
            "TargetType": i.get("targetType") or "instance",
            **_health(i.get("healthCheck")),
        }
        for key, api in (
            ("protocol", "Protocol"),
            ("protocolVersion", "ProtocolVersion"),
            ("vpcId", "VpcId"),
        ):
            if i.get(key):
                args[api] = i[key]
        if i.get("port") is not None:
            args["Port"] = int(i["port"])
        if _tag_list(i):
            args["Tags"] = _tag_list(i)
        tg = aws.client("elbv2").create_target_group(**args)["TargetGroups"][0]
        arn = str(tg["TargetGroupArn"])
        TargetGroup._attributes(aws, arn, i)
        return arn, {"arn": arn, "arnSuffix": arn.split(":", 5)[5], "name": name}

    @staticmethod
    def _attributes(aws: Emulator, arn: str, i: Mapping[str, Any]) -> None:
        attrs = _elb_attributes(i, _TG_ATTRIBUTES)
        sticky = i.get("stickiness")
        if sticky:
            attrs.append({"Key": "stickiness.enabled", "Value": _attr_value(sticky.get("enabled", True))})
            attrs.append({"Key": "stickiness.type", "Value": str(sticky["type"])})
        if attrs:
            aws.client("elbv2").modify_target_group_attributes(TargetGroupArn=arn, Attributes=attrs)

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        health = _health(r.inputs.get("healthCheck"))
        health.pop("HealthCheckEnabled", None)
        if health:
            aws.client("elbv2").modify_target_group(TargetGroupArn=old.id, **health)
        TargetGroup._attributes(aws, old.id, r.inputs)
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("elbv2").delete_target_group(TargetGroupArn=rec.id)


def _actions(actions: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for n, action in enumerate(actions or []):
        item: dict[str, Any] = {"Type": action["type"], "Order": int(action.get("order") or n + 1)}
        if action.get("targetGroupArn"):
            item["TargetGroupArn"] = action["targetGroupArn"]
        fixed = action.get("fixedResponse")
        if fixed:
            item["FixedResponseConfig"] = {
                k: str(fixed[p])
                for p, k in (
                    ("contentType", "ContentType"),
                    ("messageBody", "MessageBody"),
                    ("statusCode", "StatusCode"),
                )
                if fixed.get(p) is not None
            }
        forward = action.get("forward")
        if forward:
            item["ForwardConfig"] = {
                "TargetGroups": [
                    {"TargetGroupArn": g["arn"], "Weight": int(g.get("weight") or 1)}
                    for g in forward.get("targetGroups") or []
                ]
            }
        redirect = action.get("redirect")
        if redirect:
            item["RedirectConfig"] = {k[:1].upper() + k[1:]: str(v) for k, v in redirect.items()}
        out.append(item)
    return out


@handler(
    "aws:lb/listener:Listener",
    "loadBalancerArn port protocol sslPolicy certificateArn alpnPolicy defaultActions tags",
)
class Listener:
    """``elasticloadbalancing:CreateListener``; port, protocol, certificate and default actions update in place."""

    @staticmethod
    def _args(i: Mapping[str, Any]) -> dict[str, Any]:
        args: dict[str, Any] = {"DefaultActions": _actions(i.get("defaultActions"))}
        if i.get("port") is not None:
            args["Port"] = int(i["port"])
        if i.get("protocol"):
            args["Protocol"] = i["protocol"]
        if i.get("sslPolicy"):
            args["SslPolicy"] = i["sslPolicy"]
        if i.get("certificateArn"):
            args["Certificates"] = [{"CertificateArn": i["certificateArn"]}]
        if i.get("alpnPolicy"):
            args["AlpnPolicy"] = [i["alpnPolicy"]]
        return args

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        args = {**Listener._args(r.inputs), "LoadBalancerArn": r.inputs["loadBalancerArn"]}
        if _tag_list(r.inputs):
            args["Tags"] = _tag_list(r.inputs)
        arn = str(aws.client("elbv2").create_listener(**args)["Listeners"][0]["ListenerArn"])
        return arn, {"arn": arn}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        aws.client("elbv2").modify_listener(ListenerArn=old.id, **Listener._args(r.inputs))
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("elbv2").delete_listener(ListenerArn=rec.id)


_CONDITIONS = {
    "hostHeader": ("host-header", "HostHeaderConfig"),
    "pathPattern": ("path-pattern", "PathPatternConfig"),
    "httpRequestMethod": ("http-request-method", "HttpRequestMethodConfig"),
    "sourceIp": ("source-ip", "SourceIpConfig"),
}


def _conditions(conditions: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for cond in conditions or []:
        if cond.get("httpHeader"):
            header = cond["httpHeader"]
            out.append(
                {
                    "Field": "http-header",
                    "HttpHeaderConfig": {
                        "HttpHeaderName": header["httpHeaderName"],
                        "Values": list(header["values"]),
                    },
                }
            )
        for key, (field, config) in _CONDITIONS.items():
            if cond.get(key):
                out.append({"Field": field, config: {"Values": list(cond[key]["values"])}})
    return out


@handler("aws:lb/listenerRule:ListenerRule", "listenerArn priority actions conditions tags")
class ListenerRule:
    """``elasticloadbalancing:CreateRule``; conditions, actions and priority update in place."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        i = r.inputs
        args: dict[str, Any] = {
            "ListenerArn": i["listenerArn"],
            "Priority": int(i["priority"]),
            "Conditions": _conditions(i.get("conditions")),
            "Actions": _actions(i.get("actions")),
        }
        if _tag_list(i):
            args["Tags"] = _tag_list(i)
        arn = str(aws.client("elbv2").create_rule(**args)["Rules"][0]["RuleArn"])
        return arn, {"arn": arn}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        elb = aws.client("elbv2")
        elb.modify_rule(
            RuleArn=old.id,
            Conditions=_conditions(r.inputs.get("conditions")),
            Actions=_actions(r.inputs.get("actions")),
        )
        elb.set_rule_priorities(RulePriorities=[{"RuleArn": old.id, "Priority": int(r.inputs["priority"])}])
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("elbv2").delete_rule(RuleArn=rec.id)


# ------------------------------------------------------------------ EC2 launch templates, ASGs


def _template_data(i: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, api in (
        ("imageId", "ImageId"),
        ("instanceType", "InstanceType"),
        ("userData", "UserData"),
        ("keyName", "KeyName"),
    ):
        if i.get(key):
            data[api] = i[key]
    if i.get("ebsOptimized") is not None:
        data["EbsOptimized"] = str(i["ebsOptimized"]).lower() == "true"
    if i.get("iamInstanceProfile"):
        profile = i["iamInstanceProfile"]
        data["IamInstanceProfile"] = (
            {"Arn": profile["arn"]} if profile.get("arn") else {"Name": profile["name"]}
        )
    if i.get("vpcSecurityGroupIds"):
        data["SecurityGroupIds"] = list(i["vpcSecurityGroupIds"])
    if i.get("monitoring"):
        data["Monitoring"] = {"Enabled": bool(i["monitoring"].get("enabled"))}
    if i.get("metadataOptions"):
        meta = i["metadataOptions"]
        names = {
            "httpTokens": "HttpTokens",
            "httpEndpoint": "HttpEndpoint",
            "httpPutResponseHopLimit": "HttpPutResponseHopLimit",
        }
        data["MetadataOptions"] = {api: meta[k] for k, api in names.items() if meta.get(k) is not None}
    if i.get("blockDeviceMappings"):
        data["BlockDeviceMappings"] = [_block_device(b) for b in i["blockDeviceMappings"]]
    if i.get("tagSpecifications"):
        data["TagSpecifications"] = [
            {
                "ResourceType": t["resourceType"],
                "Tags": [{"Key": k, "Value": str(v)} for k, v in sorted((t.get("tags") or {}).items())],
            }
            for t in i["tagSpecifications"]
        ]
    return data


def _block_device(mapping: Mapping[str, Any]) -> dict[str, Any]:
    ebs = mapping.get("ebs") or {}
    names = {
        "volumeSize": "VolumeSize",
        "volumeType": "VolumeType",
        "encrypted": "Encrypted",
        "deleteOnTermination": "DeleteOnTermination",
        "iops": "Iops",
        "throughput": "Throughput",
    }
    out_ebs: dict[str, Any] = {}
    for key, api in names.items():
        if ebs.get(key) is not None:
            value = ebs[key]
            out_ebs[api] = (
                (str(value).lower() == "true")
                if key in ("encrypted", "deleteOnTermination")
                else (int(value) if key != "volumeType" else value)
            )
    return {"DeviceName": mapping["deviceName"], "Ebs": out_ebs}


@handler(
    "aws:ec2/launchTemplate:LaunchTemplate",
    "name namePrefix description imageId instanceType keyName iamInstanceProfile userData vpcSecurityGroupIds "
    "blockDeviceMappings metadataOptions monitoring tagSpecifications ebsOptimized updateDefaultVersion tags",
)
class LaunchTemplate:
    """``ec2:CreateLaunchTemplate``; a change adds a version (the default with ``updateDefaultVersion``)."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = str(
            r.inputs.get("name")
            or (str(r.inputs.get("namePrefix") or "") or r.name + "-")
            + hashlib.sha256(r.urn.encode()).hexdigest()[:7]
        )
        args: dict[str, Any] = {"LaunchTemplateName": name, "LaunchTemplateData": _template_data(r.inputs)}
        if r.inputs.get("description"):
            args["VersionDescription"] = r.inputs["description"]
        if _tag_list(r.inputs):
            args["TagSpecifications"] = [{"ResourceType": "launch-template", "Tags": _tag_list(r.inputs)}]
        lt = aws.client("ec2").create_launch_template(**args)["LaunchTemplate"]
        tid = str(lt["LaunchTemplateId"])
        arn = f"arn:aws:ec2:{aws.region}:{aws.account()}:launch-template/{tid}"
        version = int(lt["LatestVersionNumber"])
        return tid, {"arn": arn, "name": name, "latestVersion": version, "defaultVersion": version}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        ec2 = aws.client("ec2")
        version = ec2.create_launch_template_version(
            LaunchTemplateId=old.id, LaunchTemplateData=_template_data(r.inputs)
        )["LaunchTemplateVersion"]
        number = int(version["VersionNumber"])
        outputs = {**old.outputs, "latestVersion": number}
        if r.inputs.get("updateDefaultVersion"):
            ec2.modify_launch_template(LaunchTemplateId=old.id, DefaultVersion=str(number))
            outputs["defaultVersion"] = number
        return old.id, outputs

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ec2").delete_launch_template(LaunchTemplateId=rec.id)


def _template_spec(spec: Mapping[str, Any], id_key: str = "LaunchTemplateId") -> dict[str, Any]:
    out: dict[str, Any] = {id_key: spec["id"]} if spec.get("id") else {"LaunchTemplateName": spec["name"]}
    if spec.get("version"):
        out["Version"] = str(spec["version"])
    return out


def _mixed(policy: Mapping[str, Any]) -> dict[str, Any]:
    template = policy["launchTemplate"]
    spec = template["launchTemplateSpecification"]
    out: dict[str, Any] = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": _template_spec(
                {
                    "id": spec.get("launchTemplateId"),
                    "name": spec.get("launchTemplateName"),
                    "version": spec.get("version"),
                }
            ),
            "Overrides": [
                {
                    k: str(o[p])
                    for p, k in (("instanceType", "InstanceType"), ("weightedCapacity", "WeightedCapacity"))
                    if o.get(p)
                }
                for o in template.get("overrides") or []
            ],
        }
    }
    dist = policy.get("instancesDistribution")
    if dist:
        names = {
            "onDemandBaseCapacity": "OnDemandBaseCapacity",
            "onDemandPercentageAboveBaseCapacity": "OnDemandPercentageAboveBaseCapacity",
            "onDemandAllocationStrategy": "OnDemandAllocationStrategy",
            "spotAllocationStrategy": "SpotAllocationStrategy",
        }
        out["InstancesDistribution"] = {api: dist[k] for k, api in names.items() if dist.get(k) is not None}
    return out


_ASG_INPUTS = (
    "name namePrefix minSize maxSize desiredCapacity vpcZoneIdentifiers launchTemplate mixedInstancesPolicy "
    "protectFromScaleIn healthCheckType healthCheckGracePeriod capacityRebalance defaultCooldown "
    "defaultInstanceWarmup terminationPolicies maxInstanceLifetime waitForCapacityTimeout forceDelete tags"
)


@handler("aws:autoscaling/group:Group", _ASG_INPUTS)
class AutoScalingGroup:
    """``autoscaling:CreateAutoScalingGroup``; sizes, template and policies update in place.
    moto starts (inert) EC2 instances for a desired capacity above zero."""

    @staticmethod
    def _args(i: Mapping[str, Any]) -> dict[str, Any]:
        args: dict[str, Any] = {"MinSize": int(i["minSize"]), "MaxSize": int(i["maxSize"])}
        if i.get("desiredCapacity") is not None:
            args["DesiredCapacity"] = int(i["desiredCapacity"])
        if i.get("vpcZoneIdentifiers"):
            args["VPCZoneIdentifier"] = ",".join(i["vpcZoneIdentifiers"])
        if i.get("launchTemplate"):
            args["LaunchTemplate"] = _template_spec(i["launchTemplate"])
        if i.get("mixedInstancesPolicy"):
            args["MixedInstancesPolicy"] = _mixed(i["mixedInstancesPolicy"])
        if i.get("protectFromScaleIn") is not None:
            args["NewInstancesProtectedFromScaleIn"] = bool(i["protectFromScaleIn"])
        for key, api in (("healthCheckType", "HealthCheckType"),):
            if i.get(key):
                args[api] = i[key]
        for key, api in (
            ("healthCheckGracePeriod", "HealthCheckGracePeriod"),
            ("defaultCooldown", "DefaultCooldown"),
            ("maxInstanceLifetime", "MaxInstanceLifetime"),
            ("defaultInstanceWarmup", "DefaultInstanceWarmup"),
        ):
            if i.get(key) is not None:
                args[api] = int(i[key])
        if i.get("capacityRebalance") is not None:
            args["CapacityRebalance"] = bool(i["capacityRebalance"])
        if i.get("terminationPolicies"):
            args["TerminationPolicies"] = list(i["terminationPolicies"])
        return args

    @staticmethod
    def _tags(name: str, i: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "ResourceId": name,
                "ResourceType": "auto-scaling-group",
                "Key": t["key"],
                "Value": str(t["value"]),
                "PropagateAtLaunch": bool(t.get("propagateAtLaunch")),
            }
            for t in i.get("tags") or []
        ]

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = str(
            r.inputs.get("name")
            or (str(r.inputs.get("namePrefix") or "") or r.name + "-")
            + hashlib.sha256(r.urn.encode()).hexdigest()[:7]
        )
        args = {**AutoScalingGroup._args(r.inputs), "AutoScalingGroupName": name}
        tags = AutoScalingGroup._tags(name, r.inputs)
        if tags:
            args["Tags"] = tags
        client = aws.client("autoscaling")
        client.create_auto_scaling_group(**args)
        group = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return name, {"arn": group["AutoScalingGroupARN"], "name": name}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        client = aws.client("autoscaling")
        client.update_auto_scaling_group(AutoScalingGroupName=old.id, **AutoScalingGroup._args(r.inputs))
        tags = AutoScalingGroup._tags(old.id, r.inputs)
        if tags:
            client.create_or_update_tags(Tags=tags)
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=rec.id, ForceDelete=True)


# ------------------------------------------------------------------ Application Auto Scaling, alarms


@handler(
    "aws:appautoscaling/target:Target",
    "serviceNamespace resourceId scalableDimension minCapacity maxCapacity roleArn suspendedState tags",
)
class ScalableTarget:
    """``application-autoscaling:RegisterScalableTarget`` (registering again updates it)."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        i = r.inputs
        args: dict[str, Any] = {
            "ServiceNamespace": i["serviceNamespace"],
            "ResourceId": i["resourceId"],
            "ScalableDimension": i["scalableDimension"],
            "MinCapacity": int(i["minCapacity"]),
            "MaxCapacity": int(i["maxCapacity"]),
        }
        if i.get("roleArn"):
            args["RoleARN"] = i["roleArn"]
        if i.get("suspendedState"):
            names = {
                "dynamicScalingInSuspended": "DynamicScalingInSuspended",
                "dynamicScalingOutSuspended": "DynamicScalingOutSuspended",
                "scheduledScalingSuspended": "ScheduledScalingSuspended",
            }
            args["SuspendedState"] = {
                api: bool(i["suspendedState"][k]) for k, api in names.items() if k in i["suspendedState"]
            }
        answer = aws.client("application-autoscaling").register_scalable_target(**args)
        arn = (
            answer.get("ScalableTargetARN")
            or f"arn:aws:application-autoscaling:{aws.region}:{aws.account()}:scalable-target/{i['resourceId']}"
        )
        return str(i["resourceId"]), {"arn": arn}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        return ScalableTarget.create(aws, r)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("application-autoscaling").deregister_scalable_target(
            ServiceNamespace=rec.inputs["serviceNamespace"],
            ResourceId=rec.id,
            ScalableDimension=rec.inputs["scalableDimension"],
        )


def _target_tracking(config: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"TargetValue": float(config["targetValue"])}
    for key, api in (("scaleInCooldown", "ScaleInCooldown"), ("scaleOutCooldown", "ScaleOutCooldown")):
        if config.get(key) is not None:
            out[api] = int(config[key])
    if config.get("disableScaleIn") is not None:
        out["DisableScaleIn"] = bool(config["disableScaleIn"])
    predefined = config.get("predefinedMetricSpecification")
    if predefined:
        out["PredefinedMetricSpecification"] = {"PredefinedMetricType": predefined["predefinedMetricType"]}
        if predefined.get("resourceLabel"):
            out["PredefinedMetricSpecification"]["ResourceLabel"] = predefined["resourceLabel"]
    custom = config.get("customizedMetricSpecification")
    if custom:
        spec: dict[str, Any] = {
            k[:1].upper() + k[1:]: custom[k]
            for k in ("metricName", "namespace", "statistic", "unit")
            if custom.get(k)
        }
        if custom.get("dimensions"):
            spec["Dimensions"] = [{"Name": d["name"], "Value": d["value"]} for d in custom["dimensions"]]
        out["CustomizedMetricSpecification"] = spec
    return out


def _step_scaling(config: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("adjustmentType", "metricAggregationType"):
        if config.get(key):
            out[key[:1].upper() + key[1:]] = config[key]
    for key in ("cooldown", "minAdjustmentMagnitude"):
        if config.get(key) is not None:
            out[key[:1].upper() + key[1:]] = int(config[key])
    steps = []
    for step in config.get("stepAdjustments") or []:
        item: dict[str, Any] = {"ScalingAdjustment": int(step["scalingAdjustment"])}
        for key, api in (
            ("metricIntervalLowerBound", "MetricIntervalLowerBound"),
            ("metricIntervalUpperBound", "MetricIntervalUpperBound"),
        ):
            if step.get(key) not in (None, ""):  # pulumi-aws sends the bounds as strings
                item[api] = float(step[key])
        steps.append(item)
    if steps:
        out["StepAdjustments"] = steps
    return out


@handler(
    "aws:appautoscaling/policy:Policy",
    "name policyType resourceId scalableDimension serviceNamespace "
    "targetTrackingScalingPolicyConfiguration stepScalingPolicyConfiguration",
)
class ScalingPolicy:
    """``application-autoscaling:PutScalingPolicy`` (putting it again updates it)."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        i = r.inputs
        name = r.name_or_auto(limit=255)
        args: dict[str, Any] = {
            "PolicyName": name,
            "ServiceNamespace": i["serviceNamespace"],
            "ResourceId": i["resourceId"],
            "ScalableDimension": i["scalableDimension"],
            "PolicyType": i.get("policyType") or "StepScaling",
        }
        if i.get("targetTrackingScalingPolicyConfiguration"):
            args["TargetTrackingScalingPolicyConfiguration"] = _target_tracking(
                i["targetTrackingScalingPolicyConfiguration"]
            )
        if i.get("stepScalingPolicyConfiguration"):
            args["StepScalingPolicyConfiguration"] = _step_scaling(i["stepScalingPolicyConfiguration"])
        answer = aws.client("application-autoscaling").put_scaling_policy(**args)
        alarms = [a["AlarmARN"] for a in answer.get("Alarms") or []]
        return name, {"arn": answer["PolicyARN"], "name": name, "alarmArns": alarms}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        return ScalingPolicy.create(aws, r)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("application-autoscaling").delete_scaling_policy(
            PolicyName=rec.id,
            ServiceNamespace=rec.inputs["serviceNamespace"],
            ResourceId=rec.inputs["resourceId"],
            ScalableDimension=rec.inputs["scalableDimension"],
        )


_ALARM_INPUTS = (
    "name comparisonOperator evaluationPeriods metricName namespace period statistic extendedStatistic "
    "threshold alarmActions okActions insufficientDataActions dimensions alarmDescription treatMissingData "
    "datapointsToAlarm actionsEnabled unit tags"
)


@handler("aws:cloudwatch/metricAlarm:MetricAlarm", _ALARM_INPUTS)
class MetricAlarm:
    """``cloudwatch:PutMetricAlarm`` (putting it again updates it)."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        i = r.inputs
        name = r.name_or_auto(limit=255)
        args: dict[str, Any] = {
            "AlarmName": name,
            "ComparisonOperator": i["comparisonOperator"],
            "EvaluationPeriods": int(i["evaluationPeriods"]),
        }
        for key in (
            "metricName",
            "namespace",
            "statistic",
            "extendedStatistic",
            "alarmDescription",
            "treatMissingData",
            "unit",
        ):
            if i.get(key):
                args[key[:1].upper() + key[1:]] = i[key]
        for key in ("period", "datapointsToAlarm"):
            if i.get(key) is not None:
                args[key[:1].upper() + key[1:]] = int(i[key])
        if i.get("threshold") is not None:
            args["Threshold"] = float(i["threshold"])
        for key, api in (
            ("alarmActions", "AlarmActions"),
            ("okActions", "OKActions"),
            ("insufficientDataActions", "InsufficientDataActions"),
        ):
            if i.get(key):
                args[api] = list(i[key])
        if i.get("actionsEnabled") is not None:
            args["ActionsEnabled"] = bool(i["actionsEnabled"])
        if i.get("dimensions"):
            args["Dimensions"] = [{"Name": k, "Value": str(v)} for k, v in sorted(i["dimensions"].items())]
        if _tag_list(i):
            args["Tags"] = _tag_list(i)
        aws.client("cloudwatch").put_metric_alarm(**args)
        arn = f"arn:aws:cloudwatch:{aws.region}:{aws.account()}:alarm:{name}"
        return name, {"arn": arn, "name": name}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        return MetricAlarm.create(aws, r)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("cloudwatch").delete_alarms(AlarmNames=[rec.id])


# ------------------------------------------------------------------------- CloudFront


def _items(values: list[Any] | None) -> dict[str, Any]:
    values = list(values or [])
    return {"Quantity": len(values), "Items": values} if values else {"Quantity": 0}


def _origin(origin: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": origin["originId"],
        "DomainName": origin["domainName"],
        "OriginPath": origin.get("originPath") or "",
    }
    custom = origin.get("customOriginConfig")
    if custom:
        config: dict[str, Any] = {
            "HTTPPort": int(custom.get("httpPort") or 80),
            "HTTPSPort": int(custom.get("httpsPort") or 443),
            "OriginProtocolPolicy": custom["originProtocolPolicy"],
            "OriginSslProtocols": _items(custom.get("originSslProtocols") or ["TLSv1.2"]),
        }
        for key, api in (
            ("originReadTimeout", "OriginReadTimeout"),
            ("originKeepaliveTimeout", "OriginKeepaliveTimeout"),
        ):
            if custom.get(key) is not None:
                config[api] = int(custom[key])
        out["CustomOriginConfig"] = config
    headers = [
        {"HeaderName": h["name"], "HeaderValue": h["value"]} for h in origin.get("customHeaders") or []
    ]
    out["CustomHeaders"] = _items(headers)
    for key, api in (
        ("connectionAttempts", "ConnectionAttempts"),
        ("connectionTimeout", "ConnectionTimeout"),
    ):
        if origin.get(key) is not None:
            out[api] = int(origin[key])
    return out


def _behavior(behavior: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TargetOriginId": behavior["targetOriginId"],
        "ViewerProtocolPolicy": behavior["viewerProtocolPolicy"],
        "AllowedMethods": {
            **_items(behavior.get("allowedMethods") or ["GET", "HEAD"]),
            "CachedMethods": _items(behavior.get("cachedMethods") or ["GET", "HEAD"]),
        },
        "Compress": bool(behavior.get("compress")),
    }
    for key, api in (
        ("cachePolicyId", "CachePolicyId"),
        ("originRequestPolicyId", "OriginRequestPolicyId"),
        ("responseHeadersPolicyId", "ResponseHeadersPolicyId"),
    ):
        if behavior.get(key):
            out[api] = behavior[key]
    for key, api in (("minTtl", "MinTTL"), ("defaultTtl", "DefaultTTL"), ("maxTtl", "MaxTTL")):
        if behavior.get(key) is not None:
            out[api] = int(behavior[key])
    functions = [
        {"FunctionARN": f["functionArn"], "EventType": f["eventType"]}
        for f in behavior.get("functionAssociations") or []
    ]
    out["FunctionAssociations"] = _items(functions)
    if behavior.get("forwardedValues"):
        fwd = behavior["forwardedValues"]
        out["ForwardedValues"] = {
            "QueryString": bool(fwd.get("queryString")),
            "Cookies": {"Forward": (fwd.get("cookies") or {}).get("forward") or "none"},
            "Headers": _items(fwd.get("headers")),
        }
    return out


def _error_response(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ErrorCode": int(item["errorCode"])}
    if item.get("responsePagePath"):
        out["ResponsePagePath"] = item["responsePagePath"]
    if item.get("responseCode") is not None:
        out["ResponseCode"] = str(item["responseCode"])
    if item.get("errorCachingMinTtl") is not None:
        out["ErrorCachingMinTTL"] = int(item["errorCachingMinTtl"])
    return out


def _distribution_config(r: Request, reference: str) -> dict[str, Any]:
    i = r.inputs
    viewer = i.get("viewerCertificate") or {"cloudfrontDefaultCertificate": True}
    cert: dict[str, Any] = {}
    if viewer.get("cloudfrontDefaultCertificate"):
        cert["CloudFrontDefaultCertificate"] = True
    if viewer.get("acmCertificateArn"):
        cert["ACMCertificateArn"] = viewer["acmCertificateArn"]
    for key, api in (
        ("sslSupportMethod", "SSLSupportMethod"),
        ("minimumProtocolVersion", "MinimumProtocolVersion"),
    ):
        if viewer.get(key):
            cert[api] = viewer[key]
    geo = ((i.get("restrictions") or {}).get("geoRestriction")) or {"restrictionType": "none"}
    config: dict[str, Any] = {
        "CallerReference": reference,
        "Origins": _items([_origin(o) for o in i.get("origins") or []]),
        "DefaultCacheBehavior": _behavior(i["defaultCacheBehavior"]),
        "CacheBehaviors": _items(
            [{**_behavior(b), "PathPattern": b["pathPattern"]} for b in i.get("orderedCacheBehaviors") or []]
        ),
        "Comment": i.get("comment") or "",
        "Enabled": bool(i.get("enabled")),
        "PriceClass": i.get("priceClass") or "PriceClass_All",
        "ViewerCertificate": cert,
        "Restrictions": {
            "GeoRestriction": {"RestrictionType": geo["restrictionType"], **_items(geo.get("locations"))}
        },
        "Aliases": _items(i.get("aliases")),
        "HttpVersion": i.get("httpVersion") or "http2",
        "IsIPV6Enabled": bool(i.get("isIpv6Enabled")),
    }
    errors = [_error_response(e) for e in i.get("customErrorResponses") or []]
    config["CustomErrorResponses"] = _items(errors)
    if i.get("defaultRootObject"):
        config["DefaultRootObject"] = i["defaultRootObject"]
    if i.get("webAclId"):
        config["WebACLId"] = i["webAclId"]
    return config


_DISTRIBUTION_INPUTS = (
    "enabled comment origins defaultCacheBehavior orderedCacheBehaviors priceClass restrictions "
    "viewerCertificate aliases httpVersion isIpv6Enabled defaultRootObject webAclId waitForDeployment "
    "customErrorResponses "
    "retainOnDelete tags"
)


@handler("aws:cloudfront/distribution:Distribution", _DISTRIBUTION_INPUTS)
class Distribution:
    """``cloudfront:CreateDistributionWithTags``; the configuration updates in place
    (``UpdateDistribution`` with the current ETag); delete disables it first, as AWS requires."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        config = _distribution_config(r, r.auto_name())
        cf = aws.client("cloudfront")
        tags = {"Items": _tag_list(r.inputs)}
        answer = cf.create_distribution_with_tags(
            DistributionConfigWithTags={"DistributionConfig": config, "Tags": tags}
        )
        dist = answer["Distribution"]
        return str(dist["Id"]), {
            "arn": dist["ARN"],
            "domainName": dist["DomainName"],
            "hostedZoneId": "Z2FDTNDATAQYW2",  # CloudFront's own zone, the same for every distribution
            "etag": answer.get("ETag", ""),
            "status": dist.get("Status", "Deployed"),
            "callerReference": config["CallerReference"],
        }

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        cf = aws.client("cloudfront")
        etag = cf.get_distribution_config(Id=old.id)["ETag"]
        config = _distribution_config(r, str(old.outputs.get("callerReference") or r.auto_name()))
        answer = cf.update_distribution(Id=old.id, IfMatch=etag, DistributionConfig=config)
        return old.id, {**old.outputs, "etag": answer.get("ETag", etag)}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        if rec.inputs.get("retainOnDelete"):
            return
        cf = aws.client("cloudfront")
        current = cf.get_distribution_config(Id=rec.id)
        config = {**current["DistributionConfig"], "Enabled": False}
        etag = (
            cf.update_distribution(Id=rec.id, IfMatch=current["ETag"], DistributionConfig=config).get("ETag")
            or current["ETag"]
        )
        cf.delete_distribution(Id=rec.id, IfMatch=etag)


@handler("aws:cloudfront/function:Function", "name runtime code comment publish keyValueStoreAssociations")
class CloudFrontFunction:
    """moto has no CloudFront Functions API: attempted, then recorded in the state only (the
    simulated CloudFront does not run the function)."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        from botocore.exceptions import ClientError

        name = r.name_or_auto()
        cf = aws.client("cloudfront")
        try:
            answer = cf.create_function(
                Name=name,
                FunctionConfig={"Comment": r.inputs.get("comment") or "", "Runtime": r.inputs["runtime"]},
                FunctionCode=str(r.inputs["code"]).encode(),
            )
        except ClientError as exc:
            if not _unimplemented(exc):
                raise
            arn = f"arn:aws:cloudfront::{aws.account()}:function/{name}"
            raise RecordedOnly(
                "moto has no CloudFront Functions API; recorded, not created", {"arn": arn}
            ) from None
        summary = answer["FunctionSummary"]
        return name, {
            "arn": summary["FunctionMetadata"]["FunctionARN"],
            "etag": answer.get("ETag", ""),
            "status": summary.get("Status", ""),
        }

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        cf = aws.client("cloudfront")
        etag = cf.describe_function(Name=rec.id)["ETag"]
        cf.delete_function(Name=rec.id, IfMatch=etag)


# ------------------------------------------------------------------------- security group rules


def _rule(i: Mapping[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {"IpProtocol": str(i["ipProtocol"])}
    if str(i["ipProtocol"]) != "-1":
        rule["FromPort"], rule["ToPort"] = int(i["fromPort"]), int(i["toPort"])
    description = {"Description": i["description"]} if i.get("description") else {}
    if i.get("cidrIpv4"):
        rule["IpRanges"] = [{"CidrIp": i["cidrIpv4"], **description}]
    if i.get("cidrIpv6"):
        rule["Ipv6Ranges"] = [{"CidrIpv6": i["cidrIpv6"], **description}]
    if i.get("prefixListId"):
        rule["PrefixListIds"] = [{"PrefixListId": i["prefixListId"], **description}]
    if i.get("referencedSecurityGroupId"):
        rule["UserIdGroupPairs"] = [{"GroupId": i["referencedSecurityGroupId"], **description}]
    return rule


_RULE_INPUTS = "securityGroupId ipProtocol fromPort toPort cidrIpv4 cidrIpv6 prefixListId referencedSecurityGroupId description tags"


def _rule_handler(direction: str) -> type:
    """The handler of one security group rule, ``ingress`` or ``egress``: authorized on
    create, revoked on delete (a change replaces it)."""
    authorize, revoke = f"authorize_security_group_{direction}", f"revoke_security_group_{direction}"

    class Rule:
        @staticmethod
        def create(aws: Emulator, r: Request) -> Created:
            answer = getattr(aws.client("ec2"), authorize)(
                GroupId=r.inputs["securityGroupId"], IpPermissions=[_rule(r.inputs)]
            )
            rid = str(
                (answer.get("SecurityGroupRules") or [{}])[0].get("SecurityGroupRuleId") or r.auto_name()
            )
            return rid, {
                "arn": f"arn:aws:ec2:{aws.region}:{aws.account()}:security-group-rule/{rid}",
                "securityGroupRuleId": rid,
            }

        @staticmethod
        def delete(aws: Emulator, rec: Recorded) -> None:
            getattr(aws.client("ec2"), revoke)(
                GroupId=rec.inputs["securityGroupId"], IpPermissions=[_rule(rec.inputs)]
            )

    Rule.__doc__ = f"``ec2:AuthorizeSecurityGroup{direction.title()}`` for one rule."
    return Rule


IngressRule = handler(
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", _RULE_INPUTS, update=False
)(_rule_handler("ingress"))
EgressRule = handler("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", _RULE_INPUTS, update=False)(
    _rule_handler("egress")
)


# ------------------------------------------------------------------------- Route 53


@handler("aws:route53/record:Record", "zoneId name type ttl records aliases allowOverwrite", update=False)
class Record:
    """``route53:ChangeResourceRecordSets`` (UPSERT; DELETE on delete)."""

    @staticmethod
    def _change(action: str, i: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"Name": i["name"], "Type": i["type"]}
        if i.get("aliases"):
            alias = i["aliases"][0]
            record["AliasTarget"] = {
                "DNSName": alias["name"],
                "HostedZoneId": alias["zoneId"],
                "EvaluateTargetHealth": bool(alias.get("evaluateTargetHealth")),
            }
        else:
            record["TTL"] = int(i.get("ttl") or 300)
            record["ResourceRecords"] = [{"Value": v} for v in i.get("records") or []]
        return {"Changes": [{"Action": action, "ResourceRecordSet": record}]}

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        aws.client("route53").change_resource_record_sets(
            HostedZoneId=r.inputs["zoneId"], ChangeBatch=Record._change("UPSERT", r.inputs)
        )
        rid = f"{r.inputs['zoneId']}_{r.inputs['name']}_{r.inputs['type']}"
        return rid, {"fqdn": str(r.inputs["name"]).rstrip(".")}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("route53").change_resource_record_sets(
            HostedZoneId=rec.inputs["zoneId"], ChangeBatch=Record._change("DELETE", rec.inputs)
        )


# ------------------------------------------------------------------------- data sources


def _managed_prefix_list(aws: Emulator, args: Mapping[str, Any]) -> dict[str, Any]:
    """``ec2:DescribeManagedPrefixLists`` by name or id (moto holds AWS's own lists)."""
    filters = [{"Name": f["name"], "Values": list(f["values"])} for f in args.get("filters") or []]
    if args.get("name"):
        filters.append({"Name": "prefix-list-name", "Values": [str(args["name"])]})
    ids = [str(args["id"])] if args.get("id") else []
    extra = {"PrefixListIds": ids} if ids else {}
    found = aws.client("ec2").describe_managed_prefix_lists(Filters=filters, **extra)["PrefixLists"]
    if len(found) != 1:
        raise LookupError(
            f"getManagedPrefixList {dict(args)}: {len(found)} prefix lists match in the emulator"
        )
    pl = found[0]
    return {
        "id": pl["PrefixListId"],
        "arn": pl.get("PrefixListArn", ""),
        "name": pl["PrefixListName"],
        "addressFamily": pl.get("AddressFamily", "IPv4"),
        "maxEntries": int(pl.get("MaxEntries") or 0),
        "ownerId": pl.get("OwnerId", ""),
        "version": int(pl.get("Version") or 1),
        "entries": [],
        "tags": {},
    }


def _random_password(aws: Emulator, args: Mapping[str, Any]) -> dict[str, Any]:
    """``secretsmanager:GetRandomPassword``."""
    names = {
        "passwordLength": "PasswordLength",
        "excludeCharacters": "ExcludeCharacters",
        "excludeNumbers": "ExcludeNumbers",
        "excludePunctuation": "ExcludePunctuation",
        "excludeUppercase": "ExcludeUppercase",
        "excludeLowercase": "ExcludeLowercase",
        "includeSpace": "IncludeSpace",
        "requireEachIncludedType": "RequireEachIncludedType",
    }
    request = {api: args[k] for k, api in names.items() if args.get(k) is not None}
    value = aws.client("secretsmanager").get_random_password(**request)["RandomPassword"]
    return {**dict(args), "id": aws.region, "randomPassword": value}


def _zone(aws: Emulator, args: Mapping[str, Any]) -> dict[str, Any]:
    """``route53:ListHostedZonesByName``: the public (or private) zone of that name."""
    name = str(args.get("name") or "").rstrip(".") + "."
    private = bool(args.get("privateZone"))
    zones = aws.client("route53").list_hosted_zones_by_name(DNSName=name)["HostedZones"]
    for zone in zones:
        if zone["Name"] == name and bool(zone.get("Config", {}).get("PrivateZone")) == private:
            zid = str(zone["Id"]).rsplit("/", 1)[-1]
            return {
                "id": zid,
                "zoneId": zid,
                "name": name.rstrip("."),
                "privateZone": private,
                "arn": f"arn:aws:route53:::hostedzone/{zid}",
            }
    raise LookupError(f"no hosted zone {name!r} in the emulator: create it (route53 CreateHostedZone) first")


INVOKES["aws:ec2/getManagedPrefixList:getManagedPrefixList"] = _managed_prefix_list
INVOKES["aws:secretsmanager/getRandomPassword:getRandomPassword"] = _random_password
INVOKES["aws:route53/getZone:getZone"] = _zone
