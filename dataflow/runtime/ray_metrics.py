"""dataflow's live metrics, exported through ``ray.util.metrics`` to each node's
metrics endpoint (Prometheus text), and so to the Ray dashboard's Metrics tab and the
Grafana dashboard in ``docs/grafana/dataflow.json``.

Every name starts with ``dataflow_`` (Ray's exporter adds its ``ray_`` prefix). The
per-operator series are tagged with the Session, query, stage, operator, instance and
node, so a panel can be cut by any of them.
"""

from __future__ import annotations

import functools
from typing import Any

from ray.util import metrics as rm

# "stage_instance", not "instance": Prometheus keeps "instance" for the scrape target
OP_TAGS = ("session", "query", "stage", "operator", "stage_instance", "node")


@functools.cache
def _m() -> dict[str, Any]:
    """The metric objects, made once per process (a Ray worker or the driver)."""
    return {
        "rows": rm.Counter("dataflow_operator_rows_out", "Rows an operator instance produced", OP_TAGS),
        "bytes": rm.Counter("dataflow_operator_bytes_out", "Bytes (Arrow buffers) an operator produced", OP_TAGS),
        "batches": rm.Counter("dataflow_operator_batches_out", "Record batches an operator produced", OP_TAGS),
        "busy": rm.Counter(
            "dataflow_operator_busy_seconds", "Time inside an operator, without its inputs' time", OP_TAGS
        ),
        "blocked": rm.Counter(
            "dataflow_operator_blocked_seconds",
            "Time waiting: a Receive for its producers (input), a Send for its consumers (backpressure)", OP_TAGS
        ),
        "depth": rm.Gauge(
            "dataflow_channel_queue_depth", "Batches waiting in a stage instance's input channels",
            ("session", "query", "stage", "stage_instance", "edge"),
        ),
        "morsels_out": rm.Counter(
            "dataflow_morsels_handed_out", "Scan morsels handed to instances", ("session", "query", "scan")
        ),
        "morsels_left": rm.Gauge(
            "dataflow_morsels_left", "Scan morsels not yet handed out", ("session", "query", "scan")
        ),
        "running": rm.Gauge("dataflow_queries_running", "Queries running or queued", ("session",)),
        "finished": rm.Counter(
            "dataflow_queries_finished", "Queries finished, by outcome", ("session", "outcome")
        ),
        "retries": rm.Counter("dataflow_query_retries", "Query attempts retried after a lost actor", ("session",)),
    }


def op_tags(session: str, query: str, stage: int, operator: str, instance: int, node: str) -> dict[str, str]:
    return {
        "session": session, "query": query, "stage": str(stage), "operator": operator,
        "stage_instance": str(instance), "node": node[:12],
    }


def batch_out(tags: dict[str, str], rows: int, nbytes: int) -> None:
    m = _m()
    m["rows"].inc(rows, tags)
    m["bytes"].inc(nbytes, tags)
    m["batches"].inc(1, tags)


def task_done(tags: dict[str, str], busy: float, blocked: float) -> None:
    m = _m()
    if busy > 0:
        m["busy"].inc(busy, tags)
    if blocked > 0:
        m["blocked"].inc(blocked, tags)


def queue_depth(session: str, query: str, stage: int, instance: int, edge: str, depth: int) -> None:
    _m()["depth"].set(depth, {"session": session, "query": query, "stage": str(stage),
                              "stage_instance": str(instance), "edge": edge})


def morsels(session: str, query: str, scan: str, handed: int, left: int) -> None:
    tags = {"session": session, "query": query, "scan": scan}
    if handed:
        _m()["morsels_out"].inc(handed, tags)
    _m()["morsels_left"].set(left, tags)


def queries(session: str, running: int) -> None:
    _m()["running"].set(running, {"session": session})


def query_finished(session: str, outcome: str) -> None:
    _m()["finished"].inc(1, {"session": session, "outcome": outcome})


def retried(session: str) -> None:
    _m()["retries"].inc(1, {"session": session})
