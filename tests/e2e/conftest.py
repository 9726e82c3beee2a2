"""End-to-end deploys (``engine: simulate``): each module starts its own moto server, with
IAM enforced. The deployer holds exactly ``docs/policies/aws-deploy-policy.json`` and
``aws-deploy-policy-web.json`` (web services); runtimes
act as their function's own role (docs/simulate.md, "IAM enforcement")."""

from __future__ import annotations

import os
from collections.abc import Iterator

import e2e_kit
import pytest
from servers import IamMoto, iam_moto_server, moto_server


@pytest.fixture(scope="module")
def iam_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamMoto]:
    """An IAM-enforcing moto for this module, stopped with its process group.

    ``PCOMPILE_E2E_IAM_AUDIT=1`` logs every authorization decision (``iam-audit.jsonl`` in
    the fixture's temp folder), which is how the deploy policy's actions were found.
    """
    audit = os.environ.get("PCOMPILE_E2E_IAM_AUDIT") == "1"
    with iam_moto_server(e2e_kit.DEPLOY_POLICIES, tmp_path_factory.mktemp("iam"), audit=audit) as server:
        e2e_kit.register(server)
        yield server


@pytest.fixture(scope="module")
def moto(iam_moto: IamMoto) -> str:
    """The emulator's URL."""
    return iam_moto.url


@pytest.fixture(scope="module")
def plain_moto() -> Iterator[str]:
    """A moto server without IAM enforcement (the ECS handler and compute tests)."""
    with moto_server() as url:
        yield url
