"""The intermediate representation: what an App *is*, as plain frozen data.

The IR is the only thing providers and the runtime see of a user's program. It is
built by :mod:`pcompile.compiler.build` from the SDK objects, and it is:

* frozen dataclasses, so nothing downstream can mutate what the compiler decided;
* serialisable to JSON with sorted keys and no timestamps or absolute paths, so two
  compiles of the same source are byte-identical (``dumps`` / ``loads`` round-trip);
* versioned by ``SCHEMA_VERSION``; readers refuse a newer major version.

Secret *values* never enter the IR: a ``Secret.from_dict`` appears with its key
names only. Values travel as Pulumi secret config at deploy time or straight from
the live SDK object when running locally.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1

WebKind = Literal["fastapi", "asgi", "wsgi", "web_server", "server"]


@dataclass(frozen=True)
class Source:
    """Where a decorator or call sits: ``file`` relative to the project root."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class GpuRequest:
    """One GPU choice: ``type`` upper-cased as Modal does (``"ANY"`` for ``"any"``)."""

    type: str
    count: int = 1


@dataclass(frozen=True)
class GpuSpec:
    """The GPU a function asks for, with Modal's fallback list after the first choice."""

    type: str
    count: int = 1
    fallbacks: tuple[GpuRequest, ...] = ()

    def choices(self) -> tuple[GpuRequest, ...]:
        """All acceptable GPUs in order of preference."""
        return (GpuRequest(self.type, self.count), *self.fallbacks)


@dataclass(frozen=True)
class RetriesSpec:
    """``modal.Retries``: delay of attempt n is ``min(initial_delay * coeff**(n-1), max_delay)``."""

    max_retries: int
    backoff_coefficient: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 60.0


@dataclass(frozen=True)
class CronSchedule:
    """A Modal ``Cron``: the expression exactly as written and its IANA time zone."""

    expression: str
    timezone: str = "UTC"
    kind: Literal["cron"] = "cron"


@dataclass(frozen=True)
class PeriodSchedule:
    """A Modal ``Period`` as a number of seconds (months and years as 30 and 365 days)."""

    seconds: float
    kind: Literal["period"] = "period"


Schedule = CronSchedule | PeriodSchedule


@dataclass(frozen=True)
class WebSpec:
    """How a function is exposed over HTTP; ``requires_auth`` is Modal's ``requires_proxy_auth``."""

    kind: WebKind
    method: str | None = None
    label: str | None = None
    requires_auth: bool = False
    port: int | None = None
    docs: bool = False
    custom_domains: tuple[str, ...] = ()
    startup_timeout: float | None = None


@dataclass(frozen=True)
class ConcurrencySpec:
    """``@modal.concurrent``: inputs one container handles at once."""

    max_inputs: int
    target_inputs: int | None = None


@dataclass(frozen=True)
class BatchingSpec:
    """``@modal.batched``: the function takes and returns lists."""

    max_batch_size: int
    wait_ms: int


@dataclass(frozen=True)
class ClassSpec:
    """What a method needs of its ``@app.cls`` class to be run in a container."""

    name: str
    qualname: str
    parameters: tuple[str, ...] = ()
    enter: tuple[str, ...] = ()
    enter_snap: tuple[str, ...] = ()
    exit: tuple[str, ...] = ()


@dataclass(frozen=True)
class CloudBucketMountSpec:
    """``modal.CloudBucketMount`` mounted at a path (S3, R2 or GCS via its endpoint)."""

    bucket_name: str
    bucket_endpoint_url: str | None = None
    key_prefix: str | None = None
    secret: str | None = None
    oidc_auth_role_arn: str | None = None
    read_only: bool = False
    requester_pays: bool = False
    force_path_style: bool = False


@dataclass(frozen=True)
class FunctionSpec:
    """One callable unit. Class methods are named ``"Class.method"`` and carry ``cls``."""

    name: str
    module: str
    qualname: str
    source: Source
    image: str
    kind: Literal["function", "method", "server"] = "function"
    cls: ClassSpec | None = None
    gpu: GpuSpec | None = None
    cpu: float | tuple[float, float] | None = None
    memory: int | tuple[int, int] | None = None
    ephemeral_disk: int | None = None
    timeout: int = 300
    startup_timeout: int | None = None
    retries: RetriesSpec = field(default_factory=lambda: RetriesSpec(max_retries=0))
    schedule: Schedule | None = None
    web: WebSpec | None = None
    volumes: dict[str, str] = field(default_factory=dict)
    network_file_systems: dict[str, str] = field(default_factory=dict)
    cloud_bucket_mounts: dict[str, CloudBucketMountSpec] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    concurrency: ConcurrencySpec | None = None
    batching: BatchingSpec | None = None
    is_generator: bool = False
    is_async: bool = False
    min_containers: int | None = None
    max_containers: int | None = None
    buffer_containers: int | None = None
    scaledown_window: int | None = None
    cloud: str | None = None
    region: str | tuple[str, ...] | None = None
    nonpreemptible: bool = False
    single_use_containers: bool = False
    include_source: bool = True
    experimental_options: dict[str, Any] = field(default_factory=dict)
    clustered_size: int | None = None


@dataclass(frozen=True)
class ImageStep:
    """One chained ``Image`` method, in the order the user wrote it.

    ``args`` holds only JSON values; local paths are relative to the project root,
    package lists are kept as written (renderers sort them within a step).
    """

    kind: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSpec:
    """A container image as data; ``id`` is a content hash of ``base`` and ``steps``."""

    id: str
    base: ImageStep
    steps: tuple[ImageStep, ...] = ()
    python_version: str | None = None


