"""Every AWS resource type the programs emit, created in an API emulator through boto3.

One :class:`Handler` per Pulumi type token turns the inputs the mock engine received
(camelCase, as pulumi-aws sends them) into the AWS API calls pulumi-aws would make,
so botocore's service models and the emulator check every field. Outputs are the
emulator's answers (ARNs, ids, names), merged over the inputs as Pulumi's state is.

Nothing is dropped silently: a handler lists the inputs it maps, and an input it
does not know is refused (:class:`Unmapped`), as is a type with no handler. One
type has no API in moto: ``aws:lambda/provisionedConcurrencyConfig`` is attempted
and, when the emulator has no such operation, recorded as a pass-through (see
``docs/deploy.md``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# moto (and AWS itself) create this role the first time Batch is used in an account.
BATCH_SERVICE_LINKED_ROLE = "batch.amazonaws.com"


class Unmapped(Exception):
    """The program used a type or an input the simulate engine does not create: a refusal."""


class PassThrough(Exception):
    """The emulator has no API for this resource: it is recorded, not created."""


@dataclass(frozen=True)
class Request:
    """One resource as the engine asked for it: type token, logical name, URN, inputs."""

    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]

    def auto_name(self, limit: int = 64) -> str:
        """Pulumi's auto-name (logical name + suffix), the suffix derived from the URN so
        that two simulated deploys of the same program name things alike."""
        suffix = hashlib.sha256(self.urn.encode()).hexdigest()[:7]
        return f"{self.name[: limit - 8]}-{suffix}"

    def name_or_auto(self, key: str = "name", limit: int = 64) -> str:
        """The explicit physical name, else the auto-name."""
        return str(self.inputs.get(key) or self.auto_name(limit))


@dataclass(frozen=True)
class Recorded:
    """A resource as the simulated state holds it."""

    type: str
    name: str
    id: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]


class Emulator:
    """boto3 clients at the emulator's URL, one per service."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` at the emulator."""
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.session.Session().client(
                service, region_name=self.region, endpoint_url=self.endpoint_url
            )
        return self._clients[service]

    def account(self) -> str:
        """The emulator's account id (STS)."""
        return str(self.client("sts").get_caller_identity()["Account"])


Created = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Handler:
    """How one Pulumi type is created, updated in place and deleted through the AWS API.

    ``update`` None means a change replaces the resource (delete, then create).
    """

    type: str
    inputs: frozenset[str]
    create: Callable[[Emulator, Request], Created]
    delete: Callable[[Emulator, Recorded], None]
    update: Callable[[Emulator, Request, Recorded], Created] | None = None

    def check(self, request: Request) -> None:
        """Refuse inputs this handler does not map to the API."""
        unknown = sorted(set(request.inputs) - self.inputs)
        if unknown:
            raise Unmapped(
                f"{request.type} {request.name!r}: the simulate engine does not map input(s) "
                f"{', '.join(unknown)}; add them to pcompile.providers.simulate.aws_resources"
            )


HANDLERS: dict[str, Handler] = {}
# Data sources answered by handler modules (``aws_ecs``): token -> (emulator, args) -> result.
INVOKES: dict[str, Callable[[Emulator, Mapping[str, Any]], dict[str, Any]]] = {}


def handler(type_token: str, inputs: str, *, update: bool = True) -> Callable[[Any], Any]:
    """Register a class with ``create``/``delete`` (and ``update``) static methods."""

    def register(cls: Any) -> Any:
        HANDLERS[type_token] = Handler(
            type_token,
            frozenset(inputs.split()),
            cls.create,
            cls.delete,
            getattr(cls, "update", None) if update else None,
        )
        return cls

    return register


def _tags(inputs: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in sorted((inputs.get("tags") or {}).items())}


def _tag_list(inputs: Mapping[str, Any], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in _tags(inputs).items()]


# ------------------------------------------------------------------------- S3


@handler("aws:s3/bucket:Bucket", "bucket forceDestroy tags")
class Bucket:
    """``s3:CreateBucket`` + tags; deleting a non-empty bucket fails unless ``forceDestroy``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto("bucket", 63).lower()
        s3 = aws.client("s3")
        extra = (
            {}
            if aws.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
        )
        s3.create_bucket(Bucket=name, **extra)
        return Bucket.update(aws, r, Recorded(r.type, r.name, name, {}, {"bucket": name}))

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        name = old.id
        if _tags(r.inputs):
            aws.client("s3").put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tag_list(r.inputs)})
        outputs = {
            "bucket": name,
            "arn": f"arn:aws:s3:::{name}",
            "bucketDomainName": f"{name}.s3.amazonaws.com",
            "region": aws.region,
        }
        return name, outputs

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        s3 = aws.client("s3")
        if rec.inputs.get("forceDestroy"):
            pages = s3.get_paginator("list_object_versions").paginate(Bucket=rec.id)
            for page in pages:
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    s3.delete_object(Bucket=rec.id, Key=item["Key"], VersionId=item["VersionId"])
        s3.delete_bucket(Bucket=rec.id)


@handler(
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "bucket blockPublicAcls blockPublicPolicy ignorePublicAcls restrictPublicBuckets",
)
class PublicAccessBlock:
    """``s3:PutPublicAccessBlock``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        config = {k[0].upper() + k[1:]: bool(r.inputs.get(k)) for k in keys}
        aws.client("s3").put_public_access_block(
            Bucket=r.inputs["bucket"], PublicAccessBlockConfiguration=config
        )
        return str(r.inputs["bucket"]), {}

    update = staticmethod(lambda aws, r, old: PublicAccessBlock.create(aws, r))

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("s3").delete_public_access_block(Bucket=rec.id)


