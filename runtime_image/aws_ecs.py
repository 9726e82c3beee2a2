"""``python -m pcompile.runtime ecs --function NAME``: one task of an ECS web service.

The task definition (``pcompile.providers.aws.web_service``) runs this command with the
environment Batch jobs get (:mod:`.aws_env`: ``PCOMPILE_SPEC``, the staging bucket,
volumes, secrets, the code bundle) plus ``PCOMPILE_FRONT_PORT``, the container port the
load balancer's target group sends traffic to.

At start the container is prepared as on Batch and Lambda (:class:`.aws_runtime.AwsRuntime`:
code bundle, secrets, volumes, ``@enter``), then the function's public ("front") ASGI
app is served with uvicorn on ``$PCOMPILE_HOST:$PCOMPILE_FRONT_PORT`` (``0.0.0.0`` by
default; the simulated compute sets loopback). One line per request is logged, as in
the ``web`` mode, and files changed under writable volumes are copied back before each
response's last part is sent (:class:`VolumePush`).

ECS stops a task with SIGTERM, then SIGKILL after the container's ``stopTimeout``:
on SIGTERM the server stops accepting connections, lets requests in flight finish
(at most ``--drain-s`` seconds, default :data:`DRAIN_S`, under ECS's default
``stopTimeout`` of 30 s), copies volumes back a last time and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from .aws_runtime import AwsRuntime
from .container import VolumeSync

FRONT_PORT = "PCOMPILE_FRONT_PORT"
HOST = "PCOMPILE_HOST"  # as the Cloud Run mode: loopback where nothing else may reach the task
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - the task's own network interface, behind the ALB's security group
DRAIN_S = 25.0


class VolumePush:
    """ASGI middleware: files changed under writable volumes are uploaded when a response's
    last body part is ready, before it is sent, so a client that has read the whole answer
    finds the function's writes committed (as after a Lambda request)."""

    def __init__(self, app: Any, volumes: list[VolumeSync]) -> None:
        self.app = app
        self.volumes = [v for v in volumes if not v.read_only]
        self.lock = asyncio.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not self.volumes or scope.get("type") != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.body" and not message.get("more_body"):
                async with self.lock:  # one walk of the mirrors at a time
                    await asyncio.to_thread(self.push)
            await send(message)

        await self.app(scope, receive, sending)

    def push(self) -> None:
        """Copy every writable volume back (``commit``)."""
        for vol in self.volumes:
            vol.push()


def front_app(runtime: AwsRuntime, name: str) -> Any:
    """The public ASGI app of web function ``name``, the one the ALB reaches
    (:func:`pcompile.runtime.web.front_app`: the user's app, or a streaming proxy to the
    server a ``web_server``/``app.server`` starts; the health path; proxy auth)."""
    from .web import front_app as build

    if runtime.spec["name"] != name:
        raise ValueError(
            f"this task serves {runtime.spec['name']!r} (PCOMPILE_SPEC), not --function {name!r}"
        )
    if not runtime.spec.get("web"):
        raise ValueError(f"{name} is not a web function; ECS services serve web functions only")
    return build(runtime.container({}), name, os.environ)


def serve(app: Any, host: str, port: int, drain_s: float) -> None:
    """Serve ``app`` until SIGTERM/SIGINT, then drain requests in flight for up to ``drain_s``."""
    import uvicorn

    from .web import RequestLog

    config = uvicorn.Config(
        RequestLog(app),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=max(1, int(drain_s)),
    )
    # uvicorn's own handlers stop accepting and drain, then re-raise the signal to the
    # handler found before: a quiet one here, so the volumes are copied back and the
    # task exits 0 (a stop ECS asked for is not a crash).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run()


def main(argv: list[str]) -> int:
    """Entry point of the ``ecs`` mode."""
    parser = argparse.ArgumentParser(prog="python -m pcompile.runtime ecs")
    parser.add_argument("--function", required=True, help="the web function this service serves")
    parser.add_argument(
        "--drain-s", type=float, default=DRAIN_S, help="seconds requests may finish after SIGTERM"
    )
    opts = parser.parse_args(argv)
    port = os.environ.get(FRONT_PORT)
    if not (port and port.isdigit() and 0 < int(port) < 65536):
        print(
            f"pcompile ecs: {FRONT_PORT} must be the container port (1-65535), got {port!r}", file=sys.stderr
        )
        return 2
    runtime = AwsRuntime(os.environ)
    runtime.start()
    app = VolumePush(front_app(runtime, opts.function), runtime.volumes)
    try:
        serve(app, os.environ.get(HOST) or DEFAULT_HOST, int(port), opts.drain_s)
    finally:
        app.push()
        runtime.container({}).stop()
    return 0
