"""``pcompile run`` and ``pcompile serve``: execute an app on this machine.

``run FILE[::name] [--option value ...]`` calls the app's ``local_entrypoint`` (options
come from its signature, as ``modal run`` builds them) or its single function, with
``.remote``/``.map``/``.spawn`` going to local worker processes. ``serve FILE``
serves web endpoints on loopback, fires schedules, lets other processes call the
app's functions, and restarts when a source file changes.
"""

from __future__ import annotations

import datetime
import inspect
import json
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pcompile.compiler.errors import UserError

if TYPE_CHECKING:  # click (a second copy next to Typer's own) loads only for entrypoint options
    import click

_CTX = {"allow_extra_args": True, "ignore_unknown_options": True}


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``serve`` to the pcompile app."""
    from pcompile.cli._help import TargetCommand

    @app.command(context_settings=_CTX, cls=TargetCommand)
    def run(
        ctx: typer.Context,
        ref: str = typer.Argument(
            None, help="FILE.py or FILE.py::name (options after it go to the entrypoint)"
        ),
        module: str = typer.Option(None, "-m", help="run a module (pkg.mod[::name]) instead of a file"),
        image_env: bool = typer.Option(None, "--image-env/--no-image-env", help=_IMAGE_ENV_HELP),
        containers: bool = typer.Option(
            False, "--containers", help="run each function inside its built image (podman or docker)"
        ),
        stack: str = typer.Option(None, "--stack", help="stack whose builder settings --containers uses"),
        verbose: bool = typer.Option(
            False, "--verbose", help="print whole tracebacks of remote errors (or PCOMPILE_TRACEBACK=full)"
        ),
    ) -> None:
        """Run a local_entrypoint (or the single function) of an app on this machine."""
        options: dict[str, Any] = {
            "image_env": image_env,
            "containers": containers,
            "stack": stack,
            "verbose": verbose,
        }
        run_ref(program_ref(ref, module, "run"), list(ctx.args), own_words=_own_words(ctx.command), **options)

    @app.command()
    def serve(
        ref: str = typer.Argument(None, help="FILE.py or FILE.py::app"),
        module: str = typer.Option(None, "-m", help="serve a module (pkg.mod) instead of a file"),
        reload: bool = typer.Option(True, "--reload/--no-reload", help="restart when a source file changes"),
        image_env: bool = typer.Option(None, "--image-env/--no-image-env", help=_IMAGE_ENV_HELP),
        port: int = typer.Option(
            None, "--port", help="serve the app's web endpoint on this port (kept across reloads)"
        ),
    ) -> None:
        """Serve web endpoints and schedules locally; other processes can call the app's functions."""
        serve_ref(program_ref(ref, module, "serve"), reload=reload, image_env=image_env, port=port)


_IMAGE_ENV_HELP = (
    "run functions in environments built from their images (default; PCOMPILE_IMAGE_ENV=0 turns off)"
)


def _own_words(command: Any) -> dict[str, tuple[str, Any]]:
    """run's option words: ``"--containers"`` → ``("containers", True)``, ``"--stack"`` → ``("stack", str)``."""
    words: dict[str, tuple[str, Any]] = {}
    for param in command.params:
        if param.param_type_name != "option" or param.name == "module":
            continue
        for opt in param.opts:
            words[opt] = (param.name, True if param.is_flag else str)
        for opt in param.secondary_opts:
            words[opt] = (param.name, False)
    return words


def take_own_options(
    argv: list[str], own_words: dict[str, tuple[str, Any]], entry_words: set[str]
) -> tuple[dict[str, Any], list[str]]:
    """Split run's own options given after the program from the entrypoint's.

    Words the entrypoint declares stay the entrypoint's (``--verbose`` of a program is
    its own); run's other options may come after the program, as in ``run app.py --containers``.
    """
    own: dict[str, Any] = {}
    rest: list[str] = []
    words = iter(argv)
    for word in words:
        if word not in own_words or word in entry_words:
            rest.append(word)
            continue
        name, value = own_words[word]
        if value is str:
            value = next(words, None)
            if value is None:
                raise UserError(f"{word} needs a value", fix=f"pcompile run FILE {word} VALUE")
        own[name] = value
    return own, rest


