"""Stack files: ``stacks/<name>.yaml`` validated into :class:`StackSettings`.

A stack is everything about a deployment target that is not in the user's code:
cloud, region, state backend, builder, per-function overrides. The schema lives
here as data (:data:`SCHEMA`); ``stacks/schema.json`` is the same schema written out
for editors and CI, and a test keeps the two identical. Every mistake is a
:class:`UserError` naming the file, the key and the fix (with "did you mean" for
misspelt keys). This module reads YAML only; it never imports ``pulumi``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pcompile.compiler.errors import UserError
from pcompile.providers import registry
from pcompile.providers.settings import ENGINES, FunctionOverride, NetworkSettings, StackSettings, WebSettings

CLOUDS = registry.clouds()
DEFAULT_STATE_BACKEND = "file://.pcompile/state"
STACKS_DIR = "stacks"

_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://pcompile.dev/schemas/stack.json",
    "title": "pcompile stack file (stacks/<name>.yaml)",
    "type": "object",
    "required": ["cloud"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": _NAME, "description": "Stack name; defaults to the file name."},
        "cloud": {"enum": list(CLOUDS), "description": "Where the app is deployed."},
        "region": {
            "type": "string",
            "description": "AWS region or GCP region (e.g. us-east-1, us-central1).",
        },
        "project": {"type": "string", "description": "GCP project id (required when cloud is gcp)."},
        "state_backend": {
            "type": "string",
            "pattern": r"^(file://|s3://|gs://|azblob://|https://)",
            "description": "Pulumi state backend URL; default file://.pcompile/state (no account needed).",
        },
        "secrets_provider": {
            "type": "string",
            "pattern": r"^(passphrase|awskms://|gcpkms://|azurekeyvault://|hashivault://)",
            "description": "How Pulumi encrypts secret config: passphrase (default), awskms://..., gcpkms://...",
        },
        "builder": {
            "type": "string",
            "pattern": r"^[a-z][a-z0-9_-]*$",
            "description": "Image builder: docker, podman, buildah, cloudbuild, codebuild ...",
        },
        "builder_flags": {**_STRINGS, "description": "Extra flags passed to the builder's build command."},
        "run_flags": {**_STRINGS, "description": "Extra flags passed when running images locally."},
        "base_image_mirror": {"type": "string", "description": "Registry prefix replacing Docker Hub."},
        "registry": {"type": "string", "description": "Image registry; default: one created by the app."},
        "bake_code": {"type": "boolean", "description": "Copy the code bundle into images."},
        "endpoint_url": {
            "type": "string",
            "pattern": r"^https?://[^/?#\s]+/?$",
            "description": "An API emulator, e.g. http://127.0.0.1:5000: on aws a moto server or LocalStack "
            "(the program's AWS provider and every boto3 client pcompile makes use it); on gcp a "
            "gcp-storage-emulator (Cloud Storage; the other GCP APIs are simulated).",
        },
        "engine": {
            "enum": list(ENGINES),
            "description": "pulumi (default): `pulumi up`; simulate: run the program under Pulumi's mock "
            "engine and create every resource in the emulator at endpoint_url (one-machine tests).",
        },
        "network": {
            "type": "object",
            "additionalProperties": False,
            "description": "Where Batch compute runs; empty means a small VPC is created.",
            "properties": {
                "vpc_id": {"type": "string"},
                "subnet_ids": _STRINGS,
                "security_group_ids": _STRINGS,
            },
        },
        "web": {
            "type": "object",
            "additionalProperties": False,
            "description": "AWS web services: domain (a Route53 hosted zone) and certificate_arn (ACM, "
            "covering *.domain) give each service https://<app>-<label>.<domain> on an ALB HTTPS listener; "
            "empty means a CloudFront URL.",
            "properties": {"domain": {"type": "string"}, "certificate_arn": {"type": "string"}},
        },
        "overrides": {
            "type": "object",
            "description": "Per-function overrides, keyed by function name (Cls.method for methods).",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "placement": {
                        "enum": ["lambda", "batch", "ecs", "cloudrun", "gcpbatch", "local"],
                        "description": "Force where the function runs.",
                    },
                    "instance_types": _STRINGS,
                },
            },
        },
        "labels": {**_STRING_MAP, "description": "Tags (AWS) or labels (GCP) put on every resource."},
        "extra": {"type": "object", "description": "Provider-specific settings, passed through unchecked."},
    },
}


def schema_json() -> str:
    """The schema as ``stacks/schema.json`` holds it: sorted keys, final newline."""
    return json.dumps(SCHEMA, indent=2, sort_keys=True) + "\n"


def find_stack_file(name_or_path: str | Path, root: Path | None = None) -> Path:
    """``stacks/<name>.yaml`` under ``root`` (default: cwd), or an explicit path to a YAML file."""
    root = Path.cwd() if root is None else root
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text) if Path(text).is_absolute() else root / text
        if path.is_file():
            return path
        raise UserError(f"stack file {path} does not exist", fix="check the path, or pass a stack name")
    for suffix in (".yaml", ".yml"):
        path = root / STACKS_DIR / f"{text}{suffix}"
        if path.is_file():
            return path
    known = available_stacks(root)
    hint = _did_you_mean(text, known)
    raise UserError(
        f"no stack {text!r}: {root / STACKS_DIR / (text + '.yaml')} does not exist"
        + (f" (known stacks: {', '.join(known)})" if known else ""),
        fix=f"use --stack {hint}"
        if hint
        else f"create {STACKS_DIR}/{text}.yaml (`pcompile init` writes one)",
    )


def available_stacks(root: Path) -> list[str]:
    """Names of the stack files under ``root/stacks``, sorted."""
    folder = root / STACKS_DIR
    if not folder.is_dir():
        return []
    return sorted({p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".yml")})


def load_stack(name_or_path: str | Path, root: Path | None = None) -> StackSettings:
    """Read and validate a stack file into :class:`StackSettings`.

    ``name_or_path`` is a stack name (looked up as ``<root>/stacks/<name>.yaml``) or a
    path to a YAML file. Raises :class:`UserError` naming file, key and fix.
    """
    path = find_stack_file(name_or_path, root)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}", fix="fix the YAML syntax") from None
    return parse_stack(data, path)


def parse_stack(data: Any, path: Path) -> StackSettings:
    """Validate already-parsed YAML ``data`` from ``path`` and build the settings."""
    if data is None:
        data = {}
    errors = validate(data, SCHEMA, "")
    if errors:
        raise UserError(f"{path}: " + "; ".join(errors), fix=_first_fix(errors))
    _check_semantics(data, path)
    return _settings(data, path)


def _first_fix(errors: list[str]) -> str:
    for err in errors:
        if "did you mean" in err:
            return "rename the key as suggested"
    return f"compare the file with the schema in {STACKS_DIR}/schema.json or the examples in {STACKS_DIR}/"


def _check_semantics(data: dict[str, Any], path: Path) -> None:
    """Rules a JSON Schema cannot say clearly: the cloud's own keys, then the file name."""
    registry.get(data["cloud"]).check_stack(data, path)
    name = data.get("name")
    if name is not None and name != path.stem:
        raise UserError(
            f"{path}: key 'name' is {name!r} but the file is named {path.name!r}",
            fix=f"rename the file to {name}.yaml or set `name: {path.stem}`",
        )
    if not re.match(_NAME, path.stem) and name is None:
        raise UserError(
            f"{path}: stack name {path.stem!r} must be lower-case letters, digits and dashes",
            fix="rename the file, e.g. stacks/dev.yaml",
        )


