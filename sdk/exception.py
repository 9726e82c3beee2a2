"""Modal's exception names (``modal.exception``), raised by pcompile with the same meaning."""

from __future__ import annotations

import builtins


class Error(Exception):
    """Base class for pcompile errors (``modal.Error``)."""


class InvalidError(Error):
    """A bad argument to a decorator or constructor; the message says what to use instead."""


class DeprecationError(Error):
    """An API Modal has removed and pcompile cannot map to a new spelling."""


class NotFoundError(Error):
    """A named object (app, function, secret, volume ...) does not exist."""


class AlreadyExistsError(Error):
    """A named object already exists."""


class ConflictError(Error):
    """Two writers raced on the same object."""


class ExecutionError(Error):
    """The function could not be run (no backend, a worker died, a deployment is missing)."""


class InvokeError(ExecutionError):
    """The platform failed to run an input (an HTTP error, a crashed Lambda, a failed Batch
    job): not the user's exception, which is raised as its own type. The same class on
    every cloud."""


class RemoteError(Error):
    """A remote exception that could not be re-raised as its own type."""


class TimeoutError(Error, builtins.TimeoutError):
    """A call did not finish in time; also a builtin ``TimeoutError`` so either catch works."""


class FunctionTimeoutError(TimeoutError):
    """A function ran past its ``timeout``, or ``FunctionCall.get(timeout=...)`` found no
    result in time; the same class from every backend."""


class OutputExpiredError(TimeoutError):
    """The result of a spawned call is no longer stored."""


class InputCancellation(BaseException):
    """Raised inside a function whose input was cancelled."""


class InteractiveTimeoutError(TimeoutError):
    """An interactive session timed out."""


class PlatformTimeoutError(InvokeError, FunctionTimeoutError):
    """The platform stopped a function at its timeout (Lambda's "Task timed out", Cloud Run's
    504) before the runtime could report it: a :class:`FunctionTimeoutError`, as Modal raises
    for a timeout, and an :class:`InvokeError`, as every platform failure is."""


class VolumeUploadTimeoutError(TimeoutError):
    """A volume upload did not finish in time."""


class AuthError(Error):
    """Credentials were missing or rejected."""


class ConnectionError(Error):
    """A backend could not be reached."""


class VersionError(Error):
    """The client and the runtime disagree on a version (Python, cloudpickle, protocol)."""


class SerializationError(Error):
    """An argument or result could not be pickled or unpickled."""


class DeserializationError(SerializationError):
    """An argument or result could not be unpickled."""


class ClientClosed(Error):
    """The client was closed."""


class SandboxTimeoutError(TimeoutError):
    """A sandbox ran past its timeout."""


class SandboxTerminatedError(Error):
    """A sandbox was terminated."""


class PendingDeprecationError(UserWarning):
    """Warning: an API that will be removed."""


class DeprecationWarning_(DeprecationWarning):  # noqa: N801 - distinct from the builtin on purpose
    """Warning category for old Modal spellings pcompile still accepts."""
