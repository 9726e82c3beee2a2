"""Fixtures for the AWS tests: a synthesized acceptance app (once per session)."""

from __future__ import annotations

import pytest
from aws_apps import AWS_SETTINGS, gpu_mix_example

from pcompile.providers.synth import SynthOutput, synthesize


@pytest.fixture(scope="session")
def gpu_mix_synth() -> SynthOutput:
    """``pcompile synth examples/gpu_mix.py --cloud aws``, under Pulumi's mock engine."""
    return synthesize("aws", gpu_mix_example(), AWS_SETTINGS)
