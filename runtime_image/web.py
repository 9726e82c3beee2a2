"""Web functions as HTTP servers: ``python -m pcompile.runtime web --init FILE --port N``.

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
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .execute import Container


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
        if scope.get("type") != "http":
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
    parser.add_argument("--port", type=int, required=True)
    opts = parser.parse_args(argv)
    with open(opts.init) as fh:
        init = json.load(fh)
    from .worker import setup

    container = setup(init)
    app = asgi_app_for(container, init["function"])
    if app is None:
        threading.Event().wait()  # the user's server runs in its own threads/processes
        return 0
    import uvicorn

    uvicorn.run(RequestLog(app), host="127.0.0.1", port=opts.port, log_level="warning")
    container.stop()
    return 0
