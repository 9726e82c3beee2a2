"""``modal.Dict`` and ``modal.Queue`` on DynamoDB: the :class:`~pcompile.providers.kv.Table`
primitive on one on-demand table, and the store a deployed function opens from its environment.

Layout (docs/aws.md explains the choice): one table per named Dict or Queue,
``pcompile-<stack>-<kind>-<name>``, so each function's role names exactly the tables it
uses; every ephemeral Dict/Queue of a stack shares ``pcompile-<stack>-kv-ephemeral``.
Keys: ``pk`` (``<kind>:<name>``, string) and ``sk`` (string); ``expires_at`` is the table's
TTL attribute. Reads are strongly consistent. A getter owns Queue items only when its
write of their page conditional on the page's version (``ver = :ver``) succeeded, so two
getters never both win one item.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from pcompile.providers.kv import Row, TableDict, TableQueue, check_name

# The environment contract: the AWS program sets these on every function that uses a Dict or
# Queue (with AWS_REGION); the SDK's storage factory reads them inside the container.
ENV_CLOUD = "PCOMPILE_KV_CLOUD"
ENV_PREFIX = "PCOMPILE_KV_PREFIX"
_EXISTS = "attribute_exists(sk)"
_LIVE = "(attribute_not_exists(expires_at) OR expires_at > :now)"


def table_name(prefix: str, kind: str, name: str) -> str:
    """The DynamoDB table of a named Dict/Queue, or of a stack's ephemeral ones."""
    if name.startswith("ephemeral-"):
        return ephemeral_table(prefix)
    return f"{prefix}-{kind}-{check_name(name, kind)}"


def ephemeral_table(prefix: str) -> str:
    """The table every ephemeral Dict/Queue of a stack shares (``pk`` = the object's name)."""
    return f"{prefix}-kv-ephemeral"


def _enc(value: Any) -> dict[str, Any]:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"B": bytes(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):  # a page's items: a list keeps order and duplicates (a set would not)
        return {"L": [_enc(v) for v in value]}
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _dec(attr: Mapping[str, Any]) -> Any:
    if "B" in attr:
        return bytes(attr["B"])
    if "S" in attr:
        return attr["S"]
    if "L" in attr:
        return [_dec(v) for v in attr["L"]]
    number = Decimal(attr["N"])
    return int(number) if number == number.to_integral_value() else float(number)


