"""Where an AWS stack's deployment manifests are read: SSM parameters pointing at S3 objects."""

from __future__ import annotations

from typing import Any

from pcompile.providers.aws.credentials import aws_errors
from pcompile.providers.manifest import Manifest


class SsmManifestStore:
    """Reads the manifests the AWS program writes: SSM ``/pcompile/<stack>/<app>/manifest``
    holds ``s3://bucket/key`` of the manifest object. Writing is the program's job."""

    def __init__(self, stack: str, ssm: Any = None, s3: Any = None, region: str | None = None) -> None:
        import boto3

        self.stack = stack
        self.ssm = ssm or boto3.client("ssm", region_name=region)
        self.s3 = s3 or boto3.client("s3", region_name=region)

    def _prefix(self) -> str:
        from pcompile.providers.aws.placement import slug

        return f"/pcompile/{slug(self.stack)}/"

    def write(self, manifest: Manifest) -> str:
        """The program already wrote it; say where."""
        return f"ssm:{self._prefix()}{manifest.app}/manifest"

    def read(self, app: str) -> Manifest | None:
        """Follow the SSM pointer to the S3 object."""
        from pcompile.providers.aws.program import manifest_parameter

        with aws_errors():
            try:
                url = self.ssm.get_parameter(Name=manifest_parameter(app, self.stack))["Parameter"]["Value"]
            except self.ssm.exceptions.ParameterNotFound:
                return None
            bucket, _, key = url.removeprefix("s3://").partition("/")
            return Manifest.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())

    def list(self) -> list[str]:
        """Apps with a manifest parameter under the stack's prefix."""
        names: set[str] = set()
        with aws_errors():
            pages = self.ssm.get_paginator("get_parameters_by_path").paginate(
                Path=self._prefix(), Recursive=True
            )
            for page in pages:
                for param in page["Parameters"]:
                    parts = param["Name"][len(self._prefix()) :].split("/")
                    if len(parts) == 2 and parts[1] == "manifest":
                        names.add(parts[0])
        return sorted(names)

    def delete(self, app: str) -> None:
        """``pulumi destroy`` removes the parameter with the stack."""
