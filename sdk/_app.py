"""``modal.App``: decorators record functions, classes and entrypoints; nothing runs here.

Every decorator validates its arguments at once (raising ``InvalidError`` with the
parameter and the fix) and records a :class:`~pcompile._functions.FunctionDef`
with the decorator's file and line; the compiler turns the App into IR.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

from pcompile import _invocation
from pcompile._functions import Cls, Function, FunctionDef, Server
from pcompile._image import Image
from pcompile._mounts import check_disjoint, check_mounts
from pcompile._partial import Flags, Parameter, PartialFunction, unwrap
from pcompile._retries import parse_retries
from pcompile._schedule import Schedule
from pcompile._secret import Secret
from pcompile._source import CallSite, caller_site
from pcompile._volume import CloudBucketMount, NetworkFileSystem, Volume
from pcompile.exception import InvalidError
from pcompile.gpu import gpu_string

# Modal's old parameter names -> (new name, how to convert the value).
_RENAMED: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "keep_warm": ("min_containers", lambda v: v),
    "concurrency_limit": ("max_containers", lambda v: v),
    "container_idle_timeout": ("scaledown_window", lambda v: v),
}


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is an old Modal spelling; use {new}", DeprecationWarning, stacklevel=4)


def _no_bare(value: Any, decorator: str) -> None:
    if value is not None:
        raise InvalidError(
            f"Did you forget parentheses? Suggestion: `@app.{decorator}()` instead of `@app.{decorator}`"
        )


def _check_mounts(volumes: Any, what: str) -> dict[str, Any]:
    """``volumes`` with normalised path keys (``str`` or ``os.PathLike``, as Modal accepts)."""
    return check_mounts(
        volumes, what, (Volume, NetworkFileSystem, CloudBucketMount), "Volume or CloudBucketMount"
    )


def _check_secrets(secrets: Any) -> list[Secret]:
    if secrets is None:
        return []
    if isinstance(secrets, Secret) or not isinstance(secrets, list | tuple):
        raise InvalidError(f"secrets must be a list of modal.Secret, e.g. secrets=[secret]; got {secrets!r}")
    for s in secrets:
        if not isinstance(s, Secret):
            raise InvalidError(f"secrets must contain modal.Secret objects, got {s!r}")
    return list(secrets)


class LocalEntrypoint:
    """An ``@app.local_entrypoint``: runs on the caller's machine (``pcompile run``)."""

    def __init__(self, app: App, raw_f: Callable[..., Any], name: str, site: CallSite) -> None:
        self.app = app
        self.raw_f = raw_f
        self.name = name
        self.site = site

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LocalEntrypoint({self.name!r})"


