"""Build resource inputs from plain data holding a few Pulumi outputs, with one output each.

``pulumi.Output.from_input`` on a nested value lifts every dict, list and string inside
into an output of its own; a policy document of a dozen strings and two ARNs became
about forty outputs and as many event-loop tasks. :func:`filled` walks the value here,
waits on the outputs it holds (one ``apply``, or one ``Output.all`` for several) and puts
their values back. A value
holding no output stays a plain value, so the engine receives the same inputs either way:
the values, their secrecy and the resources they depend on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pulumi

T = TypeVar("T")


def filled(value: Any, finish: Callable[[Any], T]) -> pulumi.Input[T]:
    """``finish(value)`` once every output inside ``value`` (dicts, lists, tuples) is known.

    Plain ``finish(value)`` when nothing inside is an output; else one output.
    """
    leaves: list[pulumi.Output[Any]] = []
    _collect(value, leaves)
    if not leaves:
        return finish(value)
    if len(leaves) == 1:  # the common case (an ARN of the account): no Output.all around it
        return leaves[0].apply(lambda known: finish(_put(value, iter([known]))))
    return pulumi.Output.all(*leaves).apply(lambda known: finish(_put(value, iter(known))))


def joined(*parts: pulumi.Input[str]) -> pulumi.Input[str]:
    """``pulumi.Output.concat`` that stays a plain string when every part is one."""
    return filled(list(parts), "".join)


def _collect(value: Any, leaves: list[pulumi.Output[Any]]) -> None:
    if isinstance(value, pulumi.Output):
        leaves.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, leaves)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, leaves)


def _put(value: Any, known: Any) -> Any:
    """``value`` with each output replaced by the next of ``known`` (the order of ``_collect``)."""
    if isinstance(value, pulumi.Output):
        return next(known)
    if isinstance(value, dict):
        return {key: _put(item, known) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_put(item, known) for item in value]
    return value
