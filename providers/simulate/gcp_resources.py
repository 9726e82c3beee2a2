"""The simulated GCP control plane of ``engine: simulate``: every ``gcp:*`` resource the
emitted program declares is checked as the Google API would check it, then kept.

* **Storage** is real: buckets and objects are created in gcp-storage-emulator through
  google-cloud-storage (``STORAGE_EMULATOR_HOST``), so the runtime and the invoker
  later read exactly what the program wrote.
* **Cloud Run services, Cloud Scheduler jobs, Secret Manager secrets** are turned into
  the google-cloud client messages (``run_v2.Service``, ``scheduler_v1.Job``,
  ``secretmanager_v1.Secret``) from the Pulumi inputs, field by field, with
  ``ignore_unknown_fields=False``: a misspelt or misplaced field, a bad enum or a
  malformed duration fails here as it would at the API. The checks proto messages
  cannot express (Cloud Run's CPU/memory/concurrency limits, id alphabets) follow the
  API reference and are listed in :func:`service_problems`.
* **Batch job templates** (the staging bucket's ``templates/*.json`` objects) are parsed
  as ``batch_v1.Job``; the jobs the invoker creates from them are checked again by the
  simulated Batch API in :mod:`.gcp_compute`.
* **Secret Manager has no emulator**: secrets and their versions live in the control
  plane file (mode 0600, under ``.pcompile/``); nothing else in the simulation reads them
  except the Cloud Run and Batch players, which resolve secret references as the
  platforms would.
* **Firestore databases and TTL fields** are parsed as ``firestore_admin_v1`` messages
  (a field's database must exist: ``pcompile bootstrap`` creates it); **Filestore
  instances** are checked against the API reference's rules (id, tier, capacity, zone,
  network) and get a stable private address. Both are kept in the plane; no Firestore or
  NFS server backs them here (docs/gcp.md).
* **IAM** (service accounts, bindings) is validated in form and kept; it is never
  enforced. That, real scheduling, quotas and cold starts are what a simulation cannot
  show (docs/deploy.md).

The control plane is a JSON file (:class:`ControlPlane`) so the compute players, started
later from another process, find the stored definitions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Pulumi marks secret values in mocked inputs with this signature key.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
RUN_URL_PREFIX = "/run"
PLANE_FILE = "gcp-control-plane.json"


class ResourceRejected(Exception):
    """The simulated Google API refused a resource, as the real one would (HTTP 400)."""

    def __init__(self, type_token: str, name: str, message: str) -> None:
        super().__init__(f"{name} ({type_token}): {message}")
        self.type_token = type_token
        self.name = name
        self.message = message


# ------------------------------------------------------------------ control plane


@dataclass
class ControlPlane:
    """What the simulated GCP APIs hold, as one JSON file (sorted keys, mode 0600).

    ``data`` has one object per API: ``services``, ``scheduler_jobs``, ``secrets``,
    ``accounts``, ``iam``, ``repositories``, ``batch_jobs``, keyed by resource name, and
    ``gateway_port``: the loopback port every simulated Cloud Run URL uses.
    """

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ControlPlane:
        """Read the file (an empty plane when it does not exist yet)."""
        data = json.loads(path.read_text()) if path.is_file() else {}
        return cls(path, data)

    def table(self, api: str) -> dict[str, Any]:
        """The resources of one API, created on first use."""
        table: dict[str, Any] = self.data.setdefault(api, {})
        return table

    def gateway_port(self) -> int:
        """The port of the Cloud Run / Batch player, chosen once and kept (URLs embed it)."""
        if "gateway_port" not in self.data:
            import socket

            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.data["gateway_port"] = int(sock.getsockname()[1])
            self.save()
        return int(self.data["gateway_port"])

    def gateway_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.gateway_port()}"

    def save(self) -> None:
        """Write atomically; secrets live here, so only the owner may read it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


def state_dir(root: Path, stack: str) -> Path:
    """A simulate stack's folder: the control plane, published images, the compute record."""
    return root / ".pcompile" / "simulate" / stack


