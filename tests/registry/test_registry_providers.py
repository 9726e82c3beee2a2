"""The registry of clouds: every provider satisfies the protocol, names resolve, and the
per-cloud answers (call ids, stack checks, Pulumi config, secret keys) come from it."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from pcompile.compiler.errors import UserError
from pcompile.compiler.stacks import SCHEMA, parse_stack
from pcompile.providers import registry
from pcompile.providers.registry import Provider


def _protocol_members() -> list[str]:
    members = [n for n, v in vars(Provider).items() if inspect.isfunction(v) and not n.startswith("_")]
    return sorted({*members, *Provider.__annotations__})


@pytest.mark.parametrize("cloud", registry.clouds())
def test_every_registered_provider_satisfies_the_protocol(cloud: str) -> None:
    provider = registry.get(cloud)
    assert isinstance(provider, Provider)
    assert provider.name == cloud
    for name in _protocol_members():
        member = getattr(type(provider), name, None) or getattr(provider, name)
        if inspect.isfunction(getattr(Provider, name, None)):
            wanted = list(inspect.signature(getattr(Provider, name)).parameters)
            assert list(inspect.signature(member).parameters) == wanted, f"{cloud}.{name}"
            assert member.__doc__, f"{cloud}.{name} has no docstring"


def test_the_protocol_covers_every_stage() -> None:
    wanted = {
        "plan",
        "define",
        "invoker",
        "call_invoker",
        "artifact_store",
        "manifest_store",
        "secrets",
        "volume",
        "logs",
        "define_bootstrap",
        "check_stack",
        "pulumi_config",
        "secret_config_key",
        "requirements",
    }
    assert wanted <= set(_protocol_members())


def test_an_unknown_cloud_names_the_valid_ones() -> None:
    with pytest.raises(UserError) as err:
        registry.get("azure")
    assert "unknown cloud 'azure'" in str(err.value)
    assert err.value.fix == "use one of: aws, gcp, local"


def test_a_cloud_without_a_pulumi_program_is_refused_by_get_remote() -> None:
    assert registry.remote_clouds() == ("aws", "gcp")
    assert registry.get_remote("gcp") is registry.get("gcp")
    with pytest.raises(UserError, match="cloud 'local' has no Pulumi program") as err:
        registry.get_remote("local")
    assert err.value.fix == "use --cloud aws or --cloud gcp"
    with pytest.raises(UserError, match="unknown cloud 'x'"):
        registry.get_remote("x")


def test_the_stack_schema_lists_the_registered_clouds() -> None:
    assert SCHEMA["properties"]["cloud"]["enum"] == list(registry.clouds())


def test_call_ids_find_the_provider_that_made_them() -> None:
    from pcompile.providers.gcp.invoker import CallRef
    from pcompile.providers.local.calls import new_call_id
    from pcompile.runtime.aws_calls import Layout

    aws_id = Layout("f", "c1", 3, 1, 1).to_id("bucket", None)
    gcp_id = CallRef("bucket", "f", "c1").id
    assert registry.for_call(aws_id) is registry.get("aws")
    assert registry.for_call(gcp_id) is registry.get("gcp")
    assert registry.for_call(new_call_id()) is registry.get("local")
    assert registry.for_call("fc-someone-else") is None


def test_the_stackless_settings_are_the_local_providers() -> None:
    settings = registry.stackless()
    assert registry.get(settings.cloud).remote is False


def test_stack_checks_come_from_the_cloud() -> None:
    with pytest.raises(UserError, match="'region' is required when cloud is aws") as err:
        parse_stack({"cloud": "aws"}, Path("dev.yaml"))
    assert err.value.fix == "add e.g. `region: us-east-1`"
    with pytest.raises(UserError, match="'endpoint_url' is .* but cloud is local"):
        parse_stack({"cloud": "local", "endpoint_url": "http://127.0.0.1:1"}, Path("dev.yaml"))
    with pytest.raises(UserError, match="'engine' is 'simulate' but cloud is local"):
        parse_stack({"cloud": "local", "engine": "simulate"}, Path("dev.yaml"))
    assert parse_stack({"cloud": "local"}, Path("dev.yaml")).cloud == "local"


def test_pulumi_config_and_secret_keys_per_cloud() -> None:
    aws = parse_stack(
        {"cloud": "aws", "region": "eu-west-1", "endpoint_url": "http://127.0.0.1:5"}, Path("a.yaml")
    )
    config = registry.get("aws").pulumi_config(aws)
    assert config["aws:region"] == "eu-west-1" and config["aws:skipCredentialsValidation"] is True
    gcp = parse_stack({"cloud": "gcp", "region": "europe-west4", "project": "p"}, Path("g.yaml"))
    assert registry.get("gcp").pulumi_config(gcp) == {"gcp:project": "p", "gcp:region": "europe-west4"}
    assert registry.get("aws").secret_config_key("demo", "Api Key") == "pcompile-demo:secret-api-key"
    assert registry.get("gcp").secret_config_key("demo", "api") == "pcompile:secret-api"
    with pytest.raises(UserError, match="local stack has no Pulumi secret config"):
        registry.get("local").secret_config_key("demo", "api")


def test_the_local_provider_refuses_what_needs_a_cloud() -> None:
    local = registry.get("local")
    settings = registry.stackless()
    with pytest.raises(UserError, match="no cloud account"):
        local.shared_names(settings, None, None)
    with pytest.raises(UserError, match="needs no bootstrap"):
        local.define_bootstrap(settings, None)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="no placement plan"):
        local.plan(None, settings)  # type: ignore[arg-type]


def test_importing_the_registry_loads_no_cloud_sdk_or_pulumi() -> None:
    code = (
        "import sys; from pcompile.providers import registry; "
        "[registry.get(c).name for c in registry.clouds()]; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_aws', 'pulumi_gcp', 'boto3', 'botocore', 'google')); print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
