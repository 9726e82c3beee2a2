"""SDK objects → IR: the one place that reads what the decorators recorded.

Every user mistake found here becomes a :class:`UserError` with the decorator's
``file:line``; all of them are reported together. The output is deterministic:
lists sorted by name, paths relative to the project root, no timestamps.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import inspect
import json
import math
import os
import sys
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pcompile._app import App
from pcompile._dict import Dict
from pcompile._functions import FunctionDef
from pcompile._image import PATH_ARGS, Image
from pcompile._queue import Queue
from pcompile._schedule import Cron, Period
from pcompile._secret import Secret
from pcompile._source import CallSite
from pcompile._volume import CloudBucketMount, NetworkFileSystem, Volume
from pcompile.compiler import ir
from pcompile.compiler.cron import validate_cron
from pcompile.compiler.errors import CompileErrors, UserError
from pcompile.compiler.gpu import parse_gpu
from pcompile.exception import InvalidError

DEFAULT_IMAGE = Image.debian_slim()


class _Collector:
    """Objects an app references, deduplicated by name, plus the errors found so far."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.images: dict[str, ir.ImageSpec] = {}
        self.volumes: dict[str, ir.VolumeSpec] = {}
        self.secrets: dict[str, ir.SecretSpec] = {}
        self.errors: list[UserError] = []

    def source(self, site: CallSite) -> ir.Source:
        return ir.Source(self.rel(site.file), site.line)

    def rel(self, path: str) -> str:
        """A path relative to the project root, with forward slashes."""
        if path.startswith("<"):
            return path
        return Path(os.path.relpath(path, self.root)).as_posix()


def project_root_of(file: str) -> Path:
    """The folder a file is importable from: above every package (``__init__.py``) folder."""
    folder = Path(file).resolve().parent
    while (folder / "__init__.py").exists():
        folder = folder.parent
    return folder


