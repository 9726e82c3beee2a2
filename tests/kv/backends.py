"""The backends the Dict/Queue contract suite runs against, as picklable specs.

A spec is ``(backend, where)``; :func:`install` makes ``pcompile.Dict``/``Queue`` use that
backend in this process (the suite's child processes call it too), through the same
``pcompile._storage`` factories a deployed function gets.
"""

from __future__ import annotations

import os
from typing import Any

from pcompile import _storage

PREFIX = "pcompile-kvtest"


def _aws(url: str) -> Any:
    import boto3

    from pcompile.providers.aws import kv as aws_kv

    client = boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    made: set[str] = set()

    def factory(kind: str) -> Any:
        def open_store(name: str) -> Any:
            table = aws_kv.table_name(PREFIX, kind, name)
            if table not in made:  # the deployed program declares these tables; here the test does
                aws_kv.create_table(client, table)
                made.add(table)
            return aws_kv.open_store(kind, name, PREFIX, client)

        return open_store

    return factory


def _gcp_fake(path: str) -> Any:
    from pcompile.providers.gcp import kv as gcp_kv
    from pcompile.providers.gcp.kv_fake import FakeFirestoreTable

    table = FakeFirestoreTable(path)
    return lambda kind: lambda name: gcp_kv.open_store(kind, name, PREFIX, table)


def _gcp_emulator(host: str) -> Any:
    from pcompile.providers.gcp import kv as gcp_kv

    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    # A deployed stack's database when the test names one (as a function's environment does).
    database = os.environ.get(gcp_kv.ENV_DATABASE)
    table = gcp_kv.FirestoreTable(gcp_kv.firestore_client("kvtest", database))
    return lambda kind: lambda name: gcp_kv.open_store(kind, name, PREFIX, table)


def install(spec: tuple[str, str]) -> None:
    """Route this process's Dict/Queue objects to the backend ``spec`` names."""
    backend, where = spec
    if backend == "local":
        os.environ["PCOMPILE_LOCAL_DIR"] = where
        for kind in ("dict", "queue"):
            _storage.set_factory(kind, None)
        return
    factory = {"aws": _aws, "gcp-fake": _gcp_fake, "gcp-emulator": _gcp_emulator}[backend](where)
    for kind in ("dict", "queue"):
        _storage.set_factory(kind, factory(kind))
