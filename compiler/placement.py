"""Placement: where each function of an app runs on a given cloud.

Each provider owns a *rules table* (data, not if/else chains) in
``pcompile.providers.<cloud>.placement`` and a GPU catalog; this module holds the
shared shapes and the table evaluator. A stack file may override the choice per
function. An unsupported combination is a :class:`UserError` naming the decorator's
``file:line``, every reason, and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import FunctionSpec, GpuRequest


@dataclass(frozen=True)
class Placement:
    """The decision for one function: ``target`` is e.g. ``lambda``, ``batch``,
    ``cloudrun``, ``gcpbatch`` or ``local``; ``gpu`` is the resolved choice after
    fallbacks; ``instance_types`` come from the provider's catalog."""

    function: str
    target: str
    gpu: GpuRequest | None = None
    instance_types: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form used in ``synth --json`` output and the deployment manifest."""
        return {
            "target": self.target,
            "gpu": None if self.gpu is None else {"type": self.gpu.type, "count": self.gpu.count},
            "instance_types": list(self.instance_types),
            "details": dict(sorted(self.details.items())),
        }


@dataclass(frozen=True)
class Rule:
    """One row of a placement table: the first row whose ``when`` holds decides ``target``."""

    target: str
    when: Callable[[FunctionSpec], bool]
    why: str


def first_matching(rules: Sequence[Rule], fn: FunctionSpec) -> Rule:
    """The first rule that applies to ``fn``; a UserError when none does."""
    for rule in rules:
        if rule.when(fn):
            return rule
    raise UserError(
        f"function {fn.name!r} matches no placement rule",
        source=fn.source,
        fix="report this as a pcompile bug with the decorator's arguments",
    )
