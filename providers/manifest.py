"""The deployment manifest: where every function of a deployed app lives.

Written at the end of ``pcompile deploy`` (an SSM parameter or S3 object on AWS, a
GCS object on GCP, a file under ``.pcompile/`` locally) and read by the SDK's
``Function.from_name`` to pick an invoker. JSON, sorted keys, no timestamps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class FunctionAddress:
    """How to reach one function: its placement target and cloud-specific addresses
    (``function_arn``, ``function_url``, ``job_queue``, ``job_definition``,
    ``service_url``, ``job_template`` ...)."""

    target: str
    addresses: dict[str, str] = field(default_factory=dict)
    web_url: str | None = None


@dataclass(frozen=True)
class Manifest:
    """One deployed app on one stack."""

    app: str
    stack: str
    cloud: str
    region: str | None
    functions: dict[str, FunctionAddress]
    staging: dict[str, str] = field(default_factory=dict)
    image_tags: dict[str, str] = field(default_factory=dict)
    code_bundle: str | None = None
    ir_sha256: str | None = None
    version: int = MANIFEST_VERSION

    def dumps(self) -> str:
        """Canonical JSON text."""
        data: dict[str, Any] = {
            "app": self.app,
            "stack": self.stack,
            "cloud": self.cloud,
            "region": self.region,
            "functions": {
                name: {
                    "target": f.target,
                    "addresses": dict(sorted(f.addresses.items())),
                    "web_url": f.web_url,
                }
                for name, f in sorted(self.functions.items())
            },
            "staging": dict(sorted(self.staging.items())),
            "image_tags": dict(sorted(self.image_tags.items())),
            "code_bundle": self.code_bundle,
            "ir_sha256": self.ir_sha256,
            "version": self.version,
        }
        return json.dumps(data, sort_keys=True, indent=2) + "\n"

    @classmethod
    def loads(cls, text: str) -> Manifest:
        """Read a manifest written by :meth:`dumps`."""
        data = json.loads(text)
        if data.get("version", 0) > MANIFEST_VERSION:
            raise ValueError(
                f"manifest version {data.get('version')} is newer than this pcompile; upgrade pcompile"
            )
        functions = {name: FunctionAddress(**f) for name, f in data["functions"].items()}
        return cls(**{**data, "functions": functions})