def _row(item: Mapping[str, Any]) -> Row:
    return {k: _dec(v) for k, v in item.items() if k != "pk"}


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class DynamoTable:
    """One DynamoDB table (boto3 client given), as the Table primitive."""

    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def _now(self) -> dict[str, Any]:
        return _enc(time.time())

    def get(self, pk: str, sk: str) -> Row | None:
        """The live row, or None (strongly consistent)."""
        item = self.client.get_item(TableName=self.name, Key=self._key(pk, sk), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            return None
        row = _row(item)
        return row if float(row.get("expires_at", time.time() + 1)) > time.time() else None

    def put(self, pk: str, sk: str, attrs: Row, if_absent: bool = False) -> tuple[bool, Row | None]:
        """PutItem (conditional with ``if_absent``); (written, old row)."""
        extra: dict[str, Any] = {}
        if if_absent:
            extra = {
                "ConditionExpression": "attribute_not_exists(sk) OR expires_at <= :now",
                "ExpressionAttributeValues": {":now": self._now()},
            }
        item = {**self._key(pk, sk), **{k: _enc(v) for k, v in attrs.items()}}
        try:
            out = self.client.put_item(TableName=self.name, Item=item, ReturnValues="ALL_OLD", **extra)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False, None
        old = out.get("Attributes")
        return True, None if old is None else _row(old)

    def _batch(self, requests: list[dict[str, Any]]) -> None:
        for i in range(0, len(requests), 25):
            pending = {self.name: requests[i : i + 25]}
            while pending:
                out = self.client.batch_write_item(RequestItems=pending)
                pending = out.get("UnprocessedItems") or {}
                if pending:
                    time.sleep(0.05)

    def put_rows(self, pk: str, rows: list[tuple[str, Row]]) -> None:
        """BatchWriteItem of new rows (25 a request)."""
        self._batch(
            [
                {"PutRequest": {"Item": {**self._key(pk, sk), **{k: _enc(v) for k, v in a.items()}}}}
                for sk, a in rows
            ]
        )

    def set_expiry(self, pk: str, sks: list[str], expires_at: float) -> None:
        """Move ``expires_at`` of rows that still exist."""
        for sk in sks:
            try:
                self.client.update_item(
                    TableName=self.name,
                    Key=self._key(pk, sk),
                    UpdateExpression="SET expires_at = :e",
                    ConditionExpression=_EXISTS,
                    ExpressionAttributeValues={":e": _enc(expires_at)},
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                pass

    def swap(self, pk: str, sk: str, ver: int, attrs: Row | None) -> bool:
        """PutItem / DeleteItem conditional on ``ver``: exactly one caller wins a version."""
        condition = {"ConditionExpression": "ver = :ver", "ExpressionAttributeValues": {":ver": _enc(ver)}}
        try:
            if attrs is None:
                self.client.delete_item(TableName=self.name, Key=self._key(pk, sk), **condition)
            else:
                item = {**self._key(pk, sk), **{k: _enc(v) for k, v in attrs.items()}}
                self.client.put_item(TableName=self.name, Item=item, **condition)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def delete_rows(self, pk: str, sks: list[str]) -> None:
        """BatchWriteItem deletes."""
        self._batch([{"DeleteRequest": {"Key": self._key(pk, sk)}} for sk in sks])

    def _pages(self, pk: str, prefix: str, after: str | None, **extra: Any) -> Iterator[dict[str, Any]]:
        low = prefix if after is None or after < prefix else after + "\x00"
        args: dict[str, Any] = {
            "TableName": self.name,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "FilterExpression": _LIVE,
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                ":lo": {"S": low},
                ":hi": {"S": prefix + "\x7f"},
                ":now": self._now(),
            },
            **extra,
        }
        while True:
            page = self.client.query(**args)
            yield page
            if "LastEvaluatedKey" not in page:
                return
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def query(
        self,
        pk: str,
        prefix: str,
        after: str | None = None,
        limit: int | None = None,
        fields: list[str] | None = None,
    ) -> list[Row]:
        """Live rows under ``prefix`` after ``after``, ascending (pages until ``limit``)."""
        rows: list[Row] = []
        extra: dict[str, Any] = {"Limit": max(limit, 25)} if limit else {}
        if fields:
            names = {f"#f{i}": f for i, f in enumerate(fields)}
            extra["ProjectionExpression"] = ", ".join(["sk", *names])
            extra["ExpressionAttributeNames"] = names
        for page in self._pages(pk, prefix, after, **extra):
            rows += [_row(item) for item in page.get("Items", [])]
            if limit and len(rows) >= limit:
                return rows[:limit]
        return rows

    def count(self, pk: str, prefix: str, after: str | None = None) -> int:
        """Live rows under ``prefix`` (Select=COUNT)."""
        return sum(int(p["Count"]) for p in self._pages(pk, prefix, after, Select="COUNT"))

    def bump(self, pk: str, sk: str, n: int, now: float, until: float, expires_at: float) -> int:
        """Two conditional UpdateItems: extend a live partition, else start its next life."""
        values = {":n": _enc(n), ":now": _enc(now), ":u": _enc(until), ":e": _enc(expires_at)}
        live = ("ADD seq :n SET #u = :u, expires_at = :e", "#u > :now")
        fresh = (
            "SET floor = if_not_exists(seq, :zero), seq = if_not_exists(seq, :zero) + :n, #u = :u, expires_at = :e",
            "attribute_not_exists(#u) OR #u <= :now",
        )
        while True:
            for expression, condition in (live, fresh):
                try:
                    out = self.client.update_item(
                        TableName=self.name,
                        Key=self._key(pk, sk),
                        UpdateExpression=expression,
                        ConditionExpression=condition,
                        ExpressionAttributeNames={"#u": "until"},  # a reserved word
                        ExpressionAttributeValues={**values, ":zero": _enc(0)}
                        if ":zero" in expression
                        else values,
                        ReturnValues="UPDATED_NEW",
                    )
                except self.client.exceptions.ConditionalCheckFailedException:
                    continue
                return int(_dec(out["Attributes"]["seq"])) - n + 1

    def drop(self, pk: str) -> None:
        """Delete every row of ``pk``."""
        args: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "pk = :pk",  # expired rows too: nothing is left behind
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "sk",
        }
        keys: list[str] = []
        while True:
            page = self.client.query(**args)
            keys += [item["sk"]["S"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        self.delete_rows(pk, keys)


def create_table(client: Any, name: str, tags: Mapping[str, str] | None = None) -> None:
    """An on-demand table with the ``expires_at`` TTL (what deploy creates for a missing Dict or
    Queue; tests use it too). Idempotent: an existing table is kept and gets its TTL if a
    creator died before setting it. Waits until the table is active."""
    try:
        client.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            **({"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]} if tags else {}),
        )
    except client.exceptions.ResourceInUseException:
        pass
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ensure_ttl(client, name)


def ensure_ttl(client: Any, name: str) -> None:
    """Turn on the ``expires_at`` TTL unless it is on (DynamoDB refuses to enable it twice)."""
    ttl = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def dynamodb_client(region: str | None = None) -> Any:
    """A DynamoDB client (``AWS_ENDPOINT_URL`` is honoured by botocore itself)."""
    import boto3

    return boto3.client("dynamodb", region_name=region or os.environ.get("AWS_REGION") or None)


def open_store(kind: str, name: str, prefix: str, client: Any = None) -> TableDict | TableQueue:
    """The Dict (``kind="dict"``) or Queue store of ``name`` under a stack's table ``prefix``."""
    table = DynamoTable(client or dynamodb_client(), table_name(prefix, kind, name))
    store = TableDict if kind == "dict" else TableQueue
    return store(table, f"{kind}:{name}")


_CLIENTS: dict[str | None, Any] = {}


def store_from_env(kind: str, name: str, environ: Mapping[str, str] = os.environ) -> TableDict | TableQueue:
    """The store a deployed function opens for ``Dict/Queue.from_name(name)`` (one client a process)."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region not in _CLIENTS:
        _CLIENTS[region] = dynamodb_client(region)
    return open_store(kind, name, environ[ENV_PREFIX], _CLIENTS[region])


def stack_prefix(stack: str) -> str:
    """The table prefix of a stack's Dicts and Queues."""
    return f"pcompile-{stack}"


def stack_store(kind: str, name: str, settings: Any) -> TableDict | TableQueue:
    """The store of ``name`` on a deployed stack, for ``pcompile dict|queue --stack``."""
    client = dynamodb_client(settings.region)
    table = table_name(stack_prefix(settings.name), kind, name)
    try:
        client.describe_table(TableName=table)
    except client.exceptions.ResourceNotFoundException:
        from pcompile.compiler.errors import UserError

        raise UserError(
            f"no {kind} {name!r} on stack {settings.name!r} (no DynamoDB table {table!r})",
            fix=f"pcompile {kind} list --stack {settings.name}",
        ) from None
    return open_store(kind, name, stack_prefix(settings.name), client)


def delete_object(kind: str, name: str, settings: Any) -> None:
    """``pcompile dict|queue delete NAME --stack S``: the object's table goes (a named Dict or
    Queue outlives the apps that use it, as on Modal, so no app's program owns its table)."""
    store = stack_store(kind, name, settings)
    assert isinstance(store.table, DynamoTable)
    if name.startswith("ephemeral-"):
        store.drop()  # the stack's shared ephemeral table stays
        return
    store.table.client.delete_table(TableName=store.table.name)


def list_names(kind: str, settings: Any) -> list[str]:
    """Names of a stack's ``kind`` objects (its tables), sorted."""
    client = dynamodb_client(settings.region)
    start = f"{stack_prefix(settings.name)}-{kind}-"
    names: list[str] = []
    for page in client.get_paginator("list_tables").paginate():
        names += [t[len(start) :] for t in page.get("TableNames", []) if t.startswith(start)]
    return sorted(names)


def prepare_deploy(app: Any, settings: Any, preview: bool) -> list[str]:
    """Deploy's step before the program: create the app's missing tables
    (:func:`pcompile.providers.aws.kv_resources.prepare_deploy`)."""
    from pcompile.providers.aws import kv_resources

    return kv_resources.prepare_deploy(app, settings, preview)
