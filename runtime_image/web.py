"""Web functions as HTTP servers: ``python -m pcompile.runtime web --init FILE --port N``.

:func:`front_app` builds the public ("front") ASGI app of a web function; every web
target serves it (``pcompile serve``, Lambda Function URLs, Cloud Run, ECS), so the
health check, start-up answers and proxy auth are the same everywhere:

* ``fastapi`` / ``asgi`` / ``wsgi``: the user's app (:func:`asgi_app_for`);
* ``web_server`` / ``server``: a streaming reverse proxy (:class:`ServerProxy`) to the
  user's server on ``127.0.0.1:<port>``. The user's code starts in a thread while the
  front already listens; until the server accepts connections the front answers
  ``503`` with ``Retry-After`` (up to ``startup_timeout``), ``502`` once it failed.
* ``GET /__pcompile/healthz`` answers 200 only once the app is ready (load balancer
  health checks and ``pcompile serve`` wait on it); it needs no proxy auth.
* functions that require proxy auth sit behind :class:`~pcompile.runtime.proxy_auth.ProxyAuth`
  (401 without a valid ``Modal-Key``/``Modal-Secret``, before the user's app sees anything).

:func:`asgi_app_for` turns one IR web function into an ASGI application:

* ``fastapi`` (``@fastapi_endpoint``): the function mounted at ``/`` for its method;
* ``asgi`` (``@asgi_app``): the factory's return value;
* ``wsgi`` (``@wsgi_app``): the factory's WSGI app behind ``a2wsgi``;
* ``web_server`` / ``server``: no ASGI app - the function (or the class's ``@enter``)
  starts its own server on the declared port; this process just keeps it alive.

The ``web`` mode serves the app with uvicorn on loopback, logging one line per
request (:class:`RequestLog`); the same builder serves cloud HTTP modes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from .execute import Container

HEALTH_PATH = "/__pcompile/healthz"
SERVER_KINDS = ("web_server", "server")
RETRY_AFTER_S = 5
# Headers that describe one hop's connection, not the message (RFC 9110 7.6.1).
HOP_HEADERS = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


def front_app(container: Container, name: str, environ: Mapping[str, str] | None = None) -> Any:
    """The public ASGI app of web function ``name`` (see the module docstring).

    For ``web_server``/``server`` the user's code starts in a background thread, so the
    front listens (and answers 503 "starting") while it runs. ``environ`` (default
    ``os.environ``) names the proxy-auth token store of the deployment.
    """
    from . import proxy_auth

    spec = container.spec(name)
    web = spec.get("web") or {}
    if web.get("kind") in SERVER_KINDS:
        proxy = ServerProxy(int(web["port"]), startup_timeout(spec), lambda: asgi_app_for(container, name))
        proxy.start()
        app: Any = proxy
    else:
        app = Ready(asgi_app_for(container, name))
    return proxy_auth.guard(app, spec, os.environ if environ is None else environ, (HEALTH_PATH,))


FRONT_PORT = 8080


def front_port(server_port: int | None) -> int:
    """The front's port where a platform routes to one container port (Cloud Run, ECS):
    8080, or 8081 when the function's own server (``web_server``/``server``) takes 8080."""
    return FRONT_PORT + 1 if server_port == FRONT_PORT else FRONT_PORT


def startup_timeout(spec: dict[str, Any]) -> float:
    """Seconds a web function's server may take to accept connections (Modal's default 30)."""
    web = spec.get("web") or {}
    return float(web.get("startup_timeout") or spec.get("startup_timeout") or 30)


async def respond(
    send: Any, status: int, body: bytes, *, content_type: str = "text/plain; charset=utf-8", headers: Any = ()
) -> None:
    """Send one whole small response."""
    head = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*head, *headers]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class Ready:
    """ASGI middleware for an app that is ready once built: answers the health path."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path") == HEALTH_PATH:
            await respond(send, 200, b'{"ok": true}\n', content_type="application/json")
            return
        await self.app(scope, receive, send)


def accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port`` now."""
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


