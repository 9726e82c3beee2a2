"""``pcompile synth``: compile a program and show what it would deploy, offline.

``--ir`` prints the IR. ``--cloud aws|gcp`` plans placements and runs the cloud's
Pulumi program under Pulumi's mock engine, printing a table or, with ``--json``,
``{"resources": [...], "placements": {...}}``; ``--out DIR`` also writes the Pulumi
project that ``pcompile deploy`` would run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from pcompile.compiler.errors import UserError


def _settings(cloud: str, region: str | None, stack: str | None, project: str | None) -> Any:
    from pcompile.providers.settings import StackSettings

    if stack:
        from pcompile.compiler.stacks import load_stack

        settings = load_stack(stack)
        if settings.cloud != cloud:
            raise UserError(
                f"stack {stack!r} is for cloud {settings.cloud!r}, not {cloud!r}",
                fix=f"pass --cloud {settings.cloud}",
            )
        import dataclasses

        return dataclasses.replace(
            settings, region=region or settings.region, project=project or settings.project
        )
    default_region = {"aws": "us-east-1", "gcp": "us-central1"}.get(cloud)
    return StackSettings(
        name="dev", cloud=cloud, region=region or default_region, project=project or "my-project"
    )


def _print_table(output: Any, app_name: str) -> None:
    console = Console(highlight=False)
    table = Table(title=f"{app_name}: {len(output.result.resources)} resources")
    for column in ("type", "name", "key properties"):
        table.add_column(column)
    for res in output.result.resources:
        if not res.custom:
            continue
        table.add_row(res.type, res.name, _key_properties(res.inputs))
    console.print(table)
    placements = Table(title="placements")
    for column in ("function", "target", "gpu", "instance types"):
        placements.add_column(column)
    for name, p in sorted(output.placements.items()):
        gpu = "" if p.gpu is None else f"{p.gpu.type}:{p.gpu.count}"
        placements.add_row(name, p.target, gpu, ", ".join(p.instance_types))
    console.print(placements)
    templates = output.extras.get("job_templates") or {}
    if templates:
        jobs = Table(title="GCP Batch job templates")
        for column in ("function", "machine type", "accelerators"):
            jobs.add_column(column)
        for name, job in sorted(templates.items()):
            for instance in job.get("allocationPolicy", {}).get("instances", []):
                policy = instance.get("policy", {})
                accelerators = ", ".join(f"{a['type']} x{a['count']}" for a in policy.get("accelerators", []))
                jobs.add_row(name, policy.get("machineType", ""), accelerators)
        console.print(jobs)


_KEYS = (
    "name",
    "scheduleExpression",
    "schedule",
    "instanceTypes",
    "computeResources",
    "machineType",
    "packageType",
    "authorizationType",
    "timeZone",
    "scheduleExpressionTimezone",
)


def _key_properties(inputs: dict[str, Any]) -> str:
    shown = {k: inputs[k] for k in _KEYS if k in inputs}
    template = inputs.get("template")
    if isinstance(template, dict) and template.get("nodeSelector"):
        shown["nodeSelector"] = template["nodeSelector"]
    text = json.dumps(shown, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def synth(
    file: str = typer.Argument(..., help="file.py, file.py::app_var, or a module with -m semantics"),
    ir_only: bool = typer.Option(False, "--ir", help="Print the IR JSON (no cloud)."),
    cloud: str | None = typer.Option(
        None, "--cloud", help="aws or gcp: synthesize that cloud's Pulumi program."
    ),
    region: str | None = typer.Option(None, "--region"),
    project: str | None = typer.Option(None, "--project", help="GCP project id."),
    stack: str | None = typer.Option(None, "--stack", help="Stack name (stacks/<name>.yaml)."),
    app_name: str | None = typer.Option(None, "--app", help="Which app, when the file defines several."),
    out: Path | None = typer.Option(None, "--out", help="Write the IR (--ir) or the Pulumi project here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Compile FILE and print its IR (--ir) or its cloud resources (--cloud), offline."""
    from pcompile.compiler import ir, load

    loaded = load(file)
    if ir_only or cloud is None:
        text = ir.dumps(loaded.program)
        if out:
            out.write_text(text)
            typer.echo(f"wrote {out}", err=True)
        else:
            sys.stdout.write(text)
        return
    if cloud not in ("aws", "gcp"):
        raise UserError(f"unknown cloud {cloud!r}", fix="use --cloud aws or --cloud gcp")
    settings = _settings(cloud, region, stack, project)
    from pcompile.providers.synth import synthesize

    outputs = {}
    for app in loaded.program.apps:
        if app_name and app.name != app_name:
            continue
        outputs[app.name] = synthesize(cloud, app, settings)
        for warning in outputs[app.name].extras.get("warnings", []):
            typer.echo(f"warning: {warning}", err=True)
        if out:
            from pcompile.compiler.emit import emit_project

            emit_project(
                loaded.program, app.name, settings, out / app.name if len(loaded.program.apps) > 1 else out
            )
    if as_json:
        data: Any = {name: o.to_json() for name, o in outputs.items()}
        if len(data) == 1:
            data = next(iter(data.values()))
        sys.stdout.write(json.dumps(data, sort_keys=True, indent=2) + "\n")
        return
    for name, output in outputs.items():
        _print_table(output, name)


def register(app: typer.Typer) -> None:
    """Add ``synth`` to the ``pcompile`` app."""
    app.command("synth")(synth)
