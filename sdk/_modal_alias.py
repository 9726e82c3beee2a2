"""Make ``import modal`` (and the submodules programs use) resolve to pcompile.

Installed only while pcompile loads or runs a user's program, in that process; no
package named ``modal`` is ever installed.
"""

from __future__ import annotations

import importlib
import sys

# Public submodules a Modal program may import as ``modal.<name>``.
SUBMODULES = (
    "app",
    "cls",
    "config",
    "dict",
    "exception",
    "experimental",
    "functions",
    "gpu",
    "image",
    "partial_function",
    "queue",
    "retries",
    "runner",
    "schedule",
    "secret",
    "volume",
)


def install() -> None:
    """Point ``modal`` and ``modal.<sub>`` at pcompile's modules in ``sys.modules``."""
    pcompile = importlib.import_module("pcompile")
    sys.modules["modal"] = pcompile
    for name in SUBMODULES:
        sys.modules[f"modal.{name}"] = importlib.import_module(f"pcompile.{name}")


def installed() -> bool:
    """True when ``modal`` currently resolves to pcompile."""
    return sys.modules.get("modal") is sys.modules.get("pcompile")
