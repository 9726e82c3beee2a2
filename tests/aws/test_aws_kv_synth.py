"""``modal.Dict``/``modal.Queue`` in the synthesized AWS program (issue 16): the tables each
function may use, its scoped grant and the store's environment, on Lambda and on Batch."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from aws_apps import AWS_SETTINGS, IMAGE, fn

from pcompile.compiler.errors import UserError
from pcompile.compiler.ir import AppSpec, GpuSpec, Source, StoreSpec
from pcompile.providers.aws import kv_resources
from pcompile.providers.settings import StackSettings
from pcompile.providers.synth import SynthOutput, synthesize

APP_FILE = """\
import modal

app = modal.App("kv-synth")
image = modal.Image.debian_slim(python_version="3.11")
scores = modal.Dict.from_name("scores", create_if_missing=True)
jobs = modal.Queue.from_name("jobs")


@app.function(image=image)
def produce(n: int) -> None:
    scores["n"] = n
    jobs.put(n)


@app.function(image=image, gpu="T4")
def consume() -> int:
    return jobs.get()
"""
ACTIONS = [
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/"
TABLES = ["pcompile-dev-dict-scores", "pcompile-dev-kv-ephemeral", "pcompile-dev-queue-jobs"]


def _kv_app(**kwargs: Any) -> AppSpec:
    return AppSpec(
        name="kv-synth",
        functions=(fn("produce", 10), fn("consume", 16, gpu=GpuSpec("T4"))),
        images=(IMAGE,),
        dicts=(StoreSpec("scores", create_if_missing=True, source=Source("examples/kv.py", 5)),),
        queues=(StoreSpec("jobs"),),
        **kwargs,
    )


def _policies(resources: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {
        r["name"]: json.loads(r["inputs"]["policy"])["Statement"]
        for r in resources
        if r["type"] == "aws:iam/rolePolicy:RolePolicy"
    }


def _envs(resources: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    out = {}
    for r in resources:
        if r["type"] == "aws:lambda/function:Function":
            out[r["name"]] = dict(r["inputs"]["environment"]["variables"])
        elif r["type"] == "aws:batch/jobDefinition:JobDefinition":
            props = json.loads(r["inputs"]["containerProperties"])
            out[r["name"]] = {e["name"]: e["value"] for e in props["environment"]}
    return out


@pytest.fixture(scope="module")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``pcompile synth app.py --cloud aws --json`` of an app with a named Dict and Queue."""
    folder = tmp_path_factory.mktemp("kv-synth")
    (folder / "app.py").write_text(APP_FILE)
    done = subprocess.run(
        [sys.executable, "-c", "from pcompile.cli.main import main; main()", "synth", "app.py"]
        + ["--cloud", "aws", "--json"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))


def test_cli_synth_shows_the_tables_and_no_longer_drops_them(cli_synth: dict[str, Any]) -> None:
    assert cli_synth["aws"]["kv_tables"] == TABLES
    assert cli_synth["aws"]["not_deployed"] == []


def test_every_function_role_gets_the_item_actions_on_exactly_its_tables(cli_synth: dict[str, Any]) -> None:
    policies = _policies(cli_synth["resources"])
    roles = {name for name in policies if not name.endswith("-exec-policy")}
    assert roles == {"kv-synth-produce-policy", "kv-synth-consume-policy"}  # Lambda and Batch
    for name in roles:
        (grant,) = [s for s in policies[name] if any(a.startswith("dynamodb:") for a in s["Action"])]
        assert grant == {
            "Sid": "KvTables",
            "Effect": "Allow",
            "Action": ACTIONS,
            "Resource": [ARN + t for t in TABLES],
        }


def test_no_wildcard_dynamodb_action_or_resource(cli_synth: dict[str, Any]) -> None:
    statements = [s for policy in _policies(cli_synth["resources"]).values() for s in policy]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "dynamodb:*" not in actions and "*" not in actions
        if any(a.startswith("dynamodb:") for a in actions):
            assert all("*" not in r for r in statement["Resource"]), statement


def test_the_store_environment_reaches_lambda_and_batch(cli_synth: dict[str, Any]) -> None:
    envs = _envs(cli_synth["resources"])
    assert set(envs) == {"kv-synth-produce-fn", "kv-synth-consume-jobdef"}
    for env in envs.values():
        assert env["PCOMPILE_KV_CLOUD"] == "aws"
        assert env["PCOMPILE_KV_PREFIX"] == "pcompile-dev"


def test_no_table_is_a_resource_of_the_app() -> None:
    # Named Dicts/Queues are shared across apps: deploy creates them, no app's program owns them.
    out: SynthOutput = synthesize("aws", _kv_app(), AWS_SETTINGS)
    assert not [r for r in out.result.resources if "dynamodb" in r.type]
    assert out.to_json()["aws"]["kv_tables"] == TABLES


def test_an_app_without_dicts_or_queues_gets_no_grant_and_no_environment() -> None:
    out = synthesize("aws", AppSpec(name="plain", functions=(fn("f", 1),), images=(IMAGE,)), AWS_SETTINGS)
    (fn_resource,) = out.result.of_type("aws:lambda/function:Function")
    assert "PCOMPILE_KV_CLOUD" not in fn_resource.inputs["environment"]["variables"]
    assert "dynamodb" not in json.dumps([r.inputs for r in out.result.resources])
    assert "kv_tables" not in out.to_json()["aws"]


def test_a_name_dynamodb_refuses_is_a_user_error_with_the_fix() -> None:
    long_stack = StackSettings(name="s" * 240, cloud="aws", region="us-east-1")
    with pytest.raises(UserError) as caught:
        synthesize("aws", _kv_app(), long_stack)
    message = str(caught.value)
    assert message.startswith("examples/kv.py:5: Dict 'scores' on stack") and "3-255" in message
    assert caught.value.fix == "use a shorter stack name or a shorter Dict/Queue name"


def test_an_invalid_store_name_in_the_ir_is_refused_at_synth() -> None:
    app = AppSpec(name="bad", functions=(fn("f", 1),), images=(IMAGE,), queues=(StoreSpec("a/b"),))
    with pytest.raises(UserError, match=r"Queue.from_name\('a/b'\).*rename it, e.g. 'a-b'"):
        synthesize("aws", app, AWS_SETTINGS)


def test_table_tags_name_the_stack_and_the_object_not_an_app() -> None:
    settings = StackSettings(name="dev", cloud="aws", region="us-east-1", labels={"team": "ml"})
    (scores,) = [t for t in kv_resources.tables(_kv_app(), "dev") if t.name == "scores"]
    assert kv_resources.table_tags(scores, settings) == {
        "pcompile-kv-kind": "dict",
        "pcompile-kv-name": "scores",
        "pcompile-stack": "dev",
        "team": "ml",
    }


def test_the_ir_records_each_from_name_line(tmp_path_factory: pytest.TempPathFactory) -> None:
    from pcompile.compiler import compile_file

    folder = tmp_path_factory.mktemp("kv-source")
    (folder / "app.py").write_text(APP_FILE)
    app = compile_file(str(folder / "app.py")).app()
    assert [(s.name, s.source) for s in app.dicts + app.queues] == [
        ("scores", Source("app.py", 5)),
        ("jobs", Source("app.py", 6)),
    ]