def gcp_plane(root: Path, stack: str) -> ControlPlane:
    """The control plane of a GCP simulate stack in the project at ``root``."""
    return ControlPlane.load(state_dir(root, stack) / PLANE_FILE)


def service_url(gateway: str, location: str, service: str) -> str:
    """The simulated ``uri`` of a Cloud Run service: a path on the loopback player."""
    return f"{gateway}{RUN_URL_PREFIX}/{location}/{service}"


# ------------------------------------------------------------------ helpers


def plain(value: Any) -> Any:
    """Mocked inputs with Pulumi's secret wrappers removed (recursively)."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _message(cls: Any, body: dict[str, Any], type_token: str, name: str) -> Any:
    """``cls.from_json`` refusing unknown fields; the parse error is the API's answer."""
    from google.protobuf.json_format import ParseError

    try:
        return cls.from_json(json.dumps(body), ignore_unknown_fields=False)
    except ParseError as exc:
        raise ResourceRejected(type_token, name, str(exc).split("\n")[0]) from None


def _to_json(cls: Any, message: Any) -> dict[str, Any]:
    text = cls.to_json(
        message, use_integers_for_enums=False, always_print_fields_with_no_presence=False, sort_keys=True
    )
    data: dict[str, Any] = json.loads(text)
    return data


def _take(inputs: dict[str, Any], *keys: str) -> list[Any]:
    """Pop Pulumi-only inputs (placement of the resource, provider flags), leaving the body."""
    return [inputs.pop(k, None) for k in keys]


def _require(ok: bool, type_token: str, name: str, message: str) -> None:
    if not ok:
        raise ResourceRejected(type_token, name, message)


# https://cloud.google.com/iam/docs/service-accounts-create#creating: 6-30, letter first.
ACCOUNT_ID = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")
# https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/create
SERVICE_ID = re.compile(r"^[a-z](?:[-a-z0-9]{0,47}[a-z0-9])?$")
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
REPOSITORY_ID = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
SCHEDULER_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")
ROLE = re.compile(r"^(roles|projects/[^/]+/roles|organizations/[^/]+/roles)/[A-Za-z0-9_.]+$")
MEMBER = re.compile(r"^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|principal):.+)$")
REPOSITORY_FORMATS = ("DOCKER", "MAVEN", "NPM", "PYTHON", "APT", "YUM", "GO", "KFP", "GENERIC")


# ------------------------------------------------------------------ Cloud Run

# Cloud Run limits (https://cloud.google.com/run/docs/configuring/services/cpu,
# .../memory-limits, .../about-concurrency, .../request-timeout, .../services/gpu).
RUN_CPUS = ("1", "2", "4", "6", "8", "1000m", "2000m", "4000m", "6000m", "8000m")
RUN_MEMORY_MIB = (128, 32 * 1024)
RUN_MAX_CONCURRENCY = 1000
RUN_MAX_TIMEOUT_S = 3600
RUN_LIMIT_KEYS = ("cpu", "memory", "nvidia.com/gpu")
RUN_ACCELERATORS = ("nvidia-l4",)
# The minimum memory per vCPU count (more memory needs more CPUs).
RUN_MIN_CPU_FOR_MEMORY = ((24 * 1024, 8), (16 * 1024, 6), (8 * 1024, 4), (4 * 1024, 2))
QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
UNIT_MIB: dict[str | None, float] = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
UNIT_MIB |= {"k": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "T": 1e12 / 2**20, None: 1 / 2**20}


def memory_mib(quantity: str) -> float | None:
    """A Kubernetes memory quantity (``512Mi``, ``1Gi``, ``2G``) in MiB; None when malformed."""
    match = QUANTITY.match(quantity)
    return float(match.group(1)) * UNIT_MIB[match.group(2)] if match else None


