"""Standard Click help for every pcompile command, and ``-h`` as an alias of ``--help``.

The Typer release pcompile runs on labels types as ``<bool>``/``<str>`` and shows a
required argument as ``{file}`` in the usage line. :class:`StandardGroup`, the root
group's class, turns its whole command tree back to Click's usual labels
(``TEXT``, ``INTEGER``, ``PATH``, none for flags; ``FILE`` / ``[REF]`` in usage)
by giving each command and parameter a subclass that overrides only the labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from typer import _click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

HELP_OPTION_NAMES = ["-h", "--help"]
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": HELP_OPTION_NAMES}

_CLICK_LABELS = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "bool": "BOOLEAN", "Path": "PATH"}


def _label(param: TyperArgument | TyperOption, ctx: _click.Context) -> str:
    """Click's label for a parameter's type: ``TEXT``, ``INTEGER``, ``[a|b]`` ..."""
    desc = param.type_descriptor
    if desc.is_choice:
        return "[" + "|".join(str(c) for c in desc.choices or ()) + "]"
    if desc.is_path:
        return "PATH"
    if desc.is_datetime:
        return "[" + "|".join(desc.parameter_info.formats or ("%Y-%m-%d",)) + "]"
    bare = param._bare_type(desc.annotation.__args__[0]) if desc.is_list else param.bare_type()
    return _CLICK_LABELS.get(bare, bare.upper())


def _quick_process_value(param: Any, ctx: _click.Context, value: Any, typers: Callable[..., Any]) -> Any:
    """Values whose coercion is fixed skip Typer's, which imports pydantic (0.2 s a start).

    An absent value coerces to None (``()`` when multi-valued) and a ``str`` for a plain
    ``str`` parameter to itself, whatever the adapter; the rest is Typer's own code path.
    """
    desc = param.type_descriptor
    if value is None:
        value = () if param.multiple or param.nargs == -1 else None
    elif not (desc.annotation is str and isinstance(value, str) and not desc.is_choice):
        return typers(ctx, value)
    if param.required and param.value_is_missing(value):
        raise _click.exceptions.MissingParameter(ctx=ctx, param=param)
    return value if param.callback is None else param.callback(ctx, param, value)


class _Argument(TyperArgument):
    def process_value(self, ctx: _click.Context, value: Any) -> Any:
        return _quick_process_value(self, ctx, value, super().process_value)

    def display_type(self, ctx: _click.Context) -> str:
        return _label(self, ctx)

    def _usage_display_name(self) -> str:
        name = self.display_name_raw.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


class _Option(TyperOption):
    def process_value(self, ctx: _click.Context, value: Any) -> Any:
        return _quick_process_value(self, ctx, value, super().process_value)

    def display_type(self, ctx: _click.Context) -> str:
        return "" if self.is_flag else _label(self, ctx)


def _help_option(option: TyperOption | None) -> TyperOption | None:
    # Click builds the help option lazily, after the tree was standardised.
    if option is not None:
        _standardise_param(option)
    return option


class StandardCommand(TyperCommand):
    """A command with the standard labels (what the root group gives every command)."""

    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        return _help_option(super().get_help_option(ctx))


class _Group(TyperGroup):
    def get_help_option(self, ctx: _click.Context) -> TyperOption | None:
        return _help_option(super().get_help_option(ctx))


class StandardGroup(_Group):
    """The root group: standard help labels for the whole command tree below it."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        standardise(self)


def _standardise_param(param: Any) -> None:
    # The subclasses add no state, so swapping the class of a built parameter is safe.
    if type(param) is TyperArgument:
        param.__class__ = _Argument
    elif type(param) is TyperOption:
        param.__class__ = _Option


def standardise(command: Any) -> None:
    """Give ``command`` and everything below it the standard labels (in place)."""
    for param in command.params:
        _standardise_param(param)
    if type(command) is TyperCommand:
        command.__class__ = StandardCommand
    elif type(command) is TyperGroup:
        command.__class__ = _Group
    for sub in getattr(command, "commands", {}).values():
        standardise(sub)


TARGET_ARGS = "pcompile.target_args"


class TargetCommand(StandardCommand):
    """``run``: what follows the program (FILE or ``-m MOD``) is the program's, as in Modal.

    Only the words before the program are parsed as run's options; the rest, ``-h`` and
    ``--help`` included, are left in ``ctx.args`` (and in ``ctx.meta[TARGET_ARGS]``) for
    the entrypoint. ``pcompile run --help`` shows run's own options.
    """

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        end = _target_end(self, args)
        if end is None:
            return super().parse_args(ctx, args)
        ctx.help_option_names = []
        ctx.meta[TARGET_ARGS] = args[end:]
        ctx.args = [*super().parse_args(ctx, args[:end]), *args[end:]]
        return ctx.args


def _target_end(command: TyperCommand, args: list[str]) -> int | None:
    """Index just past the program in ``args`` (None when help or nothing comes first)."""
    takes_value = {
        opt for p in command.params if isinstance(p, TyperOption) and not p.is_flag for opt in p.opts
    }
    i = 0
    while i < len(args):
        token = args[i]
        if token in HELP_OPTION_NAMES or token == "--":
            return None
        if token == "-m":
            return min(i + 2, len(args))
        if not token.startswith("-"):
            return i + 1
        i += 2 if token in takes_value else 1
    return None
