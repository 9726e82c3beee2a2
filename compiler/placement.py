"""Placement: where each function of an app runs on a given cloud.

Each provider owns a *rules table* (data, not if/else chains) in
``pcompile.providers.<cloud>.placement`` and a GPU catalog; this module holds the
shared shapes and the table evaluator. A stack file may override the choice per
function. An unsupported combination is a :class:`UserError` naming the decorator's
``file:line``, every reason, and the fix.

A placement is one frozen dataclass per target (AWS Lambda and Batch in
``providers.aws.placement``, Cloud Run and GCP Batch in ``providers.gcp.placement``,
:class:`LocalPlacement` here). Every one carries the same common fields (:class:`Placement`)
and its target's own fields, which ``synth --json`` prints under ``details``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pcompile.compiler.errors import CompileErrors, UserError
from pcompile.compiler.ir import AppSpec, FunctionSpec, GpuRequest, to_jsonable

# The top-level keys of every placement in ``synth --json``, on every cloud.
JSON_KEYS = ("target", "reason", "gpu", "timeout_s", "cpu", "memory_mib", "instance_types", "details")


@dataclass(frozen=True)
class Placement:
    """The decision for one function, common to every target: why, the resolved GPU (type and
    count, after fallbacks), the run limit, the vCPUs and MiB it gets, and the machine types
    it may run on (empty for serverless targets). Subclasses add their target's fields."""

    function: str
    reason: str
    timeout_s: int
    cpu: float
    memory_mib: int
    gpu: GpuRequest | None = None
    instance_types: tuple[str, ...] = ()

    target: ClassVar[str] = ""

    def details(self) -> dict[str, Any]:
        """The target's own fields as plain JSON values (a subclass's extra dataclass fields)."""
        common = {f.name for f in dataclasses.fields(Placement)}
        return {
            f.name: to_jsonable(getattr(self, f.name))
            for f in sorted(dataclasses.fields(self), key=lambda f: f.name)
            if f.name not in common
        }

    def to_json(self) -> dict[str, Any]:
        """JSON form used in ``synth --json`` output: the keys of :data:`JSON_KEYS`."""
        return {
            "target": self.target,
            "reason": self.reason,
            "gpu": None if self.gpu is None else {"type": self.gpu.type, "count": self.gpu.count},
            "timeout_s": self.timeout_s,
            "cpu": self.cpu,
            "memory_mib": self.memory_mib,
            "instance_types": list(self.instance_types),
            "details": dict(sorted(self.details().items())),
        }


@dataclass(frozen=True)
class LocalPlacement(Placement):
    """A function run by ``pcompile run``/``serve`` on this machine (its GPU is what it asked)."""

    target: ClassVar[str] = "local"


def local_placement(fn: FunctionSpec) -> LocalPlacement:
    """Where ``fn`` runs locally: as asked, no catalog (the local pool packs GPUs it finds)."""

    def request(value: Any) -> float:
        return float(value[0] if isinstance(value, tuple) else value or 0)

    gpu = None if fn.gpu is None else GpuRequest(fn.gpu.type, fn.gpu.count)
    return LocalPlacement(
        fn.name, "runs on this machine", fn.timeout, request(fn.cpu), int(request(fn.memory)), gpu
    )


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


P = TypeVar("P", bound=Placement)


def place_all(functions: Iterable[FunctionSpec], place: Callable[[FunctionSpec], P]) -> dict[str, P]:
    """``place`` every function, in function-name order; every user error found is raised
    together (one :class:`CompileErrors`), so a user fixes them all in one go."""
    placements: dict[str, P] = {}
    errors: list[UserError] = []
    for fn in sorted(functions, key=lambda f: f.name):
        try:
            placements[fn.name] = place(fn)
        except CompileErrors as err:
            errors.extend(err.errors)
        except UserError as err:
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise CompileErrors(errors)
    return placements


def local_plan(app: AppSpec) -> dict[str, LocalPlacement]:
    """One :class:`LocalPlacement` per function of ``app``."""
    return place_all(app.functions, local_placement)
