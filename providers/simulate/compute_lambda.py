"""Lambda execution environments for the simulated compute service.

A function's configuration is read from the emulator on every invoke
(``lambda:GetFunction``: image URI, entry point, environment, timeout). One
:class:`FunctionPool` per distinct configuration keeps warm runtime processes
("execution environments"), each started from that configuration alone: the
image's entry point (``python -m pcompile.runtime lambda``) run by the image's
interpreter (:mod:`.compute_images`), the function's environment variables, the
platform's own variables (``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_REGION`` ...) and
credentials that point the runtime's boto3 clients at the emulator. Nothing else
of this machine's environment reaches them.

Each pool serves the Lambda Runtime API on its own loopback port, with an
unguessable path per environment (``AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>/<token>``):
only the processes it started can take events or post results. Environments
start on demand up to the function's reserved concurrency (default
:data:`DEFAULT_CONCURRENCY`), stay warm while the service lives, and are retired
when the function's configuration changes. An invocation that outlives the
function's timeout kills its environment, as Lambda does.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .compute_images import CODE_DIR_ENV, Launch, fresh_code_dir

RUNTIME_API = "/2018-06-01/runtime"
DEFAULT_CONCURRENCY = int(os.environ.get("PCOMPILE_SIMULATE_LAMBDA_CONCURRENCY") or 4)


@dataclass
class Invocation:
    """One event on its way through an execution environment."""

    event: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    done: threading.Event = field(default_factory=threading.Event)
    body: bytes = b""
    error: str | None = None  # Lambda's X-Amz-Function-Error ("Unhandled") when the function failed

    def finish(self, body: bytes, error: str | None = None) -> None:
        """Settle the invocation once; later answers (a late post after a timeout) are ignored."""
        if not self.done.is_set():
            self.body, self.error = body, error
            self.done.set()


def error_body(message: str, kind: str) -> bytes:
    """A Lambda error payload (``errorMessage``/``errorType``) as the service writes it."""
    return json.dumps({"errorMessage": message, "errorType": kind}).encode()


@dataclass(frozen=True)
class FunctionConfig:
    """What the emulator holds about one function (version or alias), as the service runs it."""

    name: str
    arn: str
    version: str
    image_uri: str
    command: list[str]
    environment: dict[str, str]
    timeout: int
    memory: int
    concurrency: int | None
    workdir: str | None = None
    role: str | None = None

    @property
    def key(self) -> str:
        """Identity of the configuration: a change (redeploy) starts fresh environments."""
        blob = json.dumps(self.__dict__, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_emulator(cls, answer: dict[str, Any], concurrency: int | None) -> FunctionConfig:
        """From a ``GetFunction`` answer."""
        conf = answer["Configuration"]
        image = (conf.get("ImageConfigResponse") or {}).get("ImageConfig") or {}
        return cls(
            name=conf["FunctionName"],
            arn=conf["FunctionArn"],
            version=str(conf.get("Version") or "$LATEST"),
            image_uri=str((answer.get("Code") or {}).get("ImageUri") or ""),
            command=[*(image.get("EntryPoint") or []), *(image.get("Command") or [])],
            environment=dict((conf.get("Environment") or {}).get("Variables") or {}),
            timeout=int(conf.get("Timeout") or 3),
            memory=int(conf.get("MemorySize") or 128),
            concurrency=concurrency,
            workdir=image.get("WorkingDirectory") or None,
            role=conf.get("Role") or None,
        )


@dataclass
class _Env:
    """One execution environment: its process and the invocation it holds."""

    env_id: str
    proc: subprocess.Popen[bytes]
    current: Invocation | None = None
    deadline: float | None = None
    asked: bool = False  # has asked for an event at least once (it is no longer "starting")
    init_error: bytes | None = None


class FunctionPool:
    """Warm execution environments of one function configuration, with their Runtime API."""

    def __init__(
        self,
        config: FunctionConfig,
        launch: Launch,
        platform_env: dict[str, str],
        log_path: Path,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.launch = launch
        self.platform_env = platform_env
        self.log_path = log_path
        self.on_change = on_change
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.envs: dict[str, _Env] = {}
        self.waiting = 0  # environments blocked in invocation/next
        self.starting = 0  # environments started that have not asked for an event yet
        self.lock = threading.Lock()
        self.retired = False
        self.limit = max(1, config.concurrency or DEFAULT_CONCURRENCY)
        self.code_dirs: dict[str, Path] = {}  # environment -> the folder its bundle is unpacked in
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _runtime_handler(self))
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True, name=f"rt-{config.name}").start()
        threading.Thread(target=self._watch_timeouts, daemon=True).start()

    # ---------------------------------------------------------------- invoking

    def submit(self, event: bytes) -> Invocation:
        """Queue ``event``; an environment is started when none is free."""
        invocation = Invocation(event)
        self.pending.put(invocation)
        self._scale()
        return invocation

    def busy(self) -> bool:
        """Whether an invocation is queued or running."""
        with self.lock:
            return not self.pending.empty() or any(e.current is not None for e in self.envs.values())

    def _scale(self) -> None:
        with self.lock:
            free = self.waiting + self.starting
            if self.retired or self.pending.qsize() <= free or len(self.envs) >= self.limit:
                return
            self.starting += 1
            env_id = secrets.token_hex(16)
            self.envs[env_id] = _Env(env_id, self._start(env_id))
        threading.Thread(target=self._reap, args=(env_id,), daemon=True).start()

    def _start(self, env_id: str) -> subprocess.Popen[bytes]:
        env = {
            **self.launch.env,
            **self.config.environment,
            **self.platform_env,
            "AWS_LAMBDA_FUNCTION_NAME": self.config.name,
            "AWS_LAMBDA_FUNCTION_VERSION": self.config.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.config.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.config.name}",
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.port}/{env_id}",
            CODE_DIR_ENV: str(self.code_dirs.setdefault(env_id, fresh_code_dir())),
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            return subprocess.Popen(
                self.launch.argv(self.config.command),
                env=env,
                cwd=self.config.workdir
                if self.config.workdir and os.path.isdir(self.config.workdir)
                else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()

    def _reap(self, env_id: str) -> None:
        """Wait for an environment's exit; fail what it held and replace it if work is queued."""
        env = self.envs[env_id]
        code = env.proc.wait()
        shutil.rmtree(self.code_dirs.pop(env_id), ignore_errors=True)
        with self.lock:
            self.envs.pop(env_id, None)
            if not env.asked:
                self.starting -= 1
        if env.current is not None:
            env.current.finish(
                error_body(f"Runtime exited with error: exit status {code}", "Runtime.ExitError"), "Unhandled"
            )
        elif env.init_error is not None:
            try:
                self.pending.get_nowait().finish(env.init_error, "Unhandled")
            except queue.Empty:
                pass
        self.on_change()
        self._scale()

    def _watch_timeouts(self) -> None:
        while not self.retired:
            time.sleep(0.25)
            now = time.monotonic()
            for env in list(self.envs.values()):
                if env.current is not None and env.deadline is not None and now > env.deadline:
                    message = f"Task timed out after {self.config.timeout:.2f} seconds"
                    env.current.finish(error_body(message, "Sandbox.Timedout"), "Unhandled")
                    env.current = None
                    env.proc.kill()

    # ---------------------------------------------------------------- the Runtime API

    def next_event(self, env_id: str) -> Invocation | None:
        """Block until an event is queued for environment ``env_id`` (None: it must stop)."""
        env = self.envs.get(env_id)
        if env is None or self.retired:
            return None
        with self.lock:
            if not env.asked:
                env.asked = True
                self.starting -= 1
            self.waiting += 1
        try:
            while not self.retired and env.proc.poll() is None:
                try:
                    invocation = self.pending.get(timeout=1.0)
                except queue.Empty:
                    continue
                if invocation.done.is_set():
                    continue
                if env.proc.poll() is not None:  # died while this thread waited: leave it to others
                    self.pending.put(invocation)
                    break
                env.current = invocation
                env.deadline = time.monotonic() + self.config.timeout
                return invocation
            return None
        finally:
            with self.lock:
                self.waiting -= 1
            self._scale()

    def answer(self, env_id: str, request_id: str, body: bytes, error: bool) -> bool:
        """A response (or error) posted by environment ``env_id`` for ``request_id``."""
        env = self.envs.get(env_id)
        if env is None or env.current is None or env.current.request_id != request_id:
            return False
        env.current.finish(body, "Unhandled" if error else None)
        env.current = None
        self.on_change()
        return True

    def init_failed(self, env_id: str, body: bytes) -> None:
        """The runtime reported ``init/error``; the next queued invocation gets it."""
        env = self.envs.get(env_id)
        if env is not None:
            env.init_error = body

    def close(self) -> None:
        """Stop every environment and the Runtime API."""
        self.retired = True
        for env in list(self.envs.values()):
            if env.current is not None:
                env.current.finish(
                    error_body("the function was redeployed or the service stopped", "Runtime.Stopped"),
                    "Unhandled",
                )
            env.proc.kill()
        for env in list(self.envs.values()):
            env.proc.wait()
        while True:
            try:
                self.pending.get_nowait().finish(
                    error_body("the service stopped", "Runtime.Stopped"), "Unhandled"
                )
            except queue.Empty:
                break
        self.httpd.shutdown()
        self.httpd.server_close()


