"""Helpers shared by the local-provider tests (plain-function apps and short-hands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pcompile.providers.invoker import Target
from pcompile.providers.local.invoker import LocalInvoker

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fn(name: str, **extra: Any) -> dict[str, Any]:
    """An IR function dict for ``tests/fixtures/local_plain.py``."""
    spec: dict[str, Any] = {
        "name": name,
        "module": "local_plain",
        "qualname": name,
        "timeout": 300,
        "retries": {"max_retries": 0, "initial_delay": 0.0, "backoff_coefficient": 1.0, "max_delay": 1.0},
        "secrets": [],
        "volumes": {},
    }
    spec.update(extra)
    return spec


def make_invoker(*functions: dict[str, Any], **kwargs: Any) -> LocalInvoker:
    """A LocalInvoker over plain functions; logs are collected in ``invoker.lines``."""
    lines: list[str] = []
    invoker = LocalInvoker(
        {"name": "plain", "functions": list(functions), "secrets": []},
        root=str(FIXTURES),
        log=lambda label, line, is_err: lines.append(f"[{label}] {line.rstrip()}"),
        progress=False,
        **kwargs,
    )
    invoker.lines = lines  # type: ignore[attr-defined]
    return invoker


def target(name: str, **kwargs: Any) -> Target:
    """A Target in the plain app."""
    return Target("plain", name, **kwargs)


def run_map(invoker: LocalInvoker, name: str, inputs: list[Any], **kw: Any) -> list[Any]:
    """``map`` with Modal's defaults over single-argument inputs."""
    opts = {"order_outputs": True, "return_exceptions": False, "wrap_returned_exceptions": True, **kw}
    return list(invoker.map(target(name), [((x,), {}) for x in inputs], **opts))
