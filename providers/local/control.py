"""Reaching a running ``pcompile serve`` from other processes on this machine.

``pcompile serve`` starts a :class:`ControlServer` on a loopback port and writes
``.pcompile/local/deployments/<app>.json`` (``{"app", "control_url", "pid", "token",
"web_urls"}``, mode 0600 in a 0700 folder). :class:`ControlClient` (what
``Function.from_name(app, name)`` returns without a stack) reads that file and posts
envelopes with the token as a bearer credential (see docs/local.md, "Trust model"):
the request names the
operation and carries the target and inputs as cloudpickle payloads; the answer is
``{"status": "ok"|"err", "data": ...}`` exactly as a worker result. Spawned call ids
point into the shared local call store, so ``get``/``cancel`` read it directly.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from pcompile.exception import ExecutionError, NotFoundError
from pcompile.providers.invoker import Target
from pcompile.runtime import protocol, staging

from . import calls
from .invoker import LocalInvoker, StoredCalls
from .paths import safe_name, sub


def deployment_file(app_name: str) -> Path:
    """Where a served app's address is recorded."""
    return sub("deployments") / f"{safe_name(app_name, 'app')}.json"


def _ok(value: Any) -> dict[str, Any]:
    return {"status": "ok", "data": staging.pack(value)}


class _BoundedServer(HTTPServer):
    """An HTTP server that runs each connection on a fixed pool of threads (so a flood of
    connections cannot start unbounded threads; stalled ones end at the socket timeout)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], threads: int) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="pcompile-control")

    def process_request(self, request: Any, client_address: Any) -> None:
        self.executor.submit(self._process, request, client_address)

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hung up or timed out is not our error to print

    def server_close(self) -> None:
        super().server_close()
        self.executor.shutdown(wait=False, cancel_futures=True)


class ControlServer:
    """A loopback HTTP endpoint forwarding calls to a :class:`LocalInvoker`.

    Every request must carry ``Authorization: Bearer <token>`` (the token is in the 0600
    deployment record) and a loopback ``Host`` header naming this port; anything else is
    refused before its body is read, so nothing from an unauthenticated peer is unpickled.
    ``request_timeout`` bounds every socket read and write; ``threads`` bounds concurrency.
    """

    def __init__(self, invoker: LocalInvoker, *, request_timeout: float = 30.0, threads: int = 16) -> None:
        self.invoker = invoker
        self.token = secrets.token_urlsafe(32)
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = request_timeout

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                refusal = server.refusal(self.headers.get("Host"), self.headers.get("Authorization"))
                if refusal is not None:
                    self._reply(refusal[0], refusal[1].encode(), "text/plain; charset=utf-8")
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if length < 0:
                    self._reply(400, b"bad Content-Length", "text/plain; charset=utf-8")
                    return
                body = self.rfile.read(length)
                answer = protocol.dump_envelope(server.handle(protocol.load_envelope(body)))
                self._reply(200, answer, "application/octet-stream")

            def _reply(self, code: int, data: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = _BoundedServer(Handler, threads)
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="pcompile-control", daemon=True)

    def refusal(self, host: str | None, authorization: str | None) -> tuple[int, str] | None:
        """Why a request is refused (status, reason), or None when it may proceed.

        The Host check stops DNS-rebinding pages in a browser; the token stops every other
        local process that cannot read the deployment record.
        """
        if host not in (f"127.0.0.1:{self.port}", f"localhost:{self.port}"):
            return 403, f"wrong Host header {host!r}: the control port answers only 127.0.0.1:{self.port}"
        scheme, _, given = (authorization or "").partition(" ")
        expected = self.token.encode()
        if scheme != "Bearer" or not hmac.compare_digest(given.encode("utf-8", "replace"), expected):
            return 401, "missing or wrong token: read it from the app's deployment record"
        return None

    def publish(self, app_name: str, record: dict[str, Any]) -> Path:
        """Write the deployment record (with this server's URL and token), readable only by us."""
        record = {**record, "control_url": self.url, "token": self.token}
        path = deployment_file(app_name)
        os.chmod(path.parent, 0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

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
            target = Target(*staging.unpack(request["target"]))
            body: Any = staging.unpack(request["body"]) if request.get("body") else None
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

    def __init__(self, app_name: str, url: str, token: str) -> None:
        self.app_name = app_name
        self.url = url
        self.token = token

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
        if not record.get("token"):
            raise NotFoundError(
                f"the record of app {app_name!r} ({path}) has no control token (written by an older "
                "pcompile); restart `pcompile serve FILE`"
            )
        return cls(app_name, record["control_url"], record["token"])

    def serves(self, app_name: str) -> bool:
        """Whether this client reaches ``app_name``."""
        return app_name == self.app_name

    def _post(self, op: str, target: Target, body: Any = None) -> Any:
        request = {
            "op": op,
            "target": staging.pack(tuple(target.__dict__.values())),
            "body": staging.pack(body) if body is not None else None,
        }
        data = protocol.dump_envelope(request)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/octet-stream"}
        req = urllib.request.Request(self.url + "/", data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req) as resp:  # noqa: S310 - loopback URL we wrote
                answer = protocol.load_envelope(resp.read())
        except urllib.error.HTTPError as exc:
            reason = exc.read().decode(errors="replace")
            raise ExecutionError(
                f"the `pcompile serve` of app {self.app_name!r} refused the call ({exc.code}: {reason}); "
                "if serve was restarted, look the function up again"
            ) from None
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
