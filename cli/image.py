"""``pcompile image``: show and build the runtime images of an app.

* ``pcompile image dockerfile FILE [--function NAME] [--json]`` prints the rendered
  Dockerfile, or ``{"tag": ..., "dockerfile": ...}``;
* ``pcompile image build FILE [--function NAME] [--push REGISTRY]`` builds the
  images (all of the app's, or the function's) and pushes them when asked; a tag
  that already exists is not built again;
* ``pcompile image files FILE [--json]`` lists every local file a deploy would
  upload (code bundle and images) with its destination, and the credential-looking
  files it leaves out.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, ImageSpec
from pcompile.providers.settings import StackSettings

image_app = typer.Typer(help="Show and build the runtime images of an app.", no_args_is_help=True)

FileArg = typer.Argument(..., help="The app's Python file.", exists=True, dir_okay=False)
FunctionOpt = typer.Option(None, "--function", "-f", help="Only this function's image.")
AppOpt = typer.Option(None, "--app", help="The app, when the file defines several.")
StackOpt = typer.Option(None, "--stack", "-s", help="Stack name or file (cloud, builder, mirror, flags).")


def register(app: typer.Typer) -> None:
    """Add ``image`` to the ``pcompile`` app."""
    from .image_env import add_commands

    add_commands(image_app)  # `image env` / `image prune`: local image environments
    app.add_typer(image_app, name="image")


def _load(file: Path, app_name: str | None) -> tuple[AppSpec, Path]:
    """The app's IR and its project root (where IR paths are relative to)."""
    from pcompile.compiler import load

    loaded = load(file)
    try:
        return loaded.program.app(app_name), loaded.root
    except KeyError as err:
        raise UserError(str(err.args[0]), fix="pass --app with one of the names listed") from None


def _settings(stack: str | None, root: Path) -> StackSettings:
    if stack is None:
        return StackSettings()
    from pcompile.compiler.stacks import load_stack

    return load_stack(stack, root)


def _images(app: AppSpec, function: str | None) -> list[ImageSpec]:
    from pcompile.compiler.images import function_image

    if function is None and len(app.images) != 1:
        return list(app.images)
    return [function_image(app, function)]


@image_app.command("dockerfile")
def dockerfile(
    file: Path = FileArg,
    function: str | None = FunctionOpt,
    app_name: str | None = AppOpt,
    stack: str | None = StackOpt,
    as_json: bool = typer.Option(False, "--json", help='Print {"tag": ..., "dockerfile": ...}.'),
) -> None:
    """Print the Dockerfile of a function's image (deterministic; the tag is its content hash)."""
    from pcompile.compiler.images import RenderOptions, function_image, render_image

    app, root = _load(file, app_name)
    settings = _settings(stack, Path.cwd())
    options = RenderOptions(cloud=settings.cloud, bake_code=settings.bake_code)
    rendered = render_image(function_image(app, function), root=root, options=options, app=app)
    if as_json:
        typer.echo(json.dumps(rendered.to_json(), sort_keys=True, indent=2))
    else:
        typer.echo(rendered.dockerfile, nl=False)


@image_app.command("build")
def build(
    file: Path = FileArg,
    function: str | None = FunctionOpt,
    app_name: str | None = AppOpt,
    stack: str | None = StackOpt,
    push: str | None = typer.Option(None, "--push", help="Push to this registry (e.g. 1234.dkr.ecr...)."),
    builder: str | None = typer.Option(None, "--builder", help="docker or podman (default: the stack's)."),
    as_json: bool = typer.Option(False, "--json", help="Print {image id: ref} as JSON."),
) -> None:
    """Build the app's images (or one function's), pushing them with --push."""
    from dataclasses import replace

    from pcompile.providers.builders import BuildError, ImageBuilder

    app, root = _load(file, app_name)
    settings = _settings(stack, Path.cwd())
    if builder:
        settings = replace(settings, builder=builder)
    images = ImageBuilder.for_stack(settings, root)
    images.registry = push
    images.log = lambda message: typer.echo(message, err=True)
    try:
        refs = {image.id: images.ensure(app, image) for image in _images(app, function)}
    except BuildError as err:
        raise UserError(f"image build failed: {err}", fix="fix the step shown above and re-run") from None
    if as_json:
        typer.echo(json.dumps(refs, sort_keys=True, indent=2))
    else:
        for ref in refs.values():
            typer.echo(ref)


@image_app.command("files")
def files(
    file: Path = FileArg,
    app_name: str | None = AppOpt,
    as_json: bool = typer.Option(False, "--json", help='Print {"files": [...], "excluded": [...]}.'),
) -> None:
    """List every local file that deploy would upload, with its destination (sorted)."""
    from pcompile.compiler.uploads import upload_plan

    app, root = _load(file, app_name)
    plan = upload_plan(app, root)
    data = plan.to_json(root.absolute())
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True, indent=2))
        return
    for row in data["files"]:
        typer.echo(f"{row['local']}  ->  {row['destination']}  ({row['via']})")
    for row in data["excluded"]:
        typer.echo(f"left out: {row['local']} (looks like a credential: {row['pattern']})")
