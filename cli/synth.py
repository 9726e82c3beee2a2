"""``pcompile synth``: placeholder until the spine lands."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``synth`` to the ``pcompile`` app."""
