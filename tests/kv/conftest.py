"""Fixtures of the Dict/Queue contract suite: one parameter per backend.

``local`` (SQLite), ``aws`` (DynamoDB in moto's server), ``gcp-fake`` (the in-library
Firestore fake) and ``gcp-emulator`` (Google's Firestore emulator, when the Google Cloud
SDK that ships it is installed; skipped otherwise). Servers run on free loopback ports in
their own process groups and are stopped with their whole tree (tests/servers.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from backends import install
from servers import firestore_emulator, firestore_emulator_launcher, moto_server

from pcompile import _storage

BACKENDS = ["local", "aws", "gcp-fake", "gcp-emulator"]


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server for the session (tables are per test name)."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def emulator_host() -> Iterator[str]:
    """Google's Firestore emulator on a free loopback port."""
    if firestore_emulator_launcher() is None:
        pytest.skip("no Firestore emulator installed (Google Cloud SDK component cloud-firestore-emulator)")
    with firestore_emulator("kvtest") as host:
        yield host


@pytest.fixture(params=BACKENDS)
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The backend under test, installed in this process (and restored after)."""
    backend = request.param
    where = {
        "local": lambda: str(tmp_path / "local"),
        "aws": lambda: request.getfixturevalue("moto_url"),
        "gcp-fake": lambda: str(tmp_path / "firestore-fake.sqlite"),
        "gcp-emulator": lambda: request.getfixturevalue("emulator_host"),
    }[backend]()
    old_local = os.environ.get("PCOMPILE_LOCAL_DIR")
    install((backend, where))
    yield backend, where
    for kind in ("dict", "queue"):
        _storage.set_factory(kind, None)
    if old_local is None:
        os.environ.pop("PCOMPILE_LOCAL_DIR", None)
    else:
        os.environ["PCOMPILE_LOCAL_DIR"] = old_local
    os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
