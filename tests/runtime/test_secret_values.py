"""One rule for a stored secret's value on both clouds: a JSON object gives its keys, anything
else (plain text) is one variable named after the secret (issue 19, item 11)."""

from __future__ import annotations

import json

import pytest

from pcompile.providers.gcp import names
from pcompile.runtime import aws_env, aws_runtime, gcp_container
from pcompile.runtime.secret_values import plain_key, secret_values

STORED = [
    (json.dumps({"USER": "u", "PASSWORD": "p"}), {"PASSWORD": "p", "USER": "u"}),
    ("hunter2", {"HF_TOKEN": "hunter2"}),
    ("line one\nline two", {"HF_TOKEN": "line one\nline two"}),
    ('"a json string"', {"HF_TOKEN": '"a json string"'}),
    ("[1, 2]", {"HF_TOKEN": "[1, 2]"}),
    (json.dumps({"PORT": 5432}), {"PORT": "5432"}),
]


def _aws(secret: str, value: str) -> dict[str, str]:
    env = {aws_env.SECRETS: json.dumps({secret: f"arn:aws:secretsmanager:r:1:secret:{secret}-abcdef"})}
    before = dict(env)
    source = aws_runtime.DictSecrets({f"arn:aws:secretsmanager:r:1:secret:{secret}-abcdef": value})
    aws_runtime.export_secrets(env, source)
    return {k: v for k, v in env.items() if k not in before}


def _gcp(secret: str, value: str) -> dict[str, str]:
    # The variable name is the one the GCP program gives the secret (Cloud Run and Batch alike).
    env = {names.secret_env(secret): value}
    gcp_container.export_secrets(env)
    return {k: v for k, v in env.items() if k != names.secret_env(secret)}


@pytest.mark.parametrize(("value", "expected"), STORED)
def test_both_clouds_export_the_same_variables(value: str, expected: dict[str, str]) -> None:
    assert _aws("hf-token", value) == _gcp("hf-token", value) == expected


@pytest.mark.parametrize("secret", ["hf-token", "my--odd.name", "db_password", "x-1"])
def test_a_plain_text_secret_gets_the_same_name_on_both_clouds(secret: str) -> None:
    assert _aws(secret, "text") == _gcp(secret, "text") == {plain_key(secret): "text"}


def test_plain_key_is_upper_case_with_single_underscores() -> None:
    assert plain_key("my--odd.name") == "MY_ODD_NAME"
    assert secret_values("s", "{not json") == {"S": "{not json"}
