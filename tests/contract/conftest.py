"""The ``backend`` fixture: every contract case runs once per invoker (local, aws, gcp)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pcompile.testing import modal_alias

HERE = Path(__file__).resolve().parent
# The user's exception type (contract_app.ContractError) unpickles here as it would in the
# user's own process, which has imported the app (``import modal`` meaning pcompile).
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
with modal_alias():
    import contract_app  # noqa: E402, F401

from contract_kit import BACKENDS, Backend  # noqa: E402


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """One backend, set up once per module and torn down with everything it started."""
    with contextlib.ExitStack() as stack:
        yield BACKENDS[request.param](stack, tmp_path_factory.mktemp(f"contract-{request.param}"))
