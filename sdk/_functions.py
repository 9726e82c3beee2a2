"""Handles users call: ``Function``, ``FunctionCall``, ``Cls`` (and its instances), ``Server``.

A handle knows its app and IR name and nothing about where the function runs: every
remote call goes to the active :class:`~pcompile.providers.invoker.Invoker`
(``pcompile._invocation``), the local worker pools under ``pcompile run`` or a
cloud invoker for a deployed app. ``.local()`` runs the raw function in-process.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from pcompile import _invocation
from pcompile._aio import aio_iter_method, aio_method
from pcompile._partial import Flags, Parameter
from pcompile._runtime_support import instantiate, run_enter
from pcompile._source import CallSite
from pcompile.exception import InvalidError

if TYPE_CHECKING:
    from pcompile._app import App
    from pcompile.providers.registry import Invoker, MapInputs, Target


@dataclass
class FunctionDef:
    """What ``@app.function`` / ``@app.cls`` / ``@app.server`` recorded: raw objects and arguments."""

    tag: str
    raw_f: Callable[..., Any] | None
    site: CallSite
    options: dict[str, Any]
    flags: Flags = field(default_factory=Flags)
    kind: str = "function"
    user_cls: type | None = None
    method_name: str | None = None


def _merged(current: tuple[tuple[str, Any], ...], options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """``with_options`` overrides on top of earlier ones, as a sorted hashable tuple."""
    return tuple(sorted({**dict(current), **options}.items()))


class _Overridable:
    """``with_concurrency`` / ``with_batching`` for handles that have ``with_options``."""

    def with_options(self, **options: Any) -> Self:
        raise NotImplementedError

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Self:
        """This handle with ``@concurrent`` limits."""
        return self.with_options(concurrency=(max_inputs, target_inputs))

    def with_batching(self, *, max_batch_size: int, wait_ms: int) -> Self:
        """This handle with ``@batched`` settings."""
        return self.with_options(batching=(max_batch_size, wait_ms))


class _Callable:
    """Shared call surface of functions and bound methods."""

    _app_name: str | None
    _tag: str
    _cls_params: tuple[tuple[str, Any], ...] = ()
    _options: tuple[tuple[str, Any], ...] = ()
    _deployment: tuple[str, str | None] | None = None

    def _invoker(self) -> Invoker:
        if self._deployment is not None:
            app_name, stack = self._deployment
            active = _invocation.active_backend()
            if active is not None and stack is None and getattr(active, "serves", lambda _a: False)(app_name):
                return active
            return _invocation.backend_for_deployment(app_name, stack)
        return _invocation.backend()

    def _target(self) -> Target:
        from pcompile.providers.registry import Target

        app_name = self._deployment[0] if self._deployment else (self._app_name or "")
        return Target(app_name, self._tag, self._cls_params, self._options)

    def _run_local(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @aio_method
    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Run once, remotely, and return the result (re-raising a remote exception)."""
        return self._invoker().call(self._target(), args, kwargs)

    @aio_iter_method
    def remote_gen(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Run a generator function remotely and iterate over what it yields."""
        return self._invoker().call_gen(self._target(), args, kwargs)

    def local(self, *args: Any, **kwargs: Any) -> Any:
        """Run the raw function in this process."""
        return self._run_local(*args, **kwargs)

    def _map(
        self,
        inputs: MapInputs,
        order_outputs: bool,
        return_exceptions: bool,
        wrap_returned_exceptions: bool | None,
    ) -> Iterator[Any]:
        return self._invoker().map(
            self._target(),
            inputs,
            order_outputs=order_outputs,
            return_exceptions=return_exceptions,
            wrap_returned_exceptions=True if wrap_returned_exceptions is None else wrap_returned_exceptions,
        )

    def map(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] = {},  # noqa: B006 - Modal's signature
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool | None = None,
    ) -> Iterator[Any]:
        """Run once per input, in parallel; one iterator per positional argument."""
        if not input_iterators:
            raise InvalidError("map needs at least one input iterator: f.map([1, 2, 3])")
        from pcompile.providers.registry import MapInputs  # here: the SDK import stays light

        inputs = MapInputs(input_iterators, kwargs)
        return self._map(inputs, order_outputs, return_exceptions, wrap_returned_exceptions)

    def starmap(
        self,
        input_iterator: Iterable[Iterable[Any]],
        *,
        kwargs: dict[str, Any] = {},  # noqa: B006 - Modal's signature
        order_outputs: bool = True,
        return_exceptions: bool = False,
        wrap_returned_exceptions: bool | None = None,
    ) -> Iterator[Any]:
        """Like map, with each input an iterable of positional arguments."""
        from pcompile.providers.registry import MapInputs

        inputs = MapInputs((input_iterator,), kwargs, star=True)
        return self._map(inputs, order_outputs, return_exceptions, wrap_returned_exceptions)

    def for_each(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] = {},  # noqa: B006 - Modal's signature
        ignore_exceptions: bool = False,
    ) -> None:
        """Run once per input and discard the results."""
        for _ in self.map(
            *input_iterators, kwargs=kwargs, order_outputs=False, return_exceptions=ignore_exceptions
        ):
            pass

    def spawn(self, *args: Any, **kwargs: Any) -> FunctionCall:
        """Start one input and return a durable handle to its result."""
        invoker = self._invoker()
        return FunctionCall(invoker.spawn(self._target(), args, kwargs), invoker)

    def spawn_map(
        self,
        *input_iterators: Iterable[Any],
        kwargs: dict[str, Any] = {},  # noqa: B006 - Modal's signature
    ) -> FunctionCall:
        """Start many inputs without waiting; returns a handle whose ``iter()`` yields the results."""
        invoker = self._invoker()
        from pcompile.providers.registry import MapInputs

        return FunctionCall(invoker.spawn_map(self._target(), MapInputs(input_iterators, kwargs)), invoker)

    def get_web_url(self) -> str | None:
        """The URL of a web function (None for other functions)."""
        return self._invoker().web_url(self._target())

    @property
    def web_url(self) -> str | None:
        """Old spelling of ``get_web_url()``."""
        return self.get_web_url()


def _attach_aio() -> None:
    """``.map.aio``, ``.spawn.aio`` ... as Modal's synchronicity provides."""
    for name in ("spawn", "get_web_url", "spawn_map", "for_each"):
        setattr(_Callable, name, aio_method(getattr(_Callable, name)))
    for name in ("map", "starmap"):
        setattr(_Callable, name, aio_iter_method(getattr(_Callable, name)))


_attach_aio()


class Function(_Callable, _Overridable):
    """A function registered on an App (``modal.Function``)."""

    def __init__(self, app: App | None, tag: str, definition: FunctionDef | None) -> None:
        self._app = app
        self._app_name = app.name if app is not None else None
        self._tag = tag
        self._def = definition

    def __repr__(self) -> str:
        return f"Function({self._tag!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Inside a container the decorated name is called directly (e.g. from another
        # function of the same module); run it in-process, as Modal does.
        return self.local(*args, **kwargs)

    @property
    def object_id(self) -> str:
        """Stable id: ``fu-<app>.<name>``."""
        return f"fu-{self._app_name}.{self._tag}"

    @property
    def tag(self) -> str:
        """The function's name in its app."""
        return self._tag

    @property
    def app(self) -> App | None:
        """The App this function belongs to."""
        return self._app

    def get_raw_f(self) -> Callable[..., Any]:
        """The undecorated Python function."""
        if self._def is None or self._def.raw_f is None:
            raise InvalidError(f"{self._tag} was looked up by name; its source is not available here")
        return self._def.raw_f

    def _run_local(self, *args: Any, **kwargs: Any) -> Any:
        return self.get_raw_f()(*args, **kwargs)

    @staticmethod
    def from_name(
        app_name: str,
        name: str,
        *,
        version: int | None = None,
        environment_name: str | None = None,
        client: Any = None,
        stack: str | None = None,
    ) -> Function:
        """A deployed (or ``pcompile serve``d) function; resolved at the first call."""
        fn = Function(None, name, None)
        fn._app_name = app_name
        fn._deployment = (app_name, stack)
        return fn

    @staticmethod
    def lookup(app_name: str, name: str, **kwargs: Any) -> Function:
        """Old spelling of ``Function.from_name``."""
        return Function.from_name(app_name, name, **kwargs)

    def hydrate(self, client: Any = None) -> Function:
        """Lookups are lazy; returns self."""
        return self

    def with_options(self, **options: Any) -> Function:
        """This function with overridden resources (cpu, memory, gpu, timeout, retries ...)."""
        clone = Function(self._app, self._tag, self._def)
        clone._deployment = self._deployment
        clone._app_name = self._app_name
        clone._options = _merged(self._options, options)
        return clone

    def update_autoscaler(self, **kwargs: Any) -> None:
        """Autoscaler settings are set at deploy in pcompile; accepted and ignored at run time."""

    def get_current_stats(self) -> dict[str, int]:
        """Queue statistics (not tracked locally)."""
        return {"backlog": 0, "num_total_runners": 0}


class FunctionCall:
    """A spawned call (``modal.FunctionCall``); ``object_id`` is durable across processes."""

    def __init__(self, call_id: str, invoker: Invoker | None = None) -> None:
        self.object_id = call_id
        self._invoker_obj = invoker

    def __repr__(self) -> str:
        return f"FunctionCall({self.object_id!r})"

    def _inv(self) -> Invoker:
        if self._invoker_obj is None:
            self._invoker_obj = _invocation.backend_for_call(self.object_id)
        return self._invoker_obj

    @aio_method
    def get(self, timeout: float | None = None, *, index: int = 0) -> Any:
        """The result; ``TimeoutError`` if not ready within ``timeout`` (0 polls once)."""
        return self._inv().get(self.object_id, timeout, index)

    @aio_method
    def cancel(self, terminate_containers: bool = False) -> None:
        """Stop the call."""
        self._inv().cancel(self.object_id, terminate_containers)

    def iter(self, *, start: int = 0, end: int | None = None) -> Iterator[Any]:
        """Results of a ``spawn_map``, in input order."""
        index = start
        while end is None or index < end:
            try:
                yield self._inv().get(self.object_id, None, index)
            except IndexError:
                return
            index += 1

    @staticmethod
    def from_id(function_call_id: str, client: Any = None) -> FunctionCall:
        """Rebuild a handle from ``object_id``, in any process."""
        return FunctionCall(function_call_id)

    @staticmethod
    def gather(*function_calls: FunctionCall) -> list[Any]:
        """Wait for all calls; re-raises the first exception."""
        return [fc.get() for fc in function_calls]

    def num_inputs(self) -> int:
        """Number of inputs (1 for ``spawn``)."""
        return 1


def _gather_aio(*function_calls: FunctionCall) -> Any:
    import asyncio

    return asyncio.to_thread(FunctionCall.gather, *function_calls)


FunctionCall.gather.aio = _gather_aio  # type: ignore[attr-defined]


class _BoundMethod(_Callable):
    """``Model(x=1).generate``: a method of a class instance, with the instance's parameters."""

    def __init__(self, obj: Obj, method_name: str) -> None:
        self._obj = obj
        self._method_name = method_name
        cls = obj._cls
        self._app_name = cls._app_name
        self._tag = f"{cls._name}.{method_name}"
        self._cls_params = obj._params
        self._options = cls._options
        self._deployment = cls._deployment

    def __repr__(self) -> str:
        return f"Method({self._tag!r})"

    def _run_local(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._obj._local_instance(), self._method_name)(*args, **kwargs)


class Obj:
    """An instance of an ``@app.cls`` class as seen by the caller: ``Model(x=1)``."""

    def __init__(self, cls: Cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._cls = cls
        self._params = cls._bind_params(args, kwargs)
        self._instance: Any = None

    def _local_instance(self) -> Any:
        if self._instance is None:
            user_cls = self._cls._get_user_cls()
            self._instance = instantiate(user_cls, dict(self._params))
            run_enter(self._instance, self._cls._hooks.get("enter", []))
        return self._instance

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        cls = self._cls
        if cls._methods is not None and name not in cls._methods:
            raise AttributeError(f"{cls._name} has no method {name!r}; methods: {sorted(cls._methods)}")
        return _BoundMethod(self, name)

    def __repr__(self) -> str:
        return f"{self._cls._name}({', '.join(f'{k}={v!r}' for k, v in self._params)})"


class Cls(_Overridable):
    """An ``@app.cls`` class (``modal.Cls``): call it with parameters to get an instance handle."""

    def __init__(
        self,
        app: App | None,
        name: str,
        user_cls: type | None,
        definition: FunctionDef | None,
        methods: dict[str, FunctionDef] | None,
        parameters: dict[str, Parameter] | None,
        hooks: dict[str, list[str]] | None = None,
    ) -> None:
        self._app = app
        self._hooks = hooks or {}
        self._app_name = app.name if app is not None else None
        self._name = name
        self._user_cls = user_cls
        self._def = definition
        self._methods = methods
        self._parameters = parameters
        self._options: tuple[tuple[str, Any], ...] = ()
        self._deployment: tuple[str, str | None] | None = None

    def __repr__(self) -> str:
        return f"Cls({self._name!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Obj:
        return Obj(self, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._methods is not None and name in self._methods:
            return getattr(self(), name)
        if self._user_cls is not None:
            return getattr(self._user_cls, name)
        raise AttributeError(name)

    def _get_user_cls(self) -> type:
        """The raw user class (plain methods; parameters are class attributes)."""
        if self._user_cls is None:
            raise InvalidError(f"{self._name} was looked up by name; its source is not available here")
        return self._user_cls

    def _bind_params(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        if self._parameters is None:
            if args:
                raise InvalidError(f"{self._name}(...) takes keyword parameters only")
            return tuple(sorted(kwargs.items()))
        if self._parameters == {} and (args or kwargs) and self._user_cls is not None:
            init = self._user_cls.__dict__.get("__init__")
            if init is not None:
                bound = inspect.signature(init).bind(None, *args, **kwargs)
                bound.apply_defaults()
                return tuple(sorted((k, v) for k, v in bound.arguments.items() if k != "self"))
        if args:
            raise InvalidError(
                f"{self._name}(...) takes keyword parameters only; declare them with modal.parameter()"
            )
        unknown = sorted(set(kwargs) - set(self._parameters))
        if unknown:
            raise InvalidError(
                f"{self._name} has no parameter {unknown[0]!r}; parameters: {sorted(self._parameters)}"
            )
        missing = sorted(k for k, p in self._parameters.items() if p.required and k not in kwargs)
        if missing:
            raise InvalidError(f"{self._name}(...) is missing required parameter {missing[0]!r}")
        values = {k: p.default for k, p in self._parameters.items() if not p.required}
        values.update(kwargs)
        return tuple(sorted(values.items()))

    @staticmethod
    def from_name(
        app_name: str,
        name: str,
        *,
        version: int | None = None,
        environment_name: str | None = None,
        client: Any = None,
        stack: str | None = None,
    ) -> Cls:
        """A deployed class; instantiate it, then call ``.method.remote()``."""
        cls = Cls(None, name, None, None, None, None)
        cls._app_name = app_name
        cls._deployment = (app_name, stack)
        return cls

    @staticmethod
    def lookup(app_name: str, name: str, **kwargs: Any) -> Cls:
        """Old spelling of ``Cls.from_name``."""
        return Cls.from_name(app_name, name, **kwargs)

    def with_options(self, **options: Any) -> Cls:
        """This class with overridden resources."""
        clone = Cls(
            self._app, self._name, self._user_cls, self._def, self._methods, self._parameters, self._hooks
        )
        clone._deployment = self._deployment
        clone._app_name = self._app_name
        clone._options = _merged(self._options, options)
        return clone

    def hydrate(self, client: Any = None) -> Cls:
        """Lookups are lazy; returns self."""
        return self


class Server(_Callable):
    """An ``@app.server`` class: a long-running HTTP server (``modal.Server``)."""

    def __init__(
        self, app: App | None, name: str, user_cls: type | None, definition: FunctionDef | None
    ) -> None:
        self._app = app
        self._app_name = app.name if app is not None else None
        self._tag = name
        self._user_cls = user_cls
        self._def = definition

    def __repr__(self) -> str:
        return f"Server({self._tag!r})"

    def _get_user_cls(self) -> type:
        if self._user_cls is None:
            raise InvalidError(f"{self._tag} was looked up by name; its source is not available here")
        return self._user_cls

    @aio_method
    def get_url(self) -> str | None:
        """The server's URL."""
        return self.get_web_url()

    @staticmethod
    def from_name(
        app_name: str, name: str, *, environment_name: str | None = None, stack: str | None = None
    ) -> Server:
        """A deployed server."""
        server = Server(None, name, None, None)
        server._app_name = app_name
        server._deployment = (app_name, stack)
        return server

    def update_autoscaler(self, **kwargs: Any) -> None:
        """Autoscaler settings are set at deploy in pcompile; accepted and ignored at run time."""
