"""The ``pcompile`` command: a Typer app whose command groups live in sibling modules.

Each module in :data:`COMMAND_MODULES` exposes ``register(app)``. User mistakes
(:class:`~pcompile.compiler.errors.UserError`) print one message and exit 1 with no
traceback; anything else is a pcompile bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from pcompile.cli._help import CONTEXT_SETTINGS, StandardGroup
from pcompile.compiler.errors import UserError

COMMAND_MODULES = (
    "pcompile.cli.synth",
    "pcompile.cli.run",
    "pcompile.cli.image",
    "pcompile.cli.deploy",
    "pcompile.cli.stores",
    "pcompile.cli.kv",
)

app = typer.Typer(
    name="pcompile",
    help="Modal-style apps on your own AWS or GCP account, or on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=StandardGroup,
    context_settings=CONTEXT_SETTINGS,
)


@app.command()
def version() -> None:
    """Print pcompile's version."""
    from pcompile import __version__

    typer.echo(__version__)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """pcompile's own warnings about the user's files print as one ``warning:`` line."""
    from pcompile.compiler.bundle import CredentialFileWarning

    if issubclass(category, CredentialFileWarning):
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            Text.assemble(("warning: ", "bold yellow"), str(message))
        )
        return
    _default_show_warning(message, category, *args, **kwargs)


_default_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    warnings.showwarning = _show_warning
    try:
        # Without standalone mode click returns typer.Exit's code instead of exiting.
        code = app(args=argv, prog_name="pcompile", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as err:
        # Text, not markup: messages quote code such as gpu=["L40S", "L4"].
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            Text.assemble(("error: ", "bold red"), str(err))
        )
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors come from the click that typer vendors (typer._click), not the
        # installed click package: recognise them by their interface, not their class.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        raise