@handler(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "bucket rules"
)
class BucketEncryption:
    """``s3:PutBucketEncryption``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        rules = []
        for rule in r.inputs.get("rules") or []:
            default = rule.get("applyServerSideEncryptionByDefault") or {}
            item: dict[str, Any] = {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": default["sseAlgorithm"]}
            }
            if default.get("kmsMasterKeyId"):
                item["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = default["kmsMasterKeyId"]
            if "bucketKeyEnabled" in rule:
                item["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
            rules.append(item)
        aws.client("s3").put_bucket_encryption(
            Bucket=r.inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
        )
        return str(r.inputs["bucket"]), {}

    update = staticmethod(lambda aws, r, old: BucketEncryption.create(aws, r))

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("s3").delete_bucket_encryption(Bucket=rec.id)


@handler("aws:s3/bucketPolicy:BucketPolicy", "bucket policy")
class BucketPolicy:
    """``s3:PutBucketPolicy``. moto evaluates bucket policies without their conditions, so a
    conditional Deny (TLS-only: ``aws:SecureTransport``) would deny every request to it;
    such statements are left out of what moto stores, and listed in the outputs
    (``simulateOmitted``). The state keeps the whole policy."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        policy, omitted = emulator_policy(str(r.inputs["policy"]), str(r.inputs["bucket"]))
        aws.client("s3").put_bucket_policy(Bucket=r.inputs["bucket"], Policy=policy)
        return str(r.inputs["bucket"]), {"simulateOmitted": omitted}

    update = staticmethod(lambda aws, r, old: BucketPolicy.create(aws, r))

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("s3").delete_bucket_policy(Bucket=rec.id)


def emulator_policy(text: str, bucket: str) -> tuple[str, list[str]]:
    """The policy without conditional Deny statements, and their Sids (see BucketPolicy)."""
    document = json.loads(text)
    statements = document.get("Statement") or []
    statements = statements if isinstance(statements, list) else [statements]
    kept = [s for s in statements if not (s.get("Effect") == "Deny" and s.get("Condition"))]
    omitted = sorted(str(s.get("Sid", "")) for s in statements if s not in kept)
    if not kept:  # S3 refuses an empty policy; a statement that denies nothing in use keeps the call
        kept = [
            {
                "Sid": "SimulateNoop",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutBucketWebsite",
                "Resource": f"arn:aws:s3:::{bucket}",
            }
        ]
    return json.dumps({**document, "Statement": kept}, sort_keys=True), omitted


@handler("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "bucket rules")
class BucketLifecycle:
    """``s3:PutBucketLifecycleConfiguration``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        rules = [
            {
                "ID": rule["id"],
                "Status": rule["status"],
                "Filter": {"Prefix": (rule.get("filter") or {}).get("prefix", "")},
                "Expiration": {"Days": int(rule["expiration"]["days"])},
            }
            for rule in r.inputs.get("rules") or []
        ]
        aws.client("s3").put_bucket_lifecycle_configuration(
            Bucket=r.inputs["bucket"], LifecycleConfiguration={"Rules": rules}
        )
        return str(r.inputs["bucket"]), {}

    update = staticmethod(lambda aws, r, old: BucketLifecycle.create(aws, r))

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("s3").delete_bucket_lifecycle(Bucket=rec.id)


@handler("aws:s3/bucketVersioning:BucketVersioning", "bucket versioningConfiguration")
class BucketVersioning:
    """``s3:PutBucketVersioning``; deleting suspends versioning, as pulumi-aws does."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        status = (r.inputs.get("versioningConfiguration") or {}).get("status", "Enabled")
        aws.client("s3").put_bucket_versioning(
            Bucket=r.inputs["bucket"], VersioningConfiguration={"Status": status}
        )
        return str(r.inputs["bucket"]), {}

    update = staticmethod(lambda aws, r, old: BucketVersioning.create(aws, r))

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("s3").put_bucket_versioning(Bucket=rec.id, VersioningConfiguration={"Status": "Suspended"})


@handler("aws:s3/bucketObjectv2:BucketObjectv2", "bucket key content contentType tags")
class BucketObject:
    """``s3:PutObject`` of inline content."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        extra: dict[str, Any] = {}
        if r.inputs.get("contentType"):
            extra["ContentType"] = r.inputs["contentType"]
        if _tags(r.inputs):
            extra["Tagging"] = "&".join(f"{k}={v}" for k, v in _tags(r.inputs).items())
        answer = aws.client("s3").put_object(
            Bucket=r.inputs["bucket"],
            Key=r.inputs["key"],
            Body=str(r.inputs.get("content") or "").encode(),
            **extra,
        )
        outputs = {"etag": str(answer.get("ETag", "")).strip('"'), "versionId": answer.get("VersionId", "")}
        return str(r.inputs["key"]), outputs

    update = staticmethod(lambda aws, r, old: BucketObject.create(aws, r))

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("s3").delete_object(Bucket=rec.inputs["bucket"], Key=rec.inputs["key"])


# ------------------------------------------------------------------ SSM, secrets, logs


@handler("aws:ssm/parameter:Parameter", "name type value tags description")
class Parameter:
    """``ssm:PutParameter``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto()
        answer = aws.client("ssm").put_parameter(
            Name=name, Type=r.inputs["type"], Value=str(r.inputs["value"]), Tags=_tag_list(r.inputs)
        )
        return name, Parameter._outputs(aws, name, answer)

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        answer = aws.client("ssm").put_parameter(
            Name=old.id, Type=r.inputs["type"], Value=str(r.inputs["value"]), Overwrite=True
        )
        return old.id, Parameter._outputs(aws, old.id, answer)

    @staticmethod
    def _outputs(aws: Emulator, name: str, answer: Mapping[str, Any]) -> dict[str, Any]:
        arn = f"arn:aws:ssm:{aws.region}:{aws.account()}:parameter{name}"
        return {"name": name, "arn": arn, "version": int(answer.get("Version", 1))}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ssm").delete_parameter(Name=rec.id)


@handler("aws:secretsmanager/secret:Secret", "name recoveryWindowInDays description tags", update=False)
class Secret:
    """``secretsmanager:CreateSecret``; deleted with the recovery window the program asked for."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto(limit=256)
        extra: dict[str, Any] = {"Tags": _tag_list(r.inputs)} if _tags(r.inputs) else {}
        if r.inputs.get("description"):
            extra["Description"] = r.inputs["description"]
        answer = aws.client("secretsmanager").create_secret(Name=name, **extra)
        return str(answer["ARN"]), {"arn": answer["ARN"], "name": name}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        days = int(rec.inputs.get("recoveryWindowInDays", 30))
        window = {"ForceDeleteWithoutRecovery": True} if days == 0 else {"RecoveryWindowInDays": days}
        aws.client("secretsmanager").delete_secret(SecretId=rec.id, **window)


@handler("aws:secretsmanager/secretVersion:SecretVersion", "secretId secretString")
class SecretVersion:
    """``secretsmanager:PutSecretValue``; like pulumi-aws, the current version is left to the
    secret's own deletion."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        answer = aws.client("secretsmanager").put_secret_value(
            SecretId=r.inputs["secretId"], SecretString=str(r.inputs["secretString"])
        )
        version = str(answer["VersionId"])
        return f"{r.inputs['secretId']}|{version}", {"arn": answer["ARN"], "versionId": version}

    update = staticmethod(lambda aws, r, old: SecretVersion.create(aws, r))

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        return None


