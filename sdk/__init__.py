"""pcompile: Modal's API, compiled to Pulumi programs for your own AWS or GCP account.

``import pcompile`` exposes Modal's public names; when pcompile loads a user's file,
``import modal`` resolves to this package. Decorators only record specifications;
``pcompile run`` executes them locally and ``pcompile deploy`` ships them.
"""

from typing import TYPE_CHECKING, Any

# Names resolve on first use (PEP 562): workers import ``pcompile.runtime`` on every
# start, and importing the whole SDK up front would add to that cost for nothing.
_LAZY: dict[str, str] = {
    "App": "pcompile._app",
    "LocalEntrypoint": "pcompile._app",
    "Stub": "pcompile._app",
    "current_function_call_id": "pcompile._context",
    "current_input_id": "pcompile._context",
    "is_local": "pcompile._context",
    "Dict": "pcompile._dict",
    "Cls": "pcompile._functions",
    "Function": "pcompile._functions",
    "FunctionCall": "pcompile._functions",
    "Server": "pcompile._functions",
    "Image": "pcompile._image",
    "asgi_app": "pcompile._partial",
    "batched": "pcompile._partial",
    "concurrent": "pcompile._partial",
    "enter": "pcompile._partial",
    "exit": "pcompile._partial",
    "fastapi_endpoint": "pcompile._partial",
    "method": "pcompile._partial",
    "parameter": "pcompile._partial",
    "web_endpoint": "pcompile._partial",
    "web_server": "pcompile._partial",
    "wsgi_app": "pcompile._partial",
    "Queue": "pcompile._queue",
    "Retries": "pcompile._retries",
    "Cron": "pcompile._schedule",
    "Period": "pcompile._schedule",
    "Secret": "pcompile._secret",
    "Client": "pcompile._unsupported",
    "Cluster": "pcompile._unsupported",
    "Environment": "pcompile._unsupported",
    "FilePatternMatcher": "pcompile._unsupported",
    "Probe": "pcompile._unsupported",
    "Proxy": "pcompile._unsupported",
    "Sandbox": "pcompile._unsupported",
    "SandboxSnapshot": "pcompile._unsupported",
    "SchedulerPlacement": "pcompile._unsupported",
    "Tunnel": "pcompile._unsupported",
    "Workspace": "pcompile._unsupported",
    "enable_output": "pcompile._unsupported",
    "forward": "pcompile._unsupported",
    "interact": "pcompile._unsupported",
    "CloudBucketMount": "pcompile._volume",
    "NetworkFileSystem": "pcompile._volume",
    "Volume": "pcompile._volume",
    "Error": "pcompile.exception",
    "exception": "pcompile.exception",
    "config": "pcompile.config",
    "gpu": "pcompile.gpu",
}
_SUBMODULES = ("config", "exception", "gpu")  # names that are the module itself

if TYPE_CHECKING:
    from pcompile import config as config
    from pcompile import exception
    from pcompile import gpu as gpu
    from pcompile._app import App, LocalEntrypoint, Stub
    from pcompile._context import current_function_call_id, current_input_id, is_local
    from pcompile._dict import Dict
    from pcompile._functions import Cls, Function, FunctionCall, Server
    from pcompile._image import Image
    from pcompile._partial import (
        asgi_app,
        batched,
        concurrent,
        enter,
        exit,
        fastapi_endpoint,
        method,
        parameter,
        web_endpoint,
        web_server,
        wsgi_app,
    )
    from pcompile._queue import Queue
    from pcompile._retries import Retries
    from pcompile._schedule import Cron, Period
    from pcompile._secret import Secret
    from pcompile._unsupported import (
        Client,
        Cluster,
        Environment,
        FilePatternMatcher,
        Probe,
        Proxy,
        Sandbox,
        SandboxSnapshot,
        SchedulerPlacement,
        Tunnel,
        Workspace,
        enable_output,
        forward,
        interact,
    )
    from pcompile._volume import CloudBucketMount, NetworkFileSystem, Volume
    from pcompile.exception import Error


def __getattr__(name: str) -> Any:
    import importlib

    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'pcompile' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name in _SUBMODULES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

# Modal's ``types`` and ``billing`` namespaces: importable, nothing in them is needed to compile.
types = None
billing = None

__all__ = [
    "App",
    "Client",
    "CloudBucketMount",
    "Cls",
    "Cluster",
    "Cron",
    "Dict",
    "Environment",
    "Error",
    "FilePatternMatcher",
    "Function",
    "FunctionCall",
    "Image",
    "LocalEntrypoint",
    "NetworkFileSystem",
    "Period",
    "Probe",
    "Proxy",
    "Queue",
    "Retries",
    "Sandbox",
    "SandboxSnapshot",
    "SchedulerPlacement",
    "Secret",
    "Server",
    "Stub",
    "Tunnel",
    "Volume",
    "Workspace",
    "__version__",
    "asgi_app",
    "batched",
    "billing",
    "concurrent",
    "current_function_call_id",
    "current_input_id",
    "enable_output",
    "enter",
    "exception",
    "exit",
    "fastapi_endpoint",
    "forward",
    "interact",
    "is_local",
    "method",
    "parameter",
    "types",
    "web_endpoint",
    "web_server",
    "wsgi_app",
]
