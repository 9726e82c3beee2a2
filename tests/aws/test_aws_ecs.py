"""Web services on AWS (issue 15): ``examples/gpu_web_services.py`` under ``synth --cloud aws``.

A GPU ``web_server`` (A10G), an ``app.server`` class (H100), a CPU ``web_server`` and a GPU
``fastapi_endpoint`` become ECS services behind ALBs and CloudFront, under Pulumi's mock
engine; the property tests vary the app and check IAM and ALB reachability.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_apps import AWS_SETTINGS, IMAGE, fn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcompile.compiler import compile_file
from pcompile.compiler.ir import AppSpec, ConcurrencySpec, GpuSpec, WebSpec
from pcompile.providers.aws import catalog, placement, web_service
from pcompile.providers.synth import SynthOutput, SynthResource, synthesize

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gpu_web_services.py"
ROWS = {r.instance_type: r for r in catalog.load_catalog()}
SERVICE = "aws:ecs/service:Service"
TASKDEF = "aws:ecs/taskDefinition:TaskDefinition"
CAPACITY = "aws:ecs/capacityProvider:CapacityProvider"
ASG = "aws:autoscaling/group:Group"
ALB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
CDN = "aws:cloudfront/distribution:Distribution"
SCALING_TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
# The id RecordingMocks answers every lookup with: here, the CloudFront origin-facing prefix list.
PREFIX_LIST_ID = "mock-id"
APP = "gpu-web-services"


@pytest.fixture(scope="module")
def web_synth() -> SynthOutput:
    return synthesize("aws", compile_file(EXAMPLE).app(), AWS_SETTINGS)


def _by_name(out: SynthOutput, type_token: str) -> dict[str, SynthResource]:
    return {r.name: r for r in out.result.of_type(type_token)}


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value


def _plain(value: Any) -> Any:
    """A recorded input without Pulumi's secret wrapper."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


def _container(taskdef: SynthResource) -> dict[str, Any]:
    (container,) = json.loads(taskdef.inputs["containerDefinitions"])
    return container  # type: ignore[no-any-return]


def test_every_service_is_placed_on_ecs(web_synth: SynthOutput) -> None:
    placements = web_synth.placements
    assert {n: p.target for n, p in placements.items()} == dict.fromkeys(
        ("Inference", "docs_site", "embed", "llm_ui"), "ecs"
    )
    launch = {n: p.launch_type for n, p in placements.items() if isinstance(p, placement.EcsPlacement)}
    assert launch == {"Inference": "ec2", "docs_site": "fargate", "embed": "ec2", "llm_ui": "ec2"}
    details = web_synth.to_json()["placements"]["Inference"]["details"]
    # The user's server is on 8080, so the runtime's front moves to 8081.
    assert (details["port"], details["front_port"]) == (8080, 8081)
    assert details["scaling"]["min_containers"] == 1 and details["scaling"]["max_containers"] == 2


def test_services_and_task_definitions(web_synth: SynthOutput) -> None:
    services = _by_name(web_synth, SERVICE)
    assert set(services) == {f"{APP}-{n}-service" for n in ("inference", "docs-site", "embed", "llm-ui")}
    assert services[f"{APP}-docs-site-service"].inputs["launchType"] == "FARGATE"
    for gpu in ("inference", "embed", "llm-ui"):
        (strategy,) = services[f"{APP}-{gpu}-service"].inputs["capacityProviderStrategies"]
        assert strategy["capacityProvider"].endswith("-cp")
    tasks = _by_name(web_synth, TASKDEF)
    gpus = {
        name: {r["type"]: r["value"] for r in _container(t).get("resourceRequirements", [])}
        for name, t in tasks.items()
    }
    assert gpus == {
        f"{APP}-inference-task": {"GPU": "1"},
        f"{APP}-embed-task": {"GPU": "1"},
        f"{APP}-llm-ui-task": {"GPU": "1"},
        f"{APP}-docs-site-task": {},
    }
    llm = _container(tasks[f"{APP}-llm-ui-task"])
    assert llm["command"] == ["python", "-m", "pcompile.runtime", "ecs", "--function", "llm_ui"]
    env = {e["name"]: e["value"] for e in llm["environment"]}
    assert env["PCOMPILE_FRONT_PORT"] == "8080" and env["PCOMPILE_FUNCTION"] == "llm_ui"
    assert env["AWS_REGION"] == "us-east-1" and env["PCOMPILE_STAGING_URL"].startswith("s3://")
    assert llm["portMappings"] == [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}]
    assert llm["logConfiguration"]["logDriver"] == "awslogs"
    docs = tasks[f"{APP}-docs-site-task"].inputs
    assert (docs["cpu"], docs["memory"], docs["networkMode"]) == ("2048", "4096", "awsvpc")
    assert tasks[f"{APP}-inference-task"].inputs["requiresCompatibilities"] == ["EC2"]


