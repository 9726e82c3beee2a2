"""``pcompile dict ...`` and ``pcompile queue ...``, as ``modal dict|queue``.

Without ``--stack`` they work on the local store (``.pcompile/local/stores``); with an aws or
gcp stack, on the stack's DynamoDB tables or Firestore collections, through
``pcompile.providers.<cloud>.kv`` (``stack_store``, ``list_names``: the same names on each
cloud). Values are printed with ``repr``, one per line, in the store's order.
"""

from __future__ import annotations

from typing import Any

import typer

from pcompile.cli import deploy as cloud_cli
from pcompile.compiler.errors import UserError

dict_app = typer.Typer(help="Manage Dicts (local: .pcompile/local/stores).", no_args_is_help=True)
queue_app = typer.Typer(help="Manage Queues (local: .pcompile/local/stores).", no_args_is_help=True)
STACK = typer.Option(None, "--stack", help="an aws or gcp stack (default: the local store)")


def register(app: typer.Typer) -> None:
    """Add the ``dict`` and ``queue`` command groups."""
    app.add_typer(dict_app, name="dict")
    app.add_typer(queue_app, name="queue")


def _cloud_kv(stack: str | None) -> tuple[Any, Any] | None:
    """(settings, the cloud's kv module) for an aws/gcp ``--stack``; None for local."""
    settings = cloud_cli.cloud_stack(stack)
    if settings is None:
        return None
    from pcompile.providers import registry

    return settings, registry.get(settings.cloud).kv()


def _local_names(kind: str) -> list[str]:
    from pcompile.providers.local.paths import sub

    return sorted(p.name[len(kind) + 1 : -len(".sqlite")] for p in sub("stores").glob(f"{kind}-*.sqlite"))


def _local_store(kind: str, name: str) -> Any:
    from pcompile.providers.local import stores
    from pcompile.providers.local.paths import sub

    if not (sub("stores") / f"{kind}-{name}.sqlite").exists():
        raise UserError(f"no {kind} {name!r} in the local store", fix=f"pcompile {kind} list")
    return stores.SqliteDict(name) if kind == "dict" else stores.SqliteQueue(name)


def _store(kind: str, name: str, stack: str | None) -> Any:
    with _input_errors():
        if cloud := _cloud_kv(stack):
            settings, module = cloud
            return module.stack_store(kind, name, settings)
        return _local_store(kind, name)


def _names(kind: str, stack: str | None) -> list[str]:
    if cloud := _cloud_kv(stack):
        settings, module = cloud
        return list(module.list_names(kind, settings))
    return _local_names(kind)


class _input_errors:  # noqa: N801 - used like a function
    """A store's refusal of bad input (name, partition) as a UserError: no traceback."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, ValueError) and getattr(exc, "kv_input", False):
            raise UserError(str(exc)) from None


@dict_app.command("list")
def dict_list(stack: str | None = STACK) -> None:
    """Names of the Dicts."""
    for name in _names("dict", stack):
        typer.echo(name)


@dict_app.command("get")
def dict_get(name: str, key: str, stack: str | None = STACK) -> None:
    """The value of the string KEY (exit 1 when missing)."""
    missing = object()
    value = _store("dict", name, stack).get(key, missing)
    if value is missing:
        raise UserError(f"no key {key!r} in dict {name!r}", fix=f"pcompile dict items {name}")
    typer.echo(repr(value))


@dict_app.command("items")
def dict_items(
    name: str, n: int = typer.Argument(20, help="at most this many"), stack: str | None = STACK
) -> None:
    """Up to N (key, value) pairs."""
    for key, value in _store("dict", name, stack).items()[:n]:
        typer.echo(f"{key!r}\t{value!r}")


@dict_app.command("len")
def dict_len(name: str, stack: str | None = STACK) -> None:
    """Number of keys."""
    typer.echo(str(_store("dict", name, stack).len()))


@dict_app.command("clear")
def dict_clear(name: str, stack: str | None = STACK) -> None:
    """Remove every key (the Dict stays)."""
    _store("dict", name, stack).clear()
    typer.echo(f"cleared dict {name!r}")


@dict_app.command("delete")
def dict_delete(name: str, stack: str | None = STACK) -> None:
    """Delete the Dict and everything in it."""
    if cloud := _cloud_kv(stack):
        settings, module = cloud
        with _input_errors():
            module.delete_object("dict", name, settings)
    else:
        _store("dict", name, stack).drop()
    typer.echo(f"deleted dict {name!r}")


PARTITION = typer.Option(None, "--partition", help="a named partition (default: the default one)")


@queue_app.command("list")
def queue_list(stack: str | None = STACK) -> None:
    """Names of the Queues."""
    for name in _names("queue", stack):
        typer.echo(name)


@queue_app.command("peek")
def queue_peek(
    name: str,
    n: int = typer.Argument(1, help="at most this many"),
    partition: str | None = PARTITION,
    stack: str | None = STACK,
) -> None:
    """The next N values, without removing them."""
    with _input_errors():
        for i, value in enumerate(_store("queue", name, stack).iterate(partition, 0.0)):
            if i >= n:
                break
            typer.echo(repr(value))


@queue_app.command("len")
def queue_len(
    name: str,
    partition: str | None = PARTITION,
    total: bool = typer.Option(False, "--total", help="count every partition"),
    stack: str | None = STACK,
) -> None:
    """Number of values in a partition (or in all with --total)."""
    with _input_errors():
        typer.echo(str(_store("queue", name, stack).len(partition, total)))


@queue_app.command("clear")
def queue_clear(
    name: str,
    partition: str | None = PARTITION,
    all: bool = typer.Option(False, "--all", help="clear every partition"),
    stack: str | None = STACK,
) -> None:
    """Remove the values of a partition (or of all with --all)."""
    with _input_errors():
        _store("queue", name, stack).clear(partition, all)
    typer.echo(f"cleared queue {name!r}")


@queue_app.command("delete")
def queue_delete(name: str, stack: str | None = STACK) -> None:
    """Delete the Queue and everything in it."""
    if cloud := _cloud_kv(stack):
        settings, module = cloud
        with _input_errors():
            module.delete_object("queue", name, settings)
    else:
        _store("queue", name, stack).drop()
    typer.echo(f"deleted queue {name!r}")
