"""What ``modal.Dict`` and ``modal.Queue`` share: a name, lookups by name or id, and a backend.

Neither has a public constructor (Modal raises on ``Dict()``); ``from_name``,
``from_id`` and ``ephemeral`` build handles, and every operation goes to the
backend ``pcompile._storage.<kind>_backend(name)`` returns.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar

from pcompile._aio import aio_method
from pcompile._source import CallSite, caller_site
from pcompile.exception import InvalidError

S = TypeVar("S", bound="NamedStore")
# Modal's object names, which are also valid DynamoDB table and Firestore collection names.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


class NamedStore:
    """Base of Dict and Queue; subclasses set ``_KIND`` (backend) and ``_ID_PREFIX``."""

    _KIND: ClassVar[str]
    _ID_PREFIX: ClassVar[str]
    name: str
    create_if_missing: bool
    _site: CallSite

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kind = type(self).__name__
        raise RuntimeError(f"{kind}() is not allowed; use {kind}.from_name(name, create_if_missing=True)")

    @classmethod
    def _make(cls: type[S], name: str, create_if_missing: bool) -> S:
        obj = cls.__new__(cls)
        obj.name = name
        obj.create_if_missing = create_if_missing
        obj._site = caller_site()
        return obj

    def _b(self) -> Any:
        from pcompile import _storage

        return getattr(_storage, f"{self._KIND}_backend")(self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @classmethod
    def from_name(
        cls: type[S],
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        client: Any = None,
    ) -> S:
        """The object called ``name``."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            suggestion = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-._")[:63] or "my-store"
            site = caller_site()
            raise InvalidError(
                f"{site.file}:{site.line}: invalid {cls.__name__} name {name!r}: a name starts with a "
                "letter or digit and has only letters, digits, '.', '_' or '-' (at most 63 characters); "
                f"rename it, e.g. {suggestion!r}"
            )
        return cls._make(name, create_if_missing)

    @classmethod
    @contextlib.contextmanager
    def ephemeral(cls: type[S], **kwargs: Any) -> Iterator[S]:
        """A temporary object, dropped when the block exits."""
        obj = cls._make(f"ephemeral-{uuid.uuid4().hex[:12]}", True)
        try:
            yield obj
        finally:
            obj._b().drop()

    @classmethod
    def from_id(cls: type[S], object_id: str, client: Any = None) -> S:
        """These objects are addressed by name; the id is the name with a prefix."""
        return cls._make(object_id.removeprefix(f"{cls._ID_PREFIX}-"), False)

    @property
    def object_id(self) -> str:
        """Stable id of this object."""
        return f"{self._ID_PREFIX}-{self.name}"

    @aio_method
    def info(self) -> dict[str, Any]:
        """Name and id."""
        return {"name": self.name, "object_id": self.object_id}

    def hydrate(self: S, client: Any = None) -> S:
        """Nothing to hydrate: returns self."""
        return self