@dataclass(frozen=True)
class VolumeSpec:
    """A ``modal.Volume`` or ``modal.NetworkFileSystem`` by name."""

    name: str
    kind: Literal["volume", "network_file_system"] = "volume"
    create_if_missing: bool = False
    read_only: bool = False


@dataclass(frozen=True)
class SecretSpec:
    """A ``modal.Secret``: a named one in the cloud's secret store, or one defined in code.

    ``kind`` is ``named`` (``from_name``), ``dict`` (``from_dict`` / ``env=``),
    ``dotenv`` (``from_dotenv``: ``path`` relative to the project root) or
    ``local_environ`` (``from_local_environ``). ``keys`` are key names, never values.
    """

    name: str
    kind: Literal["named", "dict", "dotenv", "local_environ"] = "named"
    keys: tuple[str, ...] = ()
    required_keys: tuple[str, ...] = ()
    path: str | None = None


@dataclass(frozen=True)
class StoreSpec:
    """A ``modal.Dict`` or ``modal.Queue`` by name; ``source`` is its ``from_name`` line (for
    errors only: two apps naming one object are the same object)."""

    name: str
    create_if_missing: bool = False
    source: Source | None = field(default=None, compare=False)


@dataclass(frozen=True)
class EntrypointParam:
    """One CLI option of a ``local_entrypoint``; ``type`` is a short type name."""

    name: str
    type: str
    required: bool
    default: Any = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntrypointSpec:
    """``@app.local_entrypoint``: runs on the caller's machine, never deployed."""

    name: str
    qualname: str
    module: str
    source: Source
    params: tuple[EntrypointParam, ...] = ()
    is_async: bool = False


@dataclass(frozen=True)
class AppSpec:
    """One ``modal.App`` with everything its functions reference, sorted by name."""

    name: str
    functions: tuple[FunctionSpec, ...] = ()
    images: tuple[ImageSpec, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    dicts: tuple[StoreSpec, ...] = ()
    queues: tuple[StoreSpec, ...] = ()
    entrypoints: tuple[EntrypointSpec, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    def function(self, name: str) -> FunctionSpec:
        """The function called ``name``; KeyError lists the known names."""
        for fn in self.functions:
            if fn.name == name:
                return fn
        raise KeyError(
            f"no function {name!r} in app {self.name!r}; known: {[f.name for f in self.functions]}"
        )

    def image(self, image_id: str) -> ImageSpec:
        """The image with id ``image_id``."""
        for img in self.images:
            if img.id == image_id:
                return img
        raise KeyError(f"no image {image_id!r} in app {self.name!r}")


@dataclass(frozen=True)
class Program:
    """Everything one compile produced: the Apps of one user file or module.

    ``project_root`` is not serialised (it is an absolute path); ``python_version``
    is the ``major.minor`` the program was compiled with and is checked at runtime.
    """

    apps: tuple[AppSpec, ...]
    python_version: str
    cloudpickle_version: str
    schema_version: int = SCHEMA_VERSION

    def app(self, name: str | None = None) -> AppSpec:
        """The app called ``name``, or the only app when ``name`` is None."""
        if name is None:
            if len(self.apps) != 1:
                raise KeyError(f"several apps: {[a.name for a in self.apps]}; name one")
            return self.apps[0]
        for app in self.apps:
            if app.name == name:
                return app
        raise KeyError(f"no app {name!r}; known: {[a.name for a in self.apps]}")


# --------------------------------------------------------------------------- JSON


def to_jsonable(obj: Any) -> Any:
    """Turn IR objects into JSON values: dataclasses to dicts, tuples to lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    return obj


def dumps(program: Program) -> str:
    """The canonical JSON text of a program: sorted keys, two-space indent, final newline."""
    return json.dumps(to_jsonable(program), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def loads(text: str) -> Program:
    """Read a program written by :func:`dumps`; refuses a newer schema version."""
    data = json.loads(text)
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(
            f"IR schema_version {version!r} is newer than this pcompile understands "
            f"({SCHEMA_VERSION}); upgrade pcompile"
        )
    return _from_json(Program, data)


def from_jsonable(tp: Any, value: Any) -> Any:
    """Rebuild a value of type ``tp`` (a dataclass, tuple, dict ...) from what
    :func:`to_jsonable` made of it: the inverse other layers use for their own records."""
    return _from_json(tp, value)


def _from_json(tp: Any, value: Any) -> Any:
    """Rebuild a typed value from JSON, guided by the dataclass annotations."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _from_union(typing.get_args(tp), value)
    if origin is Literal or tp is Any:
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v) for v in value)
        return tuple(_from_json(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict:
        _, vt = typing.get_args(tp)
        return {k: _from_json(vt, v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: _from_json(hints[f.name], value[f.name])
            for f in dataclasses.fields(tp)
            if f.name in value
        }
        return typing.cast(Any, tp)(**kwargs)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def _from_union(options: tuple[Any, ...], value: Any) -> Any:
    """Pick the union member that matches a JSON value (dataclasses by their ``kind``)."""
    candidates = [o for o in options if o is not type(None)]
    if isinstance(value, dict):
        for opt in candidates:
            if dataclasses.is_dataclass(opt):
                # A fixed ``kind`` default tells union members apart; a required ``kind``
                # (WebSpec's) or none at all matches any object.
                kind = {f.name: f.default for f in dataclasses.fields(opt)}.get("kind")
                if kind in (None, dataclasses.MISSING) or kind == value.get("kind"):
                    return _from_json(opt, value)
    if isinstance(value, list):
        for opt in candidates:
            if typing.get_origin(opt) is tuple:
                return _from_json(opt, value)
    for opt in candidates:
        if typing.get_origin(opt) is None and isinstance(value, opt):
            return value
    return value
