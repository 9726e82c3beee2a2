"""The SDK path: ``pcompile.Function.from_name(app, fn, stack=...)`` reaches GCP functions.

Uses the deployment laid out by the contract tests' ``deployed`` fixture (emulator,
``http`` runtimes, ``gcpbatch`` tasks); only the clients are swapped for fakes via
:func:`pcompile.providers.gcp.invoker.set_clients`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from gcp_kit import SETTINGS
from test_gcp_contract import Deployed, deployed  # noqa: F401 - the fixture is shared

import pcompile
from pcompile.providers.gcp import clients as gc
from pcompile.providers.gcp import invoker as gi


@pytest.fixture()
def stack_file(deployed: Deployed, tmp_path: Path) -> Iterator[Path]:  # noqa: F811
    """A GCP stack file for the emulator deployment, and fake clients for its invokers."""
    path = tmp_path / f"{SETTINGS.name}.yaml"
    path.write_text(yaml.safe_dump({"cloud": "gcp", "region": SETTINGS.region, "project": SETTINGS.project}))
    deployed.serve("square")
    deployed.invoker()  # publishes the manifest with the local service URLs
    runner = deployed.batch_runner()
    gi.set_clients(lambda: gc.Clients(gc.StaticTokens(), gc.HttpxPost(), gc.FakeBatchJobs(runner=runner)))
    yield path
    gi.set_clients(None)


def test_remote_map_and_spawn_through_the_sdk(deployed: Deployed, stack_file: Path) -> None:  # noqa: F811
    square = pcompile.Function.from_name(deployed.app.name, "square", stack=str(stack_file))
    assert square.remote(9) == 81
    assert list(square.map(range(5))) == [0, 1, 4, 9, 16]
    batch = pcompile.Function.from_name(deployed.app.name, "batch_square", stack=str(stack_file))
    call = batch.spawn(7)
    assert gi.for_call(call.object_id).get(call.object_id, 60) == 49
    assert call.get(timeout=60) == 49


def test_function_call_from_id_in_another_process(deployed: Deployed, stack_file: Path) -> None:  # noqa: F811
    import os
    import subprocess
    import sys

    square = pcompile.Function.from_name(deployed.app.name, "square", stack=str(stack_file))
    call = square.spawn(12)
    code = "import sys, pcompile; print(pcompile.FunctionCall.from_id(sys.argv[1]).get(timeout=60))"
    env = {**os.environ, "STORAGE_EMULATOR_HOST": deployed.emulator}
    done = subprocess.run(
        [sys.executable, "-c", code, call.object_id], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "144"