def _cpus(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _run_container(container: dict[str, Any]) -> dict[str, Any]:
    """Pulumi's container args as ``run_v2.Container`` JSON (the three renamed fields)."""
    body = dict(container)
    if "commands" in body:
        body["command"] = body.pop("commands")
    if "envs" in body:
        body["env"] = body.pop("envs")
    if isinstance(body.get("ports"), dict):  # one port in Pulumi, a list in the API
        body["ports"] = [body["ports"]]
    return body


def service_body(inputs: dict[str, Any], project: str) -> tuple[str, str, dict[str, Any]]:
    """(location, service id, ``run_v2.Service`` JSON) from a ``gcp:cloudrunv2/service`` input."""
    body = plain(inputs)
    location, short, _ = _take(body, "location", "name", "deletionProtection")
    body.pop("project", None)
    location = location or "us-central1"
    template = dict(body.get("template") or {})
    template["containers"] = [_run_container(c) for c in template.get("containers") or []]
    body["template"] = template
    body["name"] = f"projects/{project}/locations/{location}/services/{short}"
    return location, str(short or ""), body


def service_problems(service: Any) -> list[str]:
    """What the Cloud Run Admin API refuses beyond the message's own types."""
    problems: list[str] = []
    t = service.template
    if not t.containers:
        problems.append("template.containers: at least one container is required")
    if (
        t.max_instance_request_concurrency
        and not 1 <= t.max_instance_request_concurrency <= RUN_MAX_CONCURRENCY
    ):
        problems.append(
            f"template.maxInstanceRequestConcurrency {t.max_instance_request_concurrency} "
            f"must be between 1 and {RUN_MAX_CONCURRENCY}"
        )
    timeout = t.timeout.total_seconds() if t.timeout else 0
    if timeout > RUN_MAX_TIMEOUT_S:
        problems.append(f"template.timeout {timeout:.0f}s exceeds {RUN_MAX_TIMEOUT_S}s")
    if t.scaling.max_instance_count and t.scaling.min_instance_count > t.scaling.max_instance_count:
        problems.append("template.scaling: minInstanceCount is above maxInstanceCount")
    gpu = bool(t.node_selector.accelerator)
    if gpu and t.node_selector.accelerator not in RUN_ACCELERATORS:
        problems.append(
            f"template.nodeSelector.accelerator {t.node_selector.accelerator!r} is not one of {RUN_ACCELERATORS}"
        )
    for index, container in enumerate(t.containers):
        problems += _container_problems(f"template.containers[{index}]", container, gpu)
    problems += _volume_problems(t)
    return problems


def _volume_problems(t: Any) -> list[str]:
    """Each mount names a declared volume; NFS needs a route to the VPC."""
    problems = []
    declared = {v.name for v in t.volumes}
    for index, container in enumerate(t.containers):
        for mount in container.volume_mounts:
            if mount.name not in declared:
                problems.append(f"template.containers[{index}].volumeMounts: no volume named {mount.name!r}")
    for index, volume in enumerate(t.volumes):
        if "nfs" in volume and not (t.vpc_access.connector or t.vpc_access.network_interfaces):
            problems.append(
                f"template.volumes[{index}]: an NFS server needs vpcAccess (Direct VPC or a connector)"
            )
    return problems


def _container_problems(where: str, container: Any, gpu: bool) -> list[str]:
    problems = [] if container.image else [f"{where}.image is required"]
    limits = dict(container.resources.limits)
    for key in sorted(set(limits) - set(RUN_LIMIT_KEYS)):
        problems.append(
            f"{where}.resources.limits: unknown resource {key!r} (use {', '.join(RUN_LIMIT_KEYS)})"
        )
    cpu = limits.get("cpu", "1")
    if cpu not in RUN_CPUS and not (cpu.endswith("m") and cpu[:-1].isdigit() and int(cpu[:-1]) < 1000):
        problems.append(
            f"{where}.resources.limits.cpu {cpu!r} is not a Cloud Run CPU value (1, 2, 4, 6, 8 or under 1000m)"
        )
        return problems
    memory = memory_mib(limits.get("memory", "512Mi"))
    if memory is None or not RUN_MEMORY_MIB[0] <= memory <= RUN_MEMORY_MIB[1]:
        problems.append(
            f"{where}.resources.limits.memory {limits.get('memory')!r} must be a quantity "
            f"between {RUN_MEMORY_MIB[0]}Mi and 32Gi (e.g. 512Mi, 4Gi)"
        )
        return problems
    for floor, needed in RUN_MIN_CPU_FOR_MEMORY:
        if memory > floor and _cpus(cpu) < needed:
            problems.append(f"{where}: memory {limits['memory']} needs at least {needed} CPUs, not {cpu}")
            break
    if gpu and (_cpus(cpu) < 4 or memory < 16 * 1024 or container.resources.cpu_idle):
        problems.append(f"{where}: a GPU instance needs cpu >= 4, memory >= 16Gi and cpuIdle false")
    names = [e.name for e in container.env]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}.env: {dup!r} is set twice")
    return problems


