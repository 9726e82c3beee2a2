"""User errors: one message naming ``file:line``, the bad value and the fix.

The CLI prints a :class:`UserError` without a traceback; anything else is a bug in
pcompile and is printed with its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the CLI imports this module on every start
    from pcompile.compiler.ir import Source


class UserError(Exception):
    """A mistake in the user's program or command line, reported without a traceback."""

    def __init__(self, message: str, *, source: Source | None = None, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.fix = fix

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        fix = f"\n  fix: {self.fix}" if self.fix else ""
        return f"{where}{self.message}{fix}"


class CompileErrors(UserError):
    """Several user errors found in one pass, reported together."""

    def __init__(self, errors: list[UserError]) -> None:
        super().__init__("\n".join(str(e) for e in errors), source=None, fix=None)
        self.errors = errors
