"""Starting, joining and describing Ray clusters.

``connect`` starts a local Ray cluster when no address is given (and none is running
in this process), or joins the one at ``address``. ``LocalCluster`` starts several
Ray nodes on this machine, for tests of placement across nodes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import ray


@dataclass
class ClusterInfo:
    owns: bool  # whether this process started Ray (and so shuts it down)
    dashboard_url: str | None
    address: str | None


def connect(address: str | None = None, num_cpus: int | None = None, dashboard: bool = True) -> ClusterInfo:
    """Start a local Ray cluster, or connect to one; return what was done."""
    if ray.is_initialized():
        ctx = ray.get_runtime_context()
        return ClusterInfo(owns=False, dashboard_url=_dashboard_url(), address=getattr(ctx, "gcs_address", None))
    kwargs: dict[str, Any] = {
        # no address: a cluster of our own, never a stale one from an address file
        "address": address if address is not None else "local",
        "logging_level": logging.WARNING,
        "configure_logging": True,
        "log_to_driver": True,
    }
    if address is None:
        kwargs["num_cpus"] = num_cpus
        kwargs["include_dashboard"] = dashboard
        if dashboard:
            kwargs["dashboard_host"] = "127.0.0.1"
    # keep Ray's own usage reporting off: this machine has no network
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ctx = ray.init(**kwargs)
    url = getattr(ctx, "dashboard_url", None) or None
    if url and not url.startswith("http"):
        url = "http://" + url
    return ClusterInfo(owns=True, dashboard_url=url, address=getattr(ctx, "address_info", {}).get("address"))


def _dashboard_url() -> str | None:
    try:
        url = ray.get_runtime_context().dashboard_url  # type: ignore[attr-defined]
    except Exception:
        return None
    if url and not str(url).startswith("http"):
        url = "http://" + str(url)
    return url or None


def shutdown() -> None:
    if ray.is_initialized():
        ray.shutdown()


def alive_nodes() -> list[dict[str, Any]]:
    """Alive nodes with CPUs, in a stable order (so placement is repeatable)."""
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    return sorted(nodes, key=lambda n: n["NodeID"])


def total_cpus() -> int:
    return int(ray.cluster_resources().get("CPU", 1))


class LocalCluster:
    """Several Ray nodes on this machine (``ray.cluster_utils.Cluster``)."""

    def __init__(self, nodes: int = 2, cpus_per_node: int = 1) -> None:
        from ray.cluster_utils import Cluster

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self.cluster = Cluster(
            initialize_head=True, head_node_args={"num_cpus": cpus_per_node, "include_dashboard": False}
        )
        for _ in range(nodes - 1):
            self.cluster.add_node(num_cpus=cpus_per_node)
        self.cluster.wait_for_nodes()

    @property
    def address(self) -> str:
        return self.cluster.address

    def shutdown(self) -> None:
        self.cluster.shutdown()