class App:
    """A group of functions deployed together (``modal.App``)."""

    def __init__(
        self,
        name: str | None = None,
        *,
        tags: dict[str, str] | None = None,
        image: Image | None = None,
        secrets: list[Secret] = [],  # noqa: B006 - Modal's signature
        volumes: dict[str | os.PathLike[str], Volume | CloudBucketMount] = {},  # noqa: B006
        include_source: bool = True,
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise InvalidError(f"App name must be a non-empty string, got {name!r}")
        if image is not None and not isinstance(image, Image):
            raise InvalidError(f"App(image=...) must be a modal.Image, got {image!r}")
        self._name = name
        self._tags = dict(tags or {})
        self._image = image
        self._secrets = _check_secrets(secrets)
        self._volumes = _check_mounts(volumes, "App(volumes=...)")
        self._include_source = include_source
        self._site = caller_site()
        self._functions: dict[str, Function | Server] = {}
        self._classes: dict[str, Cls] = {}
        self._defs: dict[str, FunctionDef] = {}
        self._entrypoints: dict[str, LocalEntrypoint] = {}
        self._duplicates: list[tuple[str, CallSite, CallSite]] = []
        self._included: list[App] = []
        self._description: str | None = None

    def __repr__(self) -> str:
        return f"App({self._name!r})"

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str | None:
        """The app's name (deployments are addressed by it)."""
        return self._name

    @property
    def app_id(self) -> str | None:
        """Stable id of the app."""
        return None if self._name is None else f"ap-{self._name}"

    @property
    def image(self) -> Image | None:
        """The default image of the app's functions."""
        return self._image

    @image.setter
    def image(self, value: Image) -> None:
        self._image = value

    @property
    def include_source(self) -> bool:
        """Whether the functions' source is shipped with them by default."""
        return self._include_source

    @property
    def default_secrets(self) -> list[Secret]:
        """Secrets every function gets."""
        return list(self._secrets)

    @property
    def default_volumes(self) -> dict[str, Any]:
        """Volumes every function gets."""
        return dict(self._volumes)

    @property
    def registered_functions(self) -> dict[str, Function | Server]:
        """Functions by name, class methods as ``"Class.method"``, including included apps."""
        out: dict[str, Function | Server] = {}
        for other in self._included:
            out.update(other.registered_functions)
        out.update(self._functions)
        return out

    @property
    def registered_classes(self) -> dict[str, Cls]:
        """Classes by name, including included apps."""
        out: dict[str, Cls] = {}
        for other in self._included:
            out.update(other.registered_classes)
        out.update(self._classes)
        return out

    @property
    def registered_entrypoints(self) -> dict[str, LocalEntrypoint]:
        """Local entrypoints by name."""
        return dict(self._entrypoints)

    @property
    def registered_web_endpoints(self) -> list[str]:
        """Names of the functions served over HTTP."""
        return sorted(n for n, d in self.definitions().items() if d.flags.web is not None)

    def definitions(self) -> dict[str, FunctionDef]:
        """Every recorded definition by name, including included apps (compiler input)."""
        out: dict[str, FunctionDef] = {}
        for other in self._included:
            out.update(other.definitions())
        out.update(self._defs)
        return out

    def duplicates(self) -> list[tuple[str, CallSite, CallSite]]:
        """Names registered twice: (name, first site, second site), also across included apps."""
        out = list(self._duplicates)
        for other in self._included:
            out.extend(other.duplicates())
        # An included app's function would otherwise be silently replaced by one of the same name.
        seen: dict[str, CallSite] = {}
        for defs in [other.definitions() for other in self._included] + [self._defs]:
            for tag, definition in defs.items():
                first = seen.setdefault(tag, definition.site)
                if first != definition.site and (tag, first, definition.site) not in out:
                    out.append((tag, first, definition.site))
        return out

    def set_tags(self, tags: dict[str, str], *, client: Any = None) -> None:
        """Replace the app's tags (labels on the cloud resources)."""
        self._tags.update(tags)

    def get_tags(self, *, client: Any = None) -> dict[str, str]:
        """The app's tags."""
        return dict(self._tags)

    def set_description(self, description: str) -> None:
        """A human description of the app."""
        self._description = description

    # ------------------------------------------------------------------ registration
    def _register(self, name: str, handle: Function | Server | None, definition: FunctionDef) -> None:
        previous = self._defs.get(name)
        if previous is not None and previous.site != definition.site:
            self._duplicates.append((name, previous.site, definition.site))
        self._defs[name] = definition
        if handle is not None:
            self._functions[name] = handle

    def _common(self, kwargs: dict[str, Any], what: str) -> dict[str, Any]:
        """Validate and normalise the parameters shared by function, cls and server."""
        for old, (new, convert) in _RENAMED.items():
            if old in kwargs:
                value = kwargs.pop(old)
                _deprecated(f"{what}({old}=...)", f"{what}({new}=...)")
                if value is not None and kwargs.get(new) is None:
                    kwargs[new] = convert(value)
        if "allow_concurrent_inputs" in kwargs:
            value = kwargs.pop("allow_concurrent_inputs")
            _deprecated(f"{what}(allow_concurrent_inputs=...)", "@modal.concurrent(max_inputs=...)")
            if value:
                kwargs["_concurrency"] = (int(value), None)
        if "timeout" in kwargs:
            timeout = kwargs["timeout"]
            if timeout is None:
                raise InvalidError(
                    f"{what}(timeout=None) is not allowed; pass a number of seconds, e.g. timeout=3600"
                )
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
                raise InvalidError(
                    f"{what}(timeout={timeout!r}): must be a positive number of seconds, e.g. timeout=300"
                )
        for knob in ("min_containers", "max_containers", "buffer_containers", "scaledown_window"):
            value = kwargs.get(knob)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidError(f"{what}({knob}={value!r}): must be a whole number >= 0")
        if kwargs.get("max_containers") == 0:
            # Lambda's reserved concurrency 0 (and Batch/Cloud Run maximum 0) never runs an input.
            raise InvalidError(
                f"{what}(max_containers=0): a function with no containers can never run; "
                "use max_containers=1 or more, or leave it out for no limit"
            )
        image = kwargs.get("image")
        if image is not None and not isinstance(image, Image):
            raise InvalidError(f"{what}(image=...) must be a modal.Image, got {image!r}")
        kwargs["volumes"] = _check_mounts(kwargs.get("volumes") or {}, f"{what}(volumes=...)")
        if "network_file_systems" in kwargs:
            nfs = _check_mounts(kwargs["network_file_systems"] or {}, f"{what}(network_file_systems=...)")
            check_disjoint(kwargs["volumes"], nfs, what)
            kwargs["network_file_systems"] = nfs
        secrets = _check_secrets(kwargs.get("secrets"))
        env = kwargs.get("env")
        if env:
            if not isinstance(env, dict):
                raise InvalidError(f"{what}(env=...) must be a dict of strings, got {env!r}")
            secrets = [*secrets, Secret.from_dict(env)]
        kwargs["secrets"] = secrets
        gpu = kwargs["gpu"] = gpu_string(kwargs.get("gpu"))
        if gpu is not None and not isinstance(gpu, str | list):
            raise InvalidError(
                f"{what}(gpu={gpu!r}): pass a string such as 'A100' or 'H100:8', or a list of them"
            )
        kwargs["retries"] = parse_retries(kwargs.get("retries"))
        schedule = kwargs.get("schedule")
        if schedule is not None and not isinstance(schedule, Schedule):
            raise InvalidError(
                f"{what}(schedule={schedule!r}): use modal.Cron('0 2 * * *') or modal.Period(hours=1)"
            )
        if kwargs.get("max_inputs") == 1:
            warnings.warn(
                "max_inputs=1 is deprecated; use single_use_containers=True", DeprecationWarning, stacklevel=4
            )
        return kwargs

    def function(
        self,
        _warn_parentheses_missing: Any = None,
        *,
        image: Image | None = None,
        schedule: Schedule | None = None,
        env: dict[str, str | None] | None = None,
        secrets: list[Secret] | None = None,
        gpu: str | list[str] | None = None,
        serialized: bool = False,
        network_file_systems: dict[str | os.PathLike[str], NetworkFileSystem] = {},  # noqa: B006 - Modal's signature
        volumes: dict[str | os.PathLike[str], Volume | CloudBucketMount] = {},  # noqa: B006
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        ephemeral_disk: int | None = None,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
        proxy: Any = None,
        retries: int | Any = None,
        timeout: int = 300,
        startup_timeout: int | None = None,
        name: str | None = None,
        is_generator: bool | None = None,
        cloud: str | None = None,
        region: str | list[str] | None = None,
        routing_region: str | None = None,
        nonpreemptible: bool = False,
        enable_memory_snapshot: bool = False,
        block_network: bool = False,
        restrict_modal_access: bool = False,
        single_use_containers: bool = False,
        i6pn: bool | None = None,
        include_source: bool | None = None,
        experimental_options: dict[str, Any] | None = None,
        _experimental_restrict_output: bool = False,
        max_inputs: int | None = None,
        **deprecated: Any,
    ) -> Callable[[Any], Function]:
        """Register a function of this app; see Modal's ``@app.function``."""
        _no_bare(_warn_parentheses_missing, "function")
        options = {
            k: v for k, v in locals().items() if k not in ("self", "_warn_parentheses_missing", "deprecated")
        }
        options.update(self._accept_deprecated(deprecated, "app.function", options))
        options = self._common(options, "@app.function")
        site = caller_site()

        def decorate(f: Any) -> Function:
            if isinstance(f, type):
                raise TypeError(
                    f"@app.function cannot decorate the class {f.__name__}; use @app.cls() for classes"
                )
            if isinstance(f, Function | Cls):
                raise InvalidError("@app.function() was applied twice to the same function")
            raw_f, flags = unwrap(f)
            if not callable(raw_f):
                raise InvalidError(f"@app.function() must decorate a function, got {raw_f!r}")
            if flags.method or flags.enter or flags.exit:
                raise InvalidError("@modal.method/@enter/@exit belong on methods of an @app.cls class")
            if flags.web is not None and options["retries"] is not None:
                raise InvalidError(
                    "web endpoints cannot have retries: remove retries=... from this @app.function"
                )
            tag = name or raw_f.__qualname__
            definition = FunctionDef(tag=tag, raw_f=raw_f, site=site, options=options, flags=flags)
            handle = Function(self, tag, definition)
            self._register(tag, handle, definition)
            return handle

        return decorate

    def _accept_deprecated(
        self, deprecated: dict[str, Any], what: str, parameters: dict[str, Any]
    ) -> dict[str, Any]:
        known = {*_RENAMED, "allow_concurrent_inputs"}
        unknown = sorted(set(deprecated) - known)
        if unknown:
            import difflib

            public = [p for p in parameters if not p.startswith("_")]
            close = difflib.get_close_matches(unknown[0], public, n=1)
            hint = f"; did you mean {close[0]}=...?" if close else ""
            raise TypeError(f"{what}() got an unexpected keyword argument {unknown[0]!r}{hint}")
        return dict(deprecated)

    def cls(
        self,
        _warn_parentheses_missing: Any = None,
        *,
        image: Image | None = None,
        env: dict[str, str | None] | None = None,
        secrets: list[Secret] | None = None,
        gpu: str | list[str] | None = None,
        serialized: bool = False,
        network_file_systems: dict[str | os.PathLike[str], NetworkFileSystem] = {},  # noqa: B006 - Modal's signature
        volumes: dict[str | os.PathLike[str], Volume | CloudBucketMount] = {},  # noqa: B006
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        ephemeral_disk: int | None = None,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
        proxy: Any = None,
        retries: int | Any = None,
        timeout: int = 300,
        startup_timeout: int | None = None,
        cloud: str | None = None,
        region: str | list[str] | None = None,
        routing_region: str | None = None,
        nonpreemptible: bool = False,
        enable_memory_snapshot: bool = False,
        block_network: bool = False,
        restrict_modal_access: bool = False,
        single_use_containers: bool = False,
        i6pn: bool | None = None,
        include_source: bool | None = None,
        experimental_options: dict[str, Any] | None = None,
        _experimental_restrict_output: bool = False,
        max_inputs: int | None = None,
        **deprecated: Any,
    ) -> Callable[[type], Cls]:
        """Register a class whose ``@method``s run remotely; see Modal's ``@app.cls``."""
        _no_bare(_warn_parentheses_missing, "cls")
        options = {
            k: v for k, v in locals().items() if k not in ("self", "_warn_parentheses_missing", "deprecated")
        }
        options.update(self._accept_deprecated(deprecated, "app.cls", options))
        options = self._common(options, "@app.cls")
        site = caller_site()

        def decorate(user_cls: Any) -> Cls:
            if not isinstance(user_cls, type):
                raise InvalidError(f"@app.cls() decorates a class; use @app.function() for {user_cls!r}")
            return self._register_cls(user_cls, options, site)

        return decorate

    def _register_cls(self, user_cls: type, options: dict[str, Any], site: CallSite) -> Cls:
        cls_name = user_cls.__name__
        parameters = {k: v for k, v in vars(user_cls).items() if isinstance(v, Parameter)}
        if parameters and "__init__" in vars(user_cls):
            raise InvalidError(
                f"{cls_name} declares modal.parameter() fields and a custom __init__; remove __init__ "
                "and set things up in an @modal.enter() method"
            )
        if "__init__" in vars(user_cls):
            warnings.warn(
                f"{cls_name} defines __init__; Modal 1.6 rejects this. Use modal.parameter() fields "
                "and @modal.enter()",
                DeprecationWarning,
                stacklevel=3,
            )
        concurrency = getattr(user_cls, "_pcompile_concurrency", None)
        methods: dict[str, FunctionDef] = {}
        hooks: dict[str, list[str]] = {"enter": [], "enter_snap": [], "exit": []}
        for attr, value in list(vars(user_cls).items()):
            if isinstance(value, Parameter):
                # Instances see the default like a dataclass field; required ones stay unset.
                if value.required:
                    delattr(user_cls, attr)
                else:
                    setattr(user_cls, attr, value.default)
                continue
            if not isinstance(value, PartialFunction):
                continue
            raw, flags = value.raw_f, value.flags
            setattr(user_cls, attr, raw)
            if flags.enter:
                hooks["enter_snap" if flags.enter_snap else "enter"].append(attr)
            if flags.exit:
                hooks["exit"].append(attr)
            if flags.method or flags.web is not None or flags.batching is not None:
                if flags.web is not None and options["retries"] is not None:
                    raise InvalidError(
                        f"{cls_name}.{attr} is a web endpoint and cannot have retries: "
                        "remove retries=... from @app.cls()"
                    )
                if concurrency is not None and flags.concurrency is None:
                    from dataclasses import replace

                    flags = replace(flags, concurrency=concurrency)
                tag = f"{cls_name}.{attr}"
                definition = FunctionDef(
                    tag=tag,
                    raw_f=raw,
                    site=site,
                    options=options,
                    flags=flags,
                    kind="method",
                    user_cls=user_cls,
                    method_name=attr,
                )
                methods[attr] = definition
                self._register(tag, None, definition)
        user_cls._pcompile_parameters = parameters  # type: ignore[attr-defined]
        user_cls._pcompile_hooks = hooks  # type: ignore[attr-defined]
        handle = Cls(self, cls_name, user_cls, None, methods, parameters, hooks)
        for attr in methods:
            self._functions[f"{cls_name}.{attr}"] = Function(self, f"{cls_name}.{attr}", methods[attr])
        self._classes[cls_name] = handle
        return handle

    def server(
        self,
        _warn_parentheses_missing: Any = None,
        *,
        image: Image | None = None,
        env: dict[str, str | None] | None = None,
        secrets: list[Secret] | None = None,
        gpu: str | list[str] | None = None,
        serialized: bool = False,
        volumes: dict[str | os.PathLike[str], Volume | CloudBucketMount] = {},  # noqa: B006 - Modal's signature
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        ephemeral_disk: int | None = None,
        target_concurrency: int | None = None,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaleup_window: int | None = None,
        scaledown_window: int | None = None,
        startup_timeout: int = 30,
        name: str | None = None,
        port: int = 8000,
        unauthenticated: bool = False,
        h2_enabled: bool = False,
        exit_grace_period: int = 0,
        routing_region: str = "us-east",
        compute_region: str | None = None,
        cloud: str | None = None,
        nonpreemptible: bool = False,
        proxy: Any = None,
        i6pn: bool | None = None,
        enable_memory_snapshot: bool = False,
        include_source: bool | None = None,
        experimental_options: dict[str, Any] | None = None,
        max_concurrency: int | None = None,
    ) -> Callable[[type], Server]:
        """Register a class whose ``@enter`` starts an HTTP server on ``port`` (``modal.Server``)."""
        _no_bare(_warn_parentheses_missing, "server")
        options = {k: v for k, v in locals().items() if k not in ("self", "_warn_parentheses_missing")}
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidError(
                f"@app.server(port={port!r}): pass the TCP port (1-65535) the server listens on, e.g. port=8000"
            )
        options = self._common(options, "@app.server")
        if target_concurrency is not None or max_concurrency is not None:
            # Modal's server concurrency knobs, as @modal.concurrent(max_inputs, target_inputs).
            most = max_concurrency or target_concurrency
            options["_concurrency"] = (int(most), target_concurrency)  # type: ignore[arg-type]
        options["timeout"] = options.get("timeout") or 300
        site = caller_site()

        def decorate(user_cls: Any) -> Server:
            if not isinstance(user_cls, type):
                raise InvalidError("@app.server() decorates a class whose @modal.enter() starts a server")
            hooks: dict[str, list[str]] = {"enter": [], "enter_snap": [], "exit": []}
            for attr, value in list(vars(user_cls).items()):
                if isinstance(value, PartialFunction):
                    setattr(user_cls, attr, value.raw_f)
                    if value.flags.enter:
                        hooks["enter_snap" if value.flags.enter_snap else "enter"].append(attr)
                    if value.flags.exit:
                        hooks["exit"].append(attr)
            user_cls._pcompile_hooks = hooks  # type: ignore[attr-defined]
            user_cls._pcompile_parameters = {}  # type: ignore[attr-defined]
            tag = name or user_cls.__name__
            from pcompile._partial import WebConfig

            web = WebConfig(
                kind="server",
                port=port,
                requires_auth=not unauthenticated,
                startup_timeout=float(startup_timeout),
            )
            definition = FunctionDef(
                tag=tag,
                raw_f=None,
                site=site,
                options=options,
                flags=Flags(web=web, web_site=site),
                kind="server",
                user_cls=user_cls,
            )
            handle = Server(self, tag, user_cls, definition)
            self._register(tag, handle, definition)
            return handle

        return decorate

    def local_entrypoint(
        self, _warn_parentheses_missing: Any = None, *, name: str | None = None
    ) -> Callable[[Callable[..., Any]], LocalEntrypoint]:
        """Register the function ``pcompile run`` calls on this machine."""
        _no_bare(_warn_parentheses_missing, "local_entrypoint")
        site = caller_site()

        def decorate(f: Callable[..., Any]) -> LocalEntrypoint:
            if not callable(f):
                raise InvalidError(f"@app.local_entrypoint() must decorate a function, got {f!r}")
            tag = name or f.__qualname__
            entry = LocalEntrypoint(self, f, tag, site)
            self._entrypoints[tag] = entry
            return entry

        return decorate

    def include(self, other_app: App, /, inherit_tags: bool = True) -> App:
        """Add another app's functions and classes to this one."""
        if not isinstance(other_app, App):
            raise InvalidError(f"app.include expects an App, got {other_app!r}")
        if other_app is self:
            raise InvalidError("an app cannot include itself")
        self._included.append(other_app)
        if inherit_tags:
            self._tags = {**other_app.get_tags(), **self._tags}
        return self

    def run(
        self,
        *,
        name: str | None = None,
        client: Any = None,
        detach: bool = False,
        interactive: bool = False,
        environment_name: str | None = None,
    ) -> Any:
        """A context manager running this app on the local provider (as ``pcompile run`` does)."""
        return _invocation.run_app(self)

    def deploy(
        self,
        *,
        name: str | None = None,
        environment_name: str | None = None,
        tag: str = "",
        client: Any = None,
        strategy: str = "rolling",
    ) -> App:
        """Deploy this app as ``pcompile deploy FILE --stack NAME`` does; returns the app.

        The stack is ``$PCOMPILE_STACK`` (default ``dev``, as for the CLI), read from
        ``stacks/<name>.yaml`` under the working directory; FILE is the file that
        created this App.
        """
        from pcompile import _deploy

        if name is not None and name != self._name:
            raise InvalidError(
                f"app.deploy(name={name!r}) would rename App({self._name!r}); "
                f"give the App that name instead: modal.App({name!r})"
            )
        _deploy.deploy_app(self)
        return self

    @staticmethod
    def lookup(
        name: str, *, client: Any = None, environment_name: str | None = None, create_if_missing: bool = False
    ) -> App:
        """A handle on a deployed app by name (its functions via ``Function.from_name``)."""
        return App(name)

    # Old Stub-era spelling: @stub.web_endpoint(...) below @stub.function().
    def web_endpoint(self, **kwargs: Any) -> Callable[[Any], Any]:
        """Old spelling of ``@modal.fastapi_endpoint``."""
        from pcompile._partial import fastapi_endpoint

        # Warn here so the warning points at the user's line, not at this method.
        warnings.warn(
            "stub.web_endpoint was renamed; use @modal.fastapi_endpoint(...)",
            DeprecationWarning,
            stacklevel=2,
        )
        kwargs.pop("wait_for_response", None)
        return fastapi_endpoint(**kwargs)


class Stub(App):
    """Old name of :class:`App`; accepted with a warning."""

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        warnings.warn("modal.Stub was renamed; use modal.App", DeprecationWarning, stacklevel=2)
        super().__init__(name, **kwargs)
