"""The Lambda entry point: ``pcompile.runtime.aws_lambda.handler`` (run by awslambdaric).

One handler serves three kinds of event:

* ``{"pcompile": "invoke", "request": <base64 envelope>}`` - a synchronous call from
  the invoker; returns ``{"results": <base64 envelope of result dicts>}``;
* ``{"pcompile": "task", "job": "calls/<id>?n=..", "task": i}`` - an asynchronous
  (``spawn``) task of a staged call; results go to ``task-<i>.out`` in staging;
* ``{"pcompile": "schedule"}`` - an EventBridge Scheduler firing;
* a Function URL request (payload format 2.0) - a web function; the event becomes
  an ASGI request to the app :func:`pcompile.runtime.web.asgi_app_for` builds
  (``fastapi_endpoint``, ``asgi_app``, ``wsgi_app`` through a2wsgi).

The container state is built once per Lambda execution environment (cold start).
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from . import protocol
from .aws_runtime import AwsRuntime, job_layout

_runtime: AwsRuntime | None = None
_web_app: Any = None


def runtime() -> AwsRuntime:
    """This execution environment's runtime, started on first use."""
    global _runtime
    if _runtime is None:
        started = AwsRuntime(os.environ)
        started.start_with_secrets()
        _runtime = started
    return _runtime


def reset() -> None:
    """Forget the runtime (tests start a fresh one per environment)."""
    global _runtime, _web_app
    _runtime, _web_app = None, None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Dispatch one Lambda event (see the module docstring)."""
    rt = runtime()
    kind = event.get("pcompile") if isinstance(event, dict) else None
    if kind == "invoke":
        request = protocol.load_envelope(base64.b64decode(event["request"]))
        results = rt.handle({**request, "result_prefix": None})
        return {"results": base64.b64encode(protocol.dump_envelope({"results": results})).decode()}
    if kind == "task":
        results = rt.run_task(job_layout(event["job"]), int(event["task"]))
        return {"ok": all(r["status"] == "ok" for r in results)}
    if kind == "schedule":
        result = rt.scheduled(time.time())
        return {"ok": result is None or result["status"] == "ok"}
    if isinstance(event, dict) and "http" in event.get("requestContext", {}):
        return http(rt, event)
    raise ValueError(f"unknown event for a pcompile function: keys {sorted(event)[:8]}")


def http(rt: AwsRuntime, event: dict[str, Any]) -> dict[str, Any]:
    """A Function URL request through the function's ASGI app."""
    global _web_app
    from .web import asgi_app_for

    container = rt.container({})
    if _web_app is None:
        _web_app = asgi_app_for(container, rt.spec["name"])
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    status, headers, out = container.loop.run_until_complete(call_asgi(_web_app, asgi_scope(event), raw))
    for vol in rt.volumes:
        vol.push()
    return {
        "statusCode": status,
        "headers": {k: v for k, v in headers if k != "set-cookie"},
        "cookies": [v for k, v in headers if k == "set-cookie"],
        "body": base64.b64encode(out).decode(),
        "isBase64Encoded": True,
    }


def asgi_scope(event: dict[str, Any]) -> dict[str, Any]:
    """The ASGI HTTP scope of a Function URL event (payload format 2.0)."""
    http_ctx = event["requestContext"]["http"]
    headers = [(k.lower().encode(), str(v).encode()) for k, v in (event.get("headers") or {}).items()]
    if event.get("cookies"):
        headers.append((b"cookie", "; ".join(event["cookies"]).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": http_ctx["method"].upper(),
        "scheme": "https",
        "path": event.get("rawPath") or "/",
        "raw_path": (event.get("rawPath") or "/").encode(),
        "query_string": (event.get("rawQueryString") or "").encode(),
        "root_path": "",
        "headers": headers,
        "client": (http_ctx.get("sourceIp") or "0.0.0.0", 0),
        "server": ((event.get("headers") or {}).get("host", "lambda"), 443),
    }


async def call_asgi(app: Any, scope: dict[str, Any], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run one request through an ASGI app; ``(status, headers, body)``."""
    sent = False
    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers.extend((k.decode().lower(), v.decode()) for k, v in message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, send)
    return status, headers, b"".join(chunks)
