"""``pcompile secret ...`` and ``pcompile volume ...`` for the local stack.

Each command takes the target through :func:`_stack_backend`, so cloud stacks can be
added behind a ``--stack`` option without changing the command surface. Secret
values are never printed: ``secret list`` shows names and key names only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from pcompile.cli import deploy as cloud_cli
from pcompile.compiler.errors import UserError
from pcompile.providers.settings import StackSettings

secret_app = typer.Typer(
    help="Manage secrets (local store: .pcompile/local/secrets, mode 0600).", no_args_is_help=True
)
volume_app = typer.Typer(help="Manage volumes (local: .pcompile/local/volumes/<name>).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``secret`` and ``volume`` command groups."""
    app.add_typer(secret_app, name="secret")
    app.add_typer(volume_app, name="volume")


def _cloud(stack: str | None) -> StackSettings | None:
    """An aws/gcp stack's settings when ``--stack`` names one (cli/deploy.py handles those)."""
    return cloud_cli.cloud_stack(stack)


def _parse_pairs(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(
                f"expected KEY=VALUE, got {pair.split('=')[0]!r}", fix="pcompile secret create NAME KEY=VALUE"
            )
        values[key] = value
    return values


@secret_app.command("create")
def secret_create(
    name: str = typer.Argument(..., help="secret name"),
    pairs: list[str] = typer.Argument(..., help="KEY=VALUE pairs"),
    force: bool = typer.Option(False, "--force", help="replace an existing secret"),
    stack: str | None = typer.Option(None, "--stack", help="an aws or gcp stack (default: the local store)"),
) -> None:
    """Store a named secret for Secret.from_name(NAME)."""
    from pcompile.providers.local import secrets

    values = _parse_pairs(pairs)
    if cloud := _cloud(stack):
        return cloud_cli.stack_secret_create(cloud, name, values, force)
    try:
        secrets.create(name, values, overwrite=force)
    except (FileExistsError, ValueError) as exc:
        raise UserError(str(exc)) from None
    typer.echo(f"created secret {name!r} with keys {sorted(values)}")


@secret_app.command("list")
def secret_list(
    stack: str | None = typer.Option(None, "--stack", help="an aws or gcp stack (default: the local store)"),
) -> None:
    """Names and key names of stored secrets (never values)."""
    from pcompile.providers.local import secrets

    if cloud := _cloud(stack):
        return cloud_cli.stack_secret_list(cloud)

    for name in secrets.list_names():
        typer.echo(f"{name}\t{', '.join(sorted(secrets.load(name)))}")


def _volume(name: str) -> object:
    from pcompile.providers.local.volumes import LocalVolume

    try:
        return LocalVolume(name)
    except ValueError as exc:
        raise UserError(str(exc)) from None


@volume_app.command("ls")
def volume_ls(
    name: str,
    path: str = typer.Argument("/", help="path inside the volume"),
    stack: str | None = typer.Option(None, "--stack", help="an aws or gcp stack (default: the local store)"),
    app: str | None = typer.Option(None, "--app", help="the app owning the volume (cloud stacks)"),
) -> None:
    """List files in a volume."""
    from pcompile.providers.local.volumes import LocalVolume

    if cloud := _cloud(stack):
        return cloud_cli.stack_volume_ls(cloud, name, path, app)

    vol = _volume(name)
    assert isinstance(vol, LocalVolume)
    try:
        entries = vol.listdir(path)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    for entry in entries:
        suffix = "/" if entry.type.name == "DIRECTORY" else ""
        typer.echo(f"{entry.path}{suffix}\t{entry.size}")


@volume_app.command("put")
def volume_put(
    name: str,
    local_path: Path = typer.Argument(..., help="file or directory to upload"),
    remote_path: str = typer.Argument("/", help="destination inside the volume"),
    force: bool = typer.Option(False, "--force", help="overwrite existing files"),
    stack: str | None = typer.Option(None, "--stack", help="an aws or gcp stack (default: the local store)"),
    app: str | None = typer.Option(None, "--app", help="the app owning the volume (cloud stacks)"),
) -> None:
    """Upload a file or directory into a volume."""
    from pcompile.providers.local.volumes import LocalVolume

    if cloud := _cloud(stack):
        return cloud_cli.stack_volume_put(cloud, name, local_path, remote_path, app)

    vol = _volume(name)
    assert isinstance(vol, LocalVolume)
    if not local_path.exists():
        raise UserError(f"no such file or directory: {local_path}")
    try:
        with vol.batch_upload(force=force) as batch:
            if local_path.is_dir():
                batch.put_directory(local_path, remote_path)
            else:
                dest = (
                    remote_path.rstrip("/") + "/" + local_path.name
                    if remote_path.endswith("/")
                    else remote_path
                )
                batch.put_file(local_path, dest)
    except FileExistsError as exc:
        raise UserError(str(exc), fix="pass --force to overwrite") from None
    typer.echo(f"uploaded {local_path} to {name}:{remote_path}")


@volume_app.command("get")
def volume_get(
    name: str,
    remote_path: str = typer.Argument(..., help="file inside the volume"),
    local_path: str = typer.Argument("-", help="destination file, or - for stdout"),
    stack: str | None = typer.Option(None, "--stack", help="an aws or gcp stack (default: the local store)"),
    app: str | None = typer.Option(None, "--app", help="the app owning the volume (cloud stacks)"),
) -> None:
    """Download a file from a volume."""
    from pcompile.providers.local.volumes import LocalVolume

    if cloud := _cloud(stack):
        return cloud_cli.stack_volume_get(cloud, name, remote_path, local_path, app)

    vol = _volume(name)
    assert isinstance(vol, LocalVolume)
    try:
        chunks = list(vol.read_file(remote_path))
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    if local_path == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
        return
    Path(local_path).write_bytes(b"".join(chunks))
