"""Modal names pcompile exports for compatibility but does not implement yet.

Importing them works (so programs load and compile); using them raises one clear
sentence saying what to do instead.
"""

from __future__ import annotations

from typing import Any, NoReturn

from pcompile.exception import ExecutionError


def _unsupported(name: str, hint: str) -> type:
    def fail(*args: Any, **kwargs: Any) -> NoReturn:
        raise ExecutionError(f"modal.{name} is not supported by pcompile yet; {hint}")

    namespace = {
        "__init__": fail,
        "__getattr__": lambda self, attr: fail(),
        "__doc__": f"Unsupported: modal.{name}.",
    }
    cls = type(name, (), namespace)
    for method in ("create", "from_name", "from_id", "lookup", "ephemeral", "list"):
        setattr(cls, method, staticmethod(fail))
    return cls


Sandbox = _unsupported("Sandbox", "run the command inside a function with subprocess instead")
SandboxSnapshot = _unsupported("SandboxSnapshot", "sandboxes are not supported")
Tunnel = _unsupported("Tunnel", "use `pcompile serve` to expose web endpoints on loopback")
Proxy = _unsupported("Proxy", "use the cloud's NAT gateway settings in the stack file")
Probe = _unsupported("Probe", "use a web endpoint's own health route")
SchedulerPlacement = _unsupported("SchedulerPlacement", "pin regions with region= or the stack file")
Client = _unsupported("Client", "pcompile needs no client object; credentials come from the cloud SDKs")
Environment = _unsupported("Environment", "use pcompile stacks (stacks/<name>.yaml) instead of environments")
Workspace = _unsupported("Workspace", "use pcompile stacks instead")
Cluster = _unsupported("Cluster", "multi-node clusters are not supported")


class FilePatternMatcher:
    """Glob patterns for ``ignore=`` arguments (``modal.FilePatternMatcher``)."""

    def __init__(self, *patterns: str) -> None:
        self.patterns = list(patterns)

    def __invert__(self) -> FilePatternMatcher:
        return FilePatternMatcher(*(p[1:] if p.startswith("!") else "!" + p for p in self.patterns))

    def __call__(self, path: Any) -> bool:
        import fnmatch

        return any(fnmatch.fnmatch(str(path), p) for p in self.patterns if not p.startswith("!"))


def forward(port: int, *, unencrypted: bool = False, client: Any = None) -> NoReturn:
    """``modal.forward`` is not supported: use ``pcompile serve``."""
    raise ExecutionError("modal.forward is not supported by pcompile; use `pcompile serve` for web endpoints")


def interact() -> None:
    """Interactive sessions are not supported; this is a no-op."""


def enable_output(show_progress: bool = True) -> Any:
    """pcompile always shows output; a no-op context manager."""
    import contextlib

    return contextlib.nullcontext()
