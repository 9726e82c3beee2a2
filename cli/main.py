"""The ``pcompile`` command: a Typer app whose command groups live in sibling modules.

Each module named in :data:`COMMANDS` exposes ``register(app)``; it is imported only
when one of its commands runs (or its own ``--help`` is asked for), so ``pcompile
--help`` and ``pcompile version`` start at once. The root help lists every command
from the table's one-line help. User mistakes
(:class:`~pcompile.compiler.errors.UserError`) print one message and exit 1 with no
traceback; anything else is a pcompile bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

import typer
import typer.main
from typer import _click
from typer.core import TyperCommand

from pcompile.cli._help import CONTEXT_SETTINGS, StandardGroup, standardise
from pcompile.compiler.errors import UserError

# command name -> (module whose register(app) adds it, its one-line help), in help
# order. A new command is one line here; test_cli_lazy checks each line against the
# command its module registers.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": (
        "pcompile.cli.synth",
        "Compile FILE and print its IR (--ir) or its cloud resources (--cloud), offline.",
    ),
    "run": ("pcompile.cli.run", "Run a local_entrypoint (or the single function) of an app on this machine."),
    "serve": (
        "pcompile.cli.run",
        "Serve web endpoints and schedules locally; other processes can call the app's functions.",
    ),
    "deploy": (
        "pcompile.cli.deploy",
        "Build images, upload code, run Pulumi and record where every function lives.",
    ),
    "destroy": ("pcompile.cli.deploy", "Delete every resource of a deployed app."),
    "bootstrap": (
        "pcompile.cli.deploy",
        "Create the per-account shared pieces: state bucket, staging bucket, registry.",
    ),
    "logs": (
        "pcompile.cli.deploy",
        "Recent log lines of a deployed function (CloudWatch, Cloud Logging or local files).",
    ),
    "init": (
        "pcompile.cli.deploy",
        "Scaffold an app, stacks/dev.yaml and (with --ci github) a GitHub Actions workflow.",
    ),
    "image": ("pcompile.cli.image", "Show and build the runtime images of an app."),
    "app": ("pcompile.cli.deploy", "Deployed apps on a stack."),
    "secret": ("pcompile.cli.stores", "Manage secrets (local store: .pcompile/local/secrets, mode 0600)."),
    "volume": ("pcompile.cli.stores", "Manage volumes (local: .pcompile/local/volumes/<name>)."),
    "dict": ("pcompile.cli.kv", "Manage Dicts (local: .pcompile/local/stores)."),
    "queue": ("pcompile.cli.kv", "Manage Queues (local: .pcompile/local/stores)."),
    "proxy-auth": (
        "pcompile.cli.proxy_auth",
        "Manage proxy-auth tokens (Modal-Key/Modal-Secret) for web endpoints.",
    ),
}

_loaded: dict[str, dict[str, _click.Command]] = {}  # module -> the commands it registers


def load_commands(module: str) -> dict[str, _click.Command]:
    """The click commands that ``module``'s ``register(app)`` adds, by name (imported once)."""
    if module not in _loaded:
        sub = typer.Typer()
        importlib.import_module(module).register(sub)
        group = typer.main.get_group(sub)
        standardise(group)
        _loaded[module] = dict(group.commands)
    return _loaded[module]


class LazyGroup(StandardGroup):
    """The root group: :data:`COMMANDS` load on first use; help lists them unloaded."""

    _listing = False  # True while the root help is being written

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, short_help = COMMANDS[cmd_name]
        if self._listing:  # the one-line help is all the listing reads
            return TyperCommand(name=cmd_name, help=short_help)
        return load_commands(module)[cmd_name]

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="pcompile",
    help="Modal-style apps on your own AWS or GCP account, or on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyGroup,
    context_settings=CONTEXT_SETTINGS,
)


@app.callback()
def _root() -> None:
    # A callback keeps the root a group while ``version`` is its only eager command.
    pass


@app.command()
def version() -> None:
    """Print pcompile's version."""
    from pcompile import __version__

    typer.echo(__version__)


def _print_labelled(label: str, style: str, message: str) -> None:
    """``label`` in ``style``, then the message as plain text, on stderr (rich loads here)."""
    from rich.console import Console
    from rich.text import Text

    # Text, not markup: messages quote code such as gpu=["L40S", "L4"].
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text.assemble((label, style), message))


def _show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """pcompile's own warnings about the user's files print as one ``warning:`` line."""
    from pcompile.compiler.bundle import CredentialFileWarning

    if issubclass(category, CredentialFileWarning):
        _print_labelled("warning: ", "bold yellow", str(message))
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
        _print_labelled("error: ", "bold red", str(err))
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
