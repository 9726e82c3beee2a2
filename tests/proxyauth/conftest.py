"""An IAM-enforcing moto per module for the simulate-tier proxy-auth test (as tests/e2e does)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import IamMoto, iam_moto_server

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))  # e2e_kit: the temp project and CLI runs of the simulate tier
DEPLOY_POLICY = Path(__file__).resolve().parents[2] / "docs" / "policies" / "aws-deploy-policy.json"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The emulator's URL; the deployer holds exactly the published deploy policy."""
    import e2e_kit

    server: IamMoto
    with iam_moto_server(DEPLOY_POLICY, tmp_path_factory.mktemp("iam")) as server:
        e2e_kit.register(server)
        yield server.url
