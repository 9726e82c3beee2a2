"""S3 implementation of the runtime's :class:`~pcompile.runtime.storage.Storage` interface.

``S3Storage.from_url("s3://bucket/prefix")``; keys are relative to the prefix. The
boto3 client honours ``PCOMPILE_AWS_ENDPOINT_URL`` (moto in tests, VPC endpoints in
locked-down accounts). boto3 is imported only when an S3 URL is opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from .aws_env import ENDPOINT_URL


def s3_client(session: Any = None) -> Any:
    """An S3 client from ``session`` (default: boto3's), at the endpoint override if set."""
    if session is None:
        import boto3

        session = boto3.session.Session()
    return session.client("s3", endpoint_url=os.environ.get(ENDPOINT_URL) or None)


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` → ``("bucket", "a/b")``."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


class S3Storage:
    """Blobs as objects under ``s3://bucket/prefix/``."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else s3_client()

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        """``s3://bucket[/prefix]`` → storage rooted there."""
        bucket, prefix = split_url(url)
        return cls(bucket, prefix)

    def _key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"storage key must be a relative path without '..': {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` (S3 puts are atomic)."""
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        """The bytes at ``key``; ``KeyError`` when absent."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise KeyError(key) from None
        return response["Body"].read()  # type: ignore[no-any-return]

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, relative to this storage's root, in S3's (sorted) order."""
        root = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=root + prefix
        )
        for page in pages:
            for obj in page.get("Contents", ()):
                yield obj["Key"][len(root) :]