# ------------------------------------------------------------------ the resources


Handler = Callable[["GcpResources", str, str, dict[str, Any]], tuple[str, dict[str, Any]]]


@dataclass
class GcpResources:
    """Creates, updates and deletes ``gcp:*`` resources against the emulator and the plane.

    ``storage`` is a google-cloud-storage client for the emulator; ``project`` and
    ``region`` are the stack's (the provider defaults of the emitted program).
    """

    plane: ControlPlane
    storage: Any
    project: str
    region: str
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def handles(self, type_token: str) -> bool:
        """Whether ``type_token`` is a GCP resource this simulation creates."""
        return type_token in HANDLERS

    def create(self, type_token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Create (or update in place: every handler is an upsert) one resource; returns
        ``(id, outputs)``. Raises :class:`ResourceRejected` with the API's message."""
        handler = HANDLERS.get(type_token)
        if handler is None:
            raise ResourceRejected(type_token, name, "this resource type is not simulated")
        # The mock engine registers resources from several threads; one API call at a time.
        with self._lock:
            rid, outputs = handler(self, type_token, name, dict(inputs))
            self.plane.save()
        return rid, {**plain(inputs), **outputs}

    def delete(self, type_token: str, rid: str, outputs: dict[str, Any]) -> None:
        """Remove what :meth:`create` made (missing things are already gone)."""
        if type_token == "gcp:storage/bucket:Bucket":
            self._delete_bucket(str(outputs.get("name") or rid))
        elif type_token == "gcp:storage/bucketObject:BucketObject":
            blob = self.storage.bucket(outputs["bucket"]).blob(outputs["name"])
            if blob.exists():
                blob.delete()
        else:
            with self._lock:
                for table in self.plane.data.values():
                    if isinstance(table, dict):
                        table.pop(rid, None)
        with self._lock:
            self.plane.save()

    def _delete_bucket(self, bucket: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self.storage.bucket(bucket).delete(force=True)
        except NotFound:
            pass


def _bucket(res: GcpResources, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from google.api_core.exceptions import Conflict

    bucket = inputs.get("name") or name
    _require(
        bool(re.match(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", bucket)),
        typ,
        name,
        f"invalid bucket name {bucket!r}",
    )
    _require(
        inputs.get("publicAccessPrevention") in (None, "enforced", "inherited"),
        typ,
        name,
        f"publicAccessPrevention {inputs.get('publicAccessPrevention')!r} is not enforced or inherited",
    )
    try:
        created = res.storage.bucket(bucket)
        created.labels = dict(inputs.get("labels") or {})
        res.storage.create_bucket(created, location=inputs.get("location"))
    except Conflict:
        pass  # an update: the bucket is kept, as the provider would
    outputs = {
        "name": bucket,
        "url": f"gs://{bucket}",
        "selfLink": f"{_storage_host()}/storage/v1/b/{bucket}",
    }
    return bucket, outputs


def _storage_host() -> str:
    return os.environ.get("STORAGE_EMULATOR_HOST", "https://storage.googleapis.com").rstrip("/")


def _bucket_object(
    res: GcpResources, typ: str, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    from google.api_core.exceptions import NotFound

    bucket, key = inputs.get("bucket"), inputs.get("name")
    _require(bool(bucket and key), typ, name, "bucket and name are required")
    content = plain(inputs.get("content"))
    _require(isinstance(content, str), typ, name, "only `content` objects are simulated (no `source` files)")
    if str(key).startswith("templates/"):
        _batch_template(typ, name, content)
    blob = res.storage.bucket(bucket).blob(key)
    try:
        blob.upload_from_string(content, content_type=inputs.get("contentType") or "application/octet-stream")
    except NotFound:
        raise ResourceRejected(typ, name, f"bucket {bucket!r} does not exist") from None
    rid = f"{bucket}-{key}"
    return rid, {
        "bucket": bucket,
        "name": key,
        "mediaLink": f"{_storage_host()}/download/storage/v1/b/{bucket}/o/{key}",
        "outputName": key,
    }


def _batch_template(typ: str, name: str, content: str) -> None:
    """A stored job template must be a ``batch_v1.Job`` the invoker can create."""
    from google.cloud import batch_v1

    try:
        body = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ResourceRejected(typ, name, f"job template is not JSON: {exc}") from None
    job = _message(batch_v1.Job, body, typ, name)
    problems = batch_job_problems(job)
    _require(not problems, typ, name, "; ".join(problems))


def batch_job_problems(job: Any) -> list[str]:
    """What ``projects.locations.jobs.create`` refuses beyond the message's types."""
    problems: list[str] = []
    if len(job.task_groups) != 1:
        problems.append("taskGroups: exactly one task group is supported")
        return problems
    group = job.task_groups[0]
    if group.task_count < 1:
        problems.append("taskGroups[0].taskCount must be at least 1")
    runnables = group.task_spec.runnables
    if not runnables or not all(r.container.image_uri for r in runnables):
        problems.append("taskGroups[0].taskSpec.runnables: each needs container.imageUri")
    for index, instance in enumerate(job.allocation_policy.instances):
        if instance.policy.accelerators and not instance.install_gpu_drivers:
            problems.append(f"allocationPolicy.instances[{index}]: accelerators need installGpuDrivers")
        for acc in instance.policy.accelerators:
            if acc.count < 1 or not acc.type_.startswith("nvidia-"):
                problems.append(
                    f"allocationPolicy.instances[{index}]: bad accelerator {acc.type_!r} x{acc.count}"
                )
    return problems


def _member_binding(
    res: GcpResources, typ: str, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Every ``*IAMMember``: role and member checked in form, the binding kept (never enforced)."""
    body = plain(inputs)
    role, member = body.get("role", ""), body.get("member", "")
    _require(bool(ROLE.match(role)), typ, name, f"invalid role {role!r} (expected roles/...)")
    _require(
        bool(MEMBER.match(member)),
        typ,
        name,
        f"invalid member {member!r} (expected serviceAccount:..., user:... or allUsers)",
    )
    resource = {k: v for k, v in sorted(body.items()) if k not in ("role", "member", "condition")}
    _require(bool(resource), typ, name, "the resource the binding is on is missing")
    rid = f"{typ.split(':')[1]}/{json.dumps(resource, sort_keys=True)}/{role}/{member}"
    res.plane.table("iam")[rid] = {"type": typ, "resource": resource, "role": role, "member": member}
    return rid, {"etag": "sim"}


def _account(res: GcpResources, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    account_id = inputs.get("accountId", "")
    _require(
        bool(ACCOUNT_ID.match(account_id)),
        typ,
        name,
        f"accountId {account_id!r} must be 6-30 lower-case letters, digits or hyphens, starting with a letter",
    )
    project = inputs.get("project") or res.project
    email = f"{account_id}@{project}.iam.gserviceaccount.com"
    full = f"projects/{project}/serviceAccounts/{email}"
    res.plane.table("accounts")[full] = {"email": email, "displayName": inputs.get("displayName", "")}
    return full, {
        "email": email,
        "name": full,
        "member": f"serviceAccount:{email}",
        "uniqueId": str(int(hashlib.sha256(email.encode()).hexdigest()[:16], 16)),
    }


def _repository(res: GcpResources, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    repo = inputs.get("repositoryId", "")
    _require(
        bool(REPOSITORY_ID.match(repo)), typ, name, f"repositoryId {repo!r} is not a valid repository id"
    )
    _require(
        inputs.get("format") in REPOSITORY_FORMATS,
        typ,
        name,
        f"format {inputs.get('format')!r} is not one of {REPOSITORY_FORMATS}",
    )
    project, location = inputs.get("project") or res.project, inputs.get("location") or res.region
    full = f"projects/{project}/locations/{location}/repositories/{repo}"
    res.plane.table("repositories")[full] = {"format": inputs["format"], "labels": inputs.get("labels") or {}}
    return full, {"name": repo, "id": full}


def _service(res: GcpResources, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from google.cloud import run_v2

    location, short, body = service_body(inputs, inputs.get("project") or res.project)
    _require(
        bool(SERVICE_ID.match(short)),
        typ,
        name,
        f"service name {short!r} must be 1-49 lower-case letters, digits or hyphens",
    )
    service = _message(run_v2.Service, body, typ, name)
    problems = service_problems(service)
    _require(not problems, typ, name, "; ".join(problems))
    uri = service_url(res.plane.gateway_url(), location, short)
    res.plane.table("services")[body["name"]] = _to_json(run_v2.Service, service)
    return body["name"], {"name": short, "uri": uri, "urls": [uri], "location": location}


def _scheduler_job(
    res: GcpResources, typ: str, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    from croniter import croniter
    from google.cloud import scheduler_v1

    body = plain(inputs)
    region, short, project, _ = _take(body, "region", "name", "project", "paused")
    _require(bool(SCHEDULER_JOB_ID.match(short or "")), typ, name, f"job name {short!r} is not a valid id")
    full = f"projects/{project or res.project}/locations/{region or res.region}/jobs/{short}"
    job = _message(scheduler_v1.Job, {**body, "name": full}, typ, name)
    _require(
        croniter.is_valid(job.schedule), typ, name, f"schedule {job.schedule!r} is not a cron expression"
    )
    try:
        zoneinfo.ZoneInfo(job.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ResourceRejected(typ, name, f"timeZone {job.time_zone!r} is not a tz database name") from None
    _require(bool(job.http_target.uri), typ, name, "httpTarget.uri is required")
    res.plane.table("scheduler_jobs")[full] = _to_json(scheduler_v1.Job, job)
    return full, {"name": short, "state": "ENABLED"}


def _secret(res: GcpResources, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from google.cloud import secretmanager_v1

    body = plain(inputs)
    secret_id, project = _take(body, "secretId", "project")
    _require(
        bool(SECRET_ID.match(secret_id or "")),
        typ,
        name,
        f"secretId {secret_id!r} must be 1-255 letters, digits, - or _",
    )
    replication = body.get("replication") or {}
    if "auto" in replication:  # Pulumi's name for the API's `automatic`
        replication["automatic"] = replication.pop("auto") or {}
    full = f"projects/{project or res.project}/secrets/{secret_id}"
    secret = _message(secretmanager_v1.Secret, {**body, "name": full}, typ, name)
    kept = res.plane.table("secrets").setdefault(full, {"versions": []})
    kept["secret"] = _to_json(secretmanager_v1.Secret, secret)
    return full, {"secretId": secret_id, "name": full}


def _secret_version(
    res: GcpResources, typ: str, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    body = plain(inputs)
    secret, data = body.get("secret", ""), body.get("secretData")
    kept = res.plane.table("secrets").get(secret)
    _require(kept is not None, typ, name, f"secret {secret!r} does not exist")
    _require(isinstance(data, str), typ, name, "secretData is required")
    encoded = base64.b64encode(str(data).encode()).decode()
    assert kept is not None
    if not kept["versions"] or kept["versions"][-1] != encoded:
        kept["versions"].append(encoded)
    version = f"{secret}/versions/{len(kept['versions'])}"
    return version, {"name": version, "version": str(len(kept["versions"]))}


# https://cloud.google.com/firestore/docs/manage-databases#database_id
FIRESTORE_DATABASE_ID = re.compile(r"^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$")
# https://cloud.google.com/filestore/docs/reference/rest/v1/projects.locations.instances/create
FILESTORE_ID = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
FILESTORE_SHARE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
FILESTORE_MIN_GB = {"BASIC_HDD": 1024, "BASIC_SSD": 2560, "STANDARD": 1024, "PREMIUM": 2560}
ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")


def _firestore_database(
    res: GcpResources, typ: str, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    from google.cloud.firestore_admin_v1 import types

    body = plain(inputs)
    short, project, _ = _take(body, "name", "project", "deletionPolicy")
    _require(bool(FIRESTORE_DATABASE_ID.match(short or "")), typ, name, f"database id {short!r} is not valid")
    full = f"projects/{project or res.project}/databases/{short}"
    message = _message(types.Database, {**body, "name": full}, typ, name)
    _require(
        message.type_ == types.Database.DatabaseType.FIRESTORE_NATIVE,
        typ,
        name,
        "type must be FIRESTORE_NATIVE",
    )
    _require(bool(message.location_id), typ, name, "locationId is required")
    res.plane.table("firestore_databases")[full] = _to_json(types.Database, message)
    return full, {"name": short, "uid": hashlib.sha256(full.encode()).hexdigest()[:16]}


def _firestore_field(
    res: GcpResources, typ: str, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    from google.cloud.firestore_admin_v1 import types

    body = plain(inputs)
    project, database, collection, fld, _ = _take(
        body, "project", "database", "collection", "field", "deletionPolicy"
    )
    db = f"projects/{project or res.project}/databases/{database or '(default)'}"
    _require(
        db in res.plane.table("firestore_databases"),
        typ,
        name,
        f"database {db} not found (pcompile bootstrap creates the stack's database)",
    )
    _require(
        bool(collection) and "/" not in collection, typ, name, f"collection group {collection!r} is not valid"
    )
    full = f"{db}/collectionGroups/{collection}/fields/{fld}"
    message = _message(types.Field, {**body, "name": full}, typ, name)
    res.plane.table("firestore_fields")[full] = _to_json(types.Field, message)
    return full, {"name": full}


def _filestore(res: GcpResources, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = plain(inputs)
    short, zone, tier = body.get("name") or "", body.get("location") or "", body.get("tier") or ""
    _require(bool(FILESTORE_ID.match(short)), typ, name, f"instance id {short!r} is not valid")
    _require(
        bool(ZONE.match(zone)) or not tier.startswith("BASIC"),
        typ,
        name,
        f"a {tier} instance needs a zone, not {zone!r}",
    )
    _require(tier in FILESTORE_MIN_GB, typ, name, f"tier {tier!r} is not one of {sorted(FILESTORE_MIN_GB)}")
    share = body.get("fileShares") or {}
    _require(
        bool(FILESTORE_SHARE.match(share.get("name") or "")),
        typ,
        name,
        f"file share name {share.get('name')!r} is not valid",
    )
    _require(
        int(share.get("capacityGb") or 0) >= FILESTORE_MIN_GB[tier],
        typ,
        name,
        f"a {tier} share holds at least {FILESTORE_MIN_GB[tier]} GB",
    )
    networks = body.get("networks") or []
    _require(
        len(networks) == 1 and bool(networks[0].get("network")), typ, name, "exactly one network is required"
    )
    full = f"projects/{body.get('project') or res.project}/locations/{zone}/instances/{short}"
    digest = hashlib.sha256(full.encode()).digest()
    address = f"10.{digest[0]}.{digest[1]}.2"  # stable: what a re-deploy sees again
    res.plane.table("filestore_instances")[full] = {"tier": tier, "share": share, "address": address}
    return full, {"networks": [{**networks[0], "ipAddresses": [address]}]}


HANDLERS: dict[str, Handler] = {
    "gcp:storage/bucket:Bucket": _bucket,
    "gcp:storage/bucketObject:BucketObject": _bucket_object,
    "gcp:storage/bucketIAMMember:BucketIAMMember": _member_binding,
    "gcp:serviceaccount/account:Account": _account,
    "gcp:serviceaccount/iAMMember:IAMMember": _member_binding,
    "gcp:projects/iAMMember:IAMMember": _member_binding,
    "gcp:artifactregistry/repository:Repository": _repository,
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": _member_binding,
    "gcp:cloudrunv2/service:Service": _service,
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": _member_binding,
    "gcp:cloudscheduler/job:Job": _scheduler_job,
    "gcp:secretmanager/secret:Secret": _secret,
    "gcp:secretmanager/secretVersion:SecretVersion": _secret_version,
    "gcp:secretmanager/secretIamMember:SecretIamMember": _member_binding,
    "gcp:firestore/database:Database": _firestore_database,
    "gcp:firestore/field:Field": _firestore_field,
    "gcp:filestore/instance:Instance": _filestore,
}


# ------------------------------------------------------------------ secret access


def secret_payload(plane: ControlPlane, project: str, ref: str, version: str | None = None) -> str:
    """The value of a secret reference as Cloud Run (``secret`` id + ``latest``) or Batch
    (``projects/p/secrets/s/versions/latest``) resolves it; KeyError names a missing one."""
    match = re.match(r"^projects/[^/]+/secrets/([^/]+)(?:/versions/(\w+))?$", ref)
    secret_id = match.group(1) if match else ref
    version = (match.group(2) if match else None) or version or "latest"
    kept = plane.table("secrets").get(f"projects/{project}/secrets/{secret_id}")
    if not kept or not kept["versions"]:
        raise KeyError(f"secret {secret_id!r} has no version in the simulated Secret Manager")
    index = len(kept["versions"]) if version == "latest" else int(version)
    return base64.b64decode(kept["versions"][index - 1]).decode()


class SimulatedSecrets:
    """``pcompile secret create/list --stack`` on a GCP simulate stack: the interface of
    :class:`pcompile.providers.cloud_stores.GcpSecrets`, kept in the control plane
    (Secret Manager has no emulator)."""

    def __init__(self, plane: ControlPlane, project: str) -> None:
        self.plane = plane
        self.project = project

    def create(self, name: str, values: dict[str, str], overwrite: bool = False) -> None:
        """Create the secret (if needed) and add a version holding the JSON of ``values``."""
        from pcompile.compiler.errors import UserError

        if not SECRET_ID.match(name):
            raise UserError(
                f"secret name {name!r} is not a Secret Manager id", fix="use letters, digits, - and _"
            )
        full = f"projects/{self.project}/secrets/{name}"
        secrets = self.plane.table("secrets")
        if full in secrets and not overwrite:
            raise UserError(f"secret {name!r} already exists", fix="pass --force to add a new version")
        kept = secrets.setdefault(
            full, {"versions": [], "secret": {"name": full, "replication": {"automatic": {}}}}
        )
        kept["versions"].append(base64.b64encode(json.dumps(values, sort_keys=True).encode()).decode())
        self.plane.save()

    def keys_by_name(self) -> dict[str, list[str]]:
        """Secret names and the key names of their latest version."""
        prefix = f"projects/{self.project}/secrets/"
        names = sorted(k.removeprefix(prefix) for k in self.plane.table("secrets") if k.startswith(prefix))
        return {n: sorted(json.loads(secret_payload(self.plane, self.project, n) or "{}")) for n in names}
