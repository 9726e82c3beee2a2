"""End-to-end deploys (``engine: simulate``): each module starts its own moto server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers import moto_server


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """A moto server for this module on a free loopback port, stopped with its process group."""
    with moto_server(no_docker=True, managed_policies=True) as url:
        yield url
