"""One Pulumi component per IR concept on AWS: Function (Lambda), BatchFunction,
Schedule, Volume, Secret and the deployment Manifest.

Each component takes ``(name, args, opts)``, names its children ``f"{name}-<role>"``
with ``parent=self``, never creates resources inside ``apply``, and calls
``register_outputs`` last. Roles are least-privilege: see :mod:`.iam`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from pcompile.compiler import ir
from pcompile.compiler.ir import FunctionSpec, SecretSpec
from pcompile.providers.aws import iam, names
from pcompile.providers.aws.placement import BatchPlacement, LambdaPlacement
from pcompile.providers.aws.shared import private_bucket
from pcompile.providers.outputs import filled, joined
from pcompile.runtime import aws_env, proxy_auth

# The runtime's own Runtime API client: the image needs no awslambdaric (whose handler,
# ``pcompile.runtime.aws_lambda.handler``, works too).
LAMBDA_ENTRY_POINT = ("python", "-m", "pcompile.runtime", "lambda")
BATCH_COMMAND = ("python", "-m", "pcompile.runtime", "batch")
# Images are built for linux/amd64 (``builders.CLOUD_PLATFORM``); the function must say so.
LAMBDA_ARCHITECTURE = "x86_64"
BATCH_MAX_ATTEMPTS = 10
# A job attempt whose instance went away (Spot reclaim, retirement) ends with statusReason
# "Host EC2 (instance i-...) terminated."; those are retried whatever the user's retries.
# Source: https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html
HOST_LOST_STATUS_REASON = "Host EC2*"
PREEMPTION_RETRIES = 3
LIVE_ALIAS = "live"
SCHEDULE_EVENT = {"pcompile": "schedule"}
BATCH_SUBMIT_TARGET = "arn:aws:scheduler:::aws-sdk:batch:submitJob"


@dataclass(frozen=True)
class BatchQueueRef:
    """A job queue functions submit to: its ARN and the name it was given."""

    arn: pulumi.Input[str]
    name: str


@dataclass(frozen=True)
class Mount:
    """A bucket (optionally a prefix of it) synced at a mount path: volumes, network file
    systems and S3 ``CloudBucketMount``s alike."""

    bucket: pulumi.Input[str]
    prefix: str = ""
    read_only: bool = False

    def url(self) -> pulumi.Input[str]:
        """``s3://bucket[/prefix]``."""
        return joined("s3://", self.bucket, f"/{self.prefix}" if self.prefix else "")


@dataclass(frozen=True)
class Grants:
    """What a function's role may touch: its own staging prefixes, its volumes, its secrets."""

    staging_bucket_arn: pulumi.Input[str]
    function: str
    mounts: Mapping[str, Mount] = field(default_factory=dict)
    arns: iam.Arns | None = None
    secret_arns: tuple[pulumi.Input[str], ...] = ()
    code_bundle_arn: pulumi.Input[str] | None = None
    # the stack's proxy-auth token set, for a web function that requires proxy auth
    proxy_auth_arn: pulumi.Input[str] | None = None
    # Further statements the program adds (the Dict/Queue tables: ``kv_resources.statements``).
    extra: tuple[dict[str, Any], ...] = ()

    def statements(self) -> list[dict[str, Any]]:
        """IAM statements for these grants, volumes in mount-path order."""
        out = iam.staging_statements(self.staging_bucket_arn, self.function)
        if self.code_bundle_arn is not None:
            out.append(iam.allow("CodeBundle", ["s3:GetObject"], [self.code_bundle_arn]))
        assert self.arns is not None or not self.mounts
        for index, (_path, mount) in enumerate(sorted(self.mounts.items())):
            arn = self.arns.bucket(mount.bucket) if self.arns else mount.bucket
            out += iam.volume_statements(f"Volume{index}", arn, mount.read_only, mount.prefix)
        if self.proxy_auth_arn is not None:
            out.append(iam.allow("ProxyAuth", ["secretsmanager:GetSecretValue"], [self.proxy_auth_arn]))
        return out + iam.secret_statements(list(self.secret_arns)) + list(self.extra)