def test_capacity_providers_hold_only_instances_with_the_gpu(web_synth: SynthOutput) -> None:
    groups = _by_name(web_synth, ASG)
    providers = _by_name(web_synth, CAPACITY)
    assert len(providers) == 3
    wanted = {"a10g": "A10G", "h100": "H100", "l4": "L4"}
    for name, provider in providers.items():
        scaling = provider.inputs["autoScalingGroupProvider"]
        assert scaling["managedScaling"]["status"] == "ENABLED"
        group_name = scaling["autoScalingGroupArn"].rsplit(":", 1)[1]
        group = groups[group_name]
        assert group.inputs["minSize"] == 0
        types = [
            o["instanceType"] for o in group.inputs["mixedInstancesPolicy"]["launchTemplate"]["overrides"]
        ]
        (gpu,) = [g for k, g in wanted.items() if f"-ecs-{k}-x1-" in name]
        assert types and all(ROWS[t].gpu == gpu for t in types), (name, types)
        assert all(t.split(".")[0] in placement.ECS_GPU_FAMILIES for t in types)
    templates = web_synth.result.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert {t.inputs["imageId"] for t in templates} == {f"resolve:ssm:{web_service.GPU_AMI_PARAMETER}"}
    (cluster_providers,) = web_synth.result.of_type(
        "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"
    )
    assert len(cluster_providers.inputs["capacityProviders"]) == 4  # FARGATE and three GPU providers


def test_load_balancers_target_groups_and_health_checks(web_synth: SynthOutput) -> None:
    assert len(web_synth.result.of_type(ALB)) == 4
    groups = _by_name(web_synth, TG)
    assert len(groups) == 4
    for group in groups.values():
        check = group.inputs["healthCheck"]
        assert (check["path"], check["port"], check["matcher"]) == (
            "/__pcompile/healthz",
            "traffic-port",
            "200",
        )
    inference = groups[f"{APP}-inference-tg"].inputs
    # startup_timeout=600 → as many misses as it spans, capped at ELB's 10.
    assert inference["healthCheck"]["unhealthyThreshold"] == 10 and inference["port"] == 8081
    assert groups[f"{APP}-docs-site-tg"].inputs["targetType"] == "ip"
    llm = _by_name(web_synth, SERVICE)[f"{APP}-llm-ui-service"].inputs
    assert llm["healthCheckGracePeriodSeconds"] == 120  # startup_timeout=120
    assert _by_name(web_synth, ALB)[f"{APP}-llm-ui-alb"].inputs["idleTimeout"] == 1800  # timeout=1800


