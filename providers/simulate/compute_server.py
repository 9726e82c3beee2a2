"""The simulated compute service: one loopback HTTP server per simulate stack.

It answers, under an unguessable path prefix (``http://127.0.0.1:<port>/<token>``,
recorded with mode 0600 in ``compute.json``), the parts of the AWS APIs that run
code, which the emulator (moto) holds but cannot execute:

* ``POST /2015-03-31/functions/{name}/invocations``: Lambda Invoke
  (``RequestResponse``, ``Event``, ``DryRun``), run by :mod:`.compute_lambda`;
* ``POST /v1/submitjob``, ``/v1/describejobs``, ``/v1/listjobs``,
  ``/v1/terminatejob``, ``/v1/canceljob``: Batch, run by :mod:`.compute_batch`;
* ``POST /pcompile/schedules/{group}/{name}/fire[?wait=1]``: run an EventBridge
  Scheduler schedule's target once, now;
* ``POST /pcompile/urls/{name}``: the loopback Function URL of a function (one
  port per function, each request becoming a payload-2.0 event);
* ``POST /pcompile/distributions/{id}``: where a CloudFront distribution of a web service
  answers (``127.0.0.1:<port>``, TLS), run by :mod:`.compute_ecs` with the ALB, alarms,
  scaling and ECS tasks behind it;
* ``GET /pcompile/health``.

Every other request is forwarded to the emulator unchanged, so clients pointed
here by ``AWS_ENDPOINT_URL_LAMBDA``/``AWS_ENDPOINT_URL_BATCH`` still reach the
control plane (``GetFunction``, ``DescribeJobQueues`` ...). The service runs in
its own session; runtime processes stay in its process group, so stopping the
group stops everything. It exits by itself after ``--idle`` seconds with no
request and nothing running.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import compute_iam, compute_images
from .compute_batch import TERMINAL, BatchClientError, BatchJobs
from .compute_ecs import WebServices
from .compute_lambda import FunctionConfig, FunctionPool, Invocation

RECORD = "compute.json"
SYNC_LIMIT = 6 * 1024 * 1024
ASYNC_LIMIT = 256 * 1024
BATCH_TARGET = "arn:aws:scheduler:::aws-sdk:batch:submitJob"
Answer = tuple[int, dict[str, str], bytes]


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


def _aws_error(status: int, kind: str, message: str) -> Answer:
    return _json(status, {"Type": "User", "message": message}, {"x-amzn-ErrorType": kind})


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically with mode 0600."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


class ComputeService:
    """Lambda, Batch, Function URLs and schedules of one simulate stack (module docstring)."""

    def __init__(self, state_dir: Path, endpoint_url: str, region: str, idle_seconds: float) -> None:
        self.state_dir = state_dir
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self.idle_seconds = idle_seconds
        previous = self._previous()
        self.token = secrets.token_urlsafe(24)
        # Each API is read as the service that owns it; runtimes act as their function's role.
        self.identities = compute_iam.Identities(self.endpoint_url, region)
        self.moto = {
            "lambda": self.identities.client(compute_iam.LAMBDA, "lambda"),
            "batch": self.identities.client(compute_iam.BATCH, "batch"),
            "scheduler": self.identities.client(compute_iam.SCHEDULER, "scheduler"),
        }
        self.httpd = self._server(int(previous.get("port") or 0), _api_handler(self))
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/{self.token}"
        self.task_dir = state_dir / "task"
        self.log_dir = state_dir / "logs"
        for folder in (self.task_dir, self.log_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.pools: dict[str, FunctionPool] = {}
        self.web: dict[str, ThreadingHTTPServer] = {}
        self.url_ports: dict[str, int] = {k: int(v) for k, v in (previous.get("url_ports") or {}).items()}
        self.batch = BatchJobs(
            self.moto["batch"],
            self.launch_for,
            self.platform_env(),
            self.log_dir,
            self.task_dir,
            role_env=lambda role, name: self.identities.role_env(compute_iam.BATCH, role, name),
            pull=lambda role, image: compute_iam.check_pull(self.identities, compute_iam.BATCH, role, image),
        )
        self.ecs = WebServices(
            self.identities,
            state_dir,
            self.launch_for,
            self.platform_env(),
            self.log_dir,
            self.task_dir,
            self.note,
            previous.get("distribution_ports") or {},
        )
        self.active = 0
        self.active_lock = threading.Lock()
        self.last = time.monotonic()
        self.stopping = threading.Event()

    def _previous(self) -> dict[str, Any]:
        try:
            data = json.loads((self.state_dir / RECORD).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _server(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
        try:
            httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError:
            httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        return httpd

    # ---------------------------------------------------------------- what runtimes get

    def platform_env(self) -> dict[str, str]:
        """The variables the platform gives every runtime: endpoints that lead to the emulator
        (and to this service for Lambda and Batch), region, a clean HOME. Credentials are
        the function's own role's, added per function (:mod:`.compute_iam`)."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.task_dir),
            "LAMBDA_TASK_ROOT": str(self.task_dir),
            "PYTHONUNBUFFERED": "1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_LAMBDA": self.url,
            "AWS_ENDPOINT_URL_BATCH": self.url,
        }

    def launch_for(self, image: str) -> compute_images.Launch:
        """How image ``image`` runs here; an unpublished image runs on this interpreter (logged)."""
        launch = compute_images.resolve(self.state_dir, image)
        if launch.how != "image-env":
            self.note(f"image {image!r} has no local environment recorded; running it on {launch.python}")
        return launch

    def note(self, message: str) -> None:
        """A line in the service's own log."""
        print(f"pcompile-simulate: {message}", file=sys.stderr, flush=True)

    def changed(self) -> None:
        """Work finished somewhere: the idle clock restarts."""
        self.last = time.monotonic()

    def begin(self) -> None:
        """A request arrived (the service is not idle while it runs)."""
        with self.active_lock:
            self.active += 1

    def end(self) -> None:
        """A request was answered."""
        with self.active_lock:
            self.active -= 1
        self.changed()

    # ---------------------------------------------------------------- lambda

    def pool_for(self, function: str, qualifier: str | None) -> FunctionPool:
        """The warm pool of the function's current configuration in the emulator."""
        extra = {"Qualifier": qualifier} if qualifier else {}
        answer = self.moto["lambda"].get_function(FunctionName=function, **extra)
        config = FunctionConfig.from_emulator(
            answer, answer.get("Concurrency", {}).get("ReservedConcurrentExecutions")
        )
        key = f"{config.name}:{qualifier or '$LATEST'}"
        with self.lock:
            pool = self.pools.get(key)
            if pool is not None and pool.config.key == config.key:
                return pool
            fresh = FunctionPool(
                config,
                self.launch_for(config.image_uri),
                {
                    **self.platform_env(),
                    **self.identities.role_env(compute_iam.LAMBDA, config.role, config.name),
                },
                self.log_dir / f"lambda-{config.name}.log",
                self.changed,
            )
            self.pools[key] = fresh
        if pool is not None:
            threading.Thread(target=pool.close, daemon=True).start()
        return fresh

    def invoke(self, function: str, qualifier: str | None, kind: str, payload: bytes) -> Answer:
        """Lambda Invoke: run synchronously, queue asynchronously, or only check (``DryRun``)."""
        function, qualifier = _function_ref(urllib.parse.unquote(function), qualifier)
        limit = ASYNC_LIMIT if kind == "Event" else SYNC_LIMIT
        if len(payload) > limit:
            return _aws_error(413, "RequestTooLargeException", f"Request must be smaller than {limit} bytes")
        try:
            pool = self.pool_for(function, qualifier)
        except self.moto["lambda"].exceptions.ResourceNotFoundException as exc:
            return _aws_error(
                404, "ResourceNotFoundException", str(exc.response["Error"].get("Message", exc))
            )
        except compute_iam.RoleError as exc:
            return _aws_error(400, "InvalidParameterValueException", str(exc))
        if kind == "DryRun":
            return 204, {}, b""
        invocation = pool.submit(payload or b"{}")
        if kind == "Event":
            threading.Thread(target=self._report, args=(function, invocation), daemon=True).start()
            return 202, {}, b""
        invocation.done.wait()
        headers = {"X-Amz-Executed-Version": pool.config.version, "Content-Type": "application/json"}
        if invocation.error:
            headers["X-Amz-Function-Error"] = invocation.error
        return 200, headers, invocation.body

    def _report(self, function: str, invocation: Invocation) -> None:
        """An asynchronous invocation's failure goes to the service log (nobody waits for it)."""
        invocation.done.wait()
        if invocation.error:
            self.note(f"asynchronous invoke of {function} failed: {invocation.body[:2000]!r}")

    # ---------------------------------------------------------------- function URLs

    def function_url(self, function: str) -> str:
        """The loopback URL of ``function``'s Function URL (started on first use)."""
        qualifier, auth = self._url_config(function)
        with self.lock:
            if function not in self.web:
                handler = _url_handler(self, function, qualifier, auth)
                self.web[function] = self._server(self.url_ports.get(function, 0), handler)
                threading.Thread(target=self.web[function].serve_forever, daemon=True).start()
                self.url_ports[function] = int(self.web[function].server_address[1])
                self.write_record()
        return f"http://127.0.0.1:{self.url_ports[function]}/"

    def _url_config(self, function: str) -> tuple[str | None, str]:
        """``(qualifier, auth type)`` of the function's URL: unqualified, else on one of its aliases."""
        lam = self.moto["lambda"]
        try:
            aliases = [a["Name"] for a in lam.list_aliases(FunctionName=function).get("Aliases", [])]
        except lam.exceptions.ResourceNotFoundException:
            raise LookupError(f"function {function!r} does not exist in the emulator") from None
        for qualifier in [None, *aliases]:
            extra = {"Qualifier": qualifier} if qualifier else {}
            try:
                return qualifier, str(lam.get_function_url_config(FunctionName=function, **extra)["AuthType"])
            except lam.exceptions.ResourceNotFoundException:
                continue
        raise LookupError(f"function {function!r} has no Function URL in the emulator")

    # ---------------------------------------------------------------- schedules

    def fire(self, group: str, name: str, wait: bool) -> Answer:
        """Run schedule ``group/name``'s target once, as EventBridge Scheduler would start it."""
        try:
            schedule = self.moto["scheduler"].get_schedule(Name=name, GroupName=group)
        except self.moto["scheduler"].exceptions.ResourceNotFoundException:
            return _aws_error(404, "ResourceNotFoundException", f"Schedule {group}/{name} does not exist")
        target = schedule["Target"]
        arn, text = str(target["Arn"]), str(target.get("Input") or "{}")
        if arn.startswith("arn:aws:lambda:"):
            return _json(200, {"schedule": name, "target": arn, **self._fire_lambda(arn, text, wait)})
        if arn == BATCH_TARGET:
            return _json(200, {"schedule": name, "target": arn, **self._fire_batch(text, wait)})
        return _aws_error(
            400, "ValidationException", f"schedule target {arn} is not simulated (Lambda or batch:submitJob)"
        )

    def _fire_lambda(self, arn: str, text: str, wait: bool) -> dict[str, Any]:
        function, qualifier = _function_ref(arn, None)
        invocation: Invocation = self.pool_for(function, qualifier).submit(text.encode())
        if not wait:
            return {"request_id": invocation.request_id}
        invocation.done.wait()
        return {
            "request_id": invocation.request_id,
            "status": "FAILED" if invocation.error else "SUCCEEDED",
            "error": json.loads(invocation.body or b"null") if invocation.error else None,
        }

    def _fire_batch(self, text: str, wait: bool) -> dict[str, Any]:
        request = {k[:1].lower() + k[1:]: v for k, v in json.loads(text).items()}
        overrides = request.get("containerOverrides")
        if isinstance(overrides, dict):
            request["containerOverrides"] = {k[:1].lower() + k[1:]: v for k, v in overrides.items()}
        job_id = self.batch.submit(request)["jobId"]
        job = self.batch.jobs[job_id]
        while wait and job.status not in TERMINAL:
            time.sleep(0.1)
        return {"job_id": job_id, **({"status": job.status} if wait else {})}

    # ---------------------------------------------------------------- life

    def record(self) -> dict[str, Any]:
        """What ``compute.json`` says about this service."""
        return {
            "endpoint_url": self.endpoint_url,
            "pid": os.getpid(),
            "port": self.port,
            "region": self.region,
            "token": self.token,
            "url": self.url,
            "url_ports": dict(sorted(self.url_ports.items())),
            "distribution_ports": dict(sorted(self.ecs.ports.items())),
        }

    def write_record(self) -> None:
        """Record this service (mode 0600) so clients of the stack find it."""
        write_private(self.state_dir / RECORD, self.record())

    def busy(self) -> bool:
        """Whether a request, an invocation or a job is in flight."""
        return (
            self.active > 0
            or self.batch.busy()
            or self.ecs.busy()
            or any(p.busy() for p in list(self.pools.values()))
        )

    def serve(self) -> None:
        """Serve until idle for ``idle_seconds`` or stopped (SIGTERM)."""
        threading.Thread(target=self.httpd.serve_forever, daemon=True, name="compute-api").start()
        self.write_record()
        self.note(f"serving {self.url.rsplit('/', 1)[0]}/... for {self.endpoint_url}")
        while not self.stopping.wait(0.5):
            if self.busy():
                self.last = time.monotonic()
            elif time.monotonic() - self.last > self.idle_seconds:
                self.note(f"idle for {self.idle_seconds:g} s; exiting")
                break
        self.close()

    def close(self) -> None:
        """Stop runtimes, URL servers and the API; forget the record if it is still ours."""
        self.httpd.shutdown()
        self.batch.close()
        self.ecs.close()
        for pool in list(self.pools.values()):
            pool.close()
        for server in list(self.web.values()):
            server.shutdown()
            server.server_close()
        path = self.state_dir / RECORD
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass


