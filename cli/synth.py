"""``pcompile synth``: compile a program and show what it would deploy, offline.

``--ir`` prints the IR. ``--cloud aws|gcp`` plans placements and runs the cloud's
Pulumi program under Pulumi's mock engine, printing a table or, with ``--json``,
``{"resources": [...], "placements": {...}}``; every placement has the same keys on
every cloud (``compiler.placement.JSON_KEYS``: ``target``, ``reason``, ``gpu``,
``timeout_s``, ``cpu``, ``memory_mib``, ``instance_types``, and the target's own fields
under ``details``). ``--out DIR`` also writes the Pulumi project that ``pcompile
deploy`` would run.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from pcompile.compiler.errors import UserError


def _regions(cloud: str) -> Any:
    from pcompile.providers import registry

    return registry.get_remote(cloud).regions()


def check_region(cloud: str, region: str | None, where: str = "--region") -> None:
    """Refuse a region name the cloud does not have, suggesting the closest real ones."""
    import difflib

    table = _regions(cloud)
    if region is None or region in table.REGIONS:
        return
    close = difflib.get_close_matches(region, table.REGIONS, n=3, cutoff=0.8)
    suggestion = f"did you mean {' or '.join(close)}? " if close else ""
    raise UserError(
        f"{where} {region!r} is not a region of {cloud}",
        fix=f"{suggestion}use a region of {cloud} such as {close[0] if close else table.DEFAULT} "
        f"(all of them: {table.SOURCE.split()[0]})",
    )


def _settings(cloud: str, region: str | None, stack: str | None, project: str | None) -> Any:
    settings = _stack_or_default(cloud, region, stack, project)
    check_region(cloud, settings.region, "--region" if region else f"stack {stack!r}: region")
    if _has_projects(cloud) and not (project or (stack and settings.project)):
        print(
            f"note: no GCP project given; synthesizing for the placeholder {settings.project!r} "
            "(pass --project ID, or set `project:` in the stack file)",
            file=sys.stderr,
        )
    return settings


def _has_projects(cloud: str) -> bool:
    """Whether the cloud's stacks name a project (``pcompile init`` asks for one)."""
    from pcompile.providers import registry

    return "project" in registry.get_remote(cloud).init_defaults()


def _stack_or_default(cloud: str, region: str | None, stack: str | None, project: str | None) -> Any:
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
    return StackSettings(
        name="dev", cloud=cloud, region=region or _regions(cloud).DEFAULT, project=project or "my-project"
    )


PIPED_WIDTH = 160


def _console() -> Console:
    """The terminal's full width on a terminal; 160 columns when piped (not rich's 80)."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else PIPED_WIDTH)


def _table(title: str, columns: tuple[str, ...], whole: dict[str, int] | None = None) -> Table:
    """Long cells fold onto more lines instead of being cut; ``whole`` columns keep
    cells up to that many characters on one line (names stay searchable)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold", min_width=min((whole or {}).get(column, 0), 72) or None)
    return table


def _print_table(output: Any, app_name: str) -> None:
    console = _console()
    names = [len(r.name) for r in output.result.resources if r.custom]
    title = f"{app_name}: {len(output.result.resources)} resources"
    table = _table(title, ("type", "name", "key properties"), {"name": max(names, default=0)})
    for res in output.result.resources:
        if not res.custom:
            continue
        table.add_row(res.type, res.name, _key_properties(res.inputs))
    console.print(table)
    columns = ("function", "target", "gpu", "cpu", "memory MiB", "timeout s", "instance types", "reason")
    placements = _table("placements", columns)
    for name, p in sorted(output.placements.items()):
        gpu = "" if p.gpu is None else f"{p.gpu.type}:{p.gpu.count}"
        sizes = (f"{p.cpu:g}", str(p.memory_mib), str(p.timeout_s))
        placements.add_row(name, p.target, gpu, *sizes, ", ".join(p.instance_types), p.reason)
    console.print(placements)
    templates = output.extras.get("job_templates") or {}
    if templates:
        jobs = _table("GCP Batch job templates", ("function", "machine type", "accelerators"))
        for name, job in sorted(templates.items()):
            for instance in job.get("allocationPolicy", {}).get("instances", []):
                policy = instance.get("policy", {})
                accelerators = ", ".join(f"{a['type']} x{a['count']}" for a in policy.get("accelerators", []))
                jobs.add_row(name, policy.get("machineType", ""), accelerators)
        console.print(jobs)
    _print_web_services(console, (output.extras.get("aws") or {}).get("web_services") or {})


def _print_web_services(console: Console, services: dict[str, Any]) -> None:
    """AWS web services: the stack output with each URL, scaling bounds, placement reason."""
    if not services:
        return
    columns = ("function", "URL (stack output)", "min", "max", "launch", "reason")
    table = _table("web services", columns)
    for name, s in sorted(services.items()):
        url = f"{s['url']} ({s['url_output']})"
        bounds = (str(s["min_containers"]), str(s["max_containers"]))
        table.add_row(name, url, *bounds, s["launch_type"], s["reason"])
    console.print(table)


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
    return json.dumps(shown, sort_keys=True, default=str)


@contextlib.contextmanager
def _writing(out: Path) -> Iterator[None]:
    """An unwritable ``--out`` is the user's to fix: one line, no traceback."""
    try:
        yield
    except OSError as exc:
        raise UserError(
            f"cannot write --out {out}: {exc.strerror or exc}",
            fix="pass --out a path in a folder you can write, e.g. --out build/",
        ) from None


def synth(
    file: str = typer.Argument(None, help="file.py or file.py::app_var"),
    module: str | None = typer.Option(None, "-m", help="synthesize a module (pkg.mod) instead of a file"),
    ir_only: bool = typer.Option(False, "--ir", help="Print the IR JSON (no cloud)."),
    cloud: str | None = typer.Option(
        None, "--cloud", help="aws or gcp: synthesize that cloud's Pulumi program."
    ),
    region: str | None = typer.Option(
        None, "--region", help="Cloud region (default us-east-1 on aws, us-central1 on gcp)."
    ),
    project: str | None = typer.Option(None, "--project", help="GCP project id."),
    stack: str | None = typer.Option(None, "--stack", help="Stack name (stacks/<name>.yaml)."),
    app_name: str | None = typer.Option(None, "--app", help="Which app, when the file defines several."),
    out: Path | None = typer.Option(None, "--out", help="Write the IR (--ir) or the Pulumi project here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Compile FILE and print its IR (--ir) or its cloud resources (--cloud), offline."""
    from pcompile.cli.run import program_ref
    from pcompile.compiler import ir, load

    loaded = load(program_ref(file, module, "synth"))
    if ir_only or cloud is None:
        text = ir.dumps(loaded.program)
        if out:
            with _writing(out):
                out.write_text(text)
            typer.echo(f"wrote {out}", err=True)
        else:
            sys.stdout.write(text)
        return
    from pcompile.providers import registry

    registry.get_remote(cloud)
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

            with _writing(out):
                emit_project(
                    loaded.program,
                    app.name,
                    settings,
                    out / app.name if len(loaded.program.apps) > 1 else out,
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
