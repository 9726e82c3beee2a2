"""The Lambda entry point: ``python -m pcompile.runtime lambda`` (the image's entry point on
Lambda), or ``pcompile.runtime.aws_lambda.handler`` under awslambdaric.

The ``lambda`` mode is a small client of the Lambda Runtime API (standard library
only, so images need no extra package): it fetches each event from
``$AWS_LAMBDA_RUNTIME_API``, runs :func:`handler` and posts the response or error.

One handler serves four kinds of event:

* ``{"pcompile": "invoke", "request": <base64 envelope>}`` - a synchronous call from
  the invoker; returns ``{"results": <base64 envelope of result dicts>}``;
* ``{"pcompile": "task", "job": "<function>/<id>?n=..", "task": i}`` - an asynchronous
  (``spawn``) task of a staged call; results go to ``fn/<function>/out/<id>/task-<i>.out``;
* ``{"pcompile": "schedule"}`` - an EventBridge Scheduler firing;
* a Function URL request (payload format 2.0) - a web function; the event becomes
  an ASGI request to the front app :func:`pcompile.runtime.web.front_app` builds
  (``fastapi_endpoint``, ``asgi_app``, ``wsgi_app`` through a2wsgi, behind proxy auth where required).

The container state is built once per Lambda execution environment (cold start).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time
import traceback
import urllib.request
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
        started.start()
        _runtime = started
    return _runtime


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Dispatch one Lambda event (see the module docstring)."""
    rt = runtime()
    kind = event.get("pcompile") if isinstance(event, dict) else None
    if kind == "invoke":
        request = protocol.load_envelope(base64.b64decode(event["request"]))
        results = rt.handle({**request, "call": None})
        return {"results": base64.b64encode(protocol.dump_envelope(rt.answer(results))).decode()}
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
    from .web import front_app

    container = rt.container({})
    if _web_app is None:
        _web_app = front_app(container, rt.spec["name"])
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


RUNTIME_API = "2018-06-01/runtime"


def _post(base: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> None:
    request = urllib.request.Request(f"http://{base}/{RUNTIME_API}/{path}", data=body, method="POST")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    urllib.request.urlopen(request, timeout=30).read()


def _error_body(exc: BaseException) -> bytes:
    return json.dumps(
        {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc),
        }
    ).encode()


def serve(base: str, max_events: int | None = None) -> int:
    """Answer events from the Runtime API at ``base`` (``host:port``) until ``max_events``."""
    try:
        runtime()
    except Exception as exc:
        _post(
            base, "init/error", _error_body(exc), {"Lambda-Runtime-Function-Error-Type": "Runtime.InitError"}
        )
        raise
    served = 0
    while max_events is None or served < max_events:
        with urllib.request.urlopen(f"http://{base}/{RUNTIME_API}/invocation/next", timeout=None) as answer:
            request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(answer.read() or b"{}")
        try:
            body = json.dumps(handler(event)).encode()
        except Exception as exc:
            headers = {"Lambda-Runtime-Function-Error-Type": f"Unhandled.{type(exc).__name__}"}
            _post(base, f"invocation/{request_id}/error", _error_body(exc), headers)
        else:
            _post(base, f"invocation/{request_id}/response", body)
        served += 1
    return 0


def main(argv: list[str]) -> int:
    """Entry point of the ``lambda`` mode."""
    parser = argparse.ArgumentParser(prog="python -m pcompile.runtime lambda")
    parser.add_argument("--max-events", type=int, default=None, help="stop after this many events (tests)")
    opts = parser.parse_args(argv)
    return serve(os.environ["AWS_LAMBDA_RUNTIME_API"], opts.max_events)