def _distribution(service: ComputeService, distribution_id: str) -> dict[str, str]:
    """Where a CloudFront distribution answers (``host``), its ``url`` and the TLS certificate."""
    host = service.ecs.endpoint(distribution_id)
    service.write_record()
    return {"host": host, "url": f"https://{host}", "ca_file": str(service.state_dir / "tls" / "cert.pem")}


def _function_ref(ref: str, qualifier: str | None) -> tuple[str, str | None]:
    """``name``, ``name:qualifier``, or a (partial) function ARN → ``(name, qualifier)``."""
    if ":function:" in ref:
        ref = ref.split(":function:", 1)[1]
    name, _, qual = ref.partition(":")
    return name, qualifier or qual or None


def _api_handler(service: ComputeService) -> type[BaseHTTPRequestHandler]:
    routes: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = [
        (
            "POST",
            re.compile(r"/2015-03-31/functions/([^/]+)/invocations"),
            lambda h, m, b: service.invoke(
                m.group(1),
                h.query.get("Qualifier"),
                h.headers.get("X-Amz-Invocation-Type") or "RequestResponse",
                b,
            ),
        ),
        (
            "POST",
            re.compile(r"/v1/submitjob"),
            lambda h, m, b: _json(200, service.batch.submit(json.loads(b or b"{}"))),
        ),
        (
            "POST",
            re.compile(r"/v1/describejobs"),
            lambda h, m, b: _json(200, service.batch.describe(json.loads(b or b"{}"))),
        ),
        (
            "POST",
            re.compile(r"/v1/listjobs"),
            lambda h, m, b: _json(200, service.batch.list_jobs(json.loads(b or b"{}"))),
        ),
        (
            "POST",
            re.compile(r"/v1/(?:terminatejob|canceljob)"),
            lambda h, m, b: _json(200, service.batch.terminate(json.loads(b or b"{}"))),
        ),
        (
            "POST",
            re.compile(r"/pcompile/schedules/([^/]+)/([^/]+)/fire"),
            lambda h, m, b: service.fire(m.group(1), m.group(2), h.query.get("wait") in ("1", "true")),
        ),
        (
            "POST",
            re.compile(r"/pcompile/urls/([^/]+)"),
            lambda h, m, b: _json(200, {"url": service.function_url(m.group(1))}),
        ),
        (
            "POST",
            re.compile(r"/pcompile/distributions/([^/]+)"),
            lambda h, m, b: _json(200, _distribution(service, m.group(1))),
        ),
        (
            "GET",
            re.compile(r"/pcompile/health"),
            lambda h, m, b: _json(200, {"ok": True, "pid": os.getpid()}),
        ),
    ]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        query: dict[str, str] = {}

        def _handle(self) -> None:
            service.begin()
            try:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                prefix = f"/{service.token}/"
                if not self.path.startswith(prefix):
                    self._send(*_json(403, {"message": "Forbidden"}))
                    return
                path, _, query = self.path[len(prefix) - 1 :].partition("?")
                self.query = dict(urllib.parse.parse_qsl(query))
                self._send(*self._route(path, body))
            finally:
                service.end()

        def _route(self, path: str, body: bytes) -> Answer:
            for method, pattern, action in routes:
                match = pattern.fullmatch(path)
                if match and method == self.command:
                    try:
                        return action(self, match, body)
                    except BatchClientError as exc:
                        return _json(400, {"message": str(exc)}, {"x-amzn-ErrorType": "ClientException"})
                    except LookupError as exc:
                        return _aws_error(404, "ResourceNotFoundException", str(exc))
                    except Exception as exc:  # answered, not dropped: the client shows the reason
                        traceback.print_exc()
                        return _aws_error(500, "ServiceException", f"{type(exc).__name__}: {exc}")
            return _forward(
                service.endpoint_url, self.command, self.path[len(service.token) + 1 :], self.headers, body
            )

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def _forward(base: str, method: str, path: str, headers: Any, body: bytes) -> Answer:
    """Pass a control-plane request on to the emulator and its answer back."""
    target = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=60)
    skip = {"host", "content-length", "connection"}
    conn.request(method, path, body=body, headers={k: v for k, v in headers.items() if k.lower() not in skip})
    answer = conn.getresponse()
    data = answer.read()
    keep = {
        k: v
        for k, v in answer.getheaders()
        if k.lower() not in ("content-length", "transfer-encoding", "connection")
    }
    conn.close()
    return answer.status, keep, data


