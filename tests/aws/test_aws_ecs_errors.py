"""Bad input for AWS web services (issue 15): each error names the file:line (or the stack
file), the bad value and the fix."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from aws_apps import AWS_SETTINGS, IMAGE, fn

from pcompile.compiler import compile_file
from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, GpuSpec, WebSpec
from pcompile.compiler.stacks import load_stack
from pcompile.providers.aws import catalog, placement
from pcompile.providers.gcp import placement as gcp_placement
from pcompile.providers.settings import StackSettings, WebSettings
from pcompile.providers.synth import synthesize

TABLE = catalog.load_catalog()


def _compile_error(tmp_path: Path, body: str) -> str:
    path = tmp_path / "svc.py"
    path.write_text("import modal\n\napp = modal.App('svc')\n\n" + textwrap.dedent(body))
    with pytest.raises(UserError) as err:
        compile_file(path, root=tmp_path)
    return str(err.value)


@pytest.mark.parametrize("port", [0, 70000])
def test_a_web_server_port_outside_the_range_names_the_line_and_the_fix(tmp_path: Path, port: int) -> None:
    text = _compile_error(tmp_path, f"@app.function()\n@modal.web_server({port})\ndef ui():\n    pass\n")
    assert "svc.py:6" in text and repr(port) in text and "1-65535" in text and "web_server(8000)" in text


def test_an_app_server_port_outside_the_range_names_the_line_and_the_fix(tmp_path: Path) -> None:
    text = _compile_error(
        tmp_path,
        "@app.server(port=65536)\nclass Ui:\n    @modal.enter()\n    def start(self):\n        pass\n",
    )
    assert "svc.py:5" in text and "65536" in text and "port=8000" in text


def test_a_port_outside_the_range_in_the_ir_is_refused_by_placement() -> None:
    spec = fn("ui", 12, web=WebSpec(kind="web_server", port=0))
    with pytest.raises(UserError) as err:
        placement.place(spec, AWS_SETTINGS, TABLE)
    assert "examples/gpu_mix.py:12" in str(err.value) and "port=0" in str(err.value)
    assert err.value.fix and "web_server(8000)" in err.value.fix


def test_a_gpu_no_ecs_instance_holds_names_the_line_and_the_fix() -> None:
    spec = fn("gen", 7, web=WebSpec(kind="fastapi"), gpu=GpuSpec("H100", 16))
    with pytest.raises(UserError) as err:
        placement.place(spec, AWS_SETTINGS, TABLE)
    text = str(err.value)
    assert "examples/gpu_mix.py:7" in text and "no ECS-capable" in text and "H100:16" in text
    assert err.value.fix and "H100:8" in err.value.fix


def test_a_gpu_only_on_instances_ecs_cannot_run_is_refused() -> None:
    # A catalog row of a family the ECS GPU AMI does not list never reaches a capacity provider.
    table = catalog.load_catalog(
        "gpu,count,instance_type,vcpus,memory_gib,source\nT4G,1,g5g.xlarge,4,8,https://aws.amazon.com/ec2/\n"
    )
    spec = fn("gen", 9, web=WebSpec(kind="web_server", port=8000), gpu=GpuSpec("T4G"))
    with pytest.raises(UserError) as err:
        placement.place(spec, AWS_SETTINGS, table)
    assert "examples/gpu_mix.py:9" in str(err.value) and "gpu=T4G:1" in str(err.value)
    # The same GPU on Batch (no web endpoint) is fine: the filter is ECS's own.
    assert placement.place(fn("job", 9, gpu=GpuSpec("T4G")), AWS_SETTINGS, table).target == "batch"


def test_min_containers_above_max_names_the_line_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "svc.py"
    path.write_text(
        "import modal\n\napp = modal.App('svc')\n\n"
        "@app.function(min_containers=3, max_containers=2)\n@modal.web_server(8000)\ndef ui():\n    pass\n"
    )
    app = compile_file(path, root=tmp_path).app()
    with pytest.raises(UserError) as err:
        placement.plan(app, AWS_SETTINGS)
    text = str(err.value)
    assert "svc.py:5" in text and "min_containers=3" in text and "max_containers=2" in text
    assert err.value.fix == "use min_containers<=2 or max_containers>=3"


def test_a_stack_domain_without_a_certificate_names_the_stack_file(tmp_path: Path) -> None:
    stack = tmp_path / "stacks" / "prod.yaml"
    stack.parent.mkdir()
    stack.write_text("cloud: aws\nregion: us-east-1\nweb:\n  domain: example.com\n")
    with pytest.raises(UserError) as err:
        load_stack(stack)
    text = str(err.value)
    assert str(stack) in text and "web.domain" in text and "example.com" in text
    assert err.value.fix and "certificate_arn" in err.value.fix


def test_a_stack_with_domain_and_certificate_loads(tmp_path: Path) -> None:
    stack = tmp_path / "prod.yaml"
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    stack.write_text(
        f"cloud: aws\nregion: us-east-1\nweb:\n  domain: example.com\n  certificate_arn: {arn}\n"
    )
    assert load_stack(stack).web == WebSettings("example.com", arn)


def test_settings_with_a_domain_and_no_certificate_are_refused_by_the_program() -> None:
    app = AppSpec("svc", (fn("ui", 3, web=WebSpec(kind="web_server", port=8000)),), images=(IMAGE,))
    settings = dataclasses.replace(AWS_SETTINGS, web=WebSettings(domain="example.com"))
    with pytest.raises(UserError, match="web.certificate_arn"):
        synthesize("aws", app, settings)


def test_gcp_refuses_big_gpu_web_endpoints_and_names_the_aws_target() -> None:
    app = AppSpec("svc", (fn("gen", 4, web=WebSpec(kind="fastapi"), gpu=GpuSpec("A100")),), images=(IMAGE,))
    settings = StackSettings(name="dev", cloud="gcp", region="us-central1", project="acme-ml")
    with pytest.raises(UserError) as err:
        gcp_placement.plan(app, settings)
    assert "examples/gpu_mix.py:4" in str(err.value) and "Cloud Run serves only gpu='L4'" in str(err.value)
    assert err.value.fix and "--cloud aws" in err.value.fix and "ECS" in err.value.fix
