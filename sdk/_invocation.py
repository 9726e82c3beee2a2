"""Where ``.remote()`` and friends go: the active backend (an Invoker).

``pcompile run`` and ``with app.run():`` install the local provider's invoker
(:func:`run_app`); ``Function.from_name(app, name, stack=...)`` picks the invoker of
the stack's cloud from the deployment manifest. The SDK never knows more than the
:class:`pcompile.providers.invoker.Invoker` protocol.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pcompile.exception import ExecutionError

if TYPE_CHECKING:
    from pcompile.providers.registry import Invoker

_lock = threading.Lock()
_active: Invoker | None = None


def set_backend(invoker: Invoker | None) -> Invoker | None:
    """Install ``invoker`` as the process-wide backend; returns the previous one."""
    global _active
    with _lock:
        previous, _active = _active, invoker
    return previous


def active_backend() -> Invoker | None:
    """The installed backend, or None."""
    return _active


def backend() -> Invoker:
    """The installed backend, or a clear error saying how to get one."""
    if _active is None:
        raise ExecutionError(
            "this call needs a running app: run the file with `pcompile run FILE`, "
            "use `with app.run():`, or look up a deployed function with "
            "`pcompile.Function.from_name(app_name, name)`"
        )
    return _active


def backend_for_deployment(app_name: str, stack: str | None) -> Invoker:
    """The invoker for a deployed (or ``pcompile serve``d) app on ``stack``.

    With no stack: the local provider's registry of running ``pcompile serve``
    processes. A named stack is resolved by its cloud's provider
    (``pcompile.providers.registry.get(cloud).invoker(app_name, settings)``).
    """
    from pcompile.providers import registry

    if stack is None:
        settings = registry.stackless()
    else:
        settings = importlib.import_module("pcompile.compiler.stacks").load_stack(stack)
    return registry.get(settings.cloud).invoker(app_name, settings)


def backend_for_call(call_id: str) -> Invoker:
    """The invoker that can read ``FunctionCall.from_id(call_id)``.

    The active backend when one runs; otherwise the invoker of the provider whose ids
    look like ``call_id`` (local ids: a reader of the local call store; cloud ids name
    their bucket), so a result spawned by another process can be fetched.
    """
    if _active is not None:
        return _active
    from pcompile.providers import registry

    provider = registry.for_call(call_id)
    return provider.call_invoker(call_id) if provider is not None else backend()


@contextlib.contextmanager
def run_app(
    app: Any,
    *,
    root: str | None = None,
    main_file: str | None = None,
    program: Any = None,
    name: str | None = None,
) -> Iterator[Any]:
    """Run ``app`` on this machine for the duration of the ``with`` block.

    Compiles the app (unless ``program``, its compiled IR, is given), checks its
    secrets (a missing one fails here, before any function runs), and installs
    the stackless provider's invoker (:func:`pcompile.providers.registry.runner`), whose
    worker processes import the functions by module + qualname.
    """
    from pcompile.compiler import compile_apps, ir
    from pcompile.providers import registry

    main = sys.modules.get("__main__")
    if root is None:
        main_path = getattr(main, "__file__", None)
        root = os.path.dirname(os.path.abspath(main_path)) if main_path else os.getcwd()
    if program is None:
        program = compile_apps([app], Path(root))
    data = json.loads(ir.dumps(program))
    wanted = name or app.name
    spec = next((a for a in data["apps"] if a["name"] == wanted), None) or data["apps"][0]
    modules = {f["module"] for f in spec["functions"]}
    if main_file is None and "__main__" in modules:
        main_file = getattr(main, "__file__", None)
    invoker = registry.runner().run_invoker(
        spec, app, _common_root(modules - {"__main__"}) or root, main_file
    )
    previous = set_backend(invoker)
    try:
        yield app
    finally:
        set_backend(previous)
        invoker.close()


def _common_root(modules: set[str]) -> str | None:
    """The folder to put on workers' ``sys.path`` so ``modules`` import as they do here."""
    for name in sorted(modules):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if not path:
            continue
        folder = Path(path).resolve().parent
        depth = name.count(".") + (1 if Path(path).name == "__init__.py" else 0)
        for _ in range(depth):
            folder = folder.parent
        return str(folder)
    return None