def _image_envs(loaded: Any, app_name: str, image_env: bool | None) -> Any:
    """Build the app's image environments (before anything runs) unless turned off."""
    import contextlib

    if image_env is False:  # decided before importing envs, which a --no-image-env run never needs
        return contextlib.nullcontext()
    from pcompile.providers.local import envs

    if image_env is None and not envs.enabled_by_default():
        return contextlib.nullcontext()
    return envs.activated(loaded.program.app(app_name), Path(loaded.root))


def _containers(loaded: Any, app_name: str, stack: str | None) -> Any:
    """Build the app's images and make the pool start its workers in them."""
    import contextlib

    from pcompile.providers.containers import ContainerWorkers
    from pcompile.providers.local import pool
    from pcompile.providers.settings import StackSettings

    settings = StackSettings(name="local", cloud="local", builder="podman")
    if stack:
        from pcompile.compiler.stacks import load_stack

        settings = load_stack(stack)
    workers = ContainerWorkers.prepare(loaded.program.app(app_name), settings, Path(loaded.root))

    @contextlib.contextmanager
    def installed() -> Any:
        pool.container_hook = workers
        try:
            yield
        finally:
            pool.container_hook = None

    return installed()


def program_ref(ref: str | None, module: str | None, command: str) -> str:
    """The loader's reference for FILE or ``-m MODULE``; the hint names ``command``."""
    if module:
        return f"-m {module}"
    if not ref:
        raise UserError(
            "no program given", fix=f"pcompile {command} app.py  (or app.py::name, or -m pkg.mod)"
        )
    return ref


# --------------------------------------------------------------------------- run


def pick(loaded: Any) -> tuple[Any, str, Any]:
    """(app, kind, object) that ``run`` executes: Modal's rules for choosing a target."""
    candidates: list[tuple[Any, str, str, Any]] = []
    for app in loaded.apps:
        candidates += [(app, "entrypoint", n, e) for n, e in sorted(app.registered_entrypoints.items())]
    functions = [
        (app, "function", n, f)
        for app in loaded.apps
        for n, f in sorted(app.registered_functions.items())
        if "." not in n
    ]
    if loaded.selected:
        chosen = [c for c in candidates + functions if c[2] == loaded.selected]
        if not chosen:
            names = sorted({c[2] for c in candidates + functions})
            raise UserError(
                f"no entrypoint or function named {loaded.selected!r}", fix=f"choose one of {names}"
            )
        return chosen[0][0], chosen[0][1], chosen[0][3]
    pool = candidates or functions
    if len(pool) != 1:
        names = sorted(c[2] for c in pool)
        raise UserError(
            f"{'several' if pool else 'no'} runnable targets in {loaded.module_name}: {names}",
            fix=f"name one: pcompile run FILE.py::{names[0] if names else 'function'}",
        )
    return pool[0][0], pool[0][1], pool[0][3]


def run_ref(
    ref: str,
    argv: list[str],
    *,
    image_env: bool | None = None,
    containers: bool = False,
    stack: str | None = None,
    verbose: bool = False,
    own_words: dict[str, tuple[str, Any]] | None = None,
) -> None:
    """Load ``ref``, pick its target, parse ``argv`` as its options and run it.

    ``own_words`` (run's option words) are taken out of ``argv`` unless the entrypoint
    declares the same option.
    """
    from pcompile import _invocation
    from pcompile.compiler import load
    from pcompile.exception import Error

    loaded = load(ref)
    app, kind, target = pick(loaded)
    raw = target.raw_f if kind == "entrypoint" else target.get_raw_f()
    late, argv = take_own_options(argv, own_words or {}, option_words(raw))
    image_env = late.get("image_env", image_env)
    containers, stack = late.get("containers", containers), late.get("stack", stack)
    verbose = late.get("verbose", verbose)
    kwargs = parse_options(raw, argv, f"pcompile run {ref}")
    if kwargs is None:
        return
    app_name = loaded.app_names[id(app)]
    check_secrets(loaded, app, app_name)  # before any environment or image is built
    _say(f"Running app {app_name!r} locally")
    # In containers the image itself is the environment; no local one is built.
    environment = (
        _containers(loaded, app_name, stack) if containers else _image_envs(loaded, app_name, image_env)
    )
    from pcompile.providers.local.pool import whole_lines

    with environment, whole_lines():
        try:
            context = _invocation.run_app(app, root=str(loaded.root), program=loaded.program, name=app_name)
            context.__enter__()
        except Error as exc:  # a missing secret or similar: nothing has run yet
            raise UserError(str(exc)) from None
        try:
            with _web_endpoints(_invocation.active_backend()):
                _call_target(kind, target, raw, kwargs, verbose)
        finally:
            context.__exit__(None, None, None)
    _say("App completed.")


