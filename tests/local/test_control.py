"""The control port of ``pcompile serve``: only the owner of the deployment record may call it."""

from __future__ import annotations

import json
import os
import pickle
import socket
import stat

import httpx
import pytest
from localhelp import fn

from pcompile.providers.invoker import Target
from pcompile.providers.local.control import ControlClient, ControlServer
from pcompile.runtime import protocol


class _Plant:
    """Unpickling this creates a file: the exploit an unauthenticated peer would send."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def control(invoker_factory):
    server = ControlServer(invoker_factory(fn("square")), request_timeout=1.0, threads=2)
    server.start()
    server.publish("plain", {"app": "plain", "pid": os.getpid(), "web_urls": {}})
    yield server
    server.close()


def _exploit(marker) -> bytes:
    return protocol.MAGIC + bytes([protocol.ENVELOPE_VERSION]) + pickle.dumps(_Plant(str(marker)))


def test_unauthenticated_pickle_is_refused_before_unpickling(control, tmp_path):
    marker = tmp_path / "pwned"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": control.token}):
        answer = httpx.post(control.url + "/", content=_exploit(marker), headers=headers)
        assert answer.status_code == 401, answer.text
    assert not marker.exists()


def test_wrong_host_header_is_refused_even_with_the_token(control, tmp_path):
    marker = tmp_path / "pwned"
    headers = {"Authorization": f"Bearer {control.token}", "Host": f"evil.example:{control.port}"}
    answer = httpx.post(control.url + "/", content=_exploit(marker), headers=headers)
    assert answer.status_code == 403
    assert "wrong Host header" in answer.text
    assert not marker.exists()


def test_record_is_private_and_the_client_uses_its_token(control, local_dir):
    path = local_dir / "deployments" / "plain.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    record = json.loads(path.read_text())
    assert record["token"] == control.token and record["control_url"] == control.url
    client = ControlClient.for_app("plain")
    assert client.call(Target("plain", "square"), (7,), {}) == 49


def test_stalled_connections_are_closed_and_do_not_block_calls(control):
    stalled = []
    for _ in range(6):  # more than the server's two threads
        sock = socket.create_connection(("127.0.0.1", control.port))
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes its headers
        stalled.append(sock)
    client = ControlClient.for_app("plain")
    assert client.call(Target("plain", "square"), (3,), {}) == 9
    for sock in stalled:
        sock.settimeout(20)
        assert sock.recv(100) == b""  # the server hung up on it
        sock.close()
