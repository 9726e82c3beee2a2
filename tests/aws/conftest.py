"""Fixtures for the AWS tests: a synthesized acceptance app (once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcompile.compiler import compile_file
from pcompile.compiler.ir import AppSpec
from pcompile.providers.settings import StackSettings
from pcompile.providers.synth import SynthOutput, synthesize

AWS_SETTINGS = StackSettings(name="dev", cloud="aws", region="us-east-1")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gpu_mix.py"


def gpu_mix_example() -> AppSpec:
    """The acceptance app, compiled from ``examples/gpu_mix.py`` (plain Modal style)."""
    return compile_file(EXAMPLE).app()


@pytest.fixture(scope="session")
def gpu_mix_synth() -> SynthOutput:
    """``pcompile synth examples/gpu_mix.py --cloud aws``, under Pulumi's mock engine."""
    return synthesize("aws", gpu_mix_example(), AWS_SETTINGS)
