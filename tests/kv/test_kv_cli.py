"""``pcompile dict|queue`` on the local store and on an aws stack (DynamoDB in moto's server)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import pcompile
from pcompile import _storage
from pcompile.cli.main import main


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """Run ``pcompile ARGS`` in this process: (exit code, stdout + stderr)."""

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out = capsys.readouterr()
        return code, out.out + out.err

    return run


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PCOMPILE_LOCAL_DIR", str(tmp_path / "local"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_local_dict_and_queue_commands(local: Path, cli: Callable[..., tuple[int, str]]) -> None:
    d = pcompile.Dict.from_name("cfg", create_if_missing=True)
    d["model"] = "small"
    q = pcompile.Queue.from_name("jobs", create_if_missing=True)
    q.put_many([1, 2, 3])
    q.put("x", partition="p")
    assert cli("dict", "list") == (0, "cfg\n")
    assert cli("dict", "get", "cfg", "model") == (0, "'small'\n")
    assert cli("dict", "len", "cfg") == (0, "1\n")
    assert cli("queue", "list") == (0, "jobs\n")
    assert cli("queue", "peek", "jobs", "2") == (0, "1\n2\n")
    assert cli("queue", "len", "jobs") == (0, "3\n")
    assert cli("queue", "len", "jobs", "--total") == (0, "4\n")
    assert cli("queue", "clear", "jobs")[0] == 0
    assert q.len(total=True) == 1
    assert cli("dict", "clear", "cfg")[0] == 0 and d.len() == 0
    assert cli("dict", "delete", "cfg")[0] == 0
    assert cli("dict", "list") == (0, "")


def test_missing_objects_and_keys_are_user_errors(local: Path, cli: Callable[..., tuple[int, str]]) -> None:
    code, message = cli("dict", "get", "nope", "k")
    assert code == 1 and "no dict 'nope' in the local store" in message
    assert "Traceback" not in message
    pcompile.Dict.from_name("cfg", create_if_missing=True)["a"] = 1
    code, message = cli("dict", "get", "cfg", "b")
    assert code == 1 and "no key 'b' in dict 'cfg'" in message
    pcompile.Queue.from_name("jobs").put(1)
    code, message = cli("queue", "len", "jobs", "--partition", "x" * 65)
    assert code == 1 and "at most 64 bytes" in message


def test_aws_stack_commands_read_dynamodb(
    tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., tuple[int, str]]
) -> None:
    from backends import install

    monkeypatch.chdir(tmp_path)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "kvsim.yaml").write_text(
        f"cloud: aws\nregion: us-east-1\nengine: simulate\nendpoint_url: {moto_url}\n"
    )
    for var in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("backends.PREFIX", "pcompile-kvsim")  # the stack's own tables
    install(("aws", moto_url))
    try:
        pcompile.Dict.from_name("settings")["lr"] = 0.1
        q = pcompile.Queue.from_name("work")
        q.put_many(["a", "b"])
        assert cli("dict", "list", "--stack", "kvsim") == (0, "settings\n")
        assert cli("dict", "get", "settings", "lr", "--stack", "kvsim") == (0, "0.1\n")
        assert cli("queue", "len", "work", "--stack", "kvsim") == (0, "2\n")
        assert cli("queue", "peek", "work", "5", "--stack", "kvsim") == (0, "'a'\n'b'\n")
        code, message = cli("queue", "len", "absent", "--stack", "kvsim")
        assert code == 1 and "no queue 'absent' on stack 'kvsim'" in message
        assert cli("dict", "delete", "settings", "--stack", "kvsim")[0] == 0
        assert cli("dict", "list", "--stack", "kvsim") == (0, "")  # its table is gone
    finally:
        for kind in ("dict", "queue"):
            _storage.set_factory(kind, None)
        os.environ.pop("AWS_ENDPOINT_URL", None)


def test_gcp_stack_commands_read_firestore(
    tmp_path: Path, emulator_host: str, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., tuple[int, str]]
) -> None:
    from backends import install

    monkeypatch.chdir(tmp_path)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "kvgcp.yaml").write_text("cloud: gcp\nregion: us-central1\nproject: kvtest\n")
    monkeypatch.setattr("backends.PREFIX", "pcompile-kvgcp")  # the stack's own collections
    monkeypatch.setenv("PCOMPILE_KV_DATABASE", "pcompile-kvgcp")  # and its database (bootstrap's)
    install(("gcp-emulator", emulator_host))
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator_host)
    try:
        pcompile.Dict.from_name("settings")["lr"] = 0.1
        pcompile.Queue.from_name("work").put_many(["a", "b"], partition="p")
        assert cli("dict", "list", "--stack", "kvgcp") == (0, "settings\n")
        assert cli("dict", "get", "settings", "lr", "--stack", "kvgcp") == (0, "0.1\n")
        assert cli("queue", "len", "work", "--total", "--stack", "kvgcp") == (0, "2\n")
        assert cli("queue", "peek", "work", "5", "--partition", "p", "--stack", "kvgcp") == (0, "'a'\n'b'\n")
        assert cli("queue", "delete", "work", "--stack", "kvgcp")[0] == 0
        assert cli("queue", "list", "--stack", "kvgcp") == (0, "")
    finally:
        for kind in ("dict", "queue"):
            _storage.set_factory(kind, None)