SPEC_FIELDS = (
    "batching",
    "cls",
    "concurrency",
    "is_async",
    "is_generator",
    "kind",
    "module",
    "name",
    "qualname",
    "retries",
    "timeout",
    # {mount path: volume name}: the runtime routes Volume.commit()/reload() by name
    "volumes",
    "web",
)


def runtime_spec(fn: FunctionSpec) -> str:
    """The function's IR dict as the runtime reads it: only the fields it uses, compact JSON
    (Lambda allows 4 KiB of environment in all)."""
    full = ir.to_jsonable(fn)
    spec = {k: full[k] for k in SPEC_FIELDS if full.get(k) not in (None, False, {}, [])}
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class RuntimeEnv:
    """The environment every container of a function starts with (see ``aws_env``)."""

    app: str
    fn: FunctionSpec
    staging_bucket: pulumi.Input[str]
    mounts: Mapping[str, Mount] = field(default_factory=dict)
    secret_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    code_bundle: str | None = None
    # An API emulator's URL (stack key ``endpoint_url``): the runtime's boto3 clients use it.
    endpoint_url: str | None = None
    # ``PCOMPILE_PROXY_AUTH``: where a proxy-auth web function reads its token set
    proxy_auth: str | None = None
    # Further plain variables (the Dict/Queue store's: ``kv_resources.environment``).
    extra: Mapping[str, str] = field(default_factory=dict)

    def variables(self) -> dict[str, pulumi.Input[str]]:
        """Variable name → value (an output where it names a bucket or secret ARN)."""
        static = {aws_env.APP: self.app, aws_env.FUNCTION: self.fn.name, aws_env.SPEC: runtime_spec(self.fn)}
        static.update(self.extra)
        if self.code_bundle:
            static[aws_env.CODE_BUNDLE] = self.code_bundle
        if self.endpoint_url:
            static[aws_env.BOTO_ENDPOINT_URL] = self.endpoint_url
        if self.proxy_auth:
            static[proxy_auth.ENV] = self.proxy_auth
        volumes = {path: {"url": m.url(), "read_only": m.read_only} for path, m in self.mounts.items()}
        dynamic = {
            aws_env.STAGING_URL: joined("s3://", self.staging_bucket),
            aws_env.VOLUMES: filled(volumes, _sorted_json),
            aws_env.SECRETS: filled(dict(self.secret_ids), _sorted_json),
        }
        return dict(sorted({**static, **dynamic}.items()))


def _sorted_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class FunctionArgs:
    """A Lambda function: its spec and placement, image, names and grants."""

    fn: FunctionSpec
    placement: LambdaPlacement
    physical_name: str
    image_uri: pulumi.Input[str]
    env: RuntimeEnv
    grants: Grants
    arns: iam.Arns
    tags: dict[str, str]
    log_retention_days: int = 30
    reserved_concurrency: int | None = None  # see ``concurrency.reserved_for``


