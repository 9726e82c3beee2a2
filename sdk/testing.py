"""Helpers for testing a pcompile app with plain pytest (``import pcompile.testing``).

A Modal program says ``import modal``; under ``pcompile run`` that name resolves to
pcompile. A test file imports the app itself, so it asks for the same resolution::

    import pcompile.testing

    with pcompile.testing.modal_alias():
        from app import square

    def test_square() -> None:
        assert square.local(3) == 9
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from pcompile import _modal_alias

__all__ = ["modal_alias"]


@contextmanager
def modal_alias() -> Iterator[None]:
    """Make ``import modal`` resolve to pcompile inside the block, as ``pcompile run`` does.

    On exit ``sys.modules`` is put back as it was, so a test that also uses the real
    ``modal`` package (or none) sees it again; modules imported inside the block keep
    the pcompile objects they were given.
    """
    names = ["modal", *(f"modal.{sub}" for sub in _modal_alias.SUBMODULES)]
    saved: dict[str, ModuleType | None] = {name: sys.modules.get(name) for name in names}
    _modal_alias.install()
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