def python_version() -> str:
    """``major.minor`` of this interpreter: recorded in the IR, checked by the runtime."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def compile_apps(
    apps: Iterable[App], root: Path, *, names: dict[int, str] | None = None, extras: Iterable[Any] = ()
) -> ir.Program:
    """Build the IR of ``apps``. ``names`` gives a name to unnamed apps (by ``id(app)``);
    ``extras`` are module-level Dict/Queue/Volume/Secret objects to record too."""
    specs = []
    errors: list[UserError] = []
    extras = list(extras)
    sites: dict[str, ir.Source] = {}
    for app in apps:
        name = app.name or (names or {}).get(id(app)) or "app"
        collector = _Collector(root)
        first = sites.setdefault(name, collector.source(app._site))
        if first != collector.source(app._site):
            errors.append(_app_twice(name, first, collector.source(app._site)))
        specs.append(_app_spec(app, name, collector, extras))
        errors.extend(collector.errors)
    # One mistake can surface twice (a secret used by a function and also at module level).
    errors = list({str(e): e for e in errors}.values())
    if errors:
        raise errors[0] if len(errors) == 1 else CompileErrors(errors)
    return ir.Program(
        apps=tuple(sorted(specs, key=lambda a: a.name)),
        python_version=python_version(),
        cloudpickle_version=importlib.metadata.version("cloudpickle"),
    )


def _app_twice(name: str, first: ir.Source, second: ir.Source) -> UserError:
    """Two Apps of one name would deploy over each other."""
    return UserError(
        f"modal.App({name!r}) is created twice (first at {first}); one deployment would replace the other",
        source=second,
        fix="create the App once and decorate every function with it, or give the second App another name",
    )


def _app_spec(app: App, name: str, c: _Collector, extras: list[Any]) -> ir.AppSpec:
    for tag, first, second in app.duplicates():
        c.errors.append(
            UserError(
                f"duplicate function name {tag!r} in app {name!r} (first defined at {c.source(first)})",
                source=c.source(second),
                fix="rename one of them, or pass name=... to @app.function",
            )
        )
    functions = []
    for definition in app.definitions().values():
        try:
            functions.append(_function_spec(app, definition, c))
        except UserError as err:
            c.errors.append(err)
    for obj in extras:
        if isinstance(obj, Volume | NetworkFileSystem):
            _add_volume(obj, c)
        elif isinstance(obj, Secret) and obj.name not in c.secrets:
            try:
                _add_secret(obj, c)
            except UserError as err:
                c.errors.append(err)
    dicts = sorted({o.name: o for o in extras if isinstance(o, Dict)}.values(), key=lambda o: o.name)
    queues = sorted({o.name: o for o in extras if isinstance(o, Queue)}.values(), key=lambda o: o.name)
    _check_labels(functions, c)
    return ir.AppSpec(
        name=name,
        functions=tuple(sorted(functions, key=lambda f: f.name)),
        images=tuple(sorted(c.images.values(), key=lambda i: i.id)),
        volumes=tuple(sorted(c.volumes.values(), key=lambda v: v.name)),
        secrets=tuple(sorted(c.secrets.values(), key=lambda s: s.name)),
        dicts=tuple(ir.StoreSpec(d.name, d.create_if_missing, c.source(d._site)) for d in dicts),
        queues=tuple(ir.StoreSpec(q.name, q.create_if_missing, c.source(q._site)) for q in queues),
        entrypoints=tuple(_entrypoint_spec(e, c) for _, e in sorted(app.registered_entrypoints.items())),
        tags=dict(sorted(app.get_tags().items())),
    )


def _check_labels(functions: list[ir.FunctionSpec], c: _Collector) -> None:
    """Two web endpoints of one app cannot share a label: they would get the same URL."""
    first: dict[str, ir.FunctionSpec] = {}
    for fn in sorted(functions, key=lambda f: (f.source.file, f.source.line, f.name)):
        label = fn.web.label if fn.web is not None else None
        if label is None:
            continue
        if label in first and first[label].source != fn.source:
            c.errors.append(
                UserError(
                    f"web label {label!r} is used twice (first by {first[label].name} at {first[label].source})",
                    source=fn.source,
                    fix="give each endpoint its own label=..., or drop label= to use the function name",
                )
            )
        first.setdefault(label, fn)


# ---------------------------------------------------------------------- functions


def _function_spec(app: App, d: FunctionDef, c: _Collector) -> ir.FunctionSpec:
    opts = d.options
    source = c.source(d.site)
    module, qualname = _location(d)
    image = opts.get("image") or app.image or DEFAULT_IMAGE
    volumes, nfs, buckets = _mounts({**app.default_volumes, **(opts.get("volumes") or {})}, opts, c, source)
    secrets = [*app.default_secrets, *(opts.get("secrets") or [])]
    raw = d.raw_f
    is_gen = bool(
        opts.get("is_generator") or d.flags.is_generator or (raw is not None and _is_generator(raw))
    )
    web = _web_spec(d)
    if web is not None and is_gen:
        raise UserError(
            "a web endpoint cannot be a generator",
            source=source,
            fix="return the whole response, or a fastapi StreamingResponse wrapping the generator",
        )
    if is_gen and opts.get("retries") is not None:
        raise UserError("generator functions cannot have retries", source=source, fix="remove retries=...")
    include_source = opts.get("include_source")
    return ir.FunctionSpec(
        name=d.tag,
        module=module,
        qualname=qualname,
        source=source,
        image=_add_image(image, c),
        kind=d.kind,  # type: ignore[arg-type]
        cls=_class_spec(d),
        gpu=parse_gpu(opts.get("gpu"), source),
        cpu=_resources(opts.get("cpu"), "cpu", float, source),
        memory=_resources(opts.get("memory"), "memory", int, source),
        ephemeral_disk=opts.get("ephemeral_disk"),
        # Whole seconds, rounded up: timeout=0.5 must not become 0.
        timeout=math.ceil(opts.get("timeout") or 300),
        startup_timeout=opts.get("startup_timeout"),
        retries=_retries(opts.get("retries")),
        schedule=_schedule(opts.get("schedule"), c),
        web=web,
        volumes=volumes,
        network_file_systems=nfs,
        cloud_bucket_mounts=buckets,
        secrets=tuple(sorted({_add_secret(s, c) for s in secrets})),
        concurrency=_concurrency(d),
        batching=None if d.flags.batching is None else ir.BatchingSpec(*d.flags.batching),
        is_generator=is_gen,
        is_async=raw is not None and (inspect.iscoroutinefunction(raw) or inspect.isasyncgenfunction(raw)),
        min_containers=opts.get("min_containers"),
        max_containers=opts.get("max_containers"),
        buffer_containers=opts.get("buffer_containers"),
        scaledown_window=opts.get("scaledown_window"),
        cloud=opts.get("cloud"),
        region=tuple(opts["region"]) if isinstance(opts.get("region"), list) else opts.get("region"),
        nonpreemptible=bool(opts.get("nonpreemptible")),
        single_use_containers=bool(opts.get("single_use_containers") or opts.get("max_inputs") == 1),
        include_source=app.include_source if include_source is None else bool(include_source),
        experimental_options=dict(sorted((opts.get("experimental_options") or {}).items())),
        clustered_size=d.flags.clustered_size,
    )


def _is_generator(f: Any) -> bool:
    return inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f)


def _location(d: FunctionDef) -> tuple[str, str]:
    """``module`` and ``qualname`` by which the runtime imports the function or class."""
    if d.user_cls is not None:
        base = d.user_cls.__qualname__
        qualname = base if d.method_name is None else f"{base}.{d.method_name}"
        return d.user_cls.__module__, qualname
    assert d.raw_f is not None
    return d.raw_f.__module__, d.raw_f.__qualname__


def _class_spec(d: FunctionDef) -> ir.ClassSpec | None:
    if d.user_cls is None:
        return None
    hooks = getattr(d.user_cls, "_pcompile_hooks", {})
    params = getattr(d.user_cls, "_pcompile_parameters", {})
    return ir.ClassSpec(
        name=d.user_cls.__name__,
        qualname=d.user_cls.__qualname__,
        parameters=tuple(params),
        enter=tuple(hooks.get("enter", ())),
        enter_snap=tuple(hooks.get("enter_snap", ())),
        exit=tuple(hooks.get("exit", ())),
    )


def _web_spec(d: FunctionDef) -> ir.WebSpec | None:
    web = d.flags.web
    if web is None:
        return None
    return ir.WebSpec(
        kind=web.kind,  # type: ignore[arg-type]
        method=web.method,
        label=web.label,
        requires_auth=web.requires_auth,
        port=web.port,
        docs=web.docs,
        custom_domains=web.custom_domains,
        startup_timeout=web.startup_timeout,
    )


def _concurrency(d: FunctionDef) -> ir.ConcurrencySpec | None:
    value = d.flags.concurrency or d.options.get("_concurrency")
    return None if value is None else ir.ConcurrencySpec(*value)


def _retries(value: Any) -> ir.RetriesSpec:
    if value is None:
        return ir.RetriesSpec(max_retries=0)
    return ir.RetriesSpec(value.max_retries, value.backoff_coefficient, value.initial_delay, value.max_delay)


def _resources(value: Any, what: str, kind: type, source: ir.Source) -> Any:
    """A number, or a (request, limit) pair with request <= limit."""
    if value is None:
        return None
    pair = value if isinstance(value, tuple | list) else (value,)
    if len(pair) not in (1, 2) or any(
        isinstance(v, bool) or not isinstance(v, int | float) or v <= 0 for v in pair
    ):
        raise UserError(
            f"{what}={value!r} must be a positive number or a (request, limit) pair",
            source=source,
            fix=f"for example {what}={'2.0' if what == 'cpu' else '4096'}",
        )
    if len(pair) == 2 and pair[0] > pair[1]:
        raise UserError(f"{what}={value!r}: the request exceeds the limit", source=source)
    converted = tuple(kind(v) for v in pair)
    return converted[0] if len(converted) == 1 else converted


def _schedule(value: Any, c: _Collector) -> ir.Schedule | None:
    if value is None:
        return None
    source = c.source(value._site)
    if isinstance(value, Cron):
        validate_cron(value.cron_string, value.timezone, source)
        return ir.CronSchedule(value.cron_string, value.timezone)
    if isinstance(value, Period):
        return ir.PeriodSchedule(value.seconds)
    raise UserError(f"unknown schedule {value!r}", source=source)


def _mounts(
    mounts: dict[str, Any], opts: dict[str, Any], c: _Collector, source: ir.Source
) -> tuple[dict[str, str], dict[str, str], dict[str, ir.CloudBucketMountSpec]]:
    volumes: dict[str, str] = {}
    buckets: dict[str, ir.CloudBucketMountSpec] = {}
    for path, obj in sorted(mounts.items()):
        if isinstance(obj, CloudBucketMount):
            secret = None if obj.secret is None else _add_secret(obj.secret, c)
            buckets[path] = ir.CloudBucketMountSpec(
                obj.bucket_name,
                obj.bucket_endpoint_url,
                obj.key_prefix,
                secret,
                obj.oidc_auth_role_arn,
                obj.read_only,
                obj.requester_pays,
                obj.force_path_style,
            )
        else:
            volumes[path] = _add_volume(obj, c)
    nfs = {
        path: _add_volume(obj, c) for path, obj in sorted((opts.get("network_file_systems") or {}).items())
    }
    # The SDK normalised each dict's keys; the app's default volumes meet the function's
    # network file systems only here.
    both = sorted(set(nfs) & set(mounts))
    if both:
        raise UserError(
            f"{both[0]!r} is mounted twice: by volumes= (or the App's volumes=) and by network_file_systems=",
            source=source,
            fix="mount each object at its own path",
        )
    return volumes, nfs, buckets


def _add_volume(obj: Volume | NetworkFileSystem, c: _Collector) -> str:
    kind: Literal["volume", "network_file_system"] = (
        "volume" if isinstance(obj, Volume) else "network_file_system"
    )
    previous = c.volumes.get(obj.name)
    spec = ir.VolumeSpec(
        obj.name, kind, obj.create_if_missing or bool(previous and previous.create_if_missing)
    )
    c.volumes[obj.name] = spec
    return obj.name


def _add_secret(secret: Secret, c: _Collector) -> str:
    path = c.rel(secret.path) if secret.path else None
    try:
        keys = tuple(secret.keys)
    except InvalidError as err:  # a missing .env file is the user's mistake, not a crash
        raise UserError(
            str(err),
            source=c.source(secret._site),
            fix="create the file, or point at its folder: modal.Secret.from_dotenv(__file__)",
        ) from None
    c.secrets[secret.name] = ir.SecretSpec(
        secret.name,
        secret.kind,  # type: ignore[arg-type]
        keys,
        tuple(secret.required_keys),
        path,
    )
    return secret.name


# ---------------------------------------------------------------------- images


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _step(kind: str, args: dict[str, Any], c: _Collector) -> ir.ImageStep:
    args = dict(args)
    for name in PATH_ARGS.get(kind, ()):
        value = args.get(name)
        if isinstance(value, list):
            args[name] = [c.rel(v) for v in value]
        elif isinstance(value, str):
            args[name] = c.rel(value)
    if kind == "dockerfile_commands" and args.get("context_files"):
        args["context_files"] = {k: c.rel(v) for k, v in sorted(args["context_files"].items())}
    return ir.ImageStep(kind, _jsonable(args))


def image_spec(image: Image, root: Path) -> ir.ImageSpec:
    """The IR of one SDK image compiled in project ``root``, as an app using it would record it.

    Workers compare its ``id`` with ``PCOMPILE_IMAGE_ID`` to tell which image they run.
    """
    c = _Collector(root)
    return c.images[_add_image(image, c)]


def _add_image(image: Image, c: _Collector) -> str:
    base = _step(*image._base, c)
    steps = tuple(_step(kind, args, c) for kind, args in image._steps)
    payload = json.dumps(ir.to_jsonable([base, steps]), sort_keys=True)
    image_id = "im-" + hashlib.sha256(payload.encode()).hexdigest()[:16]
    c.images[image_id] = ir.ImageSpec(image_id, base, steps, image.python_version)
    return image_id


# ---------------------------------------------------------------------- entrypoints

_TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool", datetime.datetime: "datetime"}


def _param_type(annotation: Any) -> tuple[str, bool, tuple[str, ...]]:
    """(type name, optional, choices) of an entrypoint parameter's annotation."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return "any", False, ()
    if isinstance(annotation, str):
        annotation = {"str": str, "int": int, "float": float, "bool": bool}.get(annotation, annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "literal", False, tuple(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) == 1:
            name, _, choices = _param_type(inner[0])
            return name, True, choices
    return _TYPE_NAMES.get(annotation, "any"), False, ()


def _entrypoint_spec(entry: Any, c: _Collector) -> ir.EntrypointSpec:
    raw = entry.raw_f
    try:
        hints = typing.get_type_hints(raw)
    except Exception:  # noqa: BLE001 - unresolvable annotations fall back to strings
        hints = {}
    params = []
    for p in inspect.signature(raw).parameters.values():
        type_name, optional, choices = _param_type(hints.get(p.name, p.annotation))
        has_default = p.default is not inspect.Parameter.empty
        params.append(
            ir.EntrypointParam(
                name=p.name,
                type=type_name,
                required=not has_default and not optional,
                default=_jsonable(p.default) if has_default else None,
                choices=choices,
            )
        )
    return ir.EntrypointSpec(
        name=entry.name,
        qualname=raw.__qualname__,
        module=raw.__module__,
        source=c.source(entry.site),
        params=tuple(params),
        is_async=inspect.iscoroutinefunction(raw),
    )
