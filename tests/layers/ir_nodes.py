"""The IR node kinds, read from the types in ``compiler/ir.py``, and their instances in an app.

A *node* is something a provider must turn into infrastructure (or refuse): a
function of each kind, each web kind, each volume kind, a bucket mount, each
schedule, each secret kind, a Dict, a Queue, an image, an entrypoint. Kinds come
from the IR itself: a dataclass with a ``Literal`` ``kind`` field gives one kind per
value; a dataclass used by several fields (``StoreSpec`` for dicts and queues) one
kind per field; ``FunctionSpec`` maps of mount path to node give ``mount:<field>``.
Dataclasses that only configure a node are listed in :data:`ATTRIBUTES`, so a new
dataclass must be classified before the coverage test passes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

from pcompile.compiler import ir

# Dataclasses that configure a node and are checked with it, not nodes of their own.
ATTRIBUTES = {
    "BatchingSpec": "@modal.batched settings of a function (runtime behaviour)",
    "ClassSpec": "what a method needs of its class; the method is the node",
    "ConcurrencySpec": "@modal.concurrent settings of a function",
    "EntrypointParam": "a CLI option of an entrypoint",
    "GpuRequest": "one GPU choice; placement tests cover GPUs",
    "GpuSpec": "the GPU a function asks for; placement tests cover GPUs",
    "ImageStep": "one image method; tests/images checks every step kind has a renderer",
    "RetriesSpec": "modal.Retries of a function (runtime behaviour)",
    "Source": "file:line of a decorator",
}


def _dataclasses_in(tp: Any) -> Iterator[type]:
    """Dataclasses named anywhere in a type hint (unions, tuples, dicts)."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        yield tp
    for arg in typing.get_args(tp):
        yield from _dataclasses_in(arg)


def _literal_values(tp: Any) -> tuple[str, ...]:
    if typing.get_origin(tp) is Literal:
        return tuple(str(v) for v in typing.get_args(tp))
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(v for arg in typing.get_args(tp) for v in _literal_values(arg))
    return ()


def uses(root: type = ir.AppSpec) -> dict[type, list[str]]:
    """Every dataclass reachable from ``root`` -> the ``Owner.field`` names that hold it."""
    found: dict[type, list[str]] = {}
    todo = [root]
    while todo:
        owner = todo.pop()
        for name, hint in typing.get_type_hints(owner).items():
            for dc in _dataclasses_in(hint):
                if dc not in found:
                    todo.append(dc)
                found.setdefault(dc, []).append(f"{owner.__name__}.{name}")
    return found


def mount_fields() -> list[str]:
    """``FunctionSpec`` fields mapping a mount path to a node (``dict[str, str | dataclass]``)."""
    out = []
    for name, hint in typing.get_type_hints(ir.FunctionSpec).items():
        args = typing.get_args(hint)
        if typing.get_origin(hint) is dict and args[1] is not Any:
            out.append(name)
    return sorted(out)


def node_kinds() -> set[str]:
    """Every node kind of the IR (see the module docstring)."""
    kinds: set[str] = {f"mount:{f}" for f in mount_fields()}
    for dc, fields in uses().items():
        if dc.__name__ in ATTRIBUTES:
            continue
        values = _literal_values(typing.get_type_hints(dc).get("kind"))
        if values:
            kinds |= {f"{dc.__name__}:{v}" for v in values}
        elif len(fields) > 1:
            kinds |= {f"{dc.__name__}@{f}" for f in fields}
        else:
            kinds.add(dc.__name__)
    return kinds


def unclassified() -> list[str]:
    """Reachable dataclasses that are neither nodes nor listed attributes (none, when all is well)."""
    known = {k.split(":")[0].split("@")[0] for k in node_kinds()} | set(ATTRIBUTES)
    return sorted(dc.__name__ for dc in uses() if dc.__name__ not in known)


def instances(app: ir.AppSpec) -> dict[str, list[Any]]:
    """Kind -> the nodes of ``app`` of that kind (functions, volumes, (function, path) mounts ...)."""
    out: dict[str, list[Any]] = {}

    def add(kind: str, node: Any) -> None:
        out.setdefault(kind, []).append(node)

    for fn in app.functions:
        add(f"FunctionSpec:{fn.kind}", fn)
        if fn.web is not None:
            add(f"WebSpec:{fn.web.kind}", fn)
        if fn.schedule is not None:
            add(f"{type(fn.schedule).__name__}:{fn.schedule.kind}", fn)
        for field in mount_fields():
            for path in sorted(getattr(fn, field)):
                add(f"mount:{field}", (fn, path))
        for path in sorted(fn.cloud_bucket_mounts):
            add("CloudBucketMountSpec", (fn, path))
    for vol in app.volumes:
        add(f"VolumeSpec:{vol.kind}", vol)
    for secret in app.secrets:
        add(f"SecretSpec:{secret.kind}", secret)
    for image in app.images:
        add("ImageSpec", image)
    for entry in app.entrypoints:
        add("EntrypointSpec", entry)
    for store in app.dicts:
        add("StoreSpec@AppSpec.dicts", store)
    for store in app.queues:
        add("StoreSpec@AppSpec.queues", store)
    return out