def require_key(data: Mapping[str, Any], path: Path, key: str, fix: str) -> None:
    """A provider's required stack key: a UserError naming the file, the key and the cloud."""
    if not data.get(key):
        raise UserError(f"{path}: key {key!r} is required when cloud is {data['cloud']}", fix=fix)


def require_endpoint_for_simulate(data: Mapping[str, Any], path: Path, emulator: str) -> None:
    """``engine: simulate`` runs against the cloud's API emulator, so it needs ``endpoint_url``."""
    if data.get("engine") == "simulate" and not data.get("endpoint_url"):
        raise UserError(
            f"{path}: key 'endpoint_url' is required when engine is simulate",
            fix=f"add e.g. `endpoint_url: http://127.0.0.1:5000` ({emulator})",
        )


def _settings(data: dict[str, Any], path: Path) -> StackSettings:
    network = data.get("network") or {}
    web = data.get("web") or {}
    overrides = {
        fn: FunctionOverride(placement=o.get("placement"), instance_types=tuple(o.get("instance_types", ())))
        for fn, o in sorted((data.get("overrides") or {}).items())
    }
    return StackSettings(
        name=data.get("name") or path.stem,
        cloud=data["cloud"],
        region=data.get("region"),
        project=data.get("project"),
        state_backend=data.get("state_backend") or DEFAULT_STATE_BACKEND,
        secrets_provider=data.get("secrets_provider") or "passphrase",
        builder=data.get("builder") or "docker",
        builder_flags=tuple(data.get("builder_flags", ())),
        run_flags=tuple(data.get("run_flags", ())),
        base_image_mirror=data.get("base_image_mirror"),
        registry=data.get("registry"),
        bake_code=bool(data.get("bake_code", False)),
        endpoint_url=str(data["endpoint_url"]).rstrip("/") if data.get("endpoint_url") else None,
        engine=data.get("engine") or "pulumi",
        network=NetworkSettings(
            vpc_id=network.get("vpc_id"),
            subnet_ids=tuple(network.get("subnet_ids", ())),
            security_group_ids=tuple(network.get("security_group_ids", ())),
        ),
        web=WebSettings(domain=web.get("domain"), certificate_arn=web.get("certificate_arn")),
        overrides=overrides,
        labels=dict(sorted((data.get("labels") or {}).items())),
        extra=dict(data.get("extra") or {}),
    )


