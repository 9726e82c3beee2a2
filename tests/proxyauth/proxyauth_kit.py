"""Helpers of the proxy-auth and web-front tests: uvicorn servers in threads of this process."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from servers import free_port


@contextlib.contextmanager
def uvicorn_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a loopback port until the block ends; yields its URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(400):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.025)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
