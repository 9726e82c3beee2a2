"""The synthesized AWS graph: golden snapshot, acceptance facts and property checks.

Regenerate the golden file with ``PCOMPILE_UPDATE_GOLDEN=1 pytest tests/aws``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from aws_apps import AWS_SETTINGS, IMAGE, fn, gpu_mix, gpu_mix_example
from parliament import analyze_policy_string

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, GpuSpec, PeriodSchedule, SecretSpec, VolumeSpec
from pcompile.providers.aws import catalog
from pcompile.providers.synth import SynthOutput, SynthResource, synthesize

GOLDEN = Path(__file__).parent / "golden"
CE = "aws:batch/computeEnvironment:ComputeEnvironment"
JOBDEF = "aws:batch/jobDefinition:JobDefinition"
QUEUE = "aws:batch/jobQueue:JobQueue"
BUCKET = "aws:s3/bucket:Bucket"


def _canonical(out: SynthOutput) -> str:
    return json.dumps(out.to_json(), sort_keys=True, indent=1) + "\n"


def test_golden_snapshot(gpu_mix_synth: SynthOutput) -> None:
    path = GOLDEN / "gpu_mix.json"
    text = _canonical(gpu_mix_synth)
    if os.environ.get("PCOMPILE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), "synth output changed; rerun with PCOMPILE_UPDATE_GOLDEN=1 if intended"


def test_synthesis_is_deterministic(gpu_mix_synth: SynthOutput) -> None:
    again = synthesize("aws", gpu_mix_example(), AWS_SETTINGS)
    assert _canonical(again) == _canonical(gpu_mix_synth)


# --------------------------------------------------------------------------- acceptance


def _instance_families(r: SynthResource) -> set[str]:
    return {t.split(".")[0] for t in r.inputs["computeResources"]["instanceTypes"]}


def test_acceptance_compute_environments(gpu_mix_synth: SynthOutput) -> None:
    families = {r.name: _instance_families(r) for r in gpu_mix_synth.result.of_type(CE)}
    assert families["gpu-mix-gpu-a100-ce"] == {"p4d", "p4de"}
    assert families["gpu-mix-gpu-h100-ce"] == {"p5"}
    assert families["gpu-mix-gpu-t4-ce"] == {"g4dn"}
    assert families["gpu-mix-gpu-l4-ce"] == {"g6"}
    assert families["gpu-mix-gpu-l40s-ce"] == {"g6e"}


def _container(r: SynthResource) -> dict[str, Any]:
    return json.loads(r.inputs["containerProperties"])  # type: ignore[no-any-return]


def _gpus(r: SynthResource) -> int:
    reqs = {q["type"]: q["value"] for q in _container(r)["resourceRequirements"]}
    return int(reqs.get("GPU", 0))


def test_acceptance_job_definitions(gpu_mix_synth: SynthOutput) -> None:
    jobdefs = {r.name: r for r in gpu_mix_synth.result.of_type(JOBDEF)}
    h100 = jobdefs["gpu-mix-train-h100x8-jobdef"]
    assert _gpus(h100) == 8
    assert h100.inputs["timeout"] == {"attemptDurationSeconds": 7200.0}
    assert (
        jobdefs["gpu-mix-train-a100-jobdef"].inputs["retryStrategy"]["attempts"] == 6.0
    )  # 2 + 1 + lost hosts
    assert _gpus(jobdefs["gpu-mix-long-etl-jobdef"]) == 0


def test_acceptance_lambdas_urls_and_schedules(gpu_mix_synth: SynthOutput) -> None:
    res = gpu_mix_synth.result
    lambdas = {r.name for r in res.of_type("aws:lambda/function:Function")}
    assert lambdas == {
        "gpu-mix-model-generate-fn",
        "gpu-mix-nightly-report-fn",
        "gpu-mix-predict-fn",
        "gpu-mix-refresh-cache-fn",
    }
    urls = {r.name: r.inputs["authorizationType"] for r in res.of_type("aws:lambda/functionUrl:FunctionUrl")}
    assert urls == {name.removesuffix("-fn") + "-url": "AWS_IAM" for name in lambdas} | {
        "gpu-mix-predict-url": "NONE"
    }
    expressions = {r.inputs["scheduleExpression"] for r in res.of_type("aws:scheduler/schedule:Schedule")}
    assert expressions == {"cron(0 2 * * ? *)", "rate(5 hours)"}
    warm = res.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")
    assert [(r.name, r.inputs["provisionedConcurrentExecutions"]) for r in warm] == [
        ("gpu-mix-model-generate-warm", 1.0)
    ]
    # max_containers reserves account concurrency only when the stack asks (test_aws_concurrency.py)
    assert "reservedConcurrentExecutions" not in res.named("gpu-mix-refresh-cache-fn").inputs


def test_secrets_manager_access_is_scoped_to_the_named_secret(gpu_mix_synth: SynthOutput) -> None:
    for r in gpu_mix_synth.result.of_type("aws:iam/rolePolicy:RolePolicy"):
        for st in json.loads(r.inputs["policy"])["Statement"]:
            if any(a.startswith("secretsmanager:") for a in st["Action"]):
                assert st["Resource"] == [
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-token-??????"
                ]
                assert r.name in ("gpu-mix-nightly-report-policy", "gpu-mix-render-l40s-policy")


# --------------------------------------------------------------------------- properties


def test_each_gpu_compute_environment_lists_only_instances_carrying_its_gpu(
    gpu_mix_synth: SynthOutput,
) -> None:
    table = {row.instance_type: row.gpu for row in catalog.load_catalog()}
    for r in gpu_mix_synth.result.of_type(CE):
        resources = r.inputs["computeResources"]
        types = resources["instanceTypes"]
        assert types and "optimal" not in types
        if r.name == "gpu-mix-cpu-ce":
            assert resources["ec2Configurations"] == [{"imageType": "ECS_AL2023"}]
            continue
        assert resources["ec2Configurations"] == [{"imageType": "ECS_AL2023_NVIDIA"}]
        gpu_names = {table.get(t) for t in types}
        assert None not in gpu_names, f"{r.name} lists instance types without a GPU: {types}"
        family = catalog.family(
            catalog.load_catalog(), r.name.removeprefix("gpu-mix-gpu-").removesuffix("-ce")
        )
        assert gpu_names <= set(family)


def _manifest(out: SynthOutput) -> dict[str, Any]:
    obj = out.result.of_type("aws:s3/bucketObjectv2:BucketObjectv2")[0]
    return json.loads(obj.inputs["content"])  # type: ignore[no-any-return]


def test_every_gpu_job_fits_every_compute_environment_of_its_queue(gpu_mix_synth: SynthOutput) -> None:
    rows = catalog.load_catalog()
    res = gpu_mix_synth.result
    by_arn_suffix = {r.name: r for r in res.of_type(CE)}
    queues = {r.inputs["name"]: r for r in res.of_type(QUEUE)}
    for name, entry in _manifest(gpu_mix_synth)["functions"].items():
        if entry["target"] != "batch":
            continue
        jobdef = res.named(entry["addresses"]["job_definition"].rsplit(":", 1)[-1])
        queue = next(q for q in res.of_type(QUEUE) if entry["addresses"]["job_queue"].endswith(q.name))
        for order in queue.inputs["computeEnvironmentOrders"]:
            ce = by_arn_suffix[order["computeEnvironment"].rsplit(":", 1)[-1]]
            gpus = _gpus(jobdef)
            if gpus:
                most = max(
                    r.count for r in rows if r.instance_type in ce.inputs["computeResources"]["instanceTypes"]
                )
                assert most >= gpus, f"{name} asks {gpus} GPUs; {ce.name} holds at most {most}"
    assert queues


def _iam_documents(out: SynthOutput) -> list[tuple[str, dict[str, Any]]]:
    kinds = ("aws:iam/rolePolicy:RolePolicy", "aws:s3/bucketPolicy:BucketPolicy")
    return [(r.name, json.loads(r.inputs["policy"])) for r in out.result.resources if r.type in kinds]


def test_no_iam_statement_allows_everything(gpu_mix_synth: SynthOutput) -> None:
    documents = _iam_documents(gpu_mix_synth)
    assert documents
    for name, doc in documents:
        for st in doc["Statement"]:
            if st["Effect"] != "Allow":
                continue
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            if actions == ["ecr:GetAuthorizationToken"] and resources == ["*"]:
                continue  # ECR registry tokens name no resource; the pull itself names the repository
            assert not any(a == "*" or a.endswith(":*") for a in actions), (name, actions)
            assert "*" not in resources, (name, resources)
            for arn in resources:
                assert "gpu-mix" in arn or ":secret:hf-token-" in arn, (name, arn)


def test_parliament_finds_nothing_but_its_known_batch_false_positive(gpu_mix_synth: SynthOutput) -> None:
    for name, doc in _iam_documents(gpu_mix_synth):
        findings = analyze_policy_string(json.dumps(doc)).findings
        real = [
            f
            for f in findings
            if not (
                f.issue == "RESOURCE_MISMATCH" and all(d["action"] == "batch:SubmitJob" for d in f.detail)
            )
        ]
        assert not real, (name, [(f.issue, f.detail) for f in real])


def test_trust_policies_name_one_service(gpu_mix_synth: SynthOutput) -> None:
    for r in gpu_mix_synth.result.of_type("aws:iam/role:Role"):
        (st,) = json.loads(r.inputs["assumeRolePolicy"])["Statement"]
        assert st["Action"] == "sts:AssumeRole" and set(st["Principal"]) == {"Service"}


def test_every_bucket_is_private_encrypted_and_tls_only(gpu_mix_synth: SynthOutput) -> None:
    res = gpu_mix_synth.result
    buckets = res.of_type(BUCKET)
    assert len(buckets) == 2
    for b in buckets:
        bucket_id = f"{b.name}-id"
        (block,) = [
            r
            for r in res.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
            if r.inputs["bucket"] == bucket_id
        ]
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        assert all(block.inputs[f] is True for f in flags)
        sse = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        assert [r for r in res.of_type(sse) if r.inputs["bucket"] == bucket_id]
        (policy,) = [
            r for r in res.of_type("aws:s3/bucketPolicy:BucketPolicy") if r.inputs["bucket"] == bucket_id
        ]
        (deny,) = json.loads(policy.inputs["policy"])["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_manifest_records_every_function_and_the_web_url(gpu_mix_synth: SynthOutput) -> None:
    manifest = _manifest(gpu_mix_synth)
    assert set(manifest["functions"]) == {f.name for f in gpu_mix().functions}  # the hand-built twin
    assert manifest["functions"]["predict"]["web_url"].startswith("https://")
    assert manifest["functions"]["Model.generate"]["addresses"]["qualifier"] == "live"
    pointer = gpu_mix_synth.result.of_type("aws:ssm/parameter:Parameter")[0]
    assert pointer.inputs["name"] == "/pcompile/dev/gpu-mix/manifest"
    value = pointer.inputs["value"]  # SSM values are secret inputs; the mock engine wraps them
    value = value["value"] if isinstance(value, dict) else value
    assert value == "s3://gpu-mix-staging/pcompile/manifest.json"


# --------------------------------------------------------------------------- secrets and names


def _app_with_dict_secret() -> AppSpec:
    return AppSpec(
        name="sec",
        functions=(fn("f", 3, secrets=("env-1",)),),
        images=(IMAGE,),
        secrets=(SecretSpec("env-1", kind="dict", keys=("API_KEY",)),),
    )


def test_dict_secret_values_come_only_from_pulumi_secret_config() -> None:
    import pulumi

    out = synthesize("aws", _app_with_dict_secret(), AWS_SETTINGS)
    (version,) = out.result.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    secret_sig = "4dabf18193072939515e22adb298388d"  # the engine's marker for a secret value
    assert version.inputs["secretString"] == {
        secret_sig: "1b47061264138c4ac30d75fd1eb44270",
        "value": "<pulumi config set --secret secret-env-1>",
    }
    assert out.to_json()["aws"]["secret_config_keys"] == {"env-1": "secret-env-1"}

    value = '{"API_KEY": "sk-live-very-secret"}'
    pulumi.runtime.set_config("pcompile-sec:secret-env-1", value)
    try:
        configured = synthesize("aws", _app_with_dict_secret(), AWS_SETTINGS)
    finally:
        pulumi.runtime.config.CONFIG.get().pop("pcompile-sec:secret-env-1", None)
    places = [r.name for r in configured.result.resources if "sk-live-very-secret" in json.dumps(r.inputs)]
    assert places == ["sec-secret-env-1-value"]


def test_names_that_collide_after_slugging_are_rejected() -> None:
    app = AppSpec(name="dup", functions=(fn("a_b", 1), fn("a-b", 2)), images=(IMAGE,))
    with pytest.raises(UserError, match="same AWS resource name"):
        synthesize("aws", app, AWS_SETTINGS)


def test_a_scheduled_batch_function_submits_a_job() -> None:
    app = AppSpec(
        name="sched",
        functions=(fn("crunch", 4, gpu=GpuSpec("T4"), schedule=PeriodSchedule(3600.0)),),
        images=(IMAGE,),
    )
    out = synthesize("aws", app, AWS_SETTINGS)
    (schedule,) = out.result.of_type("aws:scheduler/schedule:Schedule")
    target = schedule.inputs["target"]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:batch:submitJob"
    request = json.loads(target["input"])
    assert request["JobQueue"].endswith("sched-gpu-t4-queue") and "JobDefinition" in request
    policy = out.result.named("sched-schedule-crunch-policy").inputs["policy"]
    assert json.loads(policy)["Statement"][0]["Resource"] == [
        "arn:aws:batch:us-east-1:123456789012:job-queue/sched-dev-gpu-t4",
        "arn:aws:batch:us-east-1:123456789012:job-definition/sched-dev-crunch:*",
    ]


def test_stack_network_replaces_the_default_vpc() -> None:
    import dataclasses

    from pcompile.providers.settings import NetworkSettings

    settings = dataclasses.replace(
        AWS_SETTINGS,
        network=NetworkSettings(vpc_id="vpc-1", subnet_ids=("subnet-1",), security_group_ids=("sg-1",)),
    )
    app = AppSpec(name="net", functions=(fn("g", 1, gpu=GpuSpec("L4")),), images=(IMAGE,))
    out = synthesize("aws", app, settings)
    assert not out.result.of_type("aws:ec2/vpc:Vpc")
    (ce,) = out.result.of_type(CE)
    assert ce.inputs["computeResources"]["subnets"] == ["subnet-1"]


def test_cli_synth_json_shows_the_acceptance_graph() -> None:
    import subprocess
    import sys

    from aws_apps import EXAMPLE

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pcompile.cli.main import main; main()",
            "synth",
            str(EXAMPLE),
            "--cloud",
            "aws",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(done.stdout)
    types = {r["type"] for r in data["resources"]}
    assert {CE, JOBDEF, "aws:lambda/functionUrl:FunctionUrl", "aws:scheduler/schedule:Schedule"} <= types
    assert data["placements"]["train_h100x8"]["gpu"] == {"count": 8, "type": "H100"}


def test_no_secret_value_in_emitted_files_or_stack_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "aws_secret_app.py"
    out = tmp_path / "project"
    done = subprocess.run(
        [sys.executable, "-c", "from pcompile.cli.main import main; main()", "synth", str(fixture)]
        + ["--cloud", "aws", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    emitted = sorted(p.name for p in out.iterdir())
    assert "Pulumi.dev.yaml" in emitted and "__main__.py" in emitted
    for path in out.rglob("*"):
        if path.is_file():
            assert "sk-live-never-emit-me" not in path.read_text(errors="replace"), path
    assert "sk-live-never-emit-me" not in done.stdout
    keys = json.loads(done.stdout)["aws"]["secret_config_keys"]
    assert list(keys.values()) == [f"secret-{list(keys)[0]}"]


def test_s3_cloud_bucket_mounts_sync_a_prefix_with_a_scoped_grant() -> None:
    from pcompile.compiler.ir import CloudBucketMountSpec

    mount = CloudBucketMountSpec("shared-data", key_prefix="team/a/", read_only=True)
    app = AppSpec(name="cbm", functions=(fn("f", 2, cloud_bucket_mounts={"/data": mount}),), images=(IMAGE,))
    out = synthesize("aws", app, AWS_SETTINGS)
    (lam,) = out.result.of_type("aws:lambda/function:Function")
    volumes = json.loads(lam.inputs["environment"]["variables"]["PCOMPILE_VOLUMES"])
    assert volumes == {"/data": {"read_only": True, "url": "s3://shared-data/team/a"}}
    policy = json.loads(out.result.named("cbm-f-policy").inputs["policy"])
    grants = {st["Sid"]: st for st in policy["Statement"]}
    assert grants["Volume0Objects"]["Action"] == ["s3:GetObject"]
    assert grants["Volume0Objects"]["Resource"] == ["arn:aws:s3:::shared-data/team/a/*"]
    assert grants["Volume0List"]["Condition"] == {"StringLike": {"s3:prefix": ["team/a/*", "team/a"]}}
    assert not analyze_policy_string(json.dumps(policy)).findings


def test_cloud_bucket_mounts_with_foreign_credentials_are_refused() -> None:
    from pcompile.compiler.ir import CloudBucketMountSpec

    mount = CloudBucketMountSpec("r2", bucket_endpoint_url="https://x.r2.cloudflarestorage.com", secret="r2")
    app = AppSpec(name="cbm", functions=(fn("f", 2, cloud_bucket_mounts={"/data": mount}),), images=(IMAGE,))
    with pytest.raises(UserError, match="examples/gpu_mix.py:2"):
        synthesize("aws", app, AWS_SETTINGS)


def test_a_vpc_without_subnets_is_a_user_error() -> None:
    import dataclasses

    from pcompile.providers.settings import NetworkSettings

    settings = dataclasses.replace(AWS_SETTINGS, network=NetworkSettings(vpc_id="vpc-1"))
    app = AppSpec(name="net", functions=(fn("g", 1, gpu=GpuSpec("L4")),), images=(IMAGE,))
    with pytest.raises(UserError, match="no subnets"):
        synthesize("aws", app, settings)


def test_volume_buckets_are_tagged_or_taken_from_the_stack() -> None:
    import dataclasses

    app = AppSpec(
        name="vols",
        functions=(fn("f", 3, volumes={"/data": "data"}),),
        images=(IMAGE,),
        volumes=(VolumeSpec("data"),),
    )
    made = synthesize("aws", app, AWS_SETTINGS)
    bucket = made.result.named("vols-vol-data-bucket")
    assert (
        bucket.inputs["tags"]["pcompile-volume"] == "data"
        and bucket.inputs["tags"]["pcompile-stack"] == "dev"
    )

    settings = dataclasses.replace(AWS_SETTINGS, extra={"volumes": {"data": "s3://existing-bucket/models"}})
    given = synthesize("aws", app, settings)
    assert not given.result.of_type("pcompile:aws:Volume")
    (lam,) = given.result.of_type("aws:lambda/function:Function")
    volumes = json.loads(lam.inputs["environment"]["variables"]["PCOMPILE_VOLUMES"])
    assert volumes == {"/data": {"read_only": False, "url": "s3://existing-bucket/models"}}
    policy = json.loads(given.result.named("vols-f-policy").inputs["policy"])
    objects = [st for st in policy["Statement"] if st["Sid"] == "Volume0Objects"]
    assert objects[0]["Resource"] == ["arn:aws:s3:::existing-bucket/models/*"]


def _staging_grants(doc: dict[str, Any], bucket_arn: str) -> dict[str, set[str]]:
    """Staging-bucket resource -> the actions a policy allows on it."""
    grants: dict[str, set[str]] = {}
    for st in doc["Statement"]:
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        for arn in resources:
            if arn == bucket_arn or arn.startswith(bucket_arn + "/"):
                grants.setdefault(arn, set()).update(actions)
    return grants


def test_each_role_reads_only_its_own_inputs_and_writes_only_its_own_results(
    gpu_mix_synth: SynthOutput,
) -> None:
    from pcompile.providers.aws.placement import slug
    from pcompile.runtime import staging

    app = gpu_mix()
    bucket_arn = f"arn:aws:s3:::{gpu_mix_synth.result.named(f'{slug(app.name)}-staging').name}"
    policies = {name: doc for name, doc in _iam_documents(gpu_mix_synth) if name.endswith("-policy")}
    owners = {f"{slug(app.name)}-{slug(f.name)}-policy": f.name for f in app.functions}
    assert set(owners) <= set(policies)
    for name, doc in policies.items():
        grants = _staging_grants(doc, bucket_arn)
        if name not in owners:  # schedules and other roles never touch staging
            assert grants == {}, (name, grants)
            continue
        function = owners[name]
        assert grants == {
            f"{bucket_arn}/{staging.prefix(function, staging.INPUTS)}/*": {"s3:GetObject"},
            f"{bucket_arn}/{staging.prefix(function, staging.RESULTS)}/*": {"s3:GetObject", "s3:PutObject"},
        }, (name, grants)
