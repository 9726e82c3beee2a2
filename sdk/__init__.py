"""pcompile: Modal's API, compiled to Pulumi programs for your own AWS or GCP account.

``import pcompile`` exposes Modal's public names; when pcompile loads a user's file,
``import modal`` resolves to this package. Decorators only record specifications;
``pcompile run`` executes them locally and ``pcompile deploy`` ships them.
"""

from pcompile import exception
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
