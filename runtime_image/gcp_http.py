"""``python -m pcompile.runtime http``: the Cloud Run container (listens on ``$PORT``).

* Plain functions (private services, reached with an ID token): ``POST /invoke``
  takes a request envelope (see :mod:`.container`) and answers
  ``{"results": [...]}``; a JSON body ``{"scheduled": true}`` is a Cloud Scheduler
  firing (gated by period when the trigger is finer than the period).
* Web functions serve their front app on ``$PORT`` (built by
  :func:`pcompile.runtime.web.front_app`, as on every web target): the user's app
  (``fastapi_endpoint`` as one route with its method, ``asgi_app`` / ``wsgi_app`` from
  their factories), or for ``web_server`` and ``app.server`` a streaming proxy to the
  server they start on their own port; proxy auth and the health path
  ``/__pcompile/healthz`` (the startup probe) come with it. ``/invoke`` is never exposed
  on a web service: it unpickles its body, and web services are public.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from typing import Any

from . import gcp_env, protocol
from .gcp_container import GcpRuntime, should_run
from .web import front_app

__all__ = ["invoke_app", "main", "schedule_time", "should_run"]

ENVELOPE_TYPE = "application/x-pcompile-envelope"
DEFAULT_PORT = 8080


def schedule_time(headers: dict[str, str]) -> float:
    """Cloud Scheduler's scheduled time of this firing (epoch seconds); now when absent."""
    raw = headers.get(gcp_env.SCHEDULE_TIME_HEADER)
    if not raw:
        return time.time()
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


def invoke_app(runtime: GcpRuntime) -> Any:
    """The ASGI app of a private service: ``POST /invoke`` and ``GET /healthz``."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def invoke(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            if not json.loads(body or b"{}").get("scheduled"):
                return JSONResponse({"error": 'expected {"scheduled": true}'}, status_code=400)
            result = await run_in_threadpool(runtime.scheduled, schedule_time(dict(request.headers)))
            if result is None:
                return JSONResponse({"ran": False})
            failed = result["status"] != "ok"
            error = result.get("error", {}).get("message") if failed else None
            return JSONResponse(
                {"ran": True, "status": result["status"], "error": error}, 500 if failed else 200
            )
        results = await run_in_threadpool(runtime.handle, protocol.load_envelope(body))
        return Response(protocol.dump_envelope(runtime.answer(results)), media_type=ENVELOPE_TYPE)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "function": runtime.spec["name"]})

    return Starlette(routes=[Route("/invoke", invoke, methods=["POST"]), Route("/healthz", healthz)])


def main(argv: list[str]) -> int:
    """Start the container: code, secrets, volumes, ``@enter``, then serve until stopped."""
    runtime = GcpRuntime(os.environ)
    runtime.start()
    if runtime.spec.get("web"):  # the front: proxy auth, health path, proxy to a web_server
        app = front_app(runtime.container({}), runtime.spec["name"])
    else:
        app = invoke_app(runtime)
    import uvicorn

    port = int(os.environ.get(gcp_env.PORT) or DEFAULT_PORT)
    uvicorn.run(app, host=os.environ.get("PCOMPILE_HOST", "0.0.0.0"), port=port, log_level="warning")
    return 0