# ------------------------------------------------------------------ validation

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "integer": (int,),
    "number": (int, float),
}


def validate(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """Check ``value`` against the subset of JSON Schema that :data:`SCHEMA` uses.

    Returns messages like ``key 'overrides.train.placement': 'bach' is not one of ...``.
    A tiny validator rather than a dependency: it lets messages say "did you mean".
    """
    label = f"key {where!r}" if where else "the file"
    if "enum" in schema and value not in schema["enum"]:
        hint = _did_you_mean(str(value), [str(v) for v in schema["enum"]])
        return [f"{label}: {value!r} is not one of {', '.join(map(str, schema['enum']))}" + _hint(hint)]
    expected = schema.get("type")
    if expected and not _is_type(value, expected):
        return [f"{label}: expected {_article(expected)}, got {_json_type(value)} {value!r}"]
    if "pattern" in schema and isinstance(value, str) and not re.match(schema["pattern"], value):
        return [f"{label}: {value!r} does not match {schema['pattern']}"]
    if isinstance(value, list) and "items" in schema:
        return [e for i, item in enumerate(value) for e in validate(item, schema["items"], f"{where}[{i}]")]
    if isinstance(value, dict):
        return _validate_object(value, schema, where)
    return []


def _validate_object(value: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    errors: list[str] = []
    props: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key in schema.get("required", ()):
        if key not in value:
            errors.append(f"key {_join(where, key)!r} is required")
    for key, item in value.items():
        if key in props:
            errors += validate(item, props[key], _join(where, key))
        elif extra is False:
            hint = _did_you_mean(str(key), list(props))
            errors.append(f"unknown key {_join(where, str(key))!r}" + _hint(hint))
        elif isinstance(extra, dict):
            errors += validate(item, extra, _join(where, str(key)))
    return errors


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _is_type(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[expected])


def _json_type(value: Any) -> str:
    for name in _TYPES:
        if _is_type(value, name):
            return name
    return "null" if value is None else type(value).__name__


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _did_you_mean(word: str, options: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _hint(suggestion: str | None) -> str:
    return f" (did you mean {suggestion!r}?)" if suggestion else ""
