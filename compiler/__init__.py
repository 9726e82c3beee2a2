"""pcompile's compiler: user program → IR → placements → Pulumi project.

The pipeline, one job per stage, data flowing one way:

1. **load** (:mod:`.loader`): import the user's file as a module with ``import modal``
   resolving to pcompile; decorators record specs on ``App`` objects.
2. **build** (:mod:`.build`): read those records into the frozen IR (:mod:`.ir`),
   validating GPU strings (:mod:`.gpu`), cron expressions (:mod:`.cron`) and every
   argument; user errors name ``file:line`` and the fix (:mod:`.errors`).
3. **place** (:mod:`.placement`): each provider's rules table picks where every
   function runs on its cloud.
4. **emit** (:mod:`.emit`): write the Pulumi project (``Pulumi.yaml``,
   ``__main__.py``, the IR) that the provider's components turn into resources.

Nothing here calls a cloud or imports ``pulumi``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pcompile.compiler.build import compile_apps
    from pcompile.compiler.loader import Loaded, compile_file, load, load_module

__all__ = ["Loaded", "compile_apps", "compile_file", "load", "load_module"]

_LOADER_NAMES = frozenset({"Loaded", "compile_file", "load", "load_module"})


def __getattr__(name: str) -> Any:
    # Names resolve on first use (PEP 562): every CLI start imports ``compiler.errors``,
    # and importing this package must not pull in the whole pipeline for that.
    if name == "compile_apps":
        from pcompile.compiler import build

        value = getattr(build, name)
    elif name in _LOADER_NAMES:
        from pcompile.compiler import loader

        value = getattr(loader, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