class ServerProxy:
    """ASGI app: a streaming reverse proxy to the user's server on ``host:port``.

    ``start`` (the user's code that starts the server) runs in a thread by :meth:`start`;
    the state goes ``starting`` -> ``ready`` once the port accepts connections, or
    ``failed`` when ``start`` raised or ``startup_timeout`` passed. Request and
    response bodies stream both ways (server-sent events and chunked responses pass
    through as they are produced). WebSocket requests are refused (not proxied).
    """

    def __init__(self, port: int, timeout: float, start: Callable[[], Any], host: str = "127.0.0.1") -> None:
        self.host, self.port, self.timeout, self._start = host, port, timeout, start
        self.state = "starting"
        self.why = ""
        self._client: Any = None

    def start(self) -> None:
        """Run the user's start-up in a thread and watch the port until ready or failed."""
        threading.Thread(target=self._boot, name="pcompile-web-start", daemon=True).start()

    def _boot(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            self._start()
        except BaseException as exc:  # the user's code: report it, answer 502
            traceback.print_exc()
            self._fail(f"its start-up raised {type(exc).__name__}: {exc}")
            return
        while time.monotonic() < deadline:
            if accepts(self.host, self.port):
                self.state = "ready"
                return
            time.sleep(0.05)
        self._fail(f"nothing accepted connections on port {self.port} within {self.timeout:g} s")

    def _fail(self, why: str) -> None:
        self.why = why
        self.state = "failed"
        print(f"pcompile: the web server failed to start: {why}", file=sys.stderr, flush=True)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind != "http":
            await send({"type": "websocket.close", "code": 1011})  # uvicorn answers 403
        elif scope.get("path") == HEALTH_PATH:
            await self._health(send)
        elif self.state == "starting":
            body = f"starting: the server on port {self.port} is not accepting connections yet; retry\n"
            await respond(send, 503, body.encode(), headers=[(b"retry-after", str(RETRY_AFTER_S).encode())])
        elif self.state == "failed":
            await respond(send, 502, f"the web server failed to start: {self.why}\n".encode())
        else:
            await self._proxy(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _health(self, send: Any) -> None:
        alive = self.state == "ready" and await self._alive()
        status, body = (
            (200, b'{"ok": true}\n') if alive else (503, json.dumps({"state": self.state}).encode())
        )
        await respond(send, status, body, content_type="application/json")

    async def _alive(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 2)
        except (TimeoutError, OSError):
            return False
        writer.close()
        return True

    def client(self) -> Any:
        """The HTTP client to the user's server (made in the serving event loop)."""
        if self._client is None:
            import httpx

            timeout = httpx.Timeout(None, connect=5.0)  # streams may stay open as long as they like
            self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)
        return self._client

    async def _proxy(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        import httpx

        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in HOP_HEADERS]
        client_addr = scope.get("client") or ("", 0)
        headers += [(b"x-forwarded-for", str(client_addr[0]).encode()), (b"x-forwarded-proto", b"https")]
        names = {k.lower() for k, _ in scope.get("headers", [])}
        has_body = b"content-length" in names or b"transfer-encoding" in names
        request = self.client().build_request(
            scope["method"], self._url(scope), headers=headers, content=_body(receive) if has_body else None
        )
        try:
            response = await self.client().send(request, stream=True)
        except httpx.TransportError as exc:
            why = f"the web server on port {self.port} is not accepting connections ({type(exc).__name__})\n"
            await respond(send, 502, why.encode())
            return
        try:
            out = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_HEADERS]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():  # as produced: no buffering, no decoding
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.TransportError:
            pass  # the server went away mid-response; the client sees it cut short
        finally:
            await response.aclose()

    def _url(self, scope: dict[str, Any]) -> str:
        path = (scope.get("raw_path") or scope.get("path", "/").encode()).decode("latin-1")
        query = scope.get("query_string") or b""
        return f"http://{self.host}:{self.port}{path}" + (f"?{query.decode('latin-1')}" if query else "")


async def _body(receive: Any) -> AsyncIterator[bytes]:
    """The request body as it arrives."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        if message.get("body"):
            yield bytes(message["body"])
        if not message.get("more_body"):
            return


def asgi_app_for(container: Container, name: str) -> Any | None:
    """The ASGI app of web function ``name`` (None for ``web_server``/``server``)."""
    spec = container.spec(name)
    web = spec.get("web") or {}
    kind = web.get("kind")
    if kind in ("web_server", "server"):
        if spec.get("cls"):
            container._instance(spec["module"], spec["cls"])
        else:
            container.run(name, (), {})
        return None
    target = container.callable(name)
    if kind == "fastapi":
        from fastapi import FastAPI

        app = FastAPI(docs_url="/docs" if web.get("docs") else None, redoc_url=None, openapi_url=None)
        if web.get("docs"):
            app.openapi_url = "/openapi.json"
        app.add_api_route("/", target, methods=[(web.get("method") or "GET").upper()])
        return app
    if kind == "asgi":
        return target()
    if kind == "wsgi":
        from a2wsgi import WSGIMiddleware

        return WSGIMiddleware(target())
    raise ValueError(f"{name} is not a web function (web kind {kind!r})")


class RequestLog:
    """ASGI middleware: ``GET /items/7 200 3.1 ms`` on stdout for each HTTP request."""

    def __init__(self, app: Any, write: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.write = write or (lambda line: print(line, file=sys.stdout, flush=True))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("path") == HEALTH_PATH:
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                status[0] = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            ms = (time.perf_counter() - started) * 1000
            self.write(f"{scope.get('method', '-')} {scope.get('path', '/')} {status[0]} {ms:.1f} ms")


def main(argv: list[str]) -> int:
    """Entry point of the ``web`` mode (local ``pcompile serve``)."""
    parser = argparse.ArgumentParser(prog="python -m pcompile.runtime web")
    parser.add_argument("--init", required=True, help="JSON file: the worker init frame plus 'function'")
    parser.add_argument("--port", type=int, required=True, help="the front's port")
    parser.add_argument("--host", default="127.0.0.1")
    opts = parser.parse_args(argv)
    with open(opts.init) as fh:
        init = json.load(fh)
    from .worker import setup

    container = setup(init)
    app = front_app(container, init["function"])
    import uvicorn

    uvicorn.run(RequestLog(app), host=opts.host, port=opts.port, log_level="warning")
    container.stop()
    return 0
