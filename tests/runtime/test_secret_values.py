"""One rule for a stored secret's value on both clouds: a JSON object gives its keys, anything
else (plain text) is one variable named after the secret (issue 19, item 11)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import boto3
import pytest
from servers import moto_server

from pcompile.providers.gcp import names
from pcompile.runtime import aws_env, aws_runtime, gcp_container
from pcompile.runtime.secret_values import plain_key, secret_values

_ids = itertools.count()

STORED = [
    (json.dumps({"USER": "u", "PASSWORD": "p"}), {"PASSWORD": "p", "USER": "u"}),
    ("hunter2", {"HF_TOKEN": "hunter2"}),
    ("line one\nline two", {"HF_TOKEN": "line one\nline two"}),
    ('"a json string"', {"HF_TOKEN": '"a json string"'}),
    ("[1, 2]", {"HF_TOKEN": "[1, 2]"}),
    (json.dumps({"PORT": 5432}), {"PORT": "5432"}),
]


@pytest.fixture(scope="module")
def secrets_manager() -> Iterator[aws_runtime.SecretsManager]:
    """The runtime's Secrets Manager reader against moto's server."""
    with moto_server() as url:
        client = boto3.client(
            "secretsmanager",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield aws_runtime.SecretsManager(client)


def _aws(source: aws_runtime.SecretsManager, secret: str, value: str) -> dict[str, str]:
    # A fresh stored secret per case (its ARN is what the AWS program puts in PCOMPILE_SECRETS).
    arn = source.client.create_secret(Name=f"case-{next(_ids)}", SecretString=value)["ARN"]
    env = {aws_env.SECRETS: json.dumps({secret: arn})}
    before = dict(env)
    aws_runtime.export_secrets(env, source)
    return {k: v for k, v in env.items() if k not in before}


def _gcp(secret: str, value: str) -> dict[str, str]:
    # The variable name is the one the GCP program gives the secret (Cloud Run and Batch alike).
    env = {names.secret_env(secret): value}
    gcp_container.export_secrets(env)
    return {k: v for k, v in env.items() if k != names.secret_env(secret)}


@pytest.mark.parametrize(("value", "expected"), STORED)
def test_both_clouds_export_the_same_variables(
    secrets_manager: aws_runtime.SecretsManager, value: str, expected: dict[str, str]
) -> None:
    assert _aws(secrets_manager, "hf-token", value) == _gcp("hf-token", value) == expected


@pytest.mark.parametrize("secret", ["hf-token", "my--odd.name", "db_password", "x-1"])
def test_a_plain_text_secret_gets_the_same_name_on_both_clouds(
    secrets_manager: aws_runtime.SecretsManager, secret: str
) -> None:
    assert _aws(secrets_manager, secret, "text") == _gcp(secret, "text") == {plain_key(secret): "text"}


def test_plain_key_is_upper_case_with_single_underscores() -> None:
    assert plain_key("my--odd.name") == "MY_ODD_NAME"
    assert secret_values("s", "{not json") == {"S": "{not json"}