def _call_target(
    kind: str, target: Any, raw: Callable[..., Any], kwargs: dict[str, Any], verbose: bool
) -> None:
    """Run the entrypoint (or the function); its errors print Modal-style and exit 1."""
    from pcompile.cli import tracebacks

    try:
        if kind == "entrypoint":
            result = raw(**kwargs)
            if inspect.isawaitable(result):
                import asyncio  # here: it costs ~80 ms to import, and most entrypoints are sync

                asyncio.run(_await(result))
        else:
            target.remote(**kwargs)
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if tracebacks.full_requested(verbose) or not tracebacks.trimmable(exc):
            raise
        print(tracebacks.user_traceback(exc), file=sys.stderr, flush=True)
        raise typer.Exit(1) from None


def _web_endpoints(invoker: Any) -> Any:
    """The app's web endpoints on loopback for the length of the run (as ``modal run``)."""
    import contextlib

    # Checked before importing serve (and its HTTP client): most apps have no endpoint.
    if not any(spec.get("web") for spec in invoker.specs.values()):
        return contextlib.nullcontext()
    from pcompile.providers.local.serve import WebEndpoints

    web = WebEndpoints(invoker, say=lambda line: _say(f"Web endpoint {line}"))

    @contextlib.contextmanager
    def serving() -> Any:
        try:
            web.start()
            yield
        finally:
            web.stop()

    return serving()


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _say(message: str) -> None:
    print(f"✓ {message}", file=sys.stderr, flush=True)


def _click_options(fn: Callable[..., Any]) -> list[click.Parameter]:
    params = [
        option_for(name, p, hints_of(fn).get(name)) for name, p in inspect.signature(fn).parameters.items()
    ]
    return [p for p in params if p is not None]


def option_words(fn: Callable[..., Any]) -> set[str]:
    """Every ``--option`` spelling the entrypoint ``fn`` accepts (and ``-h``/``--help``)."""
    return {"-h", "--help", *(w for p in _click_options(fn) for w in [*p.opts, *p.secondary_opts])}


