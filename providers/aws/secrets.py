"""Named secrets of an AWS stack: Secrets Manager (``pcompile secret --stack``)."""

from __future__ import annotations

import json
from typing import Any

from pcompile.compiler.errors import UserError


class AwsSecrets:
    """Named secrets in Secrets Manager: ``Secret.from_name(NAME)`` reads secret ``NAME``,
    a JSON object of keys to values."""

    def __init__(self, region: str | None = None, client: Any = None) -> None:
        import boto3

        self.client = client or boto3.client("secretsmanager", region_name=region)

    def create(self, name: str, values: dict[str, str], overwrite: bool = False) -> None:
        """Create ``name``, or replace its value with ``overwrite``."""
        body = json.dumps(values, sort_keys=True)
        try:
            self.client.create_secret(
                Name=name, SecretString=body, Tags=[{"Key": "pcompile", "Value": "secret"}]
            )
        except self.client.exceptions.ResourceExistsException:
            if not overwrite:
                raise UserError(
                    f"secret {name!r} already exists", fix="pass --force to replace its value"
                ) from None
            self.client.put_secret_value(SecretId=name, SecretString=body)

    def keys_by_name(self) -> dict[str, list[str]]:
        """Secret names and their key names (values are read to find keys, never shown)."""
        found: dict[str, list[str]] = {}
        for page in self.client.get_paginator("list_secrets").paginate():
            for item in page["SecretList"]:
                found[item["Name"]] = self._keys(item["Name"])
        return dict(sorted(found.items()))

    def _keys(self, name: str) -> list[str]:
        try:
            value = json.loads(self.client.get_secret_value(SecretId=name).get("SecretString") or "{}")
        except (ValueError, self.client.exceptions.ClientError):
            return []
        return sorted(value) if isinstance(value, dict) else []


def proxy_auth_secret(stack: str) -> str:
    """The Secrets Manager secret holding a stack's proxy-auth token set."""
    return f"pcompile-{stack}-proxy-auth"


class AwsTokenStore:
    """A stack's proxy-auth token set: the JSON document in secret :func:`proxy_auth_secret`
    (created on the first token; functions that require proxy auth may only read it)."""

    def __init__(self, stack: str, region: str | None = None, client: Any = None) -> None:
        import boto3

        self.name = proxy_auth_secret(stack)
        self.client = client or boto3.client("secretsmanager", region_name=region)

    def read(self) -> str:
        """The token set document; ``""`` before the first token."""
        try:
            return str(self.client.get_secret_value(SecretId=self.name).get("SecretString") or "")
        except self.client.exceptions.ResourceNotFoundException:
            return ""

    def write(self, text: str) -> None:
        """Replace the document (creating the secret the first time)."""
        try:
            self.client.put_secret_value(SecretId=self.name, SecretString=text)
        except self.client.exceptions.ResourceNotFoundException:
            tags = [{"Key": "pcompile", "Value": "proxy-auth"}]
            self.client.create_secret(Name=self.name, SecretString=text, Tags=tags)