def _url_handler(
    service: ComputeService, function: str, qualifier: str | None, auth: str
) -> type[BaseHTTPRequestHandler]:
    """A Function URL: each HTTP request becomes a payload-2.0 event of a synchronous invoke."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            service.begin()
            try:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if auth == "AWS_IAM" and not (self.headers.get("Authorization") or "").startswith(
                    "AWS4-HMAC-SHA256"
                ):
                    self._send(403, {"Content-Type": "application/json"}, b'{"Message":"Forbidden"}')
                    return
                event = url_event(
                    self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
                )
                invocation = service.pool_for(function, qualifier).submit(json.dumps(event).encode())
                invocation.done.wait()
                if invocation.error:
                    self._send(
                        502, {"Content-Type": "application/json"}, b'{"Message":"Internal Server Error"}'
                    )
                    return
                self._send(*url_response(invocation.body))
            finally:
                service.end()

        def _send(self, status: int, headers: dict[str, str] | list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items() if isinstance(headers, dict) else headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def url_event(
    method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The payload-2.0 event Lambda builds for a Function URL request."""
    path, _, query = target.partition("?")
    lowered: dict[str, str] = {}
    for key, value in headers.items():
        lowered[key.lower()] = f"{lowered[key.lower()]},{value}" if key.lower() in lowered else value
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path or "/",
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "simulated",
            "domainName": lowered.get("host", "127.0.0.1"),
            "http": {
                "method": method,
                "path": path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = {
            k: v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
        }
    return event


def url_response(payload: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """An HTTP answer from a function's result, as Function URLs read it: a response object
    (``statusCode``, ``headers``, ``cookies``, ``body``), else the JSON result itself."""
    try:
        result = json.loads(payload or b"null")
    except ValueError:
        return 200, [("Content-Type", "application/json")], payload
    if not (isinstance(result, dict) and "statusCode" in result):
        return 200, [("Content-Type", "application/json")], json.dumps(result).encode()
    raw = result.get("body") or ""
    data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
    return int(result["statusCode"]), headers, data


def main(argv: list[str] | None = None) -> int:
    """``python -m pcompile.providers.simulate.compute_server --state-dir D --endpoint-url U``."""
    parser = argparse.ArgumentParser(prog="pcompile-simulate-compute")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--idle", type=float, default=600.0, help="exit after this many idle seconds")
    opts = parser.parse_args(argv)
    service = ComputeService(opts.state_dir, opts.endpoint_url, opts.region, opts.idle)
    signal.signal(signal.SIGTERM, lambda *_: service.stopping.set())
    service.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
