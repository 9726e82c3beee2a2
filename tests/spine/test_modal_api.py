"""pcompile exports Modal's names, and Modal's parameter names and defaults, unchanged.

Source of every table here: /work/shared/MODAL_API.md §1.1-1.5 (read from the modal
client 1.5.4, cross-checked against 1.6.4). Signatures are written as Modal's docs
print them and parsed with ``ast``; a default that is a Modal-internal constant
(``AUTO_DOCKERIGNORE``, ``NON_PYTHON_FILES``, ``<none>``) is written as a bare name
and only its presence is checked.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from typing import Any

import pytest

import pcompile
import pcompile.exception
import pcompile.experimental

# §1.1: modal.__all__. MODAL_API.md says "47 names" but lists these 46.
MODAL_ALL = (
    "__version__ App Client Cls Cron Dict Environment Error FilePatternMatcher Function FunctionCall Image "
    "NetworkFileSystem Period Probe Proxy Queue Retries CloudBucketMount Sandbox SandboxSnapshot "
    "SchedulerPlacement Secret Server Tunnel Volume Workspace asgi_app batched billing concurrent "
    "current_function_call_id current_input_id enable_output enter exit fastapi_endpoint forward is_local "
    "interact method parameter types web_endpoint web_server wsgi_app"
).split()

# §1.1 and the exception names examples import from modal.exception.
EXCEPTIONS = (
    "Error InvalidError NotFoundError TimeoutError ExecutionError DeprecationError OutputExpiredError "
    "ConflictError RemoteError FunctionTimeoutError"
).split()

_FUNCTION_COMMON = (
    "image=None, schedule=None, env=None, secrets=None, gpu=None, serialized=False, network_file_systems={}, "
    "volumes={}, cpu=None, memory=None, ephemeral_disk=None, min_containers=None, max_containers=None, "
    "buffer_containers=None, scaledown_window=None, proxy=None, retries=None, timeout=300, "
    "startup_timeout=None, name=None, is_generator=None, cloud=None, region=None, routing_region=None, "
    "nonpreemptible=False, enable_memory_snapshot=False, block_network=False, restrict_modal_access=False, "
    "single_use_containers=False, i6pn=None, include_source=None, experimental_options=None, "
    "_experimental_restrict_output=False, max_inputs=None"
)
_CLS = ", ".join(
    p for p in _FUNCTION_COMMON.split(", ") if p.split("=")[0] not in ("schedule", "name", "is_generator")
)
_INSTALL_TAIL = "force_build=False, env=None, secrets=None, gpu=None"
_REGISTRY = "tag, secret=None, *, setup_dockerfile_commands=[], force_build=False, add_python=None, **kwargs"
_PIP_OPTIONS = "index_url=None, extra_index_url=None, pre=False, extra_options='', " + _INSTALL_TAIL

# (label, object, Modal's signature as documented)
SIGNATURES: list[tuple[str, Callable[..., Any], str]] = [
    # §1.2 modal.App
    (
        "App",
        pcompile.App.__init__,
        "self, name=None, *, tags=None, image=None, secrets=[], volumes={}, include_source=True",
    ),
    ("App.function", pcompile.App.function, "self, *, " + _FUNCTION_COMMON),
    ("App.cls", pcompile.App.cls, "self, *, " + _CLS),
    (
        "App.server",
        pcompile.App.server,
        "self, *, image=None, env=None, secrets=None, gpu=None, serialized=False, volumes={}, cpu=None, "
        "memory=None, ephemeral_disk=None, target_concurrency=None, min_containers=None, max_containers=None, "
        "buffer_containers=None, scaleup_window=None, scaledown_window=None, startup_timeout=30, name=None, "
        "port=8000, unauthenticated=False, h2_enabled=False, exit_grace_period=0, routing_region='us-east', "
        "compute_region=None, cloud=None, nonpreemptible=False, proxy=None, i6pn=None, "
        "enable_memory_snapshot=False, include_source=None, experimental_options=None",
    ),
    ("App.local_entrypoint", pcompile.App.local_entrypoint, "self, *, name=None"),
    ("App.include", pcompile.App.include, "self, other_app, /, inherit_tags=True"),
    (
        "App.run",
        pcompile.App.run,
        "self, *, name=None, client=None, detach=False, interactive=False, environment_name=None",
    ),
    (
        "App.deploy",
        pcompile.App.deploy,
        "self, *, name=None, environment_name=None, tag='', client=None, strategy='rolling'",
    ),
    (
        "App.lookup",
        pcompile.App.lookup,
        "name, *, client=None, environment_name=None, create_if_missing=False",
    ),
    # §1.3 decorators
    (
        "fastapi_endpoint",
        pcompile.fastapi_endpoint,
        "*, method='GET', label=None, custom_domains=None, docs=False, requires_proxy_auth=False",
    ),
    ("asgi_app", pcompile.asgi_app, "*, label=None, custom_domains=None, requires_proxy_auth=False"),
    ("wsgi_app", pcompile.wsgi_app, "*, label=None, custom_domains=None, requires_proxy_auth=False"),
    (
        "web_server",
        pcompile.web_server,
        "port, *, startup_timeout=5.0, label=None, custom_domains=None, requires_proxy_auth=False",
    ),
    ("concurrent", pcompile.concurrent, "*, max_inputs=None, target_inputs=None"),
    ("batched", pcompile.batched, "*, max_batch_size, wait_ms"),
    ("enter", pcompile.enter, "*, snap=False"),
    ("exit", pcompile.exit, ""),
    ("method", pcompile.method, "*, is_generator=None"),
    ("parameter", pcompile.parameter, "*, default=NO_DEFAULT, init=True"),
    (
        "experimental.clustered",
        pcompile.experimental.clustered,
        "size, broadcast=True, rdma=False, fabric_size=None",
    ),
    # §1.4 modal.Image
    ("Image.debian_slim", pcompile.Image.debian_slim, "python_version=None, force_build=False"),
    ("Image.micromamba", pcompile.Image.micromamba, "python_version=None, force_build=False"),
    ("Image.from_registry", pcompile.Image.from_registry, _REGISTRY),
    ("Image.from_aws_ecr", pcompile.Image.from_aws_ecr, _REGISTRY),
    ("Image.from_gcp_artifact_registry", pcompile.Image.from_gcp_artifact_registry, _REGISTRY),
    (
        "Image.from_dockerfile",
        pcompile.Image.from_dockerfile,
        "path, *, force_build=False, context_dir=None, env=None, secrets=None, gpu=None, add_python=None, "
        "build_args={}, ignore=AUTO_DOCKERIGNORE",
    ),
    ("Image.from_scratch", pcompile.Image.from_scratch, "force_build=False"),
    ("Image.from_name", pcompile.Image.from_name, "name, *, environment_name=None, client=None"),
    ("Image.from_id", pcompile.Image.from_id, "image_id, client=None"),
    (
        "Image.pip_install",
        pcompile.Image.pip_install,
        "self, *packages, find_links=None, " + _PIP_OPTIONS,
    ),
    (
        "Image.uv_pip_install",
        pcompile.Image.uv_pip_install,
        "self, *packages, requirements=None, find_links=None, index_url=None, extra_index_url=None, "
        "pre=False, extra_options='', force_build=False, uv_version=None, env=None, secrets=None, gpu=None",
    ),
    (
        "Image.uv_sync",
        pcompile.Image.uv_sync,
        "self, uv_project_dir='./', *, force_build=False, groups=None, extras=None, frozen=True, "
        "extra_options='', uv_version=None, env=None, secrets=None, gpu=None",
    ),
    (
        "Image.pip_install_from_requirements",
        pcompile.Image.pip_install_from_requirements,
        "self, requirements_txt, find_links=None, *, " + _PIP_OPTIONS,
    ),
    (
        "Image.pip_install_from_pyproject",
        pcompile.Image.pip_install_from_pyproject,
        "self, pyproject_toml, optional_dependencies=[], *, find_links=None, " + _PIP_OPTIONS,
    ),
    (
        "Image.poetry_install_from_file",
        pcompile.Image.poetry_install_from_file,
        "self, poetry_pyproject_toml, poetry_lockfile=None, *, ignore_lockfile=False, force_build=False, "
        "with_=[], without=[], only=[], poetry_version='latest', old_installer=False, env=None, secrets=None, "
        "gpu=None",
    ),
    (
        "Image.micromamba_install",
        pcompile.Image.micromamba_install,
        "self, *packages, spec_file=None, channels=[], " + _INSTALL_TAIL,
    ),
    ("Image.apt_install", pcompile.Image.apt_install, "self, *packages, " + _INSTALL_TAIL),
    (
        "Image.run_commands",
        pcompile.Image.run_commands,
        "self, *commands, env=None, secrets=None, volumes=None, gpu=None, force_build=False",
    ),
    (
        "Image.dockerfile_commands",
        pcompile.Image.dockerfile_commands,
        "self, *dockerfile_commands, context_files={}, env=None, secrets=None, gpu=None, context_dir=None, "
        "force_build=False, ignore=AUTO_DOCKERIGNORE, build_args={}",
    ),
    ("Image.env", pcompile.Image.env, "self, vars"),
    ("Image.workdir", pcompile.Image.workdir, "self, path"),
    ("Image.entrypoint", pcompile.Image.entrypoint, "self, entrypoint_commands"),
    ("Image.cmd", pcompile.Image.cmd, "self, cmd"),
    ("Image.shell", pcompile.Image.shell, "self, shell_commands"),
    (
        "Image.add_local_dir",
        pcompile.Image.add_local_dir,
        "self, local_path, remote_path, *, copy=False, ignore=[]",
    ),
    ("Image.add_local_file", pcompile.Image.add_local_file, "self, local_path, remote_path, *, copy=False"),
    (
        "Image.add_local_python_source",
        pcompile.Image.add_local_python_source,
        "self, *modules, copy=False, ignore=NON_PYTHON_FILES",
    ),
    (
        "Image.run_function",
        pcompile.Image.run_function,
        "self, raw_f, *, env=None, secrets=None, volumes={}, network_file_systems={}, gpu=None, cpu=None, "
        "memory=None, timeout=3600, cloud=None, region=None, force_build=False, args=(), kwargs={}, "
        "include_source=True",
    ),
    ("Image.imports", pcompile.Image.imports, "self"),
    ("Image.pipe", pcompile.Image.pipe, "self, func, *args, **kwargs"),
    # §1.5 storage and config objects
    (
        "Volume.from_name",
        pcompile.Volume.from_name,
        "name, *, environment_name=None, create_if_missing=False, version=None, create_options=None, client=None",
    ),
    (
        "NetworkFileSystem.from_name",
        pcompile.NetworkFileSystem.from_name,
        "name, *, environment_name=None, create_if_missing=False",
    ),
    (
        "CloudBucketMount",
        pcompile.CloudBucketMount,
        "bucket_name, bucket_endpoint_url=None, key_prefix=None, secret=None, oidc_auth_role_arn=None, "
        "read_only=False, requester_pays=False, force_path_style=False",
    ),
    (
        "Secret.from_name",
        pcompile.Secret.from_name,
        "name, *, environment_name=None, required_keys=[], client=None",
    ),
    ("Secret.from_dict", pcompile.Secret.from_dict, "env_dict={}"),
    ("Secret.from_local_environ", pcompile.Secret.from_local_environ, "env_keys"),
    ("Secret.from_dotenv", pcompile.Secret.from_dotenv, "path=None, *, filename='.env'"),
    ("Dict.from_name", pcompile.Dict.from_name, "name, *, environment_name=None, create_if_missing=False"),
    ("Queue.from_name", pcompile.Queue.from_name, "name, *, environment_name=None, create_if_missing=False"),
    # §1.6 handles (the call API every Function and method handle supports)
    (
        "Function.map",
        pcompile.Function.map,
        "self, *input_iterators, kwargs={}, order_outputs=True, return_exceptions=False, "
        "wrap_returned_exceptions=None",
    ),
    (
        "Function.starmap",
        pcompile.Function.starmap,
        "self, input_iterator, *, kwargs={}, order_outputs=True, return_exceptions=False, "
        "wrap_returned_exceptions=None",
    ),
    (
        "Function.for_each",
        pcompile.Function.for_each,
        "self, *input_iterators, kwargs={}, ignore_exceptions=False",
    ),
    ("Function.spawn_map", pcompile.Function.spawn_map, "self, *input_iterators, kwargs={}"),
    ("Function.spawn", pcompile.Function.spawn, "self, *args, **kwargs"),
    ("Function.remote", pcompile.Function.remote, "self, *args, **kwargs"),
    ("Function.local", pcompile.Function.local, "self, *args, **kwargs"),
    (
        "Function.from_name",
        pcompile.Function.from_name,
        "app_name, name, *, version=None, environment_name=None, client=None",
    ),
    (
        "Function.with_concurrency",
        pcompile.Function.with_concurrency,
        "self, *, max_inputs, target_inputs=None",
    ),
    ("Function.with_batching", pcompile.Function.with_batching, "self, *, max_batch_size, wait_ms"),
    ("FunctionCall.get", pcompile.FunctionCall.get, "self, timeout=None, *, index=0"),
    ("FunctionCall.iter", pcompile.FunctionCall.iter, "self, *, start=0, end=None"),
    ("FunctionCall.cancel", pcompile.FunctionCall.cancel, "self, terminate_containers=False"),
    ("FunctionCall.from_id", pcompile.FunctionCall.from_id, "function_call_id, client=None"),
    ("FunctionCall.gather", pcompile.FunctionCall.gather, "*function_calls"),
    (
        "Cls.from_name",
        pcompile.Cls.from_name,
        "app_name, name, *, version=None, environment_name=None, client=None",
    ),
    ("Cron", pcompile.Cron, "cron_string, timezone='UTC'"),
    ("Period", pcompile.Period, "*, years=0, months=0, weeks=0, days=0, hours=0, minutes=0, seconds=0"),
    (
        "Retries",
        pcompile.Retries,
        "*, max_retries, backoff_coefficient=2.0, initial_delay=1.0, max_delay=60.0",
    ),
]

# pcompile's additions that are not Modal parameters: old spellings accepted with a warning
# (``**deprecated``), 1.6.4's app.server(max_concurrency=) and from_dockerfile(registry_secret=),
# and ``client=`` (accepted and ignored) on the remaining from_name lookups.
EXTRA_ALLOWED = {"deprecated", "max_concurrency", "registry_secret", "client", "stack"}
_SOME_DEFAULT = object()


def documented(signature: str) -> list[tuple[str, Any, str]]:
    """(name, default or _SOME_DEFAULT / inspect.Parameter.empty, kind) of a documented signature."""
    args = ast.parse(f"def f({signature}): pass").body[0].args  # type: ignore[attr-defined]
    out: list[tuple[str, Any, str]] = []
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = "POSITIONAL_ONLY" if i < len(args.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        out.append((arg.arg, _default(default), kind))
    if args.vararg:
        out.append((args.vararg.arg, inspect.Parameter.empty, "VAR_POSITIONAL"))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append((arg.arg, _default(default), "KEYWORD_ONLY"))
    if args.kwarg:
        out.append((args.kwarg.arg, inspect.Parameter.empty, "VAR_KEYWORD"))
    return out


def _default(node: ast.expr | None) -> Any:
    if node is None:
        return inspect.Parameter.empty
    if isinstance(node, ast.Name):
        return _SOME_DEFAULT
    return ast.literal_eval(node)


def _signature(obj: Callable[..., Any]) -> inspect.Signature:
    if isinstance(obj, type):
        return inspect.signature(obj.__init__)  # type: ignore[misc]
    return inspect.signature(obj)


@pytest.mark.parametrize("label,obj,modal_signature", SIGNATURES, ids=[s[0] for s in SIGNATURES])
def test_parameters_match_modal(label: str, obj: Callable[..., Any], modal_signature: str) -> None:
    ours = _signature(obj).parameters
    if isinstance(obj, type):
        modal_signature = "self, " + modal_signature if modal_signature else "self"
    expected = documented(modal_signature)
    for name, default, kind in expected:
        assert name in ours, f"{label}: Modal's parameter {name!r} is missing"
        param = ours[name]
        assert param.kind.name == kind, f"{label}({name}): {param.kind.name}, Modal has {kind}"
        if default is _SOME_DEFAULT:
            assert param.default is not inspect.Parameter.empty, f"{label}({name}) needs a default"
        else:
            assert param.default == default, f"{label}({name}={param.default!r}), Modal has {default!r}"
            assert type(param.default) is type(default), f"{label}({name}): default type differs"
    names = {n for n, _, _ in expected}
    extra = {n for n in ours if n not in names and not n.startswith("_")} - EXTRA_ALLOWED
    assert not extra, f"{label}: parameters Modal does not have: {sorted(extra)}"


def test_modal_all_names_are_exported() -> None:
    assert len(MODAL_ALL) == len(set(MODAL_ALL)) == 46
    missing = [n for n in MODAL_ALL if not hasattr(pcompile, n)]
    assert not missing
    assert set(MODAL_ALL) <= set(pcompile.__all__)


def test_all_is_sorted_and_exact() -> None:
    assert pcompile.__all__ == sorted(pcompile.__all__)
    assert len(set(pcompile.__all__)) == len(pcompile.__all__)
    for name in pcompile.__all__:
        assert hasattr(pcompile, name), name
    # pcompile's additions beyond Modal's names are deliberate and listed here.
    assert set(pcompile.__all__) - set(MODAL_ALL) == {"Cluster", "LocalEntrypoint", "Stub", "exception"}


def test_exception_names() -> None:
    for name in EXCEPTIONS:
        exc = getattr(pcompile.exception, name)
        assert issubclass(exc, Exception), name
        assert issubclass(exc, pcompile.exception.Error), name
    assert pcompile.Error is pcompile.exception.Error
    # Modal's TimeoutError is also the builtin one, so `except TimeoutError` catches it.
    assert issubclass(pcompile.exception.TimeoutError, TimeoutError)
    assert issubclass(pcompile.exception.FunctionTimeoutError, pcompile.exception.TimeoutError)


def test_experimental_names() -> None:
    assert callable(pcompile.experimental.clustered)
    assert pcompile.experimental.get_cluster_info().rank == 0


def test_retries_and_period_ranges() -> None:
    with pytest.raises(pcompile.exception.InvalidError, match="max_delay"):
        pcompile.Retries(max_retries=1, max_delay=61)
    with pytest.raises(pcompile.exception.InvalidError, match="backoff_coefficient"):
        pcompile.Retries(max_retries=1, backoff_coefficient=0.5)
    pcompile.Retries(max_retries=0, backoff_coefficient=10, initial_delay=0, max_delay=1)
    pcompile.Retries(max_retries=3, backoff_coefficient=1, initial_delay=60, max_delay=60)
    with pytest.raises(pcompile.exception.InvalidError, match="only seconds may be a float"):
        pcompile.Period(minutes=1.5)  # type: ignore[arg-type]
    assert pcompile.Period(seconds=1.5).seconds == 1.5
