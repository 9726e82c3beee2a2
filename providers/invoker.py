"""The client-side interface every provider implements to reach functions.

The SDK handles (``Function.remote``, ``.map``, ``.spawn`` ...) never know where a
function runs; they hand a :class:`Target` and pickled-free Python values to the
:class:`Invoker` of the active backend: the local worker pools under ``pcompile
run``, or the AWS/GCP invokers that read a deployment manifest (their shared parts:
:mod:`pcompile.providers.invoker_core`).

Every backend raises what Modal's client raises, the same classes everywhere
(``tests/contract`` holds them to it): ``NotFoundError`` for an unknown app or
function, ``FunctionTimeoutError`` (a builtin ``TimeoutError``) when a function runs
past its timeout or ``get`` finds no result in time, the user's own exception type
(message and remote traceback kept) for a failure in the user's code,
``ExecutionError`` for a cancelled call and ``InvokeError`` (an ``ExecutionError``) for
a platform failure.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Target:
    """Which function to call: IR app and function names (``"Cls.method"`` for methods),
    the constructor parameters of a class instance, and ``with_options`` overrides."""

    app: str
    function: str
    cls_params: tuple[tuple[str, Any], ...] = ()
    options: tuple[tuple[str, Any], ...] = field(default=())


class MapInputs:
    """A map's inputs as ``.map``/``.starmap``/``.spawn_map`` received them: ``columns``
    zipped give each input's positional arguments (``star``: one column whose items are
    the argument iterables), and ``kwargs`` go to every input.

    Iterating yields ``(args, kwargs)`` pairs, what every invoker takes. A backend that
    can use the columns as they are reads :meth:`batches` instead, so a hot local map
    builds no tuple and no dict per input.
    """

    __slots__ = ("columns", "kwargs", "star")

    def __init__(
        self, columns: tuple[Iterable[Any], ...], kwargs: dict[str, Any], *, star: bool = False
    ) -> None:
        self.columns, self.kwargs, self.star = columns, kwargs, star

    def __iter__(self) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
        kwargs = self.kwargs
        return ((args, dict(kwargs)) for args in self._args())

    def _args(self) -> Iterator[tuple[Any, ...]]:
        """Each input's positional arguments."""
        return map(tuple, self.columns[0]) if self.star else zip(*self.columns, strict=False)

    def size(self) -> int | None:
        """How many inputs there are, when every column knows its length."""
        try:
            return min(len(column) for column in self.columns)  # type: ignore[arg-type]
        except TypeError:
            return None

    def batches(self, size: int) -> Iterator[tuple[str, list[Any]]]:
        """Lists of at most ``size`` inputs, each with its form: ``"one"`` (one column and
        no kwargs: the values themselves), ``"args"`` (argument tuples, no kwargs) or
        ``"kw"`` (``(args, kwargs)`` pairs, one kwargs dict shared: a callee gets its own
        copy from ``**``)."""
        source: Iterator[Any]
        if self.kwargs:
            form, source = "kw", zip(self._args(), itertools.repeat(self.kwargs))
        elif len(self.columns) == 1 and not self.star:
            form, source = "one", iter(self.columns[0])
        else:
            form, source = "args", self._args()
        while batch := list(itertools.islice(source, size)):
            yield form, batch


class Invoker(Protocol):
    """What a backend must do; every call blocks, the SDK adds ``.aio`` on top."""

    def call(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run one input and return its value, or raise the remote exception."""
        ...

    def call_gen(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        """Run a generator function and yield what it yields."""
        ...

    def map(
        self,
        target: Target,
        inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]],
        *,
        order_outputs: bool,
        return_exceptions: bool,
        wrap_returned_exceptions: bool,
    ) -> Iterator[Any]:
        """Run many inputs, yielding outputs (in input order when ``order_outputs``)."""
        ...

    def spawn(self, target: Target, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Start one input and return a durable call id."""
        ...

    def spawn_map(self, target: Target, inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]]) -> str:
        """Start many inputs and return one durable call id for all of them."""
        ...

    def get(self, call_id: str, timeout: float | None, index: int = 0) -> Any:
        """The result of a spawned call; ``FunctionTimeoutError`` when not ready within ``timeout``
        (0: look once), ``ExecutionError`` when the call was cancelled before it finished."""
        ...

    def cancel(self, call_id: str, terminate_containers: bool = False) -> None:
        """Stop a spawned call: its unfinished inputs read as cancelled from then on."""
        ...

    def web_url(self, target: Target) -> str | None:
        """The URL of a web function, or None."""
        ...
