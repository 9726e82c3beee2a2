"""Reaching a running ``pcompile serve`` from other processes on this machine.

``pcompile serve`` starts a :class:`ControlServer` on a loopback port and writes
``.pcompile/local/deployments/<app>.json`` (``{"app", "control_url", "pid",
"web_urls"}``). :class:`ControlClient` (what ``Function.from_name(app, name)``
returns without a stack) reads that file and posts envelopes: the request names the
operation and carries the target and inputs as cloudpickle payloads; the answer is
``{"status": "ok"|"err", "data": ...}`` exactly as a worker result. Spawned call ids
point into the shared local call store, so ``get``/``cancel`` read it directly.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pcompile.exception import NotFoundError
from pcompile.providers.invoker import Target
from pcompile.runtime import protocol

from . import calls
from .invoker import LocalInvoker, StoredCalls
from .paths import safe_name, sub


def deployment_file(app_name: str) -> Path:
    """Where a served app's address is recorded."""
    return sub("deployments") / f"{safe_name(app_name, 'app')}.json"


def _ok(value: Any) -> dict[str, Any]:
    return {"status": "ok", "data": protocol.pack(value)}


class ControlServer:
    """A loopback HTTP endpoint forwarding calls to a :class:`LocalInvoker`."""

    def __init__(self, invoker: LocalInvoker) -> None:
        self.invoker = invoker
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = protocol.dump_envelope(server.handle(protocol.load_envelope(body)))
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="pcompile-control", daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one request; failures come back as ``err`` results."""
        try:
            op = request["op"]
            target = Target(*protocol.unpack(request["target"]))
            body: Any = protocol.unpack(request["body"]) if request.get("body") else None
            inv = self.invoker
            if op == "call":
                return _ok(inv.call(target, *body))
            if op == "gen":
                return _ok(list(inv.call_gen(target, *body)))
            if op == "map":
                inputs, flags = body
                outputs = list(inv.map(target, inputs, return_exceptions=True, **flags))
                return _ok(outputs)
            if op == "spawn_map":
                return _ok(inv.spawn_map(target, body))
            if op == "web_url":
                return _ok(inv.web_url(target))
            raise ValueError(f"unknown control operation {op!r}")
        except BaseException as exc:
            return {"status": "err", "data": protocol.error_info(exc)}


class ControlClient(StoredCalls):
    """The invoker of an app served by ``pcompile serve`` in another process."""

    def __init__(self, app_name: str, url: str) -> None:
        self.app_name = app_name
        self.url = url

    @classmethod
    def for_app(cls, app_name: str) -> ControlClient:
        """The client for ``app_name``; ``NotFoundError`` when no live serve process has it."""
        path = deployment_file(app_name)
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFoundError(
                f"app {app_name!r} is not being served on this machine (no {path}); start it with "
                "`pcompile serve FILE`, or pass stack=... for a deployed app"
            ) from None
        try:
            os.kill(int(record["pid"]), 0)
        except (ProcessLookupError, PermissionError, ValueError):
            raise NotFoundError(
                f"app {app_name!r} was served by process {record['pid']}, which has exited; "
                "start it again with `pcompile serve FILE`"
            ) from None
        return cls(app_name, record["control_url"])

    def serves(self, app_name: str) -> bool:
        """Whether this client reaches ``app_name``."""
        return app_name == self.app_name

    def _post(self, op: str, target: Target, body: Any = None) -> Any:
        request = {
            "op": op,
            "target": protocol.pack(tuple(target.__dict__.values())),
            "body": protocol.pack(body) if body is not None else None,
        }
        data = protocol.dump_envelope(request)
        req = urllib.request.Request(self.url + "/", data=data, method="POST")
        with urllib.request.urlopen(req) as resp:  # noqa: S310 - loopback URL we wrote
            answer = protocol.load_envelope(resp.read())
        return calls.decode(answer["status"], answer["data"], None)

    def call(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run one input in the served app."""
        return self._post("call", target, (args, kwargs))

    def call_gen(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        """Run a generator input (items arrive when it finishes)."""
        yield from self._post("gen", target, (args, kwargs))

    def map(
        self,
        target: Target,
        inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]],
        *,
        order_outputs: bool,
        return_exceptions: bool,
        wrap_returned_exceptions: bool,
    ) -> Iterator[Any]:
        """Run many inputs in the served app."""
        flags = {"order_outputs": order_outputs, "wrap_returned_exceptions": wrap_returned_exceptions}
        for out in self._post("map", target, (list(inputs), flags)):
            if isinstance(out, BaseException) and not return_exceptions:
                raise out
            yield out

    def spawn(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Start one input; returns its durable call id."""
        return self.spawn_map(target, [(args, kwargs)])

    def spawn_map(self, target: Target, inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]]) -> str:
        """Start many inputs under one call id."""
        return str(self._post("spawn_map", target, list(inputs)))

    def web_url(self, target: Target) -> str | None:
        """The URL of a served web function."""
        url = self._post("web_url", target)
        return None if url is None else str(url)
