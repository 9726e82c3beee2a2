"""``pcompile image env`` and ``pcompile image prune``: the local image environments.

* ``pcompile image env FILE [--app NAME] [--build] [--json]`` prints, per image of the
  app, where its local environment lives, whether it is built, and what it holds
  (Python, installs, installed packages, env, workdir, mapped files, skipped steps);
* ``pcompile image prune [--days N] [--all] [--keep FILE]`` removes environments not
  used for N days (default 30), or all of them, except those of the ``--keep`` apps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from pcompile.compiler.errors import UserError


def add_commands(image_app: typer.Typer) -> None:
    """Add ``env`` and ``prune`` to the ``pcompile image`` group."""
    image_app.command("env")(env)
    image_app.command("prune")(prune)


def _app(file: Path, app_name: str | None) -> tuple[Any, Path]:
    from pcompile.compiler import load

    loaded = load(file)
    try:
        return loaded.program.app(app_name), Path(loaded.root)
    except KeyError as err:
        raise UserError(str(err.args[0]), fix="pass --app with one of the names listed") from None


def env(
    file: Path = typer.Argument(..., help="The app's Python file.", exists=True, dir_okay=False),
    app_name: str | None = typer.Option(None, "--app", help="The app, when the file defines several."),
    build: bool = typer.Option(False, "--build", help="Build the environments that are missing."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Show where each image's local environment lives and what it holds."""
    from pcompile.providers.local import envs

    app, root = _app(file, app_name)
    if build:
        envs.prepare(app, root)
    rows = envs.describe(app, root)
    if as_json:
        typer.echo(json.dumps(rows, sort_keys=True, indent=2))
        return
    for row in rows:
        typer.echo(_text(row))


def _text(row: dict[str, Any]) -> str:
    state = "built" if row["built"] else "not built (pcompile run builds it)"
    lines = [
        f"image {row['image']} ({', '.join(row['functions'])})",
        f"  path:     {row['path']} [{state}]",
        f"  python:   {row['python']}",
    ]
    for label, key in (("installs", "installs"), ("packages", "packages"), ("skipped", "skipped")):
        if row[key]:
            lines.append(f"  {label + ':':<9} {', '.join(row[key])}")
    if row["env"]:
        lines.append("  env:      " + ", ".join(f"{k}={v}" for k, v in row["env"].items()))
    if row["workdir"]:
        lines.append(f"  workdir:  {row['workdir']}")
    for remote, local in row["mounts"].items():
        lines.append(f"  mapped:   {remote} -> {local}")
    for warning in row["warnings"]:
        lines.append(f"  warning:  {warning}")
    return "\n".join(lines)


def prune(
    days: float = typer.Option(30.0, "--days", help="Remove environments unused for this many days."),
    remove_all: bool = typer.Option(False, "--all", help="Remove every environment."),
    keep: list[Path] = typer.Option([], "--keep", help="Never remove the environments of this app file."),
) -> None:
    """Remove local image environments that were not used recently (and incomplete ones)."""
    from pcompile.providers.local import envs

    kept = {plan.key for file in keep for plan in envs.plan_app(*_app(file, None)).values()}
    removed = envs.prune(None if remove_all else days, kept)
    for path in removed:
        typer.echo(f"removed {path}")
    typer.echo(f"{len(removed)} environment(s) removed from {envs.envs_root()}", err=True)
