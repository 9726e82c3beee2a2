"""Fixtures for the AWS tests: a synthesized acceptance app (once per session)."""

from __future__ import annotations

import pytest
from aws_apps import gpu_mix

from pcompile.providers.settings import StackSettings
from pcompile.providers.synth import SynthOutput, synthesize

AWS_SETTINGS = StackSettings(name="dev", cloud="aws", region="us-east-1")


@pytest.fixture(scope="session")
def gpu_mix_synth() -> SynthOutput:
    """``pcompile synth`` of the acceptance app on AWS, under Pulumi's mock engine."""
    return synthesize("aws", gpu_mix(), AWS_SETTINGS)