def test_cloudfront_fronts_every_service_with_the_origin_secret(web_synth: SynthOutput) -> None:
    distributions = _by_name(web_synth, CDN)
    assert len(distributions) == 4
    for cdn in distributions.values():
        (origin,) = _plain(cdn.inputs["origins"])
        (header,) = origin["customHeaders"]
        assert header["name"] == web_service.ORIGIN_HEADER
        assert origin["customOriginConfig"]["originReadTimeout"] <= placement.CLOUDFRONT_MAX_READ_TIMEOUT_S
        assert cdn.inputs["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
        behavior = cdn.inputs["defaultCacheBehavior"]
        assert behavior["compress"] is False and behavior["cachePolicyId"] == web_service.CACHING_DISABLED
        (error,) = cdn.inputs["customErrorResponses"]
        assert (error["errorCode"], error["responsePagePath"]) == (503, web_service.STARTING_PATH)
    # The ALB forwards exactly when the header CloudFront sends carries the secret's value.
    rules = _by_name(web_synth, "aws:lb/listenerRule:ListenerRule")
    (origin,) = _plain(distributions[f"{APP}-llm-ui-cdn"].inputs["origins"])
    (condition,) = _plain(rules[f"{APP}-llm-ui-forward"].inputs["conditions"])
    assert condition["httpHeader"]["httpHeaderName"] == web_service.ORIGIN_HEADER
    assert condition["httpHeader"]["values"] == [origin["customHeaders"][0]["value"]]
    (version,) = web_synth.result.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert _plain(version.inputs["secretString"]) == origin["customHeaders"][0]["value"]
    functions = web_synth.result.of_type("aws:cloudfront/function:Function")
    assert functions and all("retry-after" in f.inputs["code"] for f in functions)


def test_scaling_follows_the_decorators(web_synth: SynthOutput) -> None:
    targets = {
        r.name: (r.inputs["minCapacity"], r.inputs["maxCapacity"])
        for r in web_synth.result.of_type(SCALING_TARGET)
    }
    assert targets == {
        f"{APP}-llm-ui-scaling": (0, 4),
        f"{APP}-inference-scaling": (1, 2),
        f"{APP}-docs-site-scaling": (0, placement.ECS_DEFAULT_MAX_CONTAINERS),
        f"{APP}-embed-scaling": (0, placement.ECS_DEFAULT_MAX_CONTAINERS),
    }
    policies = _by_name(web_synth, POLICY)
    llm = policies[f"{APP}-llm-ui-requests"].inputs["targetTrackingScalingPolicyConfiguration"]
    assert llm["predefinedMetricSpecification"]["predefinedMetricType"] == "ALBRequestCountPerTarget"
    assert llm["scaleInCooldown"] == 300  # scaledown_window=300
    assert llm["targetValue"] == 8 * 60  # target_inputs=8, one second a request
    # Scale to zero: a waker and an idle policy for min_containers=0, none for the warm H100.
    assert f"{APP}-llm-ui-wake" in policies and f"{APP}-llm-ui-idle" in policies
    assert f"{APP}-inference-wake" not in policies
    wake = policies[f"{APP}-embed-wake"].inputs["stepScalingPolicyConfiguration"]
    assert wake["stepAdjustments"][0]["scalingAdjustment"] == 2  # 1 + buffer_containers
    alarms = _by_name(web_synth, ALARM)
    assert alarms[f"{APP}-llm-ui-wake-alarm"].inputs["metricName"] == "HTTPCode_ELB_503_Count"
    assert alarms[f"{APP}-llm-ui-idle-alarm"].inputs["evaluationPeriods"] == 5  # 300 s of no request


def test_each_service_has_its_url_in_the_manifest_and_the_synth_output(web_synth: SynthOutput) -> None:
    (obj,) = web_synth.result.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    manifest = json.loads(obj.inputs["content"])
    for name in ("Inference", "docs_site", "embed", "llm_ui"):
        entry = manifest["functions"][name]
        assert entry["target"] == "ecs"
        assert entry["web_url"].startswith("https://") and "cloudfront" in entry["web_url"]
    summary = web_synth.extras["aws"]["web_services"]
    assert summary["llm_ui"]["min_containers"] == 0 and summary["llm_ui"]["max_containers"] == 4
    assert summary["Inference"]["url_output"] == "functions.Inference.web_url"
    assert "long-running" in summary["docs_site"]["reason"]


# --------------------------------------------------------------------------- properties


def _actions(policy: str) -> list[str]:
    out: list[str] = []
    for statement in json.loads(policy)["Statement"]:
        action = statement["Action"]
        out += [action] if isinstance(action, str) else action
    return out


def assert_no_wildcard_action(out: SynthOutput) -> None:
    policies = out.result.of_type("aws:iam/rolePolicy:RolePolicy")
    assert policies
    for policy in policies:
        text = _plain(policy.inputs["policy"])
        assert all("*" not in a for a in _actions(text)), (policy.name, text)


def assert_albs_reachable_only_from_cloudfront(out: SynthOutput) -> None:
    groups = _by_name(out, SG)
    alb_groups = {n for n in groups if n.endswith("-alb-sg")}
    assert alb_groups and len(alb_groups) == len(out.result.of_type(ALB))
    for name in alb_groups:
        for rule in groups[name].inputs["ingress"]:
            assert rule["prefixListIds"] == [PREFIX_LIST_ID] and (rule["fromPort"], rule["toPort"]) == (
                80,
                80,
            )
            assert (
                not rule.get("cidrBlocks")
                and not rule.get("ipv6CidrBlocks")
                and not rule.get("securityGroups")
            )
    for alb in out.result.of_type(ALB):
        assert alb.inputs["securityGroups"] and all(
            s.endswith("-alb-sg-id") for s in alb.inputs["securityGroups"]
        )
    # Separate ingress rules only open GPU instances to their ALB, never an ALB to anything.
    for rule in out.result.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        assert not rule.inputs["securityGroupId"].endswith("-alb-sg-id")
        assert rule.inputs["referencedSecurityGroupId"].endswith("-alb-sg-id")
    # Without the origin header, the listener answers 403.
    for listener in out.result.of_type("aws:lb/listener:Listener"):
        (action,) = listener.inputs["defaultActions"]
        assert action["fixedResponse"]["statusCode"] == "403"


def test_the_example_grants_no_wildcard_and_exposes_no_alb(web_synth: SynthOutput) -> None:
    assert_no_wildcard_action(web_synth)
    assert_albs_reachable_only_from_cloudfront(web_synth)


KINDS = ("web_server", "server", "fastapi", "asgi")
GPUS = (None, "T4", "A10G", "L40S", "H100", "A100")


@st.composite
def web_apps(draw: st.DrawFn) -> AppSpec:
    count = draw(st.integers(1, 3))
    functions = []
    for i in range(count):
        kind = draw(st.sampled_from(KINDS))
        gpu = draw(st.sampled_from(GPUS))
        if gpu is None and kind in ("fastapi", "asgi"):
            kind = "web_server"  # a small CPU endpoint is a Lambda, not a service
        low = draw(st.integers(0, 2))
        functions.append(
            fn(
                f"svc{i}",
                10 + i,
                web=WebSpec(
                    kind=kind, port=draw(st.integers(1, 65535)) if kind in ("web_server", "server") else None
                ),  # type: ignore[arg-type]
                gpu=GpuSpec(gpu) if gpu else None,
                min_containers=low,
                max_containers=low + draw(st.integers(1, 4)),
                concurrency=ConcurrencySpec(draw(st.integers(1, 32))),
                secrets=("hf-token",) if draw(st.booleans()) else (),
                volumes={"/data": "weights"} if draw(st.booleans()) else {},
            )
        )
    from pcompile.compiler.ir import SecretSpec, VolumeSpec

    return AppSpec(
        name="prop",
        functions=tuple(functions),
        images=(IMAGE,),
        secrets=(SecretSpec("hf-token"),),
        volumes=(VolumeSpec("weights"),),
    )


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(web_apps())
def test_generated_apps_grant_no_wildcard_and_expose_no_alb(app: AppSpec) -> None:
    out = synthesize("aws", app, AWS_SETTINGS)
    assert len(out.result.of_type(SERVICE)) == len(app.functions)
    assert_no_wildcard_action(out)
    assert_albs_reachable_only_from_cloudfront(out)
    for p in out.placements.values():
        assert isinstance(p, placement.EcsPlacement)
        assert p.front_port != p.port and 1 <= p.front_port <= 65535
        if p.gpu is not None:
            assert p.instance_types and all(
                ROWS[t].gpu in catalog.family(tuple(ROWS.values()), p.gpu.type) for t in p.instance_types
            )


# --------------------------------------------------------------------------- variants


def _one(name: str = "svc", **kwargs: Any) -> AppSpec:
    from pcompile.compiler.ir import SecretSpec, VolumeSpec

    return AppSpec(
        name=name,
        functions=(fn("ui", 3, **kwargs),),
        images=(IMAGE,),
        secrets=(SecretSpec("hf-token"),),
        volumes=(VolumeSpec("weights"),),
    )


def test_a_stack_domain_gives_an_https_listener_and_a_dns_alias() -> None:
    import dataclasses

    from pcompile.providers.settings import WebSettings

    arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    settings = dataclasses.replace(AWS_SETTINGS, web=WebSettings("example.com", arn))
    out = synthesize("aws", _one(web=WebSpec(kind="web_server", port=8000, label="chat")), settings)
    assert not out.result.of_type(CDN)
    (listener,) = out.result.of_type("aws:lb/listener:Listener")
    assert (listener.inputs["port"], listener.inputs["protocol"], listener.inputs["certificateArn"]) == (
        443,
        "HTTPS",
        arn,
    )
    (record,) = out.result.of_type("aws:route53/record:Record")
    assert record.inputs["name"] == "svc-chat.example.com" and record.inputs["type"] == "A"
    (obj,) = out.result.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert json.loads(obj.inputs["content"])["functions"]["ui"]["web_url"] == "https://svc-chat.example.com"


def test_the_task_role_names_exactly_the_functions_secrets_and_volumes() -> None:
    out = synthesize(
        "aws",
        _one(web=WebSpec(kind="web_server", port=8000), secrets=("hf-token",), volumes={"/w": "weights"}),
        AWS_SETTINGS,
    )
    policies = {
        p.name: json.loads(_plain(p.inputs["policy"]))
        for p in out.result.of_type("aws:iam/rolePolicy:RolePolicy")
    }
    task = {s["Sid"]: s for s in policies["svc-ui-policy"]["Statement"]}
    assert task["Secrets"]["Resource"] == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-token-??????"
    ]
    assert any("vol-weights" in r for r in task["Volume0Objects"]["Resource"])
    execution = {s["Sid"] for s in policies["svc-ui-exec-policy"]["Statement"]}
    assert execution == {"Logs", "RegistryToken", "ImagePull"}
    (task_def,) = out.result.of_type(TASKDEF)
    env = {e["name"]: e["value"] for e in _container(task_def)["environment"]}
    assert json.loads(env["PCOMPILE_SECRETS"]) == {"hf-token": "hf-token"} and "/w" in json.loads(
        env["PCOMPILE_VOLUMES"]
    )
    assert task_def.inputs["taskRoleArn"].endswith("svc-ui-role")