@handler("aws:cloudwatch/logGroup:LogGroup", "name retentionInDays tags")
class LogGroup:
    """``logs:CreateLogGroup`` + ``PutRetentionPolicy``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto(limit=512)
        aws.client("logs").create_log_group(
            logGroupName=name, **({"tags": _tags(r.inputs)} if _tags(r.inputs) else {})
        )
        return LogGroup.update(aws, r, Recorded(r.type, r.name, name, {}, {}))

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        if r.inputs.get("retentionInDays"):
            aws.client("logs").put_retention_policy(
                logGroupName=old.id, retentionInDays=int(r.inputs["retentionInDays"])
            )
        arn = f"arn:aws:logs:{aws.region}:{aws.account()}:log-group:{old.id}"
        return old.id, {"name": old.id, "arn": arn}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("logs").delete_log_group(logGroupName=rec.id)


# ------------------------------------------------------------------------- ECR


@handler(
    "aws:ecr/repository:Repository", "name imageScanningConfiguration imageTagMutability forceDelete tags"
)
class Repository:
    """``ecr:CreateRepository``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto(limit=256).lower()
        scan = bool((r.inputs.get("imageScanningConfiguration") or {}).get("scanOnPush"))
        answer = aws.client("ecr").create_repository(
            repositoryName=name,
            imageTagMutability=r.inputs.get("imageTagMutability") or "MUTABLE",
            imageScanningConfiguration={"scanOnPush": scan},
            tags=_tag_list(r.inputs),
        )["repository"]
        return name, Repository._outputs(answer)

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        ecr = aws.client("ecr")
        scan = bool((r.inputs.get("imageScanningConfiguration") or {}).get("scanOnPush"))
        ecr.put_image_scanning_configuration(
            repositoryName=old.id, imageScanningConfiguration={"scanOnPush": scan}
        )
        ecr.put_image_tag_mutability(
            repositoryName=old.id, imageTagMutability=r.inputs.get("imageTagMutability") or "MUTABLE"
        )
        answer = ecr.describe_repositories(repositoryNames=[old.id])["repositories"][0]
        return old.id, Repository._outputs(answer)

    @staticmethod
    def _outputs(repo: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": repo["repositoryName"],
            "arn": repo["repositoryArn"],
            "repositoryUrl": repo["repositoryUri"],
            "registryId": repo["registryId"],
        }

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ecr").delete_repository(repositoryName=rec.id, force=bool(rec.inputs.get("forceDelete")))


@handler("aws:ecr/lifecyclePolicy:LifecyclePolicy", "repository policy")
class LifecyclePolicy:
    """``ecr:PutLifecyclePolicy``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        aws.client("ecr").put_lifecycle_policy(
            repositoryName=r.inputs["repository"], lifecyclePolicyText=str(r.inputs["policy"])
        )
        return str(r.inputs["repository"]), {}

    update = staticmethod(lambda aws, r, old: LifecyclePolicy.create(aws, r))

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ecr").delete_lifecycle_policy(repositoryName=rec.id)


# ------------------------------------------------------------------------- IAM


@handler("aws:iam/role:Role", "name assumeRolePolicy tags description path")
class Role:
    """``iam:CreateRole``; updates the trust policy and tags in place."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto()
        extra = {"Path": r.inputs["path"]} if r.inputs.get("path") else {}
        answer = aws.client("iam").create_role(
            RoleName=name,
            AssumeRolePolicyDocument=str(r.inputs["assumeRolePolicy"]),
            Tags=_tag_list(r.inputs),
            **extra,
        )["Role"]
        return name, {"name": name, "arn": answer["Arn"], "uniqueId": answer["RoleId"]}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        iam = aws.client("iam")
        iam.update_assume_role_policy(RoleName=old.id, PolicyDocument=str(r.inputs["assumeRolePolicy"]))
        if _tags(r.inputs):
            iam.tag_role(RoleName=old.id, Tags=_tag_list(r.inputs))
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("iam").delete_role(RoleName=rec.id)


