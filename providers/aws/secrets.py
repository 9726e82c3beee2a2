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
