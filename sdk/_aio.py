"""``.aio`` twins of blocking methods, as Modal's synchronicity wrappers provide."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_END = object()


async def aiter_from_thread(make_iter: Callable[[], Iterator[Any]]) -> AsyncIterator[Any]:
    """Drive a blocking iterator on a worker thread, yielding its items asynchronously."""
    import asyncio  # lazily: asyncio costs ~100 ms at import, and workers rarely need it

    iterator = await asyncio.to_thread(make_iter)
    while True:
        item = await asyncio.to_thread(next, iterator, _END)
        if item is _END:
            return
        yield item


class _Bound(Generic[T]):
    def __init__(self, func: Callable[..., T], owner: Any, is_iter: bool) -> None:
        self._func = func
        self._owner = owner
        self._is_iter = is_iter
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        return self._func(self._owner, *args, **kwargs)

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        """The same call without blocking the event loop."""
        import asyncio

        if self._is_iter:
            return aiter_from_thread(lambda: iter(self._func(self._owner, *args, **kwargs)))  # type: ignore[call-overload]
        return asyncio.to_thread(self._func, self._owner, *args, **kwargs)


class aio_method(Generic[T]):  # noqa: N801 - used as a decorator, like property
    """Make ``obj.method(...)`` blocking and ``obj.method.aio(...)`` awaitable."""

    def __init__(self, func: Callable[..., T], *, is_iter: bool = False) -> None:
        self._func = func
        self._is_iter = is_iter
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __get__(self, owner: Any, objtype: Any = None) -> _Bound[T]:
        return _Bound(self._func, owner, self._is_iter)


def aio_iter_method(func: Callable[..., T]) -> aio_method[T]:
    """Like :class:`aio_method` for methods returning iterators: ``.aio`` is an async iterator."""
    return aio_method(func, is_iter=True)
