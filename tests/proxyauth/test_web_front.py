"""The front of a ``web_server``/``app.server``: 503 while starting, then a streaming proxy."""

from __future__ import annotations

import contextlib
import threading

import httpx
import pytest
from proxyauth_kit import uvicorn_thread
from servers import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from pcompile.runtime.web import HEALTH_PATH, RETRY_AFTER_S, ServerProxy


def user_server(release: threading.Event) -> Starlette:
    """The user's server: an echo route and a server-sent-event stream that waits on ``release``."""

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "path": request.url.path,
                "query": request.url.query,
                "body": body.decode(),
                "host": request.headers["host"],
            }
        )

    async def events(request: Request) -> StreamingResponse:
        async def stream():
            yield b"data: first\n\n"
            while not release.is_set():  # the test sets it only after it read the first event
                import asyncio

                await asyncio.sleep(0.01)
            yield b"data: second\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(
        routes=[Route("/echo/{rest:path}", echo, methods=["GET", "POST"]), Route("/events", events)]
    )


@pytest.fixture
def front():
    """A front proxy whose user server starts only when the test sets ``go``."""
    go, release, port = threading.Event(), threading.Event(), free_port()
    stack = contextlib.ExitStack()

    def start() -> None:  # as the user's @enter: returns once the server was launched
        go.wait(30)
        stack.enter_context(uvicorn_thread(user_server(release), port))

    proxy = ServerProxy(port, 30.0, start)
    proxy.start()
    with stack, uvicorn_thread(proxy) as url:
        yield url, go, release
        release.set()


def test_503_with_retry_after_while_starting_then_proxied(front):
    url, go, _ = front
    starting = httpx.get(url + "/echo/x")
    assert starting.status_code == 503
    assert starting.headers["retry-after"] == str(RETRY_AFTER_S)
    assert "starting" in starting.text
    assert httpx.get(url + HEALTH_PATH).status_code == 503
    go.set()
    with httpx.Client() as client:
        for _ in range(400):
            if client.get(url + HEALTH_PATH).status_code == 200:
                break
            threading.Event().wait(0.025)
        answer = client.post(
            url + "/echo/a%2Fb?q=1&r=2", content=b"payload", headers={"host": "example.test"}
        )
    assert answer.status_code == 200
    assert answer.json() == {
        "path": "/echo/a/b",
        "query": "q=1&r=2",
        "body": "payload",
        "host": "example.test",
    }


def test_server_sent_events_arrive_before_the_response_ends(front):
    url, go, release = front
    go.set()
    with httpx.Client(timeout=30) as client:
        for _ in range(400):
            if client.get(url + HEALTH_PATH).status_code == 200:
                break
            threading.Event().wait(0.025)
        with client.stream("GET", url + "/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks = response.iter_raw()
            first = next(chunks)
            assert first == b"data: first\n\n"  # the server has not produced the rest yet
            release.set()
            assert b"".join(chunks) == b"data: second\n\n"


def test_a_server_that_fails_to_start_gives_502(tmp_path):
    def start() -> None:
        raise RuntimeError("model weights missing")

    proxy = ServerProxy(free_port(), 30.0, start)
    proxy.start()
    with uvicorn_thread(proxy) as url:
        for _ in range(400):
            if proxy.state != "starting":
                break
            threading.Event().wait(0.025)
        answer = httpx.get(url + "/")
    assert answer.status_code == 502 and "model weights missing" in answer.text


def test_a_server_that_never_listens_gives_502_after_startup_timeout():
    proxy = ServerProxy(free_port(), 0.5, lambda: None)  # the bound asked for: fails within 0.5 s
    proxy.start()
    with uvicorn_thread(proxy) as url:
        assert httpx.get(url + "/").status_code in (502, 503)
        for _ in range(400):
            if proxy.state != "starting":
                break
            threading.Event().wait(0.025)
        answer = httpx.get(url + "/")
    assert answer.status_code == 502 and "within 0.5 s" in answer.text
