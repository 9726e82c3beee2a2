"""Deploy's Dict/Queue step on AWS (``kv_resources.prepare_deploy``) against DynamoDB in moto's
server: it creates exactly the missing tables, a preview creates none, and a missing object
without ``create_if_missing`` stops the deploy with nothing created."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, Source, StoreSpec
from pcompile.providers.aws import kv_resources
from pcompile.providers.settings import StackSettings


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def _tables(client: Any, stack: str) -> list[str]:
    return sorted(t for t in client.list_tables()["TableNames"] if t.startswith(f"pcompile-{stack}-"))


def test_preview_lists_then_deploy_creates_then_redeploy_keeps(moto_url: str) -> None:
    client = _client(moto_url)
    settings = StackSettings(name="prep", cloud="aws", region="us-east-1", labels={"team": "ml"})
    app = AppSpec(name="a", dicts=(StoreSpec("cfg", True),), queues=(StoreSpec("work", True),))
    planned = kv_resources.prepare_deploy(app, settings, preview=True, client=client)
    assert planned == [
        "table pcompile-prep-dict-cfg would be created",
        "table pcompile-prep-kv-ephemeral would be created",
        "table pcompile-prep-queue-work would be created",
    ]
    assert _tables(client, "prep") == []
    made = kv_resources.prepare_deploy(app, settings, preview=False, client=client)
    assert [line.split()[1] for line in made] == [
        "pcompile-prep-dict-cfg",
        "pcompile-prep-kv-ephemeral",
        "pcompile-prep-queue-work",
    ]
    assert _tables(client, "prep") == [
        "pcompile-prep-dict-cfg",
        "pcompile-prep-kv-ephemeral",
        "pcompile-prep-queue-work",
    ]
    ttl = client.describe_time_to_live(TableName="pcompile-prep-queue-work")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    # A second app naming the same Queue (without create_if_missing) finds it: shared, not re-made.
    other = AppSpec(name="b", queues=(StoreSpec("work"),))
    assert kv_resources.prepare_deploy(other, settings, preview=False, client=client) == [
        "table pcompile-prep-kv-ephemeral exists",
        "table pcompile-prep-queue-work exists",
    ]


def test_a_missing_object_without_create_if_missing_creates_nothing(moto_url: str) -> None:
    client = _client(moto_url)
    settings = StackSettings(name="miss", cloud="aws", region="us-east-1")
    absent = StoreSpec("absent", source=Source("jobs.py", 7))
    app = AppSpec(name="a", dicts=(StoreSpec("made", True),), queues=(absent,))
    with pytest.raises(UserError) as caught:
        kv_resources.prepare_deploy(app, settings, preview=False, client=client)
    assert str(caught.value).startswith("jobs.py:7: Queue 'absent' does not exist on stack 'miss'")
    assert "pcompile-miss-queue-absent" in str(caught.value)
    assert caught.value.fix is not None and "create_if_missing=True" in caught.value.fix
    assert _tables(client, "miss") == []  # checked before anything was created


def test_an_app_without_dicts_or_queues_touches_nothing() -> None:
    settings = StackSettings(name="none", cloud="aws", region="us-east-1")
    assert kv_resources.prepare_deploy(AppSpec(name="a"), settings, preview=False, client=object()) == []
