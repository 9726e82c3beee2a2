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
"""

from __future__ import annotations

import re

ROOT = "fn"
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
