"""Stack files: the examples validate, the schema file matches the loader, mistakes name file/key/fix."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from pcompile.compiler.errors import UserError
from pcompile.compiler.stacks import DEFAULT_STATE_BACKEND, SCHEMA, load_stack, schema_json

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("local", "aws-dev", "aws-sim", "gcp-dev", "gcp-sim")


def test_schema_file_is_the_loaders_schema() -> None:
    assert (REPO / "stacks" / "schema.json").read_text() == schema_json()
    jsonschema.Draft202012Validator.check_schema(json.loads(schema_json()))


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_stacks_validate(name: str) -> None:
    data = yaml.safe_load((REPO / "stacks" / f"{name}.yaml").read_text())
    jsonschema.validate(data, SCHEMA)
    settings = load_stack(name, root=REPO)
    assert settings.name == name
    assert settings.cloud == data["cloud"]


def test_defaults_for_a_minimal_stack(tmp_path: Path) -> None:
    settings = load_stack(_write(tmp_path, "dev", "cloud: aws\nregion: eu-west-1\n"), root=tmp_path)
    assert settings.state_backend == DEFAULT_STATE_BACKEND
    assert settings.secrets_provider == "passphrase"
    assert (settings.name, settings.region) == ("dev", "eu-west-1")


def test_overrides_and_network_are_parsed(tmp_path: Path) -> None:
    text = (
        "cloud: aws\nregion: us-east-1\nnetwork: {subnet_ids: [s-1]}\n"
        "overrides: {train: {placement: batch, instance_types: [g5.xlarge]}}\n"
    )
    settings = load_stack(_write(tmp_path, "dev", text), root=tmp_path)
    assert settings.override("train").placement == "batch"
    assert settings.override("train").instance_types == ("g5.xlarge",)
    assert settings.network.subnet_ids == ("s-1",)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("cloud: aws\nregion: x\nregoin: y\n", ["unknown key 'regoin'", "did you mean 'region'"]),
        ("cloud: azure\n", ["'cloud'", "'azure' is not one of aws, gcp, local"]),
        ("cloud: gcp\nregion: us-central1\n", ["'project' is required when cloud is gcp", "fix:"]),
        ("cloud: aws\n", ["'region' is required"]),
        ("region: us-east-1\n", ["key 'cloud' is required"]),
        ("cloud: aws\nregion: x\nbuilder_flags: --foo\n", ["'builder_flags'", "expected an array"]),
        ("cloud: aws\nregion: x\nbake_code: 'yes'\n", ["'bake_code'", "expected a boolean"]),
        ("cloud: aws\nregion: x\nstate_backend: ftp://x\n", ["'state_backend'", "does not match"]),
        (
            "cloud: aws\nregion: x\noverrides: {train: {placement: bach}}\n",
            ["'overrides.train.placement'", "'batch'"],
        ),
        (
            "cloud: aws\nregion: x\nnetwork: {subnets: [a]}\n",
            ["'network.subnets'", "did you mean 'subnet_ids'"],
        ),
        ("cloud: aws\nregion: x\nname: prod\n", ["'name' is 'prod'", "rename the file"]),
        ("cloud: [aws\n", ["not valid YAML"]),
        ("cloud: aws\nregion: x\nengine: simulate\n", ["'endpoint_url' is required when engine is simulate"]),
        ("cloud: aws\nregion: x\nengine: simulat\n", ["'engine'", "did you mean 'simulate'"]),
        ("cloud: aws\nregion: x\nendpoint_url: localhost:5000\n", ["'endpoint_url'", "does not match"]),
        (
            "cloud: local\nendpoint_url: http://127.0.0.1:1\n",
            ["'endpoint_url'", "cloud is local", "cloud: aws"],
        ),
        ("cloud: local\nengine: simulate\n", ["'engine' is 'simulate' but cloud is local"]),
        (
            "cloud: gcp\nregion: r\nproject: p\nengine: simulate\n",
            ["'endpoint_url' is required", "gcp-storage-emulator"],
        ),
        (
            "cloud: gcp\nregion: r\nproject: p\nendpoint_url: http://127.0.0.1:1\n",
            ["'endpoint_url' on a gcp stack needs `engine: simulate`"],
        ),
    ],
)
def test_mistakes_name_file_key_and_fix(tmp_path: Path, text: str, needles: list[str]) -> None:
    path = _write(tmp_path, "dev", text)
    with pytest.raises(UserError) as info:
        load_stack("dev", root=tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert "fix:" in message
    for needle in needles:
        assert needle in message


def test_engine_and_endpoint_url_are_parsed(tmp_path: Path) -> None:
    text = "cloud: aws\nregion: us-east-1\nengine: simulate\nendpoint_url: http://127.0.0.1:5000/\n"
    settings = load_stack(_write(tmp_path, "sim", text), root=tmp_path)
    assert (settings.engine, settings.endpoint_url) == ("simulate", "http://127.0.0.1:5000")
    plain = load_stack(_write(tmp_path, "dev", "cloud: aws\nregion: us-east-1\n"), root=tmp_path)
    assert (plain.engine, plain.endpoint_url) == ("pulumi", None)


def test_a_gcp_simulate_stack_is_parsed(tmp_path: Path) -> None:
    text = (
        "cloud: gcp\nregion: us-central1\nproject: p\nengine: simulate\nendpoint_url: http://127.0.0.1:9023\n"
    )
    settings = load_stack(_write(tmp_path, "gcp-sim", text), root=tmp_path)
    assert (settings.cloud, settings.engine, settings.endpoint_url) == (
        "gcp",
        "simulate",
        "http://127.0.0.1:9023",
    )


def test_unknown_stack_lists_known_ones(tmp_path: Path) -> None:
    _write(tmp_path, "aws-dev", "cloud: aws\nregion: x\n")
    with pytest.raises(UserError, match=r"known stacks: aws-dev[\s\S]*--stack aws-dev"):
        load_stack("aws-dve", root=tmp_path)


def test_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text("cloud: local\n")
    assert load_stack(str(path)).name == "elsewhere"


def _write(root: Path, name: str, text: str) -> Path:
    path = root / "stacks" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_example_stacks_pass_check_jsonschema() -> None:
    import subprocess
    import sys

    files = [str(REPO / "stacks" / f"{name}.yaml") for name in EXAMPLES]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--schemafile",
            str(REPO / "stacks" / "schema.json"),
            *files,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
