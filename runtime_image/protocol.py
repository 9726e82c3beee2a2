"""The wire protocol (DESIGN.md section 4): envelopes, payloads and errors.

An *envelope* is a small dict of plain values (str, int, float, bytes, lists, dicts)
framed as ``MAGIC + version byte + pickle``; it never holds user objects directly.
User data travels inside envelopes as *payloads*:

* ``{"inline": bytes, "py": "3.11", "cp": "3.1.1"}`` - cloudpickle bytes, up to
  :data:`INLINE_LIMIT`;
* ``{"ref": key, "size": n, "py": ..., "cp": ...}`` - bigger data, staged in a
  :class:`pcompile.runtime.storage.Storage` under ``key``.

A result is ``{"status": "ok", "value": payload}`` or ``{"status": "error", "error":
{type, message, traceback, pickled}}``; :func:`raise_error` turns the latter back into
the original exception (a remote ``ValueError`` is raised as ``ValueError``) with the
remote traceback attached as its ``__cause__``.
"""

from __future__ import annotations

import pickle
import platform
import traceback
from typing import Any

import cloudpickle

from pcompile.exception import DeserializationError, RemoteError, SerializationError, VersionError

ENVELOPE_VERSION = 1
MAGIC = b"PCE"
INLINE_LIMIT = 2 * 1024 * 1024
# Immutable built-in types: a value of one is the same wherever it unpickles, and no two
# inputs can share one as mutable state (so a batch of them may go as one pickle).
ATOMIC = frozenset((int, float, str, bytes, bool, type(None), complex))
PYTHON_VERSION = ".".join(platform.python_version_tuple()[:2])
CLOUDPICKLE_VERSION = cloudpickle.__version__


# --------------------------------------------------------------------------- envelopes


def dump_envelope(body: dict[str, Any]) -> bytes:
    """Frame an envelope of plain values as bytes."""
    return MAGIC + bytes([ENVELOPE_VERSION]) + pickle.dumps(body, protocol=5)


def load_envelope(data: bytes) -> dict[str, Any]:
    """Read an envelope; a newer version or foreign bytes is a :class:`VersionError`."""
    if data[:3] != MAGIC:
        raise VersionError("not a pcompile envelope (bad magic bytes)")
    if data[3] > ENVELOPE_VERSION:
        raise VersionError(
            f"envelope version {data[3]} is newer than this runtime understands "
            f"({ENVELOPE_VERSION}); rebuild the image with the caller's pcompile version"
        )
    body = pickle.loads(data[4:])
    if not isinstance(body, dict):
        raise VersionError("malformed envelope: expected a dict")
    return body


# --------------------------------------------------------------------------- data


def serialize(obj: Any) -> bytes:
    """cloudpickle ``obj``; pickling errors name the value's type."""
    try:
        return cloudpickle.dumps(obj, protocol=5)
    except Exception as exc:
        raise SerializationError(f"could not pickle a {type(obj).__name__}: {exc}") from exc


def serialize_fast(obj: Any) -> bytes:
    """Plain pickle when it can (C speed, same wire format), cloudpickle otherwise."""
    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:
        return serialize(obj)


def deserialize(data: bytes, origin: dict[str, Any] | None = None) -> Any:
    """Unpickle ``data``; failures name the missing module or the version mismatch."""
    try:
        return pickle.loads(data)
    except ModuleNotFoundError as exc:
        raise DeserializationError(
            f"could not unpickle data: module {exc.name!r} is not installed here; "
            "add it to the function's image (or install it locally)" + _mismatch(origin)
        ) from exc
    except Exception as exc:
        raise DeserializationError(
            f"could not unpickle data ({type(exc).__name__}: {exc})" + _mismatch(origin)
        ) from exc


def _mismatch(origin: dict[str, Any] | None) -> str:
    """A sentence about Python/cloudpickle version differences, if any."""
    if not origin:
        return ""
    theirs = (origin.get("py"), origin.get("cp"))
    if theirs == (PYTHON_VERSION, CLOUDPICKLE_VERSION):
        return ""
    return (
        f"; the data was pickled with Python {theirs[0]} / cloudpickle {theirs[1]} but this "
        f"process runs Python {PYTHON_VERSION} / cloudpickle {CLOUDPICKLE_VERSION}: use the same "
        "versions on both sides"
    )


# Payloads (``pack``, ``pack_bytes``, ``unpack``) have one implementation, shared by the
# invokers and the runtime: :mod:`.staging`.


# --------------------------------------------------------------------------- errors


def error_info(exc: BaseException) -> dict[str, Any]:
    """What a result says about a failure: type, message, traceback, pickled exception."""
    try:
        pickled: bytes | None = serialize(exc)
    except Exception:
        pickled = None
    return {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "pickled": pickled,
        "py": PYTHON_VERSION,
        "cp": CLOUDPICKLE_VERSION,
    }


class RemoteTraceback(Exception):
    """Carries the remote traceback text; attached as ``__cause__`` so it prints."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n\nRemote traceback:\n" + self.text.rstrip()


def to_exception(info: dict[str, Any]) -> BaseException:
    """The remote exception as a local object (its own type when it unpickles)."""
    exc: BaseException | None = None
    if info.get("pickled"):
        try:
            loaded = pickle.loads(info["pickled"])
            if isinstance(loaded, BaseException):
                exc = loaded
        except Exception:
            exc = None
    if exc is None:
        exc = RemoteError(f"{info['type']}: {info['message']}")
    exc.__cause__ = RemoteTraceback(info.get("traceback", ""))
    return exc


def raise_error(info: dict[str, Any]) -> None:
    """Raise the remote exception described by ``info``."""
    raise to_exception(info)
