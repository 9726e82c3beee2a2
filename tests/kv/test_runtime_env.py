"""Inside a deployed function, ``Dict.from_name`` / ``Queue.from_name`` reach the cloud store
named by the environment the program sets (``PCOMPILE_KV_CLOUD``, ``PCOMPILE_KV_PREFIX``):
a separate Python process plays the function, with only those variables to go on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from backends import PREFIX

import pcompile
from pcompile import _storage
from pcompile.compiler.errors import UserError

USER_CODE = textwrap.dedent(
    """
    import pcompile
    d = pcompile.Dict.from_name("shared-dict")
    q = pcompile.Queue.from_name("shared-queue")
    d["from-function"] = {"n": 1}
    q.put_many(["a", "b"], partition="jobs")
    print(d.get("from-caller"))
    """
)


def _run_function(env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", USER_CODE],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_aws_function_reaches_dynamodb(moto_url: str) -> None:
    from backends import install

    install(("aws", moto_url))  # the caller's side: same tables, through the test's factory
    try:
        pcompile.Dict.from_name("shared-dict")["from-caller"] = "hello"
        pcompile.Queue.from_name("shared-queue").len()  # creates the queue's table
        env = {
            "PCOMPILE_KV_CLOUD": "aws",
            "PCOMPILE_KV_PREFIX": PREFIX,
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
        }
        assert _run_function(env) == "hello"
        assert pcompile.Dict.from_name("shared-dict")["from-function"] == {"n": 1}
        assert pcompile.Queue.from_name("shared-queue").get_many(5, partition="jobs") == ["a", "b"]
    finally:
        for kind in ("dict", "queue"):
            _storage.set_factory(kind, None)


def test_gcp_function_reaches_firestore(emulator_host: str) -> None:
    from backends import install

    install(("gcp-emulator", emulator_host))
    try:
        pcompile.Dict.from_name("shared-dict")["from-caller"] = "hello"
        env = {
            "PCOMPILE_KV_CLOUD": "gcp",
            "PCOMPILE_KV_PREFIX": PREFIX,
            "FIRESTORE_EMULATOR_HOST": emulator_host,
            "GOOGLE_CLOUD_PROJECT": "kvtest",
        }
        assert _run_function(env) == "hello"
        assert pcompile.Dict.from_name("shared-dict")["from-function"] == {"n": 1}
        assert pcompile.Queue.from_name("shared-queue").get_many(5, partition="jobs") == ["a", "b"]
    finally:
        for kind in ("dict", "queue"):
            _storage.set_factory(kind, None)
        os.environ.pop("FIRESTORE_EMULATOR_HOST", None)


def test_without_the_variables_the_local_store_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("PCOMPILE_KV_CLOUD", raising=False)
    monkeypatch.setenv("PCOMPILE_LOCAL_DIR", str(tmp_path))
    assert type(_storage.dict_backend("x")).__name__ == "SqliteDict"
    monkeypatch.setenv("PCOMPILE_KV_CLOUD", "../evil")
    with pytest.raises(UserError, match="unknown cloud '../evil'"):
        _storage.dict_backend("x")