class Function(pulumi.ComponentResource):
    """A CPU function on Lambda: role, log group, image function, IAM (or public) Function URL."""

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:Function", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        fn, placement = args.fn, args.placement
        log_group = f"/aws/lambda/{args.physical_name}"
        self.log_group = logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group,
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=child,
        )
        role, policy = _role(
            name,
            iam.trust_policy("lambda.amazonaws.com"),
            iam.log_statements(args.arns.log_group(log_group)) + args.grants.statements(),
            child,
            args.tags,
        )
        self.function = aws.lambda_.Function(
            f"{name}-fn",
            name=args.physical_name,
            package_type="Image",
            image_uri=args.image_uri,
            architectures=[LAMBDA_ARCHITECTURE],
            image_config={"entry_points": list(LAMBDA_ENTRY_POINT)},
            role=role.arn,
            timeout=placement.timeout_s,
            memory_size=placement.memory_mib,
            ephemeral_storage={"size": placement.ephemeral_storage_mib},
            environment={"variables": args.env.variables()},
            reserved_concurrent_executions=args.reserved_concurrency,
            publish=bool(fn.min_containers),
            logging_config={"log_format": "Text", "log_group": logs.name},
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs, policy]),
        )
        self.physical_name = args.physical_name
        self.qualifier = self._warm_pool(name, fn, child)
        self.url = self._url(name, fn, child)
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_arn": self.function.arn,
                "url": self.url.function_url,
            }
        )

    def _warm_pool(self, name: str, fn: FunctionSpec, child: pulumi.ResourceOptions) -> str | None:
        """``min_containers`` → provisioned concurrency on a ``live`` alias of the published version."""
        if not fn.min_containers:
            return None
        alias = aws.lambda_.Alias(
            f"{name}-live",
            name=LIVE_ALIAS,
            function_name=self.function.name,
            function_version=self.function.version,
            opts=child,
        )
        aws.lambda_.ProvisionedConcurrencyConfig(
            f"{name}-warm",
            function_name=self.function.name,
            qualifier=alias.name,
            provisioned_concurrent_executions=fn.min_containers,
            opts=child,
        )
        return LIVE_ALIAS

    def _url(self, name: str, fn: FunctionSpec, child: pulumi.ResourceOptions) -> aws.lambda_.FunctionUrl:
        """Every Lambda gets an HTTPS URL: IAM-signed, or public for a web endpoint (one that
        requires proxy auth checks Modal-Key/Modal-Secret in the runtime's front, as everywhere)."""
        public = fn.web is not None
        auth = "NONE" if public else "AWS_IAM"
        url = aws.lambda_.FunctionUrl(
            f"{name}-url",
            function_name=self.function.name,
            qualifier=self.qualifier,
            authorization_type=auth,
            invoke_mode="BUFFERED",
            opts=child,
        )
        if public:
            # Since late 2025 a public URL needs both permissions; neither is implied by auth NONE.
            aws.lambda_.Permission(
                f"{name}-public-url",
                action="lambda:InvokeFunctionUrl",
                function=self.function.name,
                qualifier=self.qualifier,
                principal="*",
                function_url_auth_type="NONE",
                opts=child,
            )
            aws.lambda_.Permission(
                f"{name}-public-invoke",
                action="lambda:InvokeFunction",
                function=self.function.name,
                qualifier=self.qualifier,
                principal="*",
                invoked_via_function_url=True,
                opts=child,
            )
        return url


@dataclass(frozen=True)
class BatchFunctionArgs:
    """A Batch job definition: spec, placement, queue, image, names and grants."""

    fn: FunctionSpec
    placement: BatchPlacement
    physical_name: str
    image_uri: pulumi.Input[str]
    queue: BatchQueueRef
    region: str
    env: RuntimeEnv
    grants: Grants
    tags: dict[str, str]
    log_retention_days: int = 30


