"""Where staged inputs and results live in an app's staging bucket: the one layout.

Every key belongs to exactly one function and one direction::

    fn/<function>/in/<call>/...        a call's inputs: written by the function's callers
    fn/<function>/in/blobs/<sha256>    large inputs (callers)
    fn/<function>/out/<call>/...       a call's results: written by the function only
    fn/<function>/out/blobs/<sha256>   large results (the function)

The IAM that the providers emit grants from :func:`prefix` (AWS: the function's role
may read ``in`` and write ``out`` of its own function, nothing else; GCP: the same with
IAM conditions on the object name), and the invokers and the runtime build every key
with :func:`key` and :func:`blobs`. One function computes the layout, so the grants
and the data cannot drift apart. A compromised function can therefore neither plant
pickles that another function or a caller will unpickle, nor read another
function's inputs. ``docs/security.md`` describes the whole threat model.

Payloads (the user's values inside envelopes) are made and read here too, by one
:func:`pack` / :func:`unpack` pair that the invokers (clients) and the runtime
(functions) share: a payload is inline up to :data:`INLINE_LIMIT` bytes, else staged
by content hash under the blob prefix of the function and direction it belongs to
(:func:`pack_inputs`, :func:`pack_result`), and a staged blob whose bytes no longer
hash to its key is refused when read.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from . import protocol
from .storage import Storage

ROOT = "fn"
INLINE_LIMIT = protocol.INLINE_LIMIT
INPUTS = "in"
RESULTS = "out"
KINDS = (INPUTS, RESULTS)
# IR function names are Python identifiers joined by dots (``Model.embed``).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# Call ids are uuid4 hex strings made by the invokers.
_CALL = re.compile(r"[A-Za-z0-9_-]+")


def prefix(function: str, kind: str) -> str:
    """``fn/<function>/<kind>``: everything of ``function`` in direction ``kind`` (``in``/``out``)."""
    if kind not in KINDS:
        raise ValueError(f"staging kind must be one of {KINDS}, got {kind!r}")
    if not _NAME.fullmatch(function) or ".." in function:
        raise ValueError(f"not a function name usable in a staging key: {function!r}")
    return f"{ROOT}/{function}/{kind}"


def key(function: str, kind: str, call: str, name: str) -> str:
    """The object ``name`` of call ``call`` (``fn/<function>/<kind>/<call>/<name>``)."""
    if not _CALL.fullmatch(call) or call == "blobs" or "/" in name or name in ("", ".", ".."):
        raise ValueError(f"bad staging call id or object name: {call!r}, {name!r}")
    return f"{prefix(function, kind)}/{call}/{name}"


def blobs(function: str, kind: str) -> str:
    """Where payloads over the inline limit are staged by content hash."""
    return f"{prefix(function, kind)}/blobs"


# --------------------------------------------------------------------------- payloads


def pack(
    obj: Any,
    storage: Storage | None = None,
    *,
    fast: bool = False,
    blobs: str = "blobs",
    key: str | None = None,
    limit: int = INLINE_LIMIT,
) -> dict[str, Any]:
    """A payload for ``obj``: inline up to ``limit`` bytes, else staged in ``storage`` under
    ``blobs/`` (by content hash) or at ``key``. ``fast`` tries plain pickle first."""
    data = protocol.serialize_fast(obj) if fast else protocol.serialize(obj)
    return pack_bytes(data, storage, blobs=blobs, key=key, limit=limit)


def pack_bytes(
    data: bytes,
    storage: Storage | None = None,
    *,
    blobs: str = "blobs",
    key: str | None = None,
    limit: int = INLINE_LIMIT,
) -> dict[str, Any]:
    """A payload for already-pickled ``data``; staged data goes to ``key`` (default: the
    content hash under ``blobs``; a unique key lets its one reader delete it)."""
    origin = {"py": protocol.PYTHON_VERSION, "cp": protocol.CLOUDPICKLE_VERSION}
    if len(data) <= limit or storage is None:
        return {"inline": data, **origin}
    key = key or f"{blobs}/{hashlib.sha256(data).hexdigest()}"
    storage.put(key, data)
    return {"ref": key, "size": len(data), **origin}


def pack_inputs(
    items: list[Any], storage: Storage | None, function: str, *, limit: int = INLINE_LIMIT
) -> dict[str, Any]:
    """The payload of a request's ``(args, kwargs)`` items, staged (when large) under
    ``function``'s inputs prefix: what every caller of a deployed function sends."""
    return pack(items, storage, blobs=blobs(function, INPUTS), limit=limit)


def pack_result(value: Any, storage: Storage | None, function: str) -> dict[str, Any]:
    """The payload of one result of ``function``, staged (when large) under its results prefix."""
    return pack(value, storage, blobs=blobs(function, RESULTS))


def unpack(payload: dict[str, Any], storage: Storage | None = None) -> Any:
    """The object in a payload, fetching staged data from ``storage``."""
    if "inline" in payload:
        return protocol.deserialize(payload["inline"], payload)
    if storage is None:
        raise protocol.DeserializationError(
            f"payload {payload['ref']!r} is staged but no storage is configured"
        )
    data = storage.get(payload["ref"])
    name = str(payload["ref"]).rsplit("/", 1)[-1]
    # Blobs are content-addressed: bytes that do not hash to their key were replaced.
    if len(name) == 64 and hashlib.sha256(data).hexdigest() != name:
        raise protocol.DeserializationError(
            f"staged payload {payload['ref']!r} does not match its sha256; refusing it"
        )
    return protocol.deserialize(data, payload)