@handler("aws:iam/rolePolicy:RolePolicy", "name role policy")
class RolePolicy:
    """``iam:PutRolePolicy`` (an inline policy; IAM's parser checks the document)."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto(limit=128)
        aws.client("iam").put_role_policy(
            RoleName=r.inputs["role"], PolicyName=name, PolicyDocument=str(r.inputs["policy"])
        )
        return f"{r.inputs['role']}:{name}", {"name": name}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        name = str(old.outputs["name"])
        aws.client("iam").put_role_policy(
            RoleName=r.inputs["role"], PolicyName=name, PolicyDocument=str(r.inputs["policy"])
        )
        return old.id, {"name": name}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        role, _, name = rec.id.partition(":")
        aws.client("iam").delete_role_policy(RoleName=role, PolicyName=name)


@handler("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "role policyArn", update=False)
class RolePolicyAttachment:
    """``iam:AttachRolePolicy``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        aws.client("iam").attach_role_policy(RoleName=r.inputs["role"], PolicyArn=r.inputs["policyArn"])
        return f"{r.inputs['role']}-{r.inputs['policyArn']}", {}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("iam").detach_role_policy(RoleName=rec.inputs["role"], PolicyArn=rec.inputs["policyArn"])


@handler("aws:iam/instanceProfile:InstanceProfile", "name role tags", update=False)
class InstanceProfile:
    """``iam:CreateInstanceProfile`` + ``AddRoleToInstanceProfile``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto(limit=128)
        iam = aws.client("iam")
        answer = iam.create_instance_profile(InstanceProfileName=name, Tags=_tag_list(r.inputs))
        if r.inputs.get("role"):
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=r.inputs["role"])
        profile = answer["InstanceProfile"]
        return name, {"name": name, "arn": profile["Arn"], "uniqueId": profile["InstanceProfileId"]}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        iam = aws.client("iam")
        if rec.inputs.get("role"):
            iam.remove_role_from_instance_profile(InstanceProfileName=rec.id, RoleName=rec.inputs["role"])
        iam.delete_instance_profile(InstanceProfileName=rec.id)


# ------------------------------------------------------------------------- Lambda


_FUNCTION_INPUTS = (
    "name packageType imageUri imageConfig role timeout memorySize ephemeralStorage environment architectures "
    "reservedConcurrentExecutions publish loggingConfig tags"
)


@handler("aws:lambda/function:Function", _FUNCTION_INPUTS)
class Function:
    """``lambda:CreateFunction`` of an image function; a change updates its configuration
    and, when the image moved, its code (a new version when ``publish``)."""

    @staticmethod
    def _config(r: Request) -> dict[str, Any]:
        i = r.inputs
        config: dict[str, Any] = {
            "Role": i["role"],
            "Timeout": int(i.get("timeout", 3)),
            "MemorySize": int(i.get("memorySize", 128)),
            "Environment": {"Variables": dict((i.get("environment") or {}).get("variables") or {})},
        }
        if i.get("imageConfig"):
            config["ImageConfig"] = {"EntryPoint": list(i["imageConfig"].get("entryPoints") or [])}
        if i.get("ephemeralStorage"):
            config["EphemeralStorage"] = {"Size": int(i["ephemeralStorage"]["size"])}
        if i.get("loggingConfig"):
            logging = i["loggingConfig"]
            config["LoggingConfig"] = {"LogFormat": logging.get("logFormat", "Text")}
            if logging.get("logGroup"):
                config["LoggingConfig"]["LogGroup"] = logging["logGroup"]
        return config

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto()
        lam = aws.client("lambda")
        require_image(aws, str(r.inputs["imageUri"]), "CreateFunction")
        answer = lam.create_function(
            FunctionName=name,
            PackageType=r.inputs.get("packageType", "Zip"),
            Code={"ImageUri": r.inputs["imageUri"]},
            Architectures=list(r.inputs.get("architectures") or ["x86_64"]),
            Publish=bool(r.inputs.get("publish")),
            Tags=_tags(r.inputs),
            **Function._config(r),
        )
        Function._concurrency(aws, name, r.inputs)
        return name, Function._outputs(aws, answer)

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        lam = aws.client("lambda")
        answer = lam.update_function_configuration(FunctionName=old.id, **Function._config(r))
        if r.inputs["imageUri"] != old.inputs.get("imageUri") or (
            r.inputs.get("publish") and r.inputs != old.inputs
        ):
            require_image(aws, str(r.inputs["imageUri"]), "UpdateFunctionCode")
            answer = lam.update_function_code(
                FunctionName=old.id,
                ImageUri=r.inputs["imageUri"],
                Publish=bool(r.inputs.get("publish")),
                Architectures=list(r.inputs.get("architectures") or ["x86_64"]),
            )
        outputs = Function._outputs(aws, answer)
        if _tags(r.inputs):
            lam.tag_resource(Resource=outputs["arn"], Tags=_tags(r.inputs))
        Function._concurrency(aws, old.id, r.inputs)
        return old.id, outputs

    @staticmethod
    def _concurrency(aws: Emulator, name: str, inputs: Mapping[str, Any]) -> None:
        reserved = inputs.get("reservedConcurrentExecutions")
        if reserved is not None and int(reserved) >= 0:
            aws.client("lambda").put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=int(reserved)
            )

    @staticmethod
    def _outputs(aws: Emulator, answer: Mapping[str, Any]) -> dict[str, Any]:
        arn = str(answer["FunctionArn"])
        if arn.count(":") > 6:  # a qualified ARN: the function's own is without the version
            arn = arn.rsplit(":", 1)[0]
        version = str(answer.get("Version", "$LATEST"))
        return {
            "name": answer["FunctionName"],
            "arn": arn,
            "qualifiedArn": f"{arn}:{version}",
            "version": version,
            "invokeArn": f"arn:aws:apigateway:{aws.region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        }

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("lambda").delete_function(FunctionName=rec.id)


def require_image(aws: Emulator, uri: str, operation: str) -> None:
    """Lambda refuses an ECR image that is not there; moto does not check, so this does
    (for images in the emulator's own ECR), with AWS's own error."""
    if ".dkr.ecr." not in uri or ":" not in uri.rsplit("/", 1)[-1]:
        return
    from botocore.exceptions import ClientError

    repo, tag = uri.split("/", 1)[1].rsplit(":", 1)
    ecr = aws.client("ecr")
    try:
        found = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": tag}])["images"]
    except ecr.exceptions.RepositoryNotFoundException:
        found = []
    if not found:
        error = {
            "Code": "InvalidParameterValueException",
            "Message": f"Source image {uri} does not exist. Provide a valid source image.",
        }
        raise ClientError({"Error": error}, operation)


@handler("aws:lambda/functionUrl:FunctionUrl", "functionName qualifier authorizationType invokeMode cors")
class FunctionUrl:
    """``lambda:CreateFunctionUrlConfig``."""

    @staticmethod
    def _args(r: Request) -> dict[str, Any]:
        args: dict[str, Any] = {
            "FunctionName": r.inputs["functionName"],
            "AuthType": r.inputs["authorizationType"],
            "InvokeMode": r.inputs.get("invokeMode") or "BUFFERED",
        }
        if r.inputs.get("qualifier"):
            args["Qualifier"] = r.inputs["qualifier"]
        return args

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        answer = aws.client("lambda").create_function_url_config(**FunctionUrl._args(r))
        return FunctionUrl._created(r, answer)

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        answer = aws.client("lambda").update_function_url_config(**FunctionUrl._args(r))
        return FunctionUrl._created(r, answer)

    @staticmethod
    def _created(r: Request, answer: Mapping[str, Any]) -> Created:
        url = str(answer["FunctionUrl"])
        rid = str(r.inputs["functionName"]) + (
            f"/{r.inputs['qualifier']}" if r.inputs.get("qualifier") else ""
        )
        host = url.split("://", 1)[-1].split(".", 1)[0]
        return rid, {
            "functionUrl": url if url.endswith("/") else url + "/",
            "functionArn": answer["FunctionArn"],
            "urlId": host,
        }

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        args = {"FunctionName": rec.inputs["functionName"]}
        if rec.inputs.get("qualifier"):
            args["Qualifier"] = rec.inputs["qualifier"]
        aws.client("lambda").delete_function_url_config(**args)


@handler(
    "aws:lambda/permission:Permission",
    "action function principal qualifier functionUrlAuthType invokedViaFunctionUrl sourceArn statementId",
    update=False,
)
class Permission:
    """``lambda:AddPermission``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        sid = r.name_or_auto("statementId", 100)
        args: dict[str, Any] = {
            "FunctionName": r.inputs["function"],
            "StatementId": sid,
            "Action": r.inputs["action"],
            "Principal": r.inputs["principal"],
        }
        for key, api in (
            ("qualifier", "Qualifier"),
            ("functionUrlAuthType", "FunctionUrlAuthType"),
            ("sourceArn", "SourceArn"),
        ):
            if r.inputs.get(key):
                args[api] = r.inputs[key]
        if r.inputs.get("invokedViaFunctionUrl"):
            args["InvokedViaFunctionUrl"] = True
        aws.client("lambda").add_permission(**args)
        return sid, {"statementId": sid}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        args = {"FunctionName": rec.inputs["function"], "StatementId": rec.id}
        if rec.inputs.get("qualifier"):
            args["Qualifier"] = rec.inputs["qualifier"]
        aws.client("lambda").remove_permission(**args)


@handler("aws:lambda/alias:Alias", "name functionName functionVersion description")
class Alias:
    """``lambda:CreateAlias``; a new version moves the alias in place."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        answer = aws.client("lambda").create_alias(
            FunctionName=r.inputs["functionName"],
            Name=r.inputs["name"],
            FunctionVersion=str(r.inputs["functionVersion"]),
        )
        return Alias._created(aws, r, answer)

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        answer = aws.client("lambda").update_alias(
            FunctionName=r.inputs["functionName"],
            Name=r.inputs["name"],
            FunctionVersion=str(r.inputs["functionVersion"]),
        )
        return Alias._created(aws, r, answer)

    @staticmethod
    def _created(aws: Emulator, r: Request, answer: Mapping[str, Any]) -> Created:
        arn = str(answer["AliasArn"])
        invoke = f"arn:aws:apigateway:{aws.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
        return arn, {"arn": arn, "name": answer["Name"], "invokeArn": invoke}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("lambda").delete_alias(FunctionName=rec.inputs["functionName"], Name=rec.inputs["name"])


@handler(
    "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig",
    "functionName qualifier provisionedConcurrentExecutions",
)
class ProvisionedConcurrency:
    """``lambda:PutProvisionedConcurrencyConfig``; a pass-through where the emulator lacks it."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        rid = f"{r.inputs['functionName']},{r.inputs['qualifier']}"
        try:
            aws.client("lambda").put_provisioned_concurrency_config(
                FunctionName=r.inputs["functionName"],
                Qualifier=r.inputs["qualifier"],
                ProvisionedConcurrentExecutions=int(r.inputs["provisionedConcurrentExecutions"]),
            )
        except Exception as exc:
            if _unimplemented(exc):
                raise PassThrough(f"the emulator has no PutProvisionedConcurrencyConfig ({rid})") from None
            raise
        return rid, {}

    update = staticmethod(lambda aws, r, old: ProvisionedConcurrency.create(aws, r))

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("lambda").delete_provisioned_concurrency_config(
            FunctionName=rec.inputs["functionName"], Qualifier=rec.inputs["qualifier"]
        )


def _unimplemented(exc: Exception) -> bool:
    """moto answers an operation it lacks with a plain HTTP 404 page (or NotImplemented)."""
    response = getattr(exc, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", "")) in ("404", "NotImplemented")


# ------------------------------------------------------------------------- Batch


@handler(
    "aws:batch/computeEnvironment:ComputeEnvironment",
    "name type computeResources serviceRole state tags",
    update=False,
)
class ComputeEnvironment:
    """``batch:CreateComputeEnvironment``. Without a ``serviceRole`` AWS uses Batch's
    service-linked role; moto needs it named, so it is created (as AWS does) and passed."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto(limit=128)
        cr = dict(r.inputs.get("computeResources") or {})
        resources: dict[str, Any] = {
            "type": cr["type"],
            "minvCpus": int(cr.get("minVcpus", 0)),
            "maxvCpus": int(cr["maxVcpus"]),
            "instanceTypes": list(cr.get("instanceTypes") or []),
            "subnets": list(cr.get("subnets") or []),
            "securityGroupIds": list(cr.get("securityGroupIds") or []),
            "instanceRole": cr["instanceRole"],
        }
        if cr.get("allocationStrategy"):
            resources["allocationStrategy"] = cr["allocationStrategy"]
        if cr.get("ec2Configurations"):
            resources["ec2Configuration"] = [{"imageType": c["imageType"]} for c in cr["ec2Configurations"]]
        if cr.get("tags"):
            resources["tags"] = {str(k): str(v) for k, v in cr["tags"].items()}
        answer = aws.client("batch").create_compute_environment(
            computeEnvironmentName=name,
            type=r.inputs["type"],
            state=r.inputs.get("state") or "ENABLED",
            computeResources=resources,
            serviceRole=r.inputs.get("serviceRole") or _batch_service_role(aws),
            tags=_tags(r.inputs),
        )
        arn = str(answer["computeEnvironmentArn"])
        return name, {"name": name, "arn": arn, "status": "VALID"}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        batch = aws.client("batch")
        batch.update_compute_environment(computeEnvironment=rec.id, state="DISABLED")
        batch.delete_compute_environment(computeEnvironment=rec.id)


def _batch_service_role(aws: Emulator) -> str:
    iam = aws.client("iam")
    for page in iam.get_paginator("list_roles").paginate(
        PathPrefix=f"/aws-service-role/{BATCH_SERVICE_LINKED_ROLE}/"
    ):
        for role in page["Roles"]:
            return str(role["Arn"])
    return str(iam.create_service_linked_role(AWSServiceName=BATCH_SERVICE_LINKED_ROLE)["Role"]["Arn"])


@handler("aws:batch/jobQueue:JobQueue", "name priority state computeEnvironmentOrders tags")
class JobQueue:
    """``batch:CreateJobQueue``; priority, state and order update in place."""

    @staticmethod
    def _orders(r: Request) -> list[dict[str, Any]]:
        return [
            {"order": int(o["order"]), "computeEnvironment": o["computeEnvironment"]}
            for o in r.inputs.get("computeEnvironmentOrders") or []
        ]

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto(limit=128)
        answer = aws.client("batch").create_job_queue(
            jobQueueName=name,
            state=r.inputs.get("state") or "ENABLED",
            priority=int(r.inputs["priority"]),
            computeEnvironmentOrder=JobQueue._orders(r),
            tags=_tags(r.inputs),
        )
        arn = str(answer["jobQueueArn"])
        return arn, {"name": name, "arn": arn}

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        aws.client("batch").update_job_queue(
            jobQueue=old.id,
            state=r.inputs.get("state") or "ENABLED",
            priority=int(r.inputs["priority"]),
            computeEnvironmentOrder=JobQueue._orders(r),
        )
        return old.id, dict(old.outputs)

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        batch = aws.client("batch")
        batch.update_job_queue(jobQueue=rec.id, state="DISABLED")
        batch.delete_job_queue(jobQueue=rec.id)


@handler(
    "aws:batch/jobDefinition:JobDefinition",
    "name type platformCapabilities containerProperties retryStrategy timeout propagateTags tags",
)
class JobDefinition:
    """``batch:RegisterJobDefinition``; a change registers a new revision and deregisters
    the old one, as pulumi-aws does."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        i = r.inputs
        name = r.name_or_auto(limit=128)
        args: dict[str, Any] = {
            "jobDefinitionName": name,
            "type": i["type"],
            "containerProperties": json.loads(str(i["containerProperties"])),
            "propagateTags": bool(i.get("propagateTags")),
            "tags": _tags(i),
        }
        if i.get("platformCapabilities"):
            args["platformCapabilities"] = list(i["platformCapabilities"])
        if i.get("retryStrategy"):
            args["retryStrategy"] = {"attempts": int(i["retryStrategy"]["attempts"])}
        if i.get("timeout"):
            args["timeout"] = {"attemptDurationSeconds": int(i["timeout"]["attemptDurationSeconds"])}
        answer = aws.client("batch").register_job_definition(**args)
        arn = str(answer["jobDefinitionArn"])
        return arn, {
            "name": name,
            "arn": arn,
            "revision": int(answer["revision"]),
            "arnPrefix": arn.rsplit(":", 1)[0],
        }

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        created = JobDefinition.create(aws, r)
        aws.client("batch").deregister_job_definition(jobDefinition=old.id)
        return created

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("batch").deregister_job_definition(jobDefinition=rec.id)


# ------------------------------------------------------------------ EventBridge Scheduler


@handler(
    "aws:scheduler/schedule:Schedule",
    "name groupName scheduleExpression scheduleExpressionTimezone flexibleTimeWindow target state description",
)
class Schedule:
    """``scheduler:CreateSchedule``."""

    @staticmethod
    def _args(r: Request, name: str) -> dict[str, Any]:
        i = r.inputs
        target = i["target"]
        api_target: dict[str, Any] = {"Arn": target["arn"], "RoleArn": target["roleArn"]}
        if target.get("input") is not None:
            api_target["Input"] = target["input"]
        if target.get("retryPolicy"):
            policy = target["retryPolicy"]
            api_target["RetryPolicy"] = {
                k: int(policy[p])
                for p, k in (
                    ("maximumRetryAttempts", "MaximumRetryAttempts"),
                    ("maximumEventAgeInSeconds", "MaximumEventAgeInSeconds"),
                )
                if p in policy
            }
        window = i.get("flexibleTimeWindow") or {"mode": "OFF"}
        args: dict[str, Any] = {
            "Name": name,
            "GroupName": i.get("groupName") or "default",
            "ScheduleExpression": i["scheduleExpression"],
            "FlexibleTimeWindow": {"Mode": window["mode"]},
            "Target": api_target,
        }
        if i.get("scheduleExpressionTimezone"):
            args["ScheduleExpressionTimezone"] = i["scheduleExpressionTimezone"]
        if i.get("state"):
            args["State"] = i["state"]
        return args

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        name = r.name_or_auto()
        args = Schedule._args(r, name)
        answer = aws.client("scheduler").create_schedule(**args)
        return f"{args['GroupName']}/{name}", {
            "name": name,
            "arn": answer["ScheduleArn"],
            "groupName": args["GroupName"],
        }

    @staticmethod
    def update(aws: Emulator, r: Request, old: Recorded) -> Created:
        args = Schedule._args(r, str(old.outputs["name"]))
        answer = aws.client("scheduler").update_schedule(**args)
        return old.id, {**old.outputs, "arn": answer["ScheduleArn"]}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        group, _, name = rec.id.partition("/")
        aws.client("scheduler").delete_schedule(Name=name, GroupName=group)


# ------------------------------------------------------------------------- EC2


@handler("aws:ec2/vpc:Vpc", "cidrBlock enableDnsHostnames enableDnsSupport tags", update=False)
class Vpc:
    """``ec2:CreateVpc`` + DNS attributes + tags."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock=r.inputs["cidrBlock"])["Vpc"]
        vid = str(vpc["VpcId"])
        for key, api in (
            ("enableDnsSupport", "EnableDnsSupport"),
            ("enableDnsHostnames", "EnableDnsHostnames"),
        ):
            if key in r.inputs:
                ec2.modify_vpc_attribute(VpcId=vid, **{api: {"Value": bool(r.inputs[key])}})
        _ec2_tags(aws, vid, r.inputs)
        arn = f"arn:aws:ec2:{aws.region}:{aws.account()}:vpc/{vid}"
        return vid, {"arn": arn, "cidrBlock": vpc["CidrBlock"]}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ec2").delete_vpc(VpcId=rec.id)


def _ec2_tags(aws: Emulator, resource_id: str, inputs: Mapping[str, Any]) -> None:
    if _tags(inputs):
        aws.client("ec2").create_tags(Resources=[resource_id], Tags=_tag_list(inputs))


@handler("aws:ec2/internetGateway:InternetGateway", "vpcId tags", update=False)
class InternetGateway:
    """``ec2:CreateInternetGateway`` + ``AttachInternetGateway``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        ec2 = aws.client("ec2")
        gid = str(ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"])
        if r.inputs.get("vpcId"):
            ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=r.inputs["vpcId"])
        _ec2_tags(aws, gid, r.inputs)
        return gid, {"arn": f"arn:aws:ec2:{aws.region}:{aws.account()}:internet-gateway/{gid}"}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        ec2 = aws.client("ec2")
        if rec.inputs.get("vpcId"):
            ec2.detach_internet_gateway(InternetGatewayId=rec.id, VpcId=rec.inputs["vpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=rec.id)


@handler("aws:ec2/routeTable:RouteTable", "vpcId routes tags", update=False)
class RouteTable:
    """``ec2:CreateRouteTable`` + ``CreateRoute`` per route."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        ec2 = aws.client("ec2")
        rid = str(ec2.create_route_table(VpcId=r.inputs["vpcId"])["RouteTable"]["RouteTableId"])
        for route in r.inputs.get("routes") or []:
            ec2.create_route(
                RouteTableId=rid, DestinationCidrBlock=route["cidrBlock"], GatewayId=route["gatewayId"]
            )
        _ec2_tags(aws, rid, r.inputs)
        return rid, {"arn": f"arn:aws:ec2:{aws.region}:{aws.account()}:route-table/{rid}"}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ec2").delete_route_table(RouteTableId=rec.id)


@handler("aws:ec2/subnet:Subnet", "vpcId cidrBlock availabilityZone mapPublicIpOnLaunch tags", update=False)
class Subnet:
    """``ec2:CreateSubnet`` (+ public IPs on launch)."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        ec2 = aws.client("ec2")
        extra = {"AvailabilityZone": r.inputs["availabilityZone"]} if r.inputs.get("availabilityZone") else {}
        subnet = ec2.create_subnet(VpcId=r.inputs["vpcId"], CidrBlock=r.inputs["cidrBlock"], **extra)[
            "Subnet"
        ]
        sid = str(subnet["SubnetId"])
        if r.inputs.get("mapPublicIpOnLaunch"):
            ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
        _ec2_tags(aws, sid, r.inputs)
        return sid, {"arn": subnet.get("SubnetArn", ""), "availabilityZone": subnet["AvailabilityZone"]}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ec2").delete_subnet(SubnetId=rec.id)


@handler("aws:ec2/routeTableAssociation:RouteTableAssociation", "subnetId routeTableId", update=False)
class RouteTableAssociation:
    """``ec2:AssociateRouteTable``."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        answer = aws.client("ec2").associate_route_table(
            SubnetId=r.inputs["subnetId"], RouteTableId=r.inputs["routeTableId"]
        )
        return str(answer["AssociationId"]), {}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ec2").disassociate_route_table(AssociationId=rec.id)


@handler("aws:ec2/securityGroup:SecurityGroup", "name description vpcId egress ingress tags", update=False)
class SecurityGroup:
    """``ec2:CreateSecurityGroup``; like pulumi-aws, the default allow-all egress rule is
    replaced by the declared rules."""

    @staticmethod
    def create(aws: Emulator, r: Request) -> Created:
        ec2 = aws.client("ec2")
        name = r.name_or_auto(limit=255)
        gid = str(
            ec2.create_security_group(
                GroupName=name,
                Description=r.inputs.get("description") or "Managed by Pulumi",
                VpcId=r.inputs["vpcId"],
            )["GroupId"]
        )
        default = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=default)
        if r.inputs.get("egress"):
            ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=_permissions(r.inputs["egress"]))
        if r.inputs.get("ingress"):
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=_permissions(r.inputs["ingress"]))
        _ec2_tags(aws, gid, r.inputs)
        return gid, {"name": name, "arn": f"arn:aws:ec2:{aws.region}:{aws.account()}:security-group/{gid}"}

    @staticmethod
    def delete(aws: Emulator, rec: Recorded) -> None:
        aws.client("ec2").delete_security_group(GroupId=rec.id)


def _permissions(rules: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        item: dict[str, Any] = {
            "IpProtocol": str(rule["protocol"]),
            "IpRanges": [{"CidrIp": c} for c in rule.get("cidrBlocks") or []],
        }
        if rule.get("prefixListIds"):
            item["PrefixListIds"] = [{"PrefixListId": p} for p in rule["prefixListIds"]]
        if rule.get("securityGroups"):
            item["UserIdGroupPairs"] = [{"GroupId": g} for g in rule["securityGroups"]]
        if str(rule["protocol"]) != "-1":
            item["FromPort"], item["ToPort"] = int(rule["fromPort"]), int(rule["toPort"])
        out.append(item)
    return out


# ------------------------------------------------------------------------- invokes


def invoke(aws: Emulator, token: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Data sources the programs read, answered by the emulator; others are refused."""
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        who = aws.client("sts").get_caller_identity()
        return {"accountId": who["Account"], "arn": who["Arn"], "userId": who["UserId"], "id": who["Account"]}
    if token == "aws:index/getRegion:getRegion":
        return {"name": aws.region, "id": aws.region, "region": aws.region}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "id": "aws", "dnsSuffix": "amazonaws.com"}
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        return _availability_zones(aws, args)
    if token in INVOKES:
        return INVOKES[token](aws, args)
    raise Unmapped(f"data source {token}: the simulate engine does not answer it")


def _availability_zones(aws: Emulator, args: Mapping[str, Any]) -> dict[str, Any]:
    """``ec2:DescribeAvailabilityZones`` with the program's state and filters."""
    filters = [{"Name": f["name"], "Values": list(f["values"])} for f in args.get("filters") or []]
    if args.get("state"):
        filters.append({"Name": "state", "Values": [str(args["state"])]})
    zones = aws.client("ec2").describe_availability_zones(Filters=filters)["AvailabilityZones"]
    zones = sorted(zones, key=lambda z: z["ZoneName"])
    return {
        "id": aws.region,
        "names": [z["ZoneName"] for z in zones],
        "zoneIds": [z["ZoneId"] for z in zones],
        "groupNames": sorted({z.get("GroupName", aws.region) for z in zones}),
    }


def redacted(type_token: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as the state file keeps them: secret values replaced by their sha256."""
    out = dict(inputs)
    if type_token == "aws:secretsmanager/secretVersion:SecretVersion" and "secretString" in out:
        digest = hashlib.sha256(str(out["secretString"]).encode()).hexdigest()
        out["secretString"] = f"<sha256:{digest}>"
    return out


def lookup(type_token: str) -> Handler:
    """The handler of ``type_token``; :class:`Unmapped` when there is none."""
    found = HANDLERS.get(type_token)
    if found is None:
        raise Unmapped(
            f"resource type {type_token} has no simulate handler: the simulate engine cannot create it "
            "in the emulator (add one in pcompile.providers.simulate.aws_resources)"
        )
    return found


from pcompile.providers.simulate import aws_ecs as _aws_ecs  # noqa: E402,F401 - ECS/ALB/CloudFront handlers register themselves
