"""What the mock engine receives and keeps: ``providers.outputs.filled`` gives the engine what
``Output.from_input(...).apply`` gives, and a finished run leaves nothing of its program alive.

Both sides run under Pulumi's own mock engine (``run_mocked``): one resource takes its
input from :func:`filled`, its twin from Pulumi's deep ``from_input`` of the same
structure. The recorded inputs (secret markers included) and the dependencies the SDK
sends must be the same.
"""

from __future__ import annotations

import gc
import json
import weakref
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.runtime import mocks as pulumi_mocks

from pcompile.providers.outputs import filled, joined
from pcompile.providers.synth import RecordingMocks, run_mocked


class _DependencyMocks(RecordingMocks):
    """Also records, per resource, the dependencies its registration carried."""

    def __init__(self) -> None:
        super().__init__("us-east-1")
        self.dependencies: dict[str, list[str]] = {}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.dependencies[args.name] = list(getattr(self.pending, "dependencies", []))
        return super().new_resource(args)


def _document(statements: Any) -> str:
    return json.dumps({"Statement": statements}, sort_keys=True)


def _structure(bucket: aws.s3.Bucket, secret: pulumi.Output[str]) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "A",
            "Resource": [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")],
            "Nested": {"k": secret},
        },
        {"Sid": "B", "Resource": ["plain"], "Tuple": ("x", bucket.bucket)},
    ]


def _run(program: Any) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    mocks = _DependencyMocks()
    result = run_mocked(program, project="p", stack="s", region="us-east-1", mocks=mocks)
    return {r.name: r.inputs for r in result.resources}, mocks.dependencies


def test_filled_sends_the_same_inputs_and_dependencies_as_from_input() -> None:
    def program() -> None:
        bucket = aws.s3.Bucket("bucket")
        secret = pulumi.Output.secret("s3cret")
        ours = filled(_structure(bucket, secret), _document)
        theirs = pulumi.Output.from_input(_structure(bucket, secret)).apply(_document)
        aws.iam.Policy("ours", policy=ours)
        aws.iam.Policy("theirs", policy=theirs)

    inputs, dependencies = _run(program)
    assert inputs["ours"] == inputs["theirs"]
    value = inputs["ours"]["policy"]
    # the secret inside made the whole document secret, on both sides
    assert isinstance(value, dict) and value.get("value"), value
    assert json.loads(value["value"])["Statement"][0]["Nested"] == {"k": "s3cret"}
    assert dependencies["ours"] == dependencies["theirs"] and dependencies["ours"], dependencies


def test_filled_without_outputs_is_a_plain_value() -> None:
    assert (
        filled([{"Sid": "A", "Resource": ["x"]}], _document)
        == '{"Statement": [{"Resource": ["x"], "Sid": "A"}]}'
    )
    assert joined("arn:aws:s3:::", "name") == "arn:aws:s3:::name"


def test_joined_matches_concat_with_one_and_many_outputs() -> None:
    def program() -> None:
        bucket = aws.s3.Bucket("bucket")
        for label, parts in {"one": ("arn:", bucket.bucket), "two": (bucket.bucket, "/", bucket.arn)}.items():
            aws.iam.Policy(f"ours-{label}", policy=joined(*parts))
            aws.iam.Policy(f"theirs-{label}", policy=pulumi.Output.concat(*parts))

    inputs, dependencies = _run(program)
    for label in ("one", "two"):
        assert inputs[f"ours-{label}"] == inputs[f"theirs-{label}"]
        assert dependencies[f"ours-{label}"] == dependencies[f"theirs-{label}"]
    assert inputs["ours-two"]["policy"] == "bucket/arn:aws:s3:us-east-1:123456789012:bucket"


def test_a_finished_run_keeps_nothing_of_its_program_alive() -> None:
    """Pulumi's settings hold the root stack and the monitor; ``run_mocked`` lets them go,
    so the resources, outputs and futures of a run are garbage once it returns."""
    made: list[weakref.ref[Any]] = []

    def program() -> None:
        bucket = aws.s3.Bucket("bucket")
        # an export: the root stack's outputs reach every resource they depend on
        pulumi.export("arn", bucket.arn)
        made.append(weakref.ref(bucket))
        made.append(weakref.ref(pulumi.runtime.settings.get_root_resource()))

    _run(program)
    gc.collect()
    assert made and all(ref() is None for ref in made), [ref() for ref in made]
