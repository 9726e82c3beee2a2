"""Web services (ECS behind an ALB and CloudFront) in the simulated compute service.

moto holds the distribution, the load balancer with its listener rules and target
group, the ECS service and its task definition, the scalable target, the scaling
policies and the alarms, but runs none of them. :class:`WebServices` plays them on
loopback, reading only what moto holds:

* **CloudFront**: each distribution gets a loopback port (:meth:`WebServices.endpoint`),
  which the simulate engine puts in the distribution's ``domainName`` output, so the
  program's URL (``https://<domainName>``) is ``https://127.0.0.1:<port>``. The port
  speaks TLS with a certificate of this stack (:func:`tls_files`: ``tls/cert.pem``
  under the stack's simulate folder, for ``127.0.0.1``); plain HTTP gets the viewer
  protocol policy (a redirect to HTTPS). Requests go to the default behaviour's origin
  with the origin's custom headers; an origin answer that matches a custom error
  response is replaced by its page (fetched through the origin); viewer-response
  CloudFront Functions run under ``node`` from the code the simulated state recorded
  (moto has no CloudFront Functions API).
* **ALB**: the listener on the origin's port, rules by priority (``http-header``,
  ``path-pattern``, ``host-header``, ``http-request-method`` conditions), then the
  default action: fixed responses, or forwarding to the target group, whose healthy
  tasks get the request, streamed both ways. No healthy task: ``503``, as an ALB
  answers, counted in ``HTTPCode_ELB_503_Count``.
* **CloudWatch alarms and Application Auto Scaling**: the alarms on the ALB's
  ``RequestCount`` and ``HTTPCode_ELB_503_Count`` are evaluated from the requests this
  module saw (``PCOMPILE_SIMULATE_ALARM_PERIOD_S`` replaces every alarm's period, so a
  test need not wait minutes); an alarm entering ``ALARM`` runs its step scaling
  policies, which set the ECS service's desired count in moto, within the scalable
  target's bounds. Target tracking policies are not simulated.
* **ECS**: the service's desired count in moto is reconciled to running tasks (at most
  ``PCOMPILE_SIMULATE_ECS_TASKS``, default 1, per service: tasks share loopback). A task
  runs the task definition's essential container: its command (through the image's
  local environment, :mod:`.compute_images`), its environment, the credentials of the
  task role (``sts:AssumeRole`` as ``ecs-tasks.amazonaws.com``), the image pulled with
  the execution role; ``PCOMPILE_FRONT_PORT`` is remapped to a free loopback port (on AWS
  each task has its own address). A task is healthy after the target group's health
  check passed ``HealthyThresholdCount`` times; it is stopped (SIGTERM to its process
  group, SIGKILL after the container's ``stopTimeout``) when the desired count drops,
  when its task definition is no longer the service's, when the service is gone
  (destroy) and when this service exits.
"""

from __future__ import annotations

import contextlib
import fnmatch
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import compute_iam
from .compute_images import CODE_DIR_ENV, Launch, fresh_code_dir

FRONT_PORT = "PCOMPILE_FRONT_PORT"
MAX_TASKS = int(os.environ.get("PCOMPILE_SIMULATE_ECS_TASKS") or 1)
ALARM_PERIOD = os.environ.get("PCOMPILE_SIMULATE_ALARM_PERIOD_S")
TICK_S = 0.5
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


# ----------------------------------------------------------------------------- TLS


def tls_files(state_dir: Path) -> tuple[Path, Path]:
    """``(cert.pem, key.pem)`` of this stack's simulated CloudFront (made once, key mode 0600)."""
    folder = state_dir / "tls"
    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.is_file() and key.is_file():
        return cert, key
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pcompile simulated CloudFront")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    fd = os.open(key.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    os.replace(key.with_suffix(".tmp"), key)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