def test_a_stack_override_puts_a_small_endpoint_on_ecs_and_refuses_ecs_for_a_plain_function() -> None:
    import dataclasses

    from pcompile.compiler.errors import UserError
    from pcompile.providers.settings import FunctionOverride

    settings = dataclasses.replace(AWS_SETTINGS, overrides={"ui": FunctionOverride(placement="ecs")})
    small = placement.place(fn("ui", 3, web=WebSpec(kind="fastapi")), settings, tuple(ROWS.values()))
    assert isinstance(small, placement.EcsPlacement) and small.launch_type == "fargate" and small.port is None
    with pytest.raises(UserError, match="only web endpoints are ECS services"):
        placement.place(fn("ui", 3), settings, tuple(ROWS.values()))


def test_an_app_called_ecs_gets_capacity_providers_ecs_accepts() -> None:
    out = synthesize(
        "aws", _one("ecs-demo", web=WebSpec(kind="web_server", port=8000), gpu=GpuSpec("T4")), AWS_SETTINGS
    )
    (provider,) = out.result.of_type(CAPACITY)
    assert not provider.inputs["name"].lower().startswith(("aws", "ecs", "fargate"))


def test_synth_prints_each_service_with_its_url_output_bounds_and_reason() -> None:
    from typer.testing import CliRunner

    from pcompile.cli.main import app

    result = CliRunner().invoke(app, ["synth", str(EXAMPLE), "--cloud", "aws"])
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("web services") :]
    rows = {line.split("│")[1].strip(): line for line in table.splitlines() if line.startswith("│ ")}
    assert "functions.llm_ui.web_url" in table and "functions.Inference.web_url" in table
    cells = [c.strip() for c in rows["llm_ui"].split("│")]
    assert cells[3:6] == ["0", "4", "ec2"] and "long-running" in cells[6]
