"""What the running code knows about itself: inside a worker/container, and the current input."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable

WORKER_ENV = "PCOMPILE_WORKER"

_function_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pcompile_call_id", default=None
)
_input_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("pcompile_input_id", default=None)
_input_source: Callable[[], str | None] | None = None


def in_container() -> bool:
    """True inside a runtime worker or container (the runtime sets ``PCOMPILE_WORKER=1``)."""
    return os.environ.get(WORKER_ENV) == "1"


def is_local() -> bool:
    """``modal.is_local()``: True on the caller's machine, False inside a function's worker."""
    return not in_container()


def set_current_input(call_id: str | None, input_id: str | None) -> None:
    """Called by the runtime before it runs an input."""
    _function_call_id.set(call_id)
    _input_id.set(input_id)


def current_function_call_id() -> str | None:
    """``modal.current_function_call_id()``: the call being served, or None outside one."""
    return _function_call_id.get()


def set_input_source(source: Callable[[], str | None] | None) -> None:
    """Called by a runtime that runs many inputs in a row in one thread (a local map's
    chunk): :func:`current_input_id` asks ``source`` while no id is set, so running an
    input costs no id of its own."""
    global _input_source
    _input_source = source


def current_input_id() -> str | None:
    """``modal.current_input_id()``: the input being served, or None outside one."""
    value = _input_id.get()
    if value is None and _input_source is not None:
        return _input_source()
    return value
