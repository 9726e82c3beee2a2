"""``modal.Dict`` and ``modal.Queue`` of an app on AWS: which DynamoDB tables it uses, what its
functions get (environment and IAM), and the deploy step that creates missing tables.

Who owns a table (docs/aws.md, "Dict and Queue"): a named Dict or Queue outlives the apps that
use it and is shared by them, as on Modal, so its table is no resource of any app's Pulumi
program (a second app declaring it would fail to create it, and destroying the first app would
delete the data of both). ``pcompile deploy`` creates the missing tables before it runs the
program (:func:`prepare_deploy`, idempotent); ``pcompile dict|queue delete`` deletes one. The
program only grants: every function of an app that names a Dict or Queue gets
:data:`ITEM_ACTIONS` on exactly the app's tables and the stack's ephemeral table (an ephemeral
object made by a caller reaches a function as an argument, which the IR cannot see), and the
environment that opens them (:func:`environment`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, Source
from pcompile.providers.aws import iam
from pcompile.providers.aws import kv as aws_kv
from pcompile.providers.kv import KvInputError
from pcompile.providers.settings import StackSettings

# Exactly the item calls of :class:`pcompile.providers.aws.kv.DynamoTable`: no Scan, no
# DescribeTable, no table-level call, nothing on another table.
ITEM_ACTIONS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
GRANT_SID = "KvTables"
# DynamoDB's rule for table names.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_LABEL = {"dict": "Dict", "queue": "Queue"}


@dataclass(frozen=True)
class KvTable:
    """One table an app's functions use: a named Dict/Queue's, or the stack's ephemeral one."""

    table: str
    kind: str  # "dict", "queue" or "ephemeral"
    name: str  # the Dict/Queue name ("" for the ephemeral table)
    create_if_missing: bool = True
    source: Source | None = None  # the from_name line, where the IR has it

    def describe(self) -> str:
        """``Dict 'name'`` (or ``the ephemeral table``) for messages."""
        return (
            f"{_LABEL[self.kind]} {self.name!r}" if self.kind in _LABEL else "the ephemeral Dict/Queue table"
        )


def tables(app: AppSpec, stack: str) -> list[KvTable]:
    """The tables of ``app``'s Dicts and Queues on ``stack``, sorted; none when it names none.

    A name DynamoDB would refuse is a UserError naming the object and the fix."""
    if not app.dicts and not app.queues:
        return []
    prefix = aws_kv.stack_prefix(stack)
    found = {aws_kv.ephemeral_table(prefix): KvTable(aws_kv.ephemeral_table(prefix), "ephemeral", "")}
    for kind, specs in (("dict", app.dicts), ("queue", app.queues)):
        for spec in specs:
            table = _table_name(prefix, kind, spec.name, spec.source)
            if table not in found:
                found[table] = KvTable(table, kind, spec.name, spec.create_if_missing, spec.source)
    for made in sorted(found.values(), key=lambda t: t.kind == "ephemeral"):  # the user's names first
        _check_table(made, stack)
    return [found[t] for t in sorted(found)]


def _table_name(prefix: str, kind: str, name: str, source: Source | None) -> str:
    try:
        return aws_kv.table_name(prefix, kind, name)
    except KvInputError as exc:
        raise UserError(
            f"{_LABEL[kind]}.from_name({name!r}) of this app cannot be deployed: {exc}",
            source=source,
            fix=f"rename the {_LABEL[kind]} in its from_name call",
        ) from None


def _check_table(table: KvTable, stack: str) -> None:
    if _TABLE_NAME.fullmatch(table.table):
        return
    raise UserError(
        f"{table.describe()} on stack {stack!r} would be the DynamoDB table {table.table!r} "
        f"({len(table.table)} characters), but a table name has 3-255 letters, digits, '_', '-' or '.'",
        source=table.source,
        fix="use a shorter stack name or a shorter Dict/Queue name",
    )


def environment(app: AppSpec, stack: str) -> dict[str, str]:
    """``PCOMPILE_KV_CLOUD``/``PCOMPILE_KV_PREFIX`` for the functions of an app with Dicts or
    Queues (read by ``pcompile.providers.aws.kv.store_from_env``); empty otherwise."""
    if not app.dicts and not app.queues:
        return {}
    return {aws_kv.ENV_CLOUD: "aws", aws_kv.ENV_PREFIX: aws_kv.stack_prefix(stack)}


def statements(app: AppSpec, stack: str, arns: iam.Arns) -> list[dict[str, Any]]:
    """The one IAM statement of a function of ``app``: the store's item calls on its tables."""
    found = tables(app, stack)
    if not found:
        return []
    return [iam.allow(GRANT_SID, list(ITEM_ACTIONS), [arns.table(t.table) for t in found])]


def table_tags(table: KvTable, settings: StackSettings) -> dict[str, str]:
    """Tags of a table deploy creates: the stack and the object, never an app (tables are shared)."""
    own = {"pcompile-stack": settings.name, "pcompile-kv-kind": table.kind}
    if table.name:
        own["pcompile-kv-name"] = table.name
    return dict(sorted({**settings.labels, **own}.items()))


def prepare_deploy(app: AppSpec, settings: StackSettings, preview: bool, client: Any = None) -> list[str]:
    """Create the tables of ``app`` that do not exist yet (none in a preview), one line each.

    Every table is checked before any is created: a ``from_name`` without
    ``create_if_missing=True`` whose table is missing stops the deploy with nothing created.
    """
    wanted = tables(app, settings.name)
    if not wanted:
        return []
    client = client or aws_kv.dynamodb_client(settings.region)
    missing = [t for t in wanted if not _exists(client, t.table)]
    for table in missing:
        if not table.create_if_missing:
            raise UserError(
                f"{table.describe()} does not exist on stack {settings.name!r} (no DynamoDB table "
                f"{table.table!r}), and {_LABEL[table.kind]}.from_name({table.name!r}) does not create it",
                source=table.source,
                fix=f"pass create_if_missing=True to {_LABEL[table.kind]}.from_name({table.name!r}), "
                "or deploy first the app that creates it",
            )
    lines = [f"table {t.table} exists" for t in wanted if t not in missing]
    for table in missing:
        if preview:
            lines.append(f"table {table.table} would be created")
            continue
        aws_kv.create_table(client, table.table, table_tags(table, settings))
        lines.append(f"table {table.table} created (on-demand, TTL on expires_at)")
    for table in wanted:
        if table not in missing and not preview:
            aws_kv.ensure_ttl(client, table.table)
    return lines


def _exists(client: Any, table: str) -> bool:
    try:
        client.describe_table(TableName=table)
    except client.exceptions.ResourceNotFoundException:
        return False
    return True
