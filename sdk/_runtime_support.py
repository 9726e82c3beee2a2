"""What the runtime needs of SDK objects: build a class instance from its parameters."""

from __future__ import annotations

import inspect
from typing import Any

from pcompile._partial import Parameter
from pcompile.exception import InvalidError


def class_parameters(user_cls: type) -> dict[str, Parameter]:
    """The ``modal.parameter()`` fields of a class, in declaration order."""
    params = getattr(user_cls, "_pcompile_parameters", None)
    if params is not None:
        return dict(params)
    return {k: v for k, v in vars(user_cls).items() if isinstance(v, Parameter)}


def instantiate(user_cls: type, params: dict[str, Any]) -> Any:
    """An instance of the raw user class with its parameters set, as Modal builds it.

    Classes with a custom ``__init__`` (allowed by Modal 1.5) are called with the
    parameters as keyword arguments instead.
    """
    declared = class_parameters(user_cls)
    if not declared and "__init__" in vars(user_cls):
        return user_cls(**params)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise InvalidError(
            f"{user_cls.__name__} has no parameter {unknown[0]!r}; parameters: {sorted(declared)}"
        )
    obj = user_cls.__new__(user_cls)  # type: ignore[call-overload]
    for name, spec in declared.items():
        if name in params:
            value = params[name]
        elif not spec.required:
            value = spec.default
        else:
            raise InvalidError(f"{user_cls.__name__}(...) is missing required parameter {name!r}")
        setattr(obj, name, value)
    return obj


def run_enter(obj: Any, names: list[str]) -> None:
    """Run the ``@enter`` methods of an instance, in declaration order (sync only here)."""
    for name in names:
        result = getattr(obj, name)()
        if inspect.isawaitable(result):
            import asyncio

            asyncio.run(result)  # type: ignore[arg-type]
