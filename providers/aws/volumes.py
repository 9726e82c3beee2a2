"""Volumes of an AWS stack: S3 buckets found by their tags (``pcompile volume --stack``)."""

from __future__ import annotations

from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.providers.cloud_stores import BucketVolume
from pcompile.providers.settings import StackSettings


class S3Volume(BucketVolume):
    """A volume's files as objects in an S3 bucket."""

    def __init__(self, url: str, client: Any = None) -> None:
        import boto3

        super().__init__(url, client or boto3.client("s3"))

    def _list(self, prefix: str) -> list[tuple[str, int]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [(o["Key"], int(o["Size"])) for p in pages for o in p.get("Contents", [])]

    def _read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def _write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)


def volume_url(settings: StackSettings, name: str, app: str | None, tagging: Any = None) -> str:
    """``s3://`` URL of the one bucket tagged ``pcompile-stack``/``pcompile-volume`` (and
    ``pcompile-app`` with ``--app``)."""
    import boto3

    client = tagging or boto3.client("resourcegroupstaggingapi", region_name=settings.region)
    filters = [
        {"Key": "pcompile-stack", "Values": [settings.name]},
        {"Key": "pcompile-volume", "Values": [name]},
    ]
    if app:
        filters.append({"Key": "pcompile-app", "Values": [app]})
    found = client.get_resources(TagFilters=filters, ResourceTypeFilters=["s3:bucket"])
    arns = sorted(r["ResourceARN"] for r in found.get("ResourceTagMappingList", []))
    if len(arns) != 1:
        raise UserError(
            f"{len(arns)} buckets are tagged as volume {name!r} on stack {settings.name!r}",
            fix="deploy the app that uses the volume, pass --app, or set extra.volumes."
            f"{name}: s3://bucket in the stack file",
        )
    return "s3://" + arns[0].rsplit(":", 1)[-1]
