"""The grant the AWS program gives a function that uses a Dict or Queue, against the simulate
tier's IAM-enforcing emulator: it is enough for every Dict and Queue call, and nothing beyond
its tables (DynamoDB requests are checked per table ARN, batches on every table they name)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from servers import IamMoto, iam_moto_server

from pcompile.providers.aws import kv as aws_kv
from pcompile.providers.aws import kv_resources
from pcompile.providers.kv import TableDict, TableQueue
from pcompile.providers.simulate.compute_iam import LAMBDA, Identities

POLICY_FILE = Path(__file__).resolve().parents[2] / "docs" / "policies" / "aws-deploy-policy.json"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/"
MINE, OTHER = "pcompile-iam-dict-mine", "pcompile-iam-dict-other"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamMoto]:
    with iam_moto_server(POLICY_FILE, tmp_path_factory.mktemp("kv-iam")) as server:
        yield server


def _client(server: IamMoto, **keys: str) -> Any:
    session = boto3.session.Session(region_name="us-east-1", **(keys or server.admin.session_args()))
    return session.client("dynamodb", endpoint_url=server.url)


def _as_role(server: IamMoto, monkeypatch: pytest.MonkeyPatch, name: str, actions: list[str]) -> Any:
    """A DynamoDB client holding a Lambda role whose one statement is ``actions`` on MINE."""
    iam = boto3.session.Session(region_name="us-east-1", **server.admin.session_args()).client(
        "iam", endpoint_url=server.url
    )
    trust = {"Effect": "Allow", "Principal": {"Service": LAMBDA}, "Action": "sts:AssumeRole"}
    role = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    )["Role"]["Arn"]
    grant = {"Sid": kv_resources.GRANT_SID, "Effect": "Allow", "Action": actions, "Resource": [ARN + MINE]}
    iam.put_role_policy(
        RoleName=name,
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
    )
    monkeypatch.setenv("PCOMPILE_SIMULATE_SERVICE_CREDENTIALS", str(server.identities))
    env = Identities(server.url, "us-east-1").role_env(LAMBDA, role, name)
    return _client(
        server,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )


def _denied(call: Any) -> bool:
    try:
        call()
    except ClientError as exc:
        return "AccessDenied" in str(exc)
    return False


@pytest.fixture(scope="module")
def tables(emulator: IamMoto) -> None:
    admin = _client(emulator)
    for table in (MINE, OTHER):
        aws_kv.create_table(admin, table)


def test_the_program_grant_serves_every_dict_and_queue_call(
    emulator: IamMoto, tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _as_role(emulator, monkeypatch, "kv-full", list(kv_resources.ITEM_ACTIONS))
    d = TableDict(aws_kv.DynamoTable(client, MINE), "dict:mine")
    d.put("a", 1)
    assert d.put("a", 2, skip_if_exists=True) is False
    d.update({"b": 2, "c": b"x" * 400_000})  # a chunked value: BatchWriteItem
    assert (d.get("a"), d.contains("b"), d.len()) == (1, True, 3)
    assert d.pop("b") == 2 and sorted(d.keys()) == ["a", "c"]
    d.clear()
    assert d.len() == 0
    q = TableQueue(aws_kv.DynamoTable(client, MINE), "queue:mine")
    q.put_many([1, 2, 3], None, 60)
    assert q.len(None, total=True) == 3
    assert q.get_many(2, False, None, None) == [1, 2]
    q.clear(None, all=True)
    assert q.len(None, total=False) == 0


def test_other_tables_and_missing_actions_are_denied(
    emulator: IamMoto, tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _as_role(emulator, monkeypatch, "kv-reader", ["dynamodb:GetItem", "dynamodb:BatchWriteItem"])
    key = {"pk": {"S": "p"}, "sk": {"S": "s"}}
    assert "Item" not in client.get_item(TableName=MINE, Key=key)
    assert _denied(lambda: client.get_item(TableName=OTHER, Key=key))
    assert _denied(lambda: client.put_item(TableName=MINE, Item=key))  # PutItem not granted
    assert _denied(lambda: client.describe_table(TableName=MINE))  # no table-level call
    put = {"PutRequest": {"Item": key}}
    client.batch_write_item(RequestItems={MINE: [put]})
    assert _denied(lambda: client.batch_write_item(RequestItems={MINE: [put], OTHER: [put]}))
    assert "Item" not in _client(emulator).get_item(TableName=OTHER, Key=key)  # nothing got through


def test_the_deployer_creates_stack_tables_only(emulator: IamMoto) -> None:
    deployer = _client(emulator, **emulator.deployer.session_args())
    aws_kv.create_table(deployer, "pcompile-iam-queue-made", {"pcompile-stack": "iam"})
    aws_kv.create_table(deployer, "pcompile-iam-queue-made")  # again: idempotent
    assert _denied(lambda: aws_kv.create_table(deployer, "someone-elses-table"))
