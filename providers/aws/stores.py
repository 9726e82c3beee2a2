"""The code-bundle store of an AWS stack: its staging bucket in S3."""

from __future__ import annotations

from typing import Any


class S3Store:
    """An :class:`~pcompile.providers.deploy.ArtifactStore` in an S3 bucket."""

    def __init__(self, bucket: str, client: Any = None, region: str | None = None) -> None:
        import boto3

        self.bucket = bucket
        self.client = client or boto3.client("s3", region_name=region)

    def exists(self, key: str) -> bool:
        """HEAD the object."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def put(self, key: str, data: bytes) -> str:
        """PUT the object."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return url(self.bucket, key)

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None."""
        if not self.exists(key):
            return None
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())


def url(bucket: str, key: str) -> str:
    """The ``s3://`` URL of ``key`` in ``bucket``."""
    return f"s3://{bucket}/{key}"
