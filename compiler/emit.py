"""Write the Pulumi project ``pcompile deploy`` runs: one folder per app and stack.

The folder holds ``Pulumi.yaml``, ``Pulumi.<stack>.yaml`` (plain config only: secret
values are set as secret config by the deploy, never written here), ``__main__.py``
rendered from a jinja2 template, ``ir.json`` (the app's IR), ``stack.json`` (the
stack settings), ``deploy.json`` (the typed deploy inputs) and ``requirements.txt``.
Output is byte-identical across runs.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

from pcompile.compiler import ir
from pcompile.compiler.errors import UserError
from pcompile.providers import registry
from pcompile.providers.settings import DeployInputs, StackSettings

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("pcompile.compiler", "templates"),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,
)


def project_name(app_name: str) -> str:
    """The Pulumi project name of an app."""
    return f"pcompile-{app_name}"


def _requirements(provider: registry.Provider) -> str:
    pins = [f"pcompile=={importlib.metadata.version('pcompile')}"]
    for package in provider.requirements():
        pins.append(f"{package}=={importlib.metadata.version(package)}")
    return "\n".join(sorted(pins)) + "\n"


def _stack_config(provider: registry.Provider, settings: StackSettings) -> dict[str, Any]:
    config = provider.pulumi_config(settings)
    return {"config": config} if config else {}


def _yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False)


def emit_project(
    program: ir.Program,
    app: str | ir.AppSpec,
    settings: StackSettings,
    out_dir: Path,
    *,
    image_refs: dict[str, str] | None = None,
    bundle_url: str | None = None,
) -> Path:
    """Write the Pulumi project of ``app`` for ``settings`` into ``out_dir``; returns it.

    ``image_refs`` (image id → pushed reference) and ``bundle_url`` (the uploaded code
    bundle) reach the program as its typed :class:`DeployInputs`, in ``deploy.json``.
    """
    app_spec = program.app(app if isinstance(app, str) else app.name)
    provider = registry.get(settings.cloud)
    if not provider.remote:
        raise UserError(
            f"stack {settings.name!r} has cloud {settings.cloud!r}, which has no Pulumi program",
            fix="use a stack with " + " or ".join(f"cloud: {c}" for c in registry.remote_clouds()),
        )
    inputs = DeployInputs(image_refs=dict(sorted((image_refs or {}).items())), bundle_url=bundle_url)
    single = ir.Program(
        (app_spec,), program.python_version, program.cloudpickle_version, program.schema_version
    )
    files = {
        "Pulumi.yaml": _yaml(
            {
                "name": project_name(app_spec.name),
                "runtime": {"name": "python", "options": {"toolchain": "pip"}},
                "description": f"pcompile app {app_spec.name}",
            }
        ),
        f"Pulumi.{settings.name}.yaml": _yaml(_stack_config(provider, settings)),
        "__main__.py": _TEMPLATES.get_template("__main__.py.j2").render(
            app_name=app_spec.name,
            stack=settings.name,
            cloud=settings.cloud,
            version=importlib.metadata.version("pcompile"),
        ),
        "ir.json": ir.dumps(single),
        "stack.json": json.dumps(settings.to_json(), sort_keys=True, indent=2) + "\n",
        "deploy.json": json.dumps(inputs.to_json(), sort_keys=True, indent=2) + "\n",
        "requirements.txt": _requirements(provider),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out_dir / name).write_text(text)
    return out_dir
