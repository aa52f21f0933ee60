"""What a running cluster looks like (``dataflow cluster status``): its nodes, their
CPUs, memory and object store use, and dataflow's actors on each."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import ray

logger = logging.getLogger(__name__)

#: the actor classes the Ray runtime starts (``dataflow/runtime/ray_runtime.py``)
DATAFLOW_ACTORS = ("Worker", "Coordinator")


def _object_store_used(node: dict[str, Any]) -> int | None:
    """Bytes in the node's object store, asked of its raylet (``None`` if it will not say)."""
    try:
        from ray._private.internal_api import node_stats

        reply = node_stats(node["NodeManagerAddress"], node["NodeManagerPort"], include_memory_info=False)
        return int(reply.store_stats.object_store_bytes_used)
    except Exception:
        return None


def _actors_per_node(address: str | None) -> dict[str, Counter[str]] | None:
    """Alive dataflow actors per node id, from Ray's state API (through the dashboard);
    ``None`` if it does not answer (the reason is logged)."""
    try:
        from ray.util.state import list_actors

        # name the cluster: with no address the state API looks for "the" local cluster,
        # and refuses when several run on the machine
        actors = list_actors(
            address=address, filters=[("state", "=", "ALIVE")], limit=10_000, raise_on_missing_output=False
        )
    except Exception as e:
        logger.warning("cannot list the cluster's actors: %s: %s", type(e).__name__, e)
        return None
    out: dict[str, Counter[str]] = {}
    for a in actors:
        name = a.class_name or ""
        if name in DATAFLOW_ACTORS:
            out.setdefault(a.node_id or "", Counter())[name] += 1
    return out


def describe(dashboard_url: str | None = None) -> dict[str, Any]:
    """The cluster this process is connected to (``ray.init`` first; ``dashboard_url``
    is where its state API answers, default its GCS address), as a dict:
    ``nodes`` (id, address, head, alive, CPUs total/free, memory, object store size and
    use, dataflow actors by class) and totals."""
    available = ray._private.state.available_resources_per_node()  # type: ignore[attr-defined]
    actors = _actors_per_node(dashboard_url or ray.get_runtime_context().gcs_address)
    nodes = []
    for n in sorted(ray.nodes(), key=lambda n: (not n.get("Resources", {}).get("node:__internal_head__"), n["NodeID"])):
        res = n.get("Resources", {})
        free = available.get(n["NodeID"], {})
        nodes.append({
            "node_id": n["NodeID"],
            "address": f"{n['NodeManagerAddress']}:{n['NodeManagerPort']}",
            "head": bool(res.get("node:__internal_head__")),
            "alive": bool(n.get("Alive")),
            "cpus": res.get("CPU", 0),
            "cpus_free": free.get("CPU", 0),
            "memory": int(res.get("memory", 0)),
            "object_store": int(res.get("object_store_memory", 0)),
            "object_store_used": _object_store_used(n) if n.get("Alive") else None,
            "actors": dict(actors.get(n["NodeID"], {})) if actors is not None else None,
        })
    return {"nodes": nodes, "alive": sum(1 for n in nodes if n["alive"])}


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / (1 << 30):.2f} GiB"


def format_status(info: dict[str, Any], dashboard_url: str | None, help_text: str | None) -> str:
    """``describe()``'s answer as the text ``dataflow cluster status`` prints."""
    lines = []
    for n in info["nodes"]:
        role = "head" if n["head"] else "worker"
        state = "alive" if n["alive"] else "DEAD"
        actors = n["actors"]
        acts = "?" if actors is None else (", ".join(f"{k} x{v}" for k, v in sorted(actors.items())) or "none")
        lines.append(
            f"{role:6} {n['node_id'][:12]}  {n['address']:21} {state:5}  "
            f"CPU {n['cpus_free']:g}/{n['cpus']:g} free  memory {_gib(n['memory'])}  "
            f"object store {_gib(n['object_store_used'])} used of {_gib(n['object_store'])}  "
            f"dataflow actors: {acts}"
        )
    lines.append(f"{info['alive']} of {len(info['nodes'])} nodes alive")
    lines.append(f"dashboard: {dashboard_url or '(not available)'}")
    if help_text:
        lines.append(help_text)
    return "\n".join(lines)