def parse_options(fn: Callable[..., Any], argv: list[str], prog: str) -> dict[str, Any] | None:
    """Keyword arguments for ``fn`` from ``--option`` flags (None when ``--help`` was shown)."""
    params = _click_options(fn)
    if not argv and not params:  # nothing to parse: click would return {} too
        return {}
    import click

    command = click.Command(
        prog,
        params=params,
        callback=lambda **kw: kw,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    try:
        result = command.main(args=argv, prog_name=prog, standalone_mode=False)
    except click.ClickException as exc:
        raise UserError(exc.format_message(), fix=f"see {prog} --help") from None
    if not isinstance(result, dict):
        return None
    return result


def hints_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """Resolved annotations (strings from ``from __future__ import annotations`` too)."""
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return dict(getattr(fn, "__annotations__", {}))


def option_for(name: str, param: inspect.Parameter, hint: Any) -> click.Option | None:
    """The click option for one parameter, as ``modal run`` maps types."""
    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
        return None
    import click

    required = param.default is param.empty
    default = None if required else param.default
    # click >= 8.3 treats an explicit default=None as a value: give none for required options
    extra: dict[str, Any] = {} if required else {"default": default}
    flag = "--" + name.replace("_", "-")
    spellings = [flag] if "_" not in name else [flag, f"--{name}"]
    base, optional = _unwrap_optional(hint)
    if base is bool:
        names = [f"{flag}/--no-{name.replace('_', '-')}"]
        flag_default: dict[str, Any] = {} if required else {"default": bool(default)}
        return click.Option([*names, name], required=required, show_default=False, **flag_default)
    ctype: Any
    if typing.get_origin(base) is typing.Literal:
        ctype = click.Choice([str(v) for v in typing.get_args(base)])
    elif base is datetime.datetime:
        ctype = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"])
    elif base in (int, float, str):
        ctype = base
    else:
        ctype = str
    show = not required and default is not None
    return click.Option(
        spellings + [name], type=ctype, required=required and not optional, show_default=show, **extra
    )


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


# --------------------------------------------------------------------------- serve


def serve_ref(ref: str, *, reload: bool, image_env: bool | None = None, port: int | None = None) -> None:
    """Serve the app at ``ref`` until interrupted (restarting on changes when ``reload``)."""
    from pcompile.compiler.loader import split_ref

    if reload:
        from pcompile.providers.local.serve import watch_and_restart

        target, is_module, _ = split_ref(ref)
        root = Path.cwd() if is_module else Path(target).resolve().parent
        cmd = [sys.executable, "-c", "from pcompile.cli.main import main; main()", "serve", "--no-reload"]
        cmd += [] if image_env is None else ["--image-env" if image_env else "--no-image-env"]
        cmd += [] if port is None else ["--port", str(port)]
        cmd += ["-m", ref[3:]] if ref.startswith("-m ") else [ref]
        raise typer.Exit(watch_and_restart(cmd, root))
    _serve_once(ref, image_env, port)


def _serve_once(ref: str, image_env: bool | None = None, port: int | None = None) -> None:
    import contextlib
    import signal

    from pcompile.providers.local import serve

    # SIGTERM stops as Ctrl-C does: the finally blocks below stop every process we start.
    serve.stop_on_signals()
    with contextlib.ExitStack() as stack:
        try:
            app_name = _start_serving(ref, image_env, port, stack)
            _say(f"Serving app {app_name!r}; Ctrl-C to stop")
            while True:
                signal.pause()
        except KeyboardInterrupt:
            pass
        finally:  # a second signal must not cut the cleanup short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_serving(ref: str, image_env: bool | None, port: int | None, stack: Any) -> str:
    """Load, check secrets, build environments, start serving; ``stack`` undoes it all."""
    from pcompile import _invocation
    from pcompile.compiler import load
    from pcompile.exception import Error
    from pcompile.providers.local import serve

    loaded = load(ref)
    app = loaded.app(loaded.selected) if loaded.selected else loaded.app()
    app_name = loaded.app_names[id(app)]
    check_secrets(loaded, app, app_name)
    stack.enter_context(_image_envs(loaded, app_name, image_env))
    try:
        stack.enter_context(
            _invocation.run_app(app, root=str(loaded.root), program=loaded.program, name=app_name)
        )
    except Error as exc:
        raise UserError(str(exc)) from None
    invoker = _invocation.active_backend()
    serving = serve.Serving(invoker, ports=serve.remembered_ports(), base_port=port)  # type: ignore[arg-type]
    stack.callback(serving.stop)
    try:
        serving.start()
    except serve.PortInUse as exc:
        raise UserError(str(exc), fix="pass another --port, or stop what listens there") from None
    return app_name


def check_secrets(loaded: Any, app: Any, app_name: str) -> None:
    """Fail fast, naming the missing secret and the fix, before any environment is built."""
    from pcompile.compiler import ir
    from pcompile.exception import Error
    from pcompile.providers.local.secrets import SecretResolver

    data = json.loads(ir.dumps(loaded.program))
    spec = next(a for a in data["apps"] if a["name"] == app_name)
    try:
        SecretResolver.for_app(app).check(spec)
    except Error as exc:
        raise UserError(str(exc)) from None
