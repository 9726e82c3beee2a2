"""What the running code knows about itself: inside a worker/container, and the current input."""

from __future__ import annotations

import contextvars
import os

WORKER_ENV = "PCOMPILE_WORKER"

_function_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pcompile_call_id", default=None
)
_input_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("pcompile_input_id", default=None)


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


def current_input_id() -> str | None:
    """``modal.current_input_id()``: the input being served, or None outside one."""
    return _input_id.get()
