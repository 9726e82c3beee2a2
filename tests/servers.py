"""Loopback servers the test areas start and stop themselves (moto, registries ...).

Shared by every test folder (``pythonpath = ["tests"]`` in pytest's settings), so each
area does not carry its own copy of port picking, readiness polling and shutdown.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop ``proc`` (started by :func:`popen_group`) and every process of its group.

    SIGTERM to the group, then SIGKILL to whatever is left: signalling the group, not the
    PID, reaches the server's children too, also when pytest runs in the background and
    SIGINT is ignored (ENVIRONMENT.md).
    """
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc.pid, signal.SIGKILL)  # a hung leader, and children that outlived it
    proc.wait()


def popen_group(argv: list[str], **kwargs: object) -> subprocess.Popen:
    """Start ``argv`` in its own process group (stop it with :func:`stop_group`)."""
    return subprocess.Popen(argv, start_new_session=True, **kwargs)  # type: ignore[call-overload]


@contextlib.contextmanager
def serving(
    argv: list[str], ready_url: str, timeout: float = 20.0, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run a server in its own process group until the block ends, once ``ready_url`` answers;
    the whole group is stopped, so no child outlives the test."""
    proc = popen_group(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(ready_url, timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[0]} did not answer at {ready_url}") from None
                time.sleep(0.05)
        yield
    finally:
        stop_group(proc)


@contextlib.contextmanager
def moto_server(*, no_docker: bool = False, managed_policies: bool = False) -> Iterator[str]:
    """moto's server on a free loopback port; yields its URL. ``no_docker`` makes Batch and
    Lambda control-plane calls succeed without running anything (ENVIRONMENT.md);
    ``managed_policies`` loads AWS's managed IAM policies (which roles attach by ARN)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"} if managed_policies else {}
    with serving(argv, f"{url}/moto-api/", env=env):
        if no_docker:
            config = json.dumps({"batch": {"use_docker": False}, "lambda": {"use_docker": False}}).encode()
            request = urllib.request.Request(f"{url}/moto-api/config", data=config, method="POST")
            urllib.request.urlopen(request, timeout=10)
        yield url


def firestore_emulator_launcher() -> str | None:
    """Google's Firestore emulator from an installed Google Cloud SDK (it needs Java), if any."""
    import shutil

    gcloud = shutil.which("gcloud")
    roots = [Path(os.path.realpath(gcloud)).parent.parent] if gcloud else []
    roots.append(Path("/usr/lib/google-cloud-sdk"))
    for root in roots:
        launcher = root / "platform" / "cloud-firestore-emulator" / "cloud_firestore_emulator"
        if launcher.exists() and shutil.which("java"):
            return str(launcher)
    return None


@contextlib.contextmanager
def firestore_emulator(project: str) -> Iterator[str]:
    """The Firestore emulator on a free loopback port in its own process group; yields host:port."""
    launcher = firestore_emulator_launcher()
    assert launcher is not None
    port = free_port()
    argv = [launcher, "--host", "127.0.0.1", "--port", str(port), "--project_id", project]
    with serving(argv, f"http://127.0.0.1:{port}/", timeout=90):
        yield f"127.0.0.1:{port}"


@dataclass(frozen=True)
class AccessKey:
    """An IAM user's access key in the emulator."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def of(cls, keys: dict[str, str]) -> AccessKey:
        """From ``{aws_access_key_id, aws_secret_access_key}``."""
        return cls(keys["aws_access_key_id"], keys["aws_secret_access_key"])

    def env(self) -> dict[str, str]:
        """The variables boto3 reads it from."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}

    def session_args(self) -> dict[str, str]:
        """Keyword arguments of ``boto3.session.Session``."""
        return {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}


@dataclass(frozen=True)
class IamMoto:
    """An IAM-enforcing moto server and the identities it made before enforcement began.

    ``admin`` is the test's own view (allowed everything, used only to inspect); ``deployer``
    holds exactly the deploy policy; ``env`` is what a user's shell holds: the deployer's keys
    and ``PCOMPILE_SIMULATE_SERVICE_CREDENTIALS`` (the keys of the users that play AWS
    services, for the simulated compute).
    """

    url: str
    admin: AccessKey
    deployer: AccessKey
    identities: Path
    audit_log: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def iam_moto_server(
    deploy_policy: Path | tuple[Path, ...], folder: Path, *, audit: bool = False
) -> Iterator[IamMoto]:
    """moto through ``pcompile.providers.simulate.iam_emulator``, IAM enforced once its
    identities exist (``folder/identities.json``); the deployer holds ``deploy_policy``
    (one file, or several: the core policy and the web services'). ``audit`` logs every authorization
    decision to ``folder/iam-audit.jsonl``. Batch and Lambda run no Docker; AWS's managed
    policies load."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder.mkdir(parents=True, exist_ok=True)
    identities = folder / "identities.json"
    audit_log = folder / "iam-audit.jsonl" if audit else None
    argv = [
        *(sys.executable, "-m", "pcompile.providers.simulate.iam_emulator", "-H", "127.0.0.1"),
        *("-p", str(port), "--identities", str(identities)),
        *(
            a
            for p in (deploy_policy if isinstance(deploy_policy, tuple) else (deploy_policy,))
            for a in ("--deploy-policy", str(p))
        ),
    ]
    env = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    if audit_log is not None:
        env["PCOMPILE_IAM_AUDIT_LOG"] = str(audit_log)
    with serving(argv, f"{url}/moto-api/", env=env):
        deadline = time.monotonic() + 20
        while not identities.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the IAM emulator wrote no {identities}")
            time.sleep(0.05)
        config = json.dumps({"batch": {"use_docker": False}, "lambda": {"use_docker": False}}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/config", data=config, method="POST"))
        made: dict[str, Any] = json.loads(identities.read_text())
        deployer = AccessKey.of(made["deployer"])
        env_out = {**deployer.env(), "PCOMPILE_SIMULATE_SERVICE_CREDENTIALS": str(identities)}
        yield IamMoto(url, AccessKey.of(made["admin"]), deployer, identities, audit_log, env_out)