def _runtime_handler(pool: FunctionPool) -> type[BaseHTTPRequestHandler]:
    """The Runtime API (``/<env token>/2018-06-01/runtime/...``) of one pool."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _split(self) -> tuple[str, str]:
            env_id, _, rest = self.path.lstrip("/").partition("/")
            return env_id, "/" + rest

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            env_id, path = self._split()
            if path != f"{RUNTIME_API}/invocation/next" or env_id not in pool.envs:
                self._reply(403 if env_id not in pool.envs else 404)
                return
            invocation = pool.next_event(env_id)
            if invocation is None:
                self._reply(410)
                env = pool.envs.get(env_id)
                if env is not None:
                    env.proc.terminate()
                return
            deadline_ms = int((time.time() + pool.config.timeout) * 1000)
            self._reply(
                200,
                invocation.event,
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": pool.config.arn,
                    "Content-Type": "application/json",
                },
            )

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            env_id, path = self._split()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if env_id not in pool.envs:
                self._reply(403)
                return
            parts = path.removeprefix(RUNTIME_API + "/").split("/")
            if parts == ["init", "error"]:
                pool.init_failed(env_id, body)
                self._reply(202)
            elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                known = pool.answer(env_id, parts[1], body, parts[2] == "error")
                self._reply(202 if known else 400)
            else:
                self._reply(404)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
