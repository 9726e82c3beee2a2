"""A temp project shaped like ``examples/gpu_mix.py``, and the ``pcompile`` CLI run on it.

Every command runs in a fresh ``python -m pcompile.cli`` process in the project
folder, as a user would run it; boto3 in the test reads the emulator directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import IamMoto

# Identities of each IAM-enforcing emulator a test module started, by URL.
_EMULATORS: dict[str, IamMoto] = {}


def register(emulator: IamMoto) -> None:
    """Make :class:`Project` and :func:`aws` use ``emulator``'s identities at its URL."""
    _EMULATORS[emulator.url] = emulator


def identity_env(endpoint_url: str) -> dict[str, str]:
    """What a user's process gets at ``endpoint_url``: the deployer's keys and the keys of the
    simulated services (empty for an emulator that checks nothing)."""
    emulator = _EMULATORS.get(endpoint_url)
    return dict(emulator.env) if emulator else {}


# What the deployer holds in the simulate tier: the published deploy policies (docs/deploy.md).
POLICIES = Path(__file__).resolve().parents[2] / "docs" / "policies"
DEPLOY_POLICIES = (POLICIES / "aws-deploy-policy.json", POLICIES / "aws-deploy-policy-web.json")

APP = """\
import modal

app = modal.App("e2e-mix")
image = modal.Image.debian_slim(python_version="3.11")
weights = modal.Volume.from_name("weights", create_if_missing=True)
token = modal.Secret.from_dict({"E2E_TOKEN": "tok-123"})


@app.function(image=image, secrets=[token], volumes={"/weights": weights})
def hello(name: str) -> str:
    return "hello " + name


@app.function(image=image, gpu="T4")
def gpu_double(x: int) -> int:
    return 2 * x


@app.function(image=image, schedule=modal.Period(hours=5), volumes={"/weights": weights})
def tick() -> int:
    with open("/weights/tick.txt", "w") as fh:
        fh.write("ticked")
    weights.commit()
    return 1


@app.function(image=image)
def square(x: int) -> int:
    return x * x


@app.function(image=image, volumes={"/weights": weights})
def write_weights(text: str) -> int:
    with open("/weights/w.txt", "w") as fh:
        fh.write(text)
    weights.commit()
    return len(text)


@app.function(image=image, volumes={"/weights": weights})
def read_weights() -> str:
    weights.reload()
    with open("/weights/w.txt") as fh:
        return fh.read()


@app.function(image=image, secrets=[token])
def secret_value() -> str:
    import os

    return os.environ["E2E_TOKEN"]


@app.function(image=image)
@modal.fastapi_endpoint(method="POST")
def echo(item: dict) -> dict:
    return {"echo": item}


@app.cls(image=image, min_containers=1)
class Model:
    @modal.method()
    def generate(self, x: int) -> int:
        return x * 2
"""

STACK = """\
cloud: aws
region: us-east-1
engine: simulate
endpoint_url: {url}
"""


@dataclass
class Run:
    """One CLI run: exit code and output."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as JSON."""
        return json.loads(self.stdout)


class Project:
    """The app and a simulate stack ``sim`` pointing at ``endpoint_url``."""

    def __init__(self, root: Path, endpoint_url: str, stack_extra: str = "", app: str = APP) -> None:
        self.root = root
        self.env = identity_env(endpoint_url)  # the deployer, as a user's shell would hold it
        (root / "stacks").mkdir(parents=True, exist_ok=True)
        (root / "app.py").write_text(app)
        (root / "stacks" / "sim.yaml").write_text(STACK.format(url=endpoint_url) + stack_extra)

    def pcompile(self, *args: str, timeout: float = 600, env_extra: dict[str, str] | None = None) -> Run:
        """``pcompile ARGS`` in the project folder, in its own process."""
        env = {**self._user_env(), **(env_extra or {}), "CI": "true"}
        return self._run([sys.executable, "-m", "pcompile.cli", *args], env, timeout)

    def python(self, code: str, timeout: float = 600) -> Run:
        """``python -c CODE`` in the project folder, as the user's own script would run."""
        return self._run([sys.executable, "-c", code], self._user_env(), timeout)

    def _user_env(self) -> dict[str, str]:
        # the deployer's identity only: no AWS_* of the machine running the tests
        return {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **self.env}

    def _run(self, argv: list[str], env: dict[str, str], timeout: float) -> Run:
        done = subprocess.run(argv, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout)
        return Run(done.returncode, done.stdout, done.stderr)

    @contextlib.contextmanager
    def compute_stopped(self) -> Iterator[None]:
        """Stop the stack's simulated compute service (its whole process group) at the end."""
        from pcompile.providers.simulate.compute import stop_service

        try:
            yield
        finally:
            stop_service(self.root, "sim")

    def state(self) -> dict[str, Any]:
        """The simulated state of the app's project."""
        path = self.root / ".pcompile" / "simulate" / "sim" / "pcompile-e2e-mix.json"
        return dict(json.loads(path.read_text()))

    def state_of(self, type_token: str) -> list[dict[str, Any]]:
        """State entries of one type."""
        return [e for e in self.state()["resources"].values() if e["type"] == type_token]


def aws(endpoint_url: str, service: str) -> Any:
    """A boto3 client of ``service`` at the emulator, as its admin (the test's own view)."""
    import boto3

    emulator = _EMULATORS.get(endpoint_url)
    keys = (
        emulator.admin.session_args()
        if emulator
        else {"aws_access_key_id": "t", "aws_secret_access_key": "t"}
    )
    return boto3.session.Session(**keys).client(service, region_name="us-east-1", endpoint_url=endpoint_url)