class BatchFunction(pulumi.ComponentResource):
    """A GPU or long function on Batch: job role, log group, job definition (GPU/VCPU/MEMORY)."""

    def __init__(
        self, name: str, args: BatchFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("pcompile:aws:BatchFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/batch/{args.physical_name}",
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=child,
        )
        role, _ = _role(
            name, iam.trust_policy("ecs-tasks.amazonaws.com"), args.grants.statements(), child, args.tags
        )
        fn = args.fn
        execution = _execution_role(name, args, child)
        self.job_definition = aws.batch.JobDefinition(
            f"{name}-jobdef",
            name=args.physical_name,
            type="container",
            platform_capabilities=["EC2"],
            container_properties=self._container(args, role.arn, execution),
            retry_strategy=batch_retry_strategy(fn.retries.max_retries),
            timeout={"attempt_duration_seconds": args.placement.timeout_s},
            propagate_tags=True,
            tags=args.tags,
            opts=child,
        )
        self.queue = args.queue
        self.physical_name = args.physical_name
        # Array jobs never fan out wider than max_containers (default: 64 tasks per call).
        self.max_tasks = args.fn.max_containers or 64
        self.register_outputs({"job_definition": self.job_definition.arn, "job_queue": args.queue.arn})

    def _container(
        self, args: BatchFunctionArgs, role_arn: pulumi.Output[str], execution: pulumi.Output[str] | None
    ) -> pulumi.Input[str]:
        """``containerProperties`` JSON: image, command, resources, environment, logs, roles."""
        placement = args.placement
        resources = [
            {"type": "VCPU", "value": str(placement.vcpus)},
            {"type": "MEMORY", "value": str(placement.memory_mib)},
        ]
        if placement.gpus:
            resources.append({"type": "GPU", "value": str(placement.gpus)})
        parts = [args.image_uri, role_arn, args.env.variables(), self.log_group.name, execution or ""]
        return filled(
            parts, lambda p: _container_json(p[0], p[1], p[2], p[3], resources, args.region, p[4] or None)
        )


def _role(
    name: str,
    trust: pulumi.Input[str],
    statements: list[dict[str, Any]],
    opts: pulumi.ResourceOptions,
    tags: Mapping[str, str] | None = None,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """``<name>-role``, assumed as ``trust`` says, with one inline ``<name>-policy`` of
    ``statements``; both names fitted to IAM's limits."""
    role = aws.iam.Role(
        f"{name}-role",
        name=names.fitted(f"{name}-role", names.ROLE),
        assume_role_policy=trust,
        tags=tags,
        opts=opts,
    )
    policy = aws.iam.RolePolicy(
        f"{name}-policy",
        name=names.fitted(f"{name}-policy", names.ROLE_POLICY),
        role=role.id,
        policy=iam.policy_json(statements),
        opts=opts,
    )
    return role, policy


def _repository_arn(image_uri: str) -> str:
    """An image URI known only at deploy time is in the account's ECR registry by construction."""
    arn = names.ecr_repository_arn(image_uri)
    if arn is None:
        raise ValueError(f"{image_uri} is not an ECR image")
    return arn


def _execution_role(
    name: str, args: BatchFunctionArgs, child: pulumi.ResourceOptions
) -> pulumi.Output[str] | None:
    """The role Batch pulls the job's image with: read on exactly the ECR repository deploy
    pushed the image to (Lambda pulls with its own access and the repository's policy, so
    Lambda functions get none). None for an image outside ECR."""
    statements = image_pull_grants(args.image_uri)
    if not statements:
        return None
    trust = iam.trust_policy("ecs-tasks.amazonaws.com")
    role, _ = _role(f"{name}-exec", trust, statements, child, args.tags)
    return role.arn


def image_pull_grants(image_uri: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Pull statements for exactly the ECR repository of ``image_uri``; none for an image
    outside ECR (Batch and ECS execution roles share this)."""
    if isinstance(image_uri, str) and names.ecr_repository_arn(image_uri) is None:
        return []
    repository = pulumi.Output.from_input(image_uri).apply(_repository_arn)
    return iam.image_pull_statements(repository)


def _container_json(
    image: str,
    role_arn: str,
    env: dict[str, str],
    log_group: str,
    resources: list[dict[str, str]],
    region: str,
    execution_role_arn: str | None = None,
) -> str:
    props = {
        "image": image,
        "command": list(BATCH_COMMAND),
        "jobRoleArn": role_arn,
        **({"executionRoleArn": execution_role_arn} if execution_role_arn else {}),
        "resourceRequirements": resources,
        "environment": [{"name": k, "value": v} for k, v in sorted(region_env(env, region).items())],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": "pcompile",
            },
        },
    }
    return json.dumps(props, sort_keys=True)


def batch_retry_strategy(max_retries: int) -> aws.batch.JobDefinitionRetryStrategyArgsDict:
    """``retryStrategy``: lost hosts retried always (``PREEMPTION_RETRIES`` on top of the user's);
    any other failure retried only when the user asked for retries (the attempts are shared)."""
    rules: list[aws.batch.JobDefinitionRetryStrategyEvaluateOnExitArgsDict] = [
        {"action": "RETRY", "on_status_reason": HOST_LOST_STATUS_REASON}
    ]
    if max_retries == 0:
        rules.append({"action": "EXIT", "on_status_reason": "*"})
    attempts = min(BATCH_MAX_ATTEMPTS, max_retries + 1 + PREEMPTION_RETRIES)
    return {"attempts": attempts, "evaluate_on_exits": rules}


def region_env(env: dict[str, str], region: str) -> dict[str, str]:
    """Batch and ECS containers are not told their region (Lambda's are, and refuses these keys)."""
    return {**env, aws_env.REGION: region, aws_env.DEFAULT_REGION: region}


@dataclass(frozen=True)
class ScheduleArgs:
    """A schedule expression and what it starts: a Lambda (``function_arn``) or a Batch job."""

    expression: str
    timezone: str | None
    account: pulumi.Input[str]
    job_name: str
    grant: dict[str, Any]
    function_arn: pulumi.Input[str] | None = None
    job_queue_arn: pulumi.Input[str] | None = None
    job_definition_arn: pulumi.Input[str] | None = None


class Schedule(pulumi.ComponentResource):
    """An EventBridge Scheduler schedule with a role allowed to start exactly its target."""

    def __init__(self, name: str, args: ScheduleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:Schedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role, _ = _role(name, iam.trust_policy("scheduler.amazonaws.com", args.account), [args.grant], child)
        self.schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            name=names.fitted(f"{name}-schedule", names.SCHEDULE),
            schedule_expression=args.expression,
            schedule_expression_timezone=args.timezone,
            flexible_time_window={"mode": "OFF"},
            target=cast(
                Any,
                {**self._target(args), "role_arn": role.arn, "retry_policy": {"maximum_retry_attempts": 0}},
            ),
            opts=child,
        )
        self.register_outputs({"arn": self.schedule.arn})

    @staticmethod
    def _target(args: ScheduleArgs) -> dict[str, Any]:
        """The Lambda itself, or Scheduler's universal target calling ``batch:SubmitJob``."""
        if args.function_arn is not None:
            return {"arn": args.function_arn, "input": json.dumps(SCHEDULE_EVENT)}
        assert args.job_queue_arn is not None and args.job_definition_arn is not None
        request = pulumi.Output.all(args.job_queue_arn, args.job_definition_arn).apply(
            lambda a: json.dumps(
                {"JobDefinition": a[1], "JobName": args.job_name, "JobQueue": a[0]}, sort_keys=True
            )
        )
        return {"arn": BATCH_SUBMIT_TARGET, "input": request}


class Volume(pulumi.ComponentResource):
    """A Modal Volume as a private, encrypted, TLS-only S3 bucket."""

    def __init__(self, name: str, tags: dict[str, str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:Volume", name, None, opts)
        self.bucket = private_bucket(f"{name}-bucket", self, tags)
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.bucket.arn})


@dataclass(frozen=True)
class SecretArgs:
    """A secret of the app: named (exists already) or created here from Pulumi secret config."""

    spec: SecretSpec
    physical_name: str
    arns: iam.Arns
    value: pulumi.Input[str] | None = None


class Secret(pulumi.ComponentResource):
    """``Secret.from_name`` → the ARN pattern of an existing secret; other kinds → a new secret
    whose value comes only from Pulumi secret config."""

    def __init__(self, name: str, args: SecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:Secret", name, None, opts)
        if args.spec.kind == "named":
            self.arn: pulumi.Input[str] = args.arns.named_secret(args.spec.name)
            self.secret_id: pulumi.Output[str] = pulumi.Output.from_input(args.spec.name)
        else:
            secret = aws.secretsmanager.Secret(
                f"{name}-secret",
                name=args.physical_name,
                # Its value lives in the program's config: no window, so destroy + redeploy
                # can create the same name again at once (a window would block it for days).
                recovery_window_in_days=0,
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-value",
                secret_id=secret.id,
                secret_string=args.value,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.arn = secret.arn
            self.secret_id = secret.arn
        self.register_outputs({"arn": self.arn})


@dataclass(frozen=True)
class ManifestArgs:
    """Where the manifest goes and what it says (``content`` resolves to ``Manifest.dumps()``)."""

    bucket: pulumi.Input[str]
    key: str
    parameter_name: str
    content: pulumi.Input[str]
    tags: dict[str, str]


class DeploymentManifest(pulumi.ComponentResource):
    """The manifest as an S3 object, found through an SSM parameter at a well-known name."""

    def __init__(self, name: str, args: ManifestArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pcompile:aws:Manifest", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        obj = aws.s3.BucketObjectv2(
            f"{name}-object",
            bucket=args.bucket,
            key=args.key,
            content=args.content,
            content_type="application/json",
            tags=args.tags,
            opts=child,
        )
        self.parameter = aws.ssm.Parameter(
            f"{name}-pointer",
            name=args.parameter_name,
            type="String",
            value=pulumi.Output.concat("s3://", obj.bucket, "/", obj.key),
            tags=args.tags,
            opts=child,
        )
        self.register_outputs({"parameter": self.parameter.name})
