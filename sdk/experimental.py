"""``modal.experimental``: the experimental names Modal programs use."""

from __future__ import annotations

from dataclasses import dataclass

from pcompile._partial import clustered


@dataclass(frozen=True)
class ClusterInfo:
    """Where this container sits in a cluster; a single node outside clusters."""

    rank: int = 0
    container_ips: tuple[str, ...] = ("127.0.0.1",)


def get_cluster_info() -> ClusterInfo:
    """This container's cluster rank and peers (one node under pcompile)."""
    return ClusterInfo()


def stop_fetching_inputs() -> None:
    """Accepted; the local runtime stops on its own."""


__all__ = ["ClusterInfo", "clustered", "get_cluster_info", "stop_fetching_inputs"]
