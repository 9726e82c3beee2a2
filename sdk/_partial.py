"""Decorators that mark a function before ``@app.function`` / ``@app.cls`` sees it.

``@modal.fastapi_endpoint``, ``@modal.asgi_app``, ``@modal.method``, ``@modal.enter``,
``@modal.concurrent`` ... return a :class:`PartialFunction`: the raw function plus
flags. Stacked decorators merge their flags. ``@app.function`` and ``@app.cls`` read
them; ``@app.cls`` puts the plain functions back on the class so instances behave
normally inside a container.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pcompile._source import CallSite, caller_site
from pcompile.exception import InvalidError


@dataclass(frozen=True)
class WebConfig:
    """What a web decorator asked for."""

    kind: str
    method: str | None = None
    label: str | None = None
    requires_auth: bool = False
    port: int | None = None
    docs: bool = False
    custom_domains: tuple[str, ...] = ()
    startup_timeout: float | None = None


@dataclass(frozen=True)
class Flags:
    """Everything the ``modal.*`` decorators record about one function."""

    method: bool = False
    is_generator: bool | None = None
    enter: bool = False
    enter_snap: bool = False
    exit: bool = False
    web: WebConfig | None = None
    web_site: CallSite | None = None
    concurrency: tuple[int, int | None] | None = None
    batching: tuple[int, int] | None = None
    clustered_size: int | None = None


@dataclass
class PartialFunction:
    """A raw function with the flags of the ``modal.*`` decorators applied to it."""

    raw_f: Callable[..., Any]
    flags: Flags = field(default_factory=Flags)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # Before @app.cls processes the class, behave like the plain method.
        return self.raw_f.__get__(obj, objtype) if obj is not None else self


def unwrap(f: Any) -> tuple[Callable[..., Any], Flags]:
    """The raw function and its flags, for a plain function or a PartialFunction."""
    if isinstance(f, PartialFunction):
        return f.raw_f, f.flags
    return f, Flags()


def _apply(f: Any, decorator: str, **changes: Any) -> PartialFunction:
    if isinstance(f, type):
        raise InvalidError(f"@modal.{decorator} decorates functions or methods, not the class {f.__name__}")
    if not callable(f):
        raise InvalidError(f"@modal.{decorator} must decorate a function, got {f!r}")
    if hasattr(f, "_pcompile_registered"):
        raise InvalidError(
            f"@modal.{decorator} must be applied below @app.function / @app.cls, not above it "
            f"(put @app.function() first, then @modal.{decorator}(...))"
        )
    raw, flags = unwrap(f)
    return PartialFunction(raw, replace(flags, **changes))


def _no_bare(value: Any, decorator: str) -> None:
    if value is not None:
        raise InvalidError(
            f"Did you forget parentheses? Suggestion: `@modal.{decorator}()` instead of `@modal.{decorator}`"
        )


def _check_label(label: str | None) -> None:
    if label is not None and (
        not isinstance(label, str) or not label or not label.replace("-", "").isalnum()
    ):
        raise InvalidError(f"label={label!r}: use lowercase letters, digits and dashes")


def method(
    _warn_parentheses_missing: Any = None, *, is_generator: bool | None = None
) -> Callable[[Any], Any]:
    """Mark a method of an ``@app.cls`` class as callable remotely."""
    _no_bare(_warn_parentheses_missing, "method")
    return lambda f: _apply(f, "method", method=True, is_generator=is_generator)


def enter(_warn_parentheses_missing: Any = None, *, snap: bool = False) -> Callable[[Any], Any]:
    """Run this method once when a container starts (before inputs)."""
    _no_bare(_warn_parentheses_missing, "enter")
    return lambda f: _apply(f, "enter", enter=True, enter_snap=snap)


def exit(_warn_parentheses_missing: Any = None) -> Callable[[Any], Any]:  # noqa: A001 - Modal's name
    """Run this method when a container shuts down."""
    _no_bare(_warn_parentheses_missing, "exit")
    return lambda f: _apply(f, "exit", exit=True)


def _web(kind: str, decorator: str, **fields: Any) -> Callable[[Any], Any]:
    _check_label(fields.get("label"))
    domains = tuple(fields.pop("custom_domains", None) or ())
    site = caller_site()
    config = WebConfig(kind=kind, custom_domains=domains, **fields)
    return lambda f: _apply(f, decorator, web=config, web_site=site)


def fastapi_endpoint(
    _warn_parentheses_missing: Any = None,
    *,
    method: str = "GET",
    label: str | None = None,
    custom_domains: list[str] | None = None,
    docs: bool = False,
    requires_proxy_auth: bool = False,
) -> Callable[[Any], Any]:
    """Serve this function as an HTTP endpoint (FastAPI)."""
    _no_bare(_warn_parentheses_missing, "fastapi_endpoint")
    if not isinstance(method, str) or method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}:
        raise InvalidError(f"fastapi_endpoint(method={method!r}): use GET, POST, PUT, PATCH, DELETE or HEAD")
    return _web(
        "fastapi",
        "fastapi_endpoint",
        method=method.upper(),
        label=label,
        custom_domains=custom_domains,
        docs=docs,
        requires_auth=requires_proxy_auth,
    )


def web_endpoint(
    _warn_parentheses_missing: Any = None,
    *,
    method: str = "GET",
    label: str | None = None,
    custom_domains: list[str] | None = None,
    docs: bool = False,
    requires_proxy_auth: bool = False,
    wait_for_response: bool = True,
) -> Callable[[Any], Any]:
    """Old name of :func:`fastapi_endpoint` (Modal rejects it; pcompile warns and accepts it)."""
    warnings.warn(
        "modal.web_endpoint was renamed; use @modal.fastapi_endpoint(...)", DeprecationWarning, stacklevel=2
    )
    return fastapi_endpoint(
        _warn_parentheses_missing,
        method=method,
        label=label,
        custom_domains=custom_domains,
        docs=docs,
        requires_proxy_auth=requires_proxy_auth,
    )


def asgi_app(
    _warn_parentheses_missing: Any = None,
    *,
    label: str | None = None,
    custom_domains: list[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[Any], Any]:
    """Serve the ASGI app this zero-argument function returns."""
    _no_bare(_warn_parentheses_missing, "asgi_app")
    return _web(
        "asgi", "asgi_app", label=label, custom_domains=custom_domains, requires_auth=requires_proxy_auth
    )


def wsgi_app(
    _warn_parentheses_missing: Any = None,
    *,
    label: str | None = None,
    custom_domains: list[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[Any], Any]:
    """Serve the WSGI app this zero-argument function returns."""
    _no_bare(_warn_parentheses_missing, "wsgi_app")
    return _web(
        "wsgi", "wsgi_app", label=label, custom_domains=custom_domains, requires_auth=requires_proxy_auth
    )


def web_server(
    port: int,
    *,
    startup_timeout: float = 5.0,
    label: str | None = None,
    custom_domains: list[str] | None = None,
    requires_proxy_auth: bool = False,
) -> Callable[[Any], Any]:
    """This function starts a server listening on ``port``; requests are proxied to it."""
    if callable(port) or not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidError(
            f"web_server needs the TCP port (1-65535) its server listens on, e.g. "
            f"`@modal.web_server(8000)`; got {port!r}"
        )
    return _web(
        "web_server",
        "web_server",
        port=port,
        startup_timeout=startup_timeout,
        label=label,
        custom_domains=custom_domains,
        requires_auth=requires_proxy_auth,
    )


def concurrent(
    _warn_parentheses_missing: Any = None, *, max_inputs: int | None = None, target_inputs: int | None = None
) -> Callable[[Any], Any]:
    """Let one container serve up to ``max_inputs`` inputs at once (on a function or a class)."""
    _no_bare(_warn_parentheses_missing, "concurrent")
    if not isinstance(max_inputs, int) or max_inputs < 1:
        raise InvalidError(f"concurrent(max_inputs={max_inputs!r}): pass a positive int")
    if target_inputs is not None and target_inputs > max_inputs:
        raise InvalidError(
            f"concurrent: target_inputs ({target_inputs}) cannot exceed max_inputs ({max_inputs})"
        )
    value = (max_inputs, target_inputs)

    def decorate(f: Any) -> Any:
        if isinstance(f, type):
            f._pcompile_concurrency = value  # type: ignore[attr-defined]
            return f
        return _apply(f, "concurrent", concurrency=value)

    return decorate


def batched(
    _warn_parentheses_missing: Any = None, *, max_batch_size: int, wait_ms: int
) -> Callable[[Any], Any]:
    """The function takes a list of inputs and returns a list of outputs."""
    _no_bare(_warn_parentheses_missing, "batched")
    if not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= 1000:
        raise InvalidError(f"batched(max_batch_size={max_batch_size!r}): must be between 1 and 1000")
    if not isinstance(wait_ms, int) or not 0 <= wait_ms < 10 * 60 * 1000:
        raise InvalidError(f"batched(wait_ms={wait_ms!r}): must be between 0 and 600000")
    return lambda f: _apply(f, "batched", batching=(max_batch_size, wait_ms))


def clustered(size: int, broadcast: bool = True, rdma: bool = False, fabric_size: int | None = None) -> Any:
    """Multi-node functions (``modal.experimental.clustered``): recorded, run as one node locally."""
    if not isinstance(size, int) or size < 1:
        raise InvalidError(f"clustered(size={size!r}): pass a positive int")
    return lambda f: _apply(f, "clustered", clustered_size=size)


_NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class Parameter:
    """A class parameter of an ``@app.cls`` class (``modal.parameter()``)."""

    default: Any = _NO_DEFAULT
    init: bool = True

    @property
    def required(self) -> bool:
        """True when the parameter has no default."""
        return self.default is _NO_DEFAULT


def parameter(*, default: Any = _NO_DEFAULT, init: bool = True) -> Any:
    """Declare a constructor parameter of an ``@app.cls`` class: ``x: int = modal.parameter()``."""
    if default is not _NO_DEFAULT and not isinstance(default, str | int | bool | bytes | type(None)):
        raise InvalidError(
            f"modal.parameter(default={default!r}): only str, int, bool and bytes are supported"
        )
    return Parameter(default=default, init=init)