class SniffingServer(ThreadingHTTPServer):
    """A loopback HTTP server whose port also speaks TLS: a connection opening with a TLS
    handshake record is wrapped, in the request's own thread."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext
    ) -> None:
        super().__init__(address, handler)
        self.tls = tls

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        try:
            first = request.recv(1, socket.MSG_PEEK)
            if first == b"\x16":
                request = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        request.settimeout(None)
        self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]


def bind(port: int, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext) -> SniffingServer:
    """Listen on ``127.0.0.1:port`` (a free port when taken or 0)."""
    try:
        return SniffingServer(("127.0.0.1", port), handler, tls)
    except OSError:
        return SniffingServer(("127.0.0.1", 0), handler, tls)


# ----------------------------------------------------------------------------- tasks


@dataclass
class Task:
    """One running task of a service: its process group, loopback port and health."""

    definition: str
    port: int
    proc: subprocess.Popen[bytes]
    code_dir: Path
    stop_timeout: float
    healthy: bool = False
    passes: int = 0
    started: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        """Whether its runtime process still runs."""
        return self.proc.poll() is None

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM to the task's process group, SIGKILL after ``stopTimeout`` (as ECS stops it)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        shutil.rmtree(self.code_dir, ignore_errors=True)


def free_port() -> int:
    """A free loopback port (a task's remapped container port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parent_death() -> None:
    """In the task's child: own process group (its whole tree stops with it), and SIGKILL when
    the compute service dies without stopping it."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Service:
    """An ECS service the simulation runs: where it is, its target group, its tasks."""

    arn: str
    cluster: str
    target_group: str
    container: str
    container_port: int
    tasks: list[Task] = field(default_factory=list)
    turn: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def healthy(self) -> Task | None:
        """The next healthy task (round robin), or None."""
        with self.lock:
            ready = [t for t in self.tasks if t.healthy and t.alive()]
            if not ready:
                return None
            self.turn += 1
            return ready[self.turn % len(ready)]


# ----------------------------------------------------------------------------- the services


class WebServices:
    """CloudFront, ALB, alarms, Application Auto Scaling and ECS tasks of one stack (module docstring)."""

    def __init__(
        self,
        identities: compute_iam.Identities,
        state_dir: Path,
        launch_for: Callable[[str], Launch],
        platform_env: dict[str, str],
        log_dir: Path,
        cwd: Path,
        note: Callable[[str], None],
        ports: Mapping[str, int],
    ) -> None:
        self.identities = identities
        self.state_dir = state_dir
        self.launch_for = launch_for
        self.platform_env = platform_env
        self.log_dir = log_dir
        self.cwd = cwd
        self.note = note
        self.ports = dict(ports)  # distribution id -> port (kept across restarts)
        principal = compute_iam.BATCH  # ecs-tasks.amazonaws.com plays ECS, ELB and CloudFront
        self.aws = {
            name: identities.client(principal, name)
            for name in (
                "ecs",
                "elbv2",
                "cloudfront",
                "application-autoscaling",
                "cloudwatch",
                "secretsmanager",
            )
        }
        self.fronts: dict[str, SniffingServer] = {}
        self.services: dict[str, Service] = {}
        self.requests: dict[str, list[tuple[float, int]]] = {}  # ALB arn suffix -> (time, status)
        self.alarm_states: dict[str, str] = {}
        self.lock = threading.Lock()
        self.in_flight = 0
        self.last_error = ""
        self.stopping = threading.Event()
        cert, key = tls_files(state_dir)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.loop = threading.Thread(target=self._reconcile_forever, daemon=True, name="ecs-scheduler")
        self.loop.start()

    # ------------------------------------------------------------ CloudFront endpoints

    def endpoint(self, distribution_id: str) -> str:
        """``127.0.0.1:<port>``: where distribution ``distribution_id`` answers (started on first use)."""
        self.aws["cloudfront"].get_distribution(Id=distribution_id)  # NoSuchDistribution: a 404 to the caller
        with self.lock:
            if distribution_id not in self.fronts:
                server = bind(
                    self.ports.get(distribution_id, 0), _front_handler(self, distribution_id), self.tls
                )
                threading.Thread(
                    target=server.serve_forever, daemon=True, name=f"cf-{distribution_id}"
                ).start()
                self.fronts[distribution_id] = server
                self.ports[distribution_id] = int(server.server_address[1])
        return f"127.0.0.1:{self.ports[distribution_id]}"

    def distribution(self, distribution_id: str) -> dict[str, Any]:
        """The distribution's configuration in moto."""
        return dict(self.aws["cloudfront"].get_distribution_config(Id=distribution_id)["DistributionConfig"])

    def _recorded(self, type_token: str) -> Iterator[dict[str, Any]]:
        """Entries of ``type_token`` in this stack's simulated state files."""
        for path in sorted(self.state_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                for entry in json.loads(path.read_text()).get("resources", {}).values():
                    if entry.get("type") == type_token:
                        yield entry

    def function_code(self, arn: str) -> str | None:
        """A CloudFront Function's code, from the simulated state (moto has no Functions API)."""
        for entry in self._recorded("aws:cloudfront/function:Function"):
            if entry.get("outputs", {}).get("arn") == arn:
                return str(entry["inputs"]["code"])
        return None

    def functions(self, distribution_id: str, event_type: str) -> list[str]:
        """ARNs of the default behaviour's CloudFront Functions for ``event_type``, from the
        simulated state: moto keeps no function associations."""
        for entry in self._recorded("aws:cloudfront/distribution:Distribution"):
            if entry.get("id") == distribution_id:
                behavior = entry.get("inputs", {}).get("defaultCacheBehavior") or {}
                items = behavior.get("functionAssociations") or []
                return [str(f["functionArn"]) for f in items if f.get("eventType") == event_type]
        return []

    # ------------------------------------------------------------ ALB

    def load_balancer(self, dns_name: str) -> dict[str, Any]:
        """The ALB whose DNS name the origin names."""
        for lb in self.aws["elbv2"].describe_load_balancers()["LoadBalancers"]:
            if lb["DNSName"].lower() == dns_name.lower():
                return dict(lb)
        raise LookupError(f"no load balancer named {dns_name} in the emulator")

    def route(
        self, dns_name: str, port: int, method: str, path: str, headers: Mapping[str, str]
    ) -> dict[str, Any]:
        """The ALB's action for a request: the first matching rule's, else the listener's default."""
        elb = self.aws["elbv2"]
        lb = self.load_balancer(dns_name)
        listeners = [
            x
            for x in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
            if int(x["Port"]) == port
        ]
        if not listeners:
            return {"Type": "refused", "LoadBalancer": lb}
        rules = elb.describe_rules(ListenerArn=listeners[0]["ListenerArn"])["Rules"]
        ordered = sorted((r for r in rules if not r.get("IsDefault")), key=lambda r: int(r["Priority"]))
        lowered = {k.lower(): v for k, v in headers.items()}
        for rule in ordered:
            if all(_matches(c, method, path, lowered) for c in rule.get("Conditions") or []):
                return {**rule["Actions"][0], "LoadBalancer": lb}
        return {**listeners[0]["DefaultActions"][0], "LoadBalancer": lb}

    def service_for(self, target_group: str) -> Service | None:
        """The ECS service registered with ``target_group`` (found in moto's clusters)."""
        with self.lock:
            for service in self.services.values():
                if service.target_group == target_group:
                    return service
        ecs = self.aws["ecs"]
        for cluster in ecs.list_clusters()["clusterArns"]:
            arns = ecs.list_services(cluster=cluster)["serviceArns"]
            for found in ecs.describe_services(cluster=cluster, services=arns)["services"] if arns else []:
                for lb in found.get("loadBalancers") or []:
                    if lb.get("targetGroupArn") == target_group and found.get("status") == "ACTIVE":
                        service = Service(
                            found["serviceArn"],
                            cluster,
                            target_group,
                            lb["containerName"],
                            int(lb["containerPort"]),
                        )
                        with self.lock:
                            return self.services.setdefault(service.arn, service)
        return None

    def count(self, lb_arn: str, status: int) -> None:
        """One request the ALB answered (the alarms' metrics)."""
        suffix = lb_arn.split(":loadbalancer/", 1)[-1]
        now = time.monotonic()
        with self.lock:
            seen = self.requests.setdefault(suffix, [])
            seen.append((now, status))
            # An hour is more than any alarm window the programs set; the first entry stays
            # (it says since when data exists).
            seen[1:] = [x for x in seen[1:] if now - x[0] <= 3600]

    def track(self, change: int) -> None:
        """A request to a distribution began (+1) or ended (-1)."""
        with self.lock:
            self.in_flight += change

    # ------------------------------------------------------------ scheduler

    def _reconcile_forever(self) -> None:
        while not self.stopping.wait(TICK_S):
            try:
                self.evaluate_alarms()
                for service in list(self.services.values()):
                    self.reconcile(service)
            except Exception as exc:  # noqa: BLE001 - the scheduler keeps going; the log says why
                message = f"ecs scheduler: {type(exc).__name__}: {exc}"
                if message != self.last_error:  # once, not every tick
                    self.note(message)
                self.last_error = message

    def reconcile(self, service: Service) -> None:
        """Run as many tasks of the service's current task definition as its desired count asks."""
        ecs = self.aws["ecs"]
        found = ecs.describe_services(cluster=service.cluster, services=[service.arn])["services"]
        gone = not found or found[0].get("status") != "ACTIVE"
        desired = 0 if gone else min(MAX_TASKS, int(found[0].get("desiredCount") or 0))
        definition = "" if gone else str(found[0]["taskDefinition"])
        with service.lock:
            stale = [t for t in service.tasks if t.definition != definition or not t.alive()]
            keep = [t for t in service.tasks if t not in stale]
            surplus, keep = keep[desired:], keep[:desired]
            service.tasks = keep
        for task in [*stale, *surplus]:
            self.note(
                f"ecs: stopping a task of {service.arn} ({'exited' if not task.alive() else 'scaled in or replaced'})"
            )
            task.stop()
        for _ in range(desired - len(keep)):
            task = self.start_task(service, definition)
            with service.lock:
                service.tasks.append(task)
        self.check_health(service)
        if gone:
            with self.lock:
                self.services.pop(service.arn, None)

    def start_task(self, service: Service, definition_arn: str) -> Task:
        """Start one task of ``definition_arn`` from what moto holds (module docstring)."""
        definition = self.aws["ecs"].describe_task_definition(taskDefinition=definition_arn)["taskDefinition"]
        (container,) = [c for c in definition["containerDefinitions"] if c["name"] == service.container]
        image = str(container["image"])
        if definition.get("executionRoleArn"):
            compute_iam.check_pull(self.identities, compute_iam.BATCH, definition["executionRoleArn"], image)
        role = self.identities.role_env(
            compute_iam.BATCH, definition.get("taskRoleArn"), definition["family"]
        )
        launch = self.launch_for(image)
        port = free_port()
        code_dir = fresh_code_dir()
        env = {
            **launch.env,
            **{e["name"]: e["value"] for e in container.get("environment") or []},
            **self._secrets(container, definition.get("executionRoleArn")),
            **self.platform_env,
            **role,
            CODE_DIR_ENV: str(code_dir),
            FRONT_PORT: str(port),  # the container port, remapped: tasks share loopback here
            "PCOMPILE_HOST": "127.0.0.1",
            "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
        }
        argv = launch.argv([*(container.get("entryPoint") or []), *(container.get("command") or [])])
        log = self.log_dir / f"ecs-{definition['family']}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv, env=env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                process_group=0, preexec_fn=_parent_death,
            )  # fmt: skip
        self.note(
            f"ecs: started a task of {definition['family']}:{definition['revision']} on port {port} (pid {proc.pid})"
        )
        return Task(definition_arn, port, proc, code_dir, float(container.get("stopTimeout") or 30))

    def _secrets(self, container: Mapping[str, Any], execution_role: str | None) -> dict[str, str]:
        """``secrets`` of the container, read from Secrets Manager with the execution role (as ECS does)."""
        wanted = container.get("secrets") or []
        if not wanted:
            return {}
        import boto3

        creds = self.identities.role_env(compute_iam.BATCH, execution_role, "ecs-secrets")
        names = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
        keys = (
            {n: creds[v] for n, v in zip(names, compute_iam.CREDENTIAL_VARIABLES, strict=True)}
            if creds
            else {}
        )
        client = boto3.session.Session(region_name=self.identities.region, **keys).client(
            "secretsmanager", endpoint_url=self.identities.endpoint_url
        )
        return {
            s["name"]: str(client.get_secret_value(SecretId=s["valueFrom"])["SecretString"]) for s in wanted
        }

    def check_health(self, service: Service) -> None:
        """The target group's health check against each task not yet healthy."""
        tg = self.aws["elbv2"].describe_target_groups(TargetGroupArns=[service.target_group])["TargetGroups"][
            0
        ]
        path = tg.get("HealthCheckPath") or "/"
        need = int(tg.get("HealthyThresholdCount") or 2)
        codes = str((tg.get("Matcher") or {}).get("HttpCode") or "200")
        for task in list(service.tasks):
            if task.healthy or not task.alive():
                continue
            if _answers(task.port, path, codes):
                task.passes += 1
                task.healthy = task.passes >= need
                if task.healthy:
                    self.note(f"ecs: task on port {task.port} is healthy ({path})")
            else:
                task.passes = 0

    # ------------------------------------------------------------ alarms and scaling

    def evaluate_alarms(self) -> None:
        """Alarms on the ALBs' request metrics; one entering ALARM runs its scaling policies."""
        with self.lock:
            suffixes = set(self.requests)
        if not suffixes:
            return
        now = time.monotonic()
        for alarm in self.aws["cloudwatch"].describe_alarms()["MetricAlarms"]:
            dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
            if alarm.get("Namespace") != "AWS/ApplicationELB" or dims.get("LoadBalancer") not in suffixes:
                continue
            state = self._alarm_state(alarm, dims["LoadBalancer"], now)
            if state is None:
                continue
            before = self.alarm_states.get(alarm["AlarmArn"])
            self.alarm_states[alarm["AlarmArn"]] = state
            if state == "ALARM" and before != "ALARM":
                self.note(f"alarm {alarm['AlarmName']} is in ALARM")
                for action in alarm.get("AlarmActions") or []:
                    self.apply_policy(action)

    def _alarm_state(self, alarm: Mapping[str, Any], suffix: str, now: float) -> str | None:
        period = float(ALARM_PERIOD or alarm.get("Period") or 60)
        window = period * int(alarm.get("EvaluationPeriods") or 1)
        metric = alarm.get("MetricName")
        with self.lock:
            seen = [s for t, s in self.requests.get(suffix, []) if now - t <= window]
            first = min((t for t, _ in self.requests.get(suffix, [])), default=now)
        if now - first < window and metric == "RequestCount":
            return None  # not a whole window of data yet
        if metric == "RequestCount":
            value = float(len(seen))
        elif metric == "HTTPCode_ELB_503_Count":
            value = float(sum(1 for s in seen if s == 503))
        else:
            return None
        if value == 0 and metric != "RequestCount" and alarm.get("TreatMissingData") == "notBreaching":
            return "OK"
        return (
            "ALARM" if _compare(value, str(alarm["ComparisonOperator"]), float(alarm["Threshold"])) else "OK"
        )

    def apply_policy(self, policy_arn: str) -> None:
        """A step scaling policy: the ECS service's new desired count in moto, within its bounds."""
        aas = self.aws["application-autoscaling"]
        policies = [
            p
            for p in aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
            if p["PolicyARN"] == policy_arn
        ]
        if not policies or policies[0]["PolicyType"] != "StepScaling":
            return
        policy = policies[0]
        config = policy["StepScalingPolicyConfiguration"]
        (target,) = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[policy["ResourceId"]])[
            "ScalableTargets"
        ]
        _, cluster, name = str(policy["ResourceId"]).split("/", 2)
        ecs = self.aws["ecs"]
        current = int(ecs.describe_services(cluster=cluster, services=[name])["services"][0]["desiredCount"])
        step = int(config["StepAdjustments"][0]["ScalingAdjustment"])
        kind = config.get("AdjustmentType")
        wanted = (
            step
            if kind == "ExactCapacity"
            else current + (current * step // 100 if kind == "PercentChangeInCapacity" else step)
        )
        wanted = max(int(target["MinCapacity"]), min(int(target["MaxCapacity"]), wanted))
        if wanted != current:
            ecs.update_service(cluster=cluster, service=name, desiredCount=wanted)
            self.note(f"scaling policy {policy['PolicyName']}: {name} desired count {current} -> {wanted}")

    # ------------------------------------------------------------ life

    def busy(self) -> bool:
        """Whether a request is in flight (running tasks alone do not keep the service up)."""
        return self.in_flight > 0

    def close(self) -> None:
        """Stop every task (its whole process group) and every CloudFront port."""
        self.stopping.set()
        for server in list(self.fronts.values()):
            server.shutdown()
            server.server_close()
        for service in list(self.services.values()):
            for task in list(service.tasks):
                task.stop(timeout=5)


def _answers(port: int, path: str, codes: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
    except OSError:
        return False
    return _code_matches(status, codes)


def _code_matches(status: int, codes: str) -> bool:
    for part in codes.split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit() and int(low) <= status <= int(high or low):
            return True
    return False


def _compare(value: float, operator: str, threshold: float) -> bool:
    return {
        "GreaterThanOrEqualToThreshold": value >= threshold,
        "GreaterThanThreshold": value > threshold,
        "LessThanThreshold": value < threshold,
        "LessThanOrEqualToThreshold": value <= threshold,
    }.get(operator, False)


def _matches(condition: Mapping[str, Any], method: str, path: str, headers: Mapping[str, str]) -> bool:
    """One ALB rule condition (values are globs: ``*`` and ``?``, case-insensitive but for paths)."""
    field_name = condition.get("Field")
    if field_name == "http-header":
        config = condition["HttpHeaderConfig"]
        value = headers.get(str(config["HttpHeaderName"]).lower())
        return value is not None and any(
            fnmatch.fnmatchcase(value.lower(), v.lower()) for v in config["Values"]
        )
    if field_name == "path-pattern":
        values = (condition.get("PathPatternConfig") or {}).get("Values") or condition.get("Values") or []
        return any(fnmatch.fnmatchcase(path, v) for v in values)
    if field_name == "host-header":
        values = (condition.get("HostHeaderConfig") or {}).get("Values") or condition.get("Values") or []
        host = headers.get("host", "").split(":")[0].lower()
        return any(fnmatch.fnmatchcase(host, v.lower()) for v in values)
    if field_name == "http-request-method":
        return method.upper() in [m.upper() for m in condition["HttpRequestMethodConfig"]["Values"]]
    return False


# ----------------------------------------------------------------------------- one request


@dataclass
class Answer:
    """What the origin said: status, headers, and the body as it streams."""

    status: int
    headers: list[tuple[str, str]]
    body: Iterator[bytes]
    close: Callable[[], None] = lambda: None


def _fixed(action: Mapping[str, Any]) -> Answer:
    config = action.get("FixedResponseConfig") or {}
    body = str(config.get("MessageBody") or "").encode()
    headers = [
        ("Content-Type", str(config.get("ContentType") or "text/plain")),
        ("Content-Length", str(len(body))),
    ]
    return Answer(int(config.get("StatusCode") or 200), headers, iter([body]))


def _plain(status: int, text: str) -> Answer:
    body = text.encode()
    return Answer(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        iter([body]),
    )


def origin_request(
    services: WebServices,
    origin: Mapping[str, Any],
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: Iterator[bytes] | None,
) -> Answer:
    """The request as the origin (the ALB at the origin's DNS name) answers it."""
    custom = origin.get("CustomOriginConfig") or {}
    port = (
        int(custom.get("HTTPPort") or 80)
        if custom.get("OriginProtocolPolicy") != "https-only"
        else int(custom.get("HTTPSPort") or 443)
    )
    # The origin sees its own name as Host (CloudFront's AllViewerExceptHostHeader policy).
    sent = [
        ("Host", str(origin["DomainName"])),
        *headers,
        *(
            (h["HeaderName"], h["HeaderValue"])
            for h in (origin.get("CustomHeaders") or {}).get("Items") or []
        ),
    ]
    action = services.route(str(origin["DomainName"]), port, method, path, dict(sent))
    lb = action.pop("LoadBalancer")
    if action["Type"] == "refused":
        return _plain(502, "the origin refused the connection\n")
    if action["Type"] == "fixed-response":
        answer = _fixed(action)
    elif action["Type"] == "forward":
        target = action.get("TargetGroupArn") or action["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"]
        service = services.service_for(str(target))
        task = service.healthy() if service else None
        if task is None:
            answer = _plain(503, "503 Service Temporarily Unavailable\n")
        else:
            answer = _to_task(task, method, path, sent, body, origin)
    else:
        answer = _plain(502, f"ALB action {action['Type']} is not simulated\n")
    services.count(str(lb["LoadBalancerArn"]), answer.status)
    return answer


def _to_task(
    task: Task,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: Iterator[bytes] | None,
    origin: Mapping[str, Any],
) -> Answer:
    timeout = float((origin.get("CustomOriginConfig") or {}).get("OriginReadTimeout") or 30)
    conn = http.client.HTTPConnection("127.0.0.1", task.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for key, value in headers:
            if key.lower() not in HOP and key.lower() != "content-length":
                conn.putheader(key, value)
        if body is not None:
            conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for chunk in body or ():
            if chunk:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if body is not None:
            conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
    except OSError:
        conn.close()
        return _plain(502, "502 Bad Gateway\n")
    kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP]

    def chunks() -> Iterator[bytes]:
        while True:
            piece = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
            if not piece:
                return
            yield piece

    return Answer(response.status, kept, chunks(), conn.close)


def _viewer_response(services: WebServices, distribution_id: str, answer: Answer) -> Answer:
    """Viewer-response CloudFront Functions of the default behaviour, run under node from their recorded code."""
    for arn in services.functions(distribution_id, "viewer-response"):
        item = {"FunctionARN": arn}
        code = services.function_code(arn)
        node = shutil.which("node")
        if code is None or node is None:
            services.note(
                f"CloudFront Function {item['FunctionARN']} not run: {'no recorded code' if code is None else 'no node'}"
            )
            continue
        event = {
            "version": "1.0",
            "response": {
                "statusCode": answer.status,
                "headers": {k.lower(): {"value": v} for k, v in answer.headers},
            },
        }
        script = (
            code
            + "\nprocess.stdout.write(JSON.stringify(handler(JSON.parse(require('fs').readFileSync(0, 'utf8')))));\n"
        )
        done = subprocess.run(
            [node, "-e", script],
            input=json.dumps(event).encode(),
            capture_output=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            services.note(f"CloudFront Function {item['FunctionARN']} failed: {done.stderr[-500:]!r}")
            return _plain(503, "503 The CloudFront function failed\n")
        out = json.loads(done.stdout or b"{}")
        answer.status = int(out.get("statusCode") or answer.status)
        answer.headers = [(k, str(v.get("value", ""))) for k, v in (out.get("headers") or {}).items()]
    return answer


def _front_handler(services: WebServices, distribution_id: str) -> type[BaseHTTPRequestHandler]:
    """The distribution's loopback endpoint (module docstring)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            services.track(1)
            try:
                self._serve()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                services.track(-1)

        def _serve(self) -> None:
            config = services.distribution(distribution_id)
            behavior = config["DefaultCacheBehavior"]
            secure = isinstance(self.connection, ssl.SSLSocket)
            if not config.get("Enabled"):
                self._send(_plain(403, "403 the distribution is disabled\n"))
                return
            if not secure and behavior["ViewerProtocolPolicy"] != "allow-all":
                if behavior["ViewerProtocolPolicy"] == "https-only":
                    self._send(_plain(403, "403 HTTPS only\n"))
                    return
                host = self.headers.get("Host") or f"127.0.0.1:{services.ports[distribution_id]}"
                self._send(
                    Answer(
                        301,
                        [("Location", f"https://{host}{self.path}"), ("Content-Length", "0")],
                        iter([b""]),
                    )
                )
                return
            allowed = (behavior.get("AllowedMethods") or {}).get("Items") or ["GET", "HEAD"]
            if self.command not in allowed:
                self._send(_plain(403, f"403 {self.command} is not an allowed method\n"))
                return
            origins = {o["Id"]: o for o in config["Origins"]["Items"]}
            origin = origins[behavior["TargetOriginId"]]
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in ("host", *HOP)]
            headers.append(("X-Forwarded-For", self.client_address[0]))
            headers.append(("X-Forwarded-Proto", "https" if secure else "http"))
            answer = origin_request(services, origin, self.command, self.path, headers, self._body())
            answer = self._error_page(config, origin, answer)
            self._send(_viewer_response(services, distribution_id, answer))

        def _body(self) -> Iterator[bytes] | None:
            length = self.headers.get("Content-Length")
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return self._chunked()
            if length is None or int(length) == 0:
                return None
            data = self.rfile.read(int(length))
            return iter([data])

        def _chunked(self) -> Iterator[bytes]:
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return
                chunk = self.rfile.read(size)
                self.rfile.readline()
                yield chunk

        def _error_page(self, config: Mapping[str, Any], origin: Mapping[str, Any], answer: Answer) -> Answer:
            for item in (config.get("CustomErrorResponses") or {}).get("Items") or []:
                if int(item["ErrorCode"]) == answer.status and item.get("ResponsePagePath"):
                    answer.close()
                    page = origin_request(services, origin, "GET", item["ResponsePagePath"], [], None)
                    data = b"".join(page.body)
                    page.close()
                    status = int(item.get("ResponseCode") or answer.status)
                    kind = dict((k.lower(), v) for k, v in page.headers).get("content-type", "text/plain")
                    return Answer(
                        status, [("Content-Type", kind), ("Content-Length", str(len(data)))], iter([data])
                    )
            return answer

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            length = None
            for key, value in answer.headers:
                if key.lower() == "content-length":
                    length = value
                self.send_header(key, value)
            if length is None:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in answer.body:
                    if self.command == "HEAD" or not chunk:
                        continue
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if length is None else chunk)
                    self.wfile.flush()
                if length is None and self.command != "HEAD":
                    self.wfile.write(b"0\r\n\r\n")
            finally:
                answer.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
