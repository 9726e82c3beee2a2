"""Running user code: resolve a function by module + qualname, keep the ``@app.cls``
instance of this container, run one input (sync, async, generator, batched) under
its timeout, and compute Modal's retry delays.

Specs are the IR's function dicts (``compiler/ir.py`` field names) read from JSON;
this module never imports the compiler.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # asyncio is imported on first async use: a sync worker starts without it
    import asyncio

from pcompile.exception import FunctionTimeoutError, InvalidError


def retry_delay(retries: dict[str, Any], attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based), as ``modal.Retries``."""
    delay = float(retries.get("initial_delay", 1.0)) * float(retries.get("backoff_coefficient", 2.0)) ** (
        attempt - 1
    )
    return min(delay, float(retries.get("max_delay", 60.0)))


def unwrap(obj: Any) -> Any:
    """The raw user object behind an SDK handle (function handle or ``@app.cls`` handle)."""
    for attr in ("get_raw_f", "_get_user_cls"):
        getter = getattr(obj, attr, None)
        if callable(getter):
            return getter()
    return obj


def import_qualname(module: str, qualname: str) -> Any:
    """``module.qualname`` as imported here (handles unwrapped)."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = unwrap(getattr(obj, part))
    return obj


def instantiate(user_cls: type, params: dict[str, Any]) -> Any:
    """An ``@app.cls`` instance with ``modal.parameter`` values, via the SDK when present."""
    try:
        from pcompile._runtime_support import instantiate as sdk_instantiate
    except ImportError:
        obj: Any = object.__new__(user_cls)
        for key, value in params.items():
            setattr(obj, key, value)
        return obj
    return sdk_instantiate(user_cls, params)


class Container:
    """What one container (local worker, Lambda, Batch job ...) holds for an app.

    ``functions`` are IR function dicts; ``cls_params`` the parameters of the class
    instance this container serves (Modal runs one parameter set per container).
    """

    def __init__(self, functions: list[dict[str, Any]], cls_params: dict[str, Any] | None = None) -> None:
        self.specs = {f["name"]: f for f in functions}
        self.cls_params = cls_params or {}
        self._instances: dict[str, Any] = {}
        self._callables: dict[str, Callable[..., Any]] = {}
        self._async: dict[str, bool] = {}
        self._timeouts = {name: _timeout(spec) for name, spec in self.specs.items()}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """This container's event loop for coroutines, made on first use (importing
        asyncio costs a sync function's worker a noticeable part of its start)."""
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop

    def spec(self, name: str) -> dict[str, Any]:
        """The IR dict of function ``name``."""
        try:
            return self.specs[name]
        except KeyError:
            raise InvalidError(
                f"this container does not serve {name!r}; it has {sorted(self.specs)}"
            ) from None

    def start(self) -> None:
        """Import every function and run ``@enter`` hooks (once per container)."""
        for name in sorted(self.specs):
            self.callable(name)

    def callable(self, name: str) -> Callable[..., Any]:
        """The bound callable for function ``name`` (cached)."""
        if name not in self._callables:
            spec = self.spec(name)
            cls = spec.get("cls")
            if cls and spec.get("kind") == "server":
                instance = self._instance(spec["module"], cls)
                self._callables[name] = lambda: instance  # @app.server: the instance is the server
            elif cls:
                instance = self._instance(spec["module"], cls)
                self._callables[name] = getattr(instance, spec["qualname"].rsplit(".", 1)[-1])
            else:
                self._callables[name] = import_qualname(spec["module"], spec["qualname"])
            self._async[name] = inspect.iscoroutinefunction(self._callables[name])
        return self._callables[name]

    def _instance(self, module: str, cls: dict[str, Any]) -> Any:
        key = cls["qualname"]
        if key not in self._instances:
            user_cls = import_qualname(module, key)
            instance = instantiate(user_cls, self.cls_params)
            for hook in [*cls.get("enter_snap", ()), *cls.get("enter", ())]:
                self.run_sync_or_async(getattr(instance, hook), (), {}, None)
            self._instances[key] = instance
        return self._instances[key]

    def stop(self) -> None:
        """Run ``@exit`` hooks of every instance, then close the event loop."""
        for _name, spec in sorted(self.specs.items()):
            cls = spec.get("cls")
            instance = self._instances.pop(cls["qualname"], None) if cls else None
            for hook in cls.get("exit", ()) if (cls and instance is not None) else ():
                with contextlib.suppress(Exception):
                    self.run_sync_or_async(getattr(instance, hook), (), {}, None)
        if self._loop is not None:
            self._loop.close()

    def run_sync_or_async(
        self,
        fn: Callable[..., Any],
        args: Any,
        kwargs: Any,
        timeout: float | None,
        is_async: bool | None = None,
    ) -> Any:
        """Call ``fn``; coroutines run on this container's loop; ``timeout`` enforced."""
        if inspect.iscoroutinefunction(fn) if is_async is None else is_async:
            import asyncio

            coro = asyncio.wait_for(fn(*args, **kwargs), timeout)
            try:
                return self.loop.run_until_complete(coro)
            except TimeoutError:
                raise FunctionTimeoutError(f"function timed out after {timeout:g} s") from None
        with deadline(timeout):
            return fn(*args, **kwargs)

    def run(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """One input of function ``name``: its return value (generators: see :meth:`iterate`)."""
        fn = self.callable(name)
        return self.run_sync_or_async(fn, args, kwargs, self._timeouts[name], self._async[name])

    def iterate(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        """The items of a generator (sync or async) input, under its timeout."""
        spec = self.spec(name)
        result = self.callable(name)(*args, **kwargs)
        with deadline(_timeout(spec)):
            if inspect.isasyncgen(result):
                while True:
                    try:
                        yield self.loop.run_until_complete(result.__anext__())
                    except StopAsyncIteration:
                        return
            else:
                yield from result

    def run_batch(self, name: str, items: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
        """A ``@batched`` call: one list per argument in, one output per input back."""
        columns = [list(col) for col in zip(*(args for args, _ in items), strict=True)]
        kw_names = sorted({k for _, kw in items for k in kw})
        kw_lists = {k: [kw[k] for _, kw in items] for k in kw_names}
        out = self.run(name, tuple(columns), kw_lists)
        if not isinstance(out, list) or len(out) != len(items):
            raise InvalidError(
                f"@batched function {name!r} must return a list with one output per input "
                f"({len(items)}), got {type(out).__name__}"
                + (f" of length {len(out)}" if isinstance(out, list) else "")
            )
        return out


def _timeout(spec: dict[str, Any]) -> float | None:
    value = spec.get("timeout")
    return float(value) if value else None


_armed: list[float] = []
_handler_installed = False


def _on_alarm(signum: int, frame: Any) -> None:
    if _armed:
        raise FunctionTimeoutError(f"function timed out after {_armed[-1]:g} s")


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`FunctionTimeoutError` in the main thread after ``seconds``.

    Other threads (``@concurrent`` sync functions) cannot be interrupted in Python;
    there the caller enforces the timeout by abandoning the input. The SIGALRM
    handler is installed once; each input only arms and disarms the timer.
    """
    global _handler_installed
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    if not _handler_installed:
        signal.signal(signal.SIGALRM, _on_alarm)
        _handler_installed = True
    _armed.append(seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _armed.pop()
