"""The AWS container runtime: the shared :class:`~.container.ContainerRuntime` read from
AWS's environment contract, and the tasks of a staged call.

* the environment contract of :mod:`.aws_env` (staging bucket URL, volumes as
  ``s3://`` URLs, ``PCOMPILE_SPEC``);
* secrets fetched from Secrets Manager at start and exported to the environment
  (the rule of :mod:`.secret_values`, shared with GCP);
* tasks of a staged call (:mod:`.aws_calls`): read the chunk, run this task's part,
  write ``task-<i>.out`` under the function's own results prefix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol

from . import aws_env, protocol, staging
from .aws_calls import Layout
from .container import ContainerRuntime
from .secret_values import secret_values
from .storage import Storage, open_storage


def region(environ: Mapping[str, str]) -> str | None:
    """The region the container runs in (``AWS_REGION``, else ``AWS_DEFAULT_REGION``)."""
    return environ.get(aws_env.REGION) or environ.get(aws_env.DEFAULT_REGION) or None


class SecretSource(Protocol):
    """Reads one secret's string by id (name or ARN)."""

    def get(self, secret_id: str) -> str: ...


class SecretsManager:
    """Secrets Manager through boto3 (imported lazily), honouring the endpoint override."""

    def __init__(self, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client(
                "secretsmanager",
                region_name=region(os.environ),
                endpoint_url=os.environ.get(aws_env.ENDPOINT_URL) or None,
            )
        self.client = client

    def get(self, secret_id: str) -> str:
        """The secret's current string value."""
        return str(self.client.get_secret_value(SecretId=secret_id)["SecretString"])


def export_secrets(environ: MutableMapping[str, str], source: SecretSource) -> list[str]:
    """Export every secret named in ``PCOMPILE_SECRETS``; returns the exported key names."""
    exported: list[str] = []
    for name, secret_id in sorted(json.loads(environ.get(aws_env.SECRETS) or "{}").items()):
        for key, value in secret_values(name, source.get(secret_id)).items():
            environ[key] = value
            exported.append(key)
    return exported


class AwsRuntime(ContainerRuntime):
    """One Lambda or Batch container, configured by :mod:`.aws_env`."""

    def __init__(
        self, environ: Mapping[str, str], storage: Storage | None = None, secrets: SecretSource | None = None
    ) -> None:
        super().__init__(
            json.loads(environ[aws_env.SPEC]),
            storage if storage is not None else open_storage(environ[aws_env.STAGING_URL]),
            json.loads(environ.get(aws_env.VOLUMES) or "{}"),
        )
        self.secret_source = secrets

    def export_secrets(self) -> None:
        """Secrets named in ``PCOMPILE_SECRETS``, read from Secrets Manager (or the given source)."""
        if os.environ.get(aws_env.SECRETS, "{}") not in ("", "{}"):
            export_secrets(os.environ, self.secret_source or SecretsManager())

    def run_task(self, layout: Layout, task: int) -> list[dict[str, Any]]:
        """Run task ``task`` of a staged call and store its results; returns them."""
        if layout.function != self.spec["name"]:
            raise ValueError(
                f"this container serves {self.spec['name']!r}, not a call of {layout.function!r}"
            )
        chunk = task // layout.split
        request = protocol.load_envelope(self.storage.get(layout.chunk_key(chunk)))
        inputs = staging.unpack(request["inputs"], self.storage)
        chunk_start, _ = layout.chunk_range(chunk)
        start, end = layout.task_range(task)
        mine = inputs[start - chunk_start : end - chunk_start]
        # Inline: the part never leaves this process, and the inputs prefix is not ours to write.
        part = {**request, "inputs": staging.pack(mine), "first": start, "call": None}
        results = self.handle(part)
        self.storage.put(layout.out_key(task), protocol.dump_envelope({"first": start, "results": results}))
        return results


def job_layout(value: str) -> Layout:
    """The layout in ``PCOMPILE_JOB`` (``<function>/<id>?n=..&k=..&m=..``)."""
    _, layout, _ = Layout.from_id(f"aws:-/{value}")
    return layout
