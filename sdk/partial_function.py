"""``modal.partial_function``: the decorators applied below ``@app.function`` / ``@app.cls``."""

from pcompile._partial import (
    PartialFunction,
    asgi_app,
    batched,
    concurrent,
    enter,
    exit,
    fastapi_endpoint,
    method,
    web_endpoint,
    web_server,
    wsgi_app,
)

__all__ = [
    "PartialFunction",
    "asgi_app",
    "batched",
    "concurrent",
    "enter",
    "exit",
    "fastapi_endpoint",
    "method",
    "web_endpoint",
    "web_server",
    "wsgi_app",
]
