"""The cost model: estimated rows and cost of every physical operator.

PostgreSQL's parallel query taught that parallelism has a price: a setup cost per
worker (``parallel_setup_cost``) and a cost per row sent between workers
(``parallel_tuple_cost``). Ours, measured on this runtime (2-core machine, see
docs/benchmarks.md), in seconds:

* ``SETUP_PER_INSTANCE``: leasing a warm actor, setting up its task and the first
  actor-to-actor hop (about 2 ms each, measured) plus the fixed work of a task;
* ``CPU_PER_ROW``: vectorized Arrow work per input row and operator, by operator;
* ``TRANSFER_PER_ROW``: moving one row through an exchange (object store and a hop,
  about 1 GB/s at ~60 bytes a row).

The best degree of parallelism of a stage with work ``W`` minimizes
``SETUP * n + W / n``, that is ``n = sqrt(W / SETUP)``, capped by the user's
parallelism: a tiny stage runs one instance, a large one many.
"""

from __future__ import annotations

import math

from dataflow.physical import PExchange, PhysicalPlan, PScan

from .column_stats import table_rows
from .statistics import Estimator

SETUP_PER_INSTANCE = 0.004
TRANSFER_PER_ROW = 6e-8
MERGE_PER_ROW = 1.5e-7  # a gather-merge runs in one place
CPU_PER_ROW: dict[str, float] = {
    "scan": 4e-8,
    "filter": 2e-8,
    "project": 3e-8,
    "hash_aggregate": 1.5e-7,
    "hash_join": 1.2e-7,
    "nested_loop_join": 5e-8,
    "sort": 2.5e-7,
    "topk": 8e-8,
    "limit": 1e-9,
    "union": 1e-9,
    "window": 3e-7,
    "exchange": TRANSFER_PER_ROW,
}


def best_dop(work: float, max_dop: int, setup: float = SETUP_PER_INSTANCE) -> int:
    """The degree of parallelism minimizing ``setup * n + work / n`` in [1, max_dop]."""
    if work <= 0:
        return 1
    n = max(1, min(max_dop, round(math.sqrt(work / setup))))
    return int(n)


def input_rows(node: PhysicalPlan) -> float:
    """Rows an operator reads (a scan: the rows of its row groups before filtering)."""
    if isinstance(node, PScan):
        return float(table_rows(node.source))
    return float(sum(c.est_rows or 0.0 for c in node.children()))


def work(node: PhysicalPlan) -> float:
    """Estimated seconds of one operator's own work, over all its instances."""
    per_row = CPU_PER_ROW.get(node.kind, 1e-7)
    w = input_rows(node) * per_row
    if isinstance(node, PScan):
        w *= max(1, len(node.columns)) / 4
    return w


def estimate(node: PhysicalPlan, est: Estimator) -> float:
    """Estimated output rows of a physical node whose children are annotated: the
    planner's (from the logical plan's estimates) or else the node's own rule."""
    if node.est_rows is not None:
        return node.est_rows
    return node.estimate_rows(tuple(c.est_rows or 0.0 for c in node.children()), est)


def annotate(plan: PhysicalPlan, est: Estimator) -> PhysicalPlan:
    """Fill ``est_rows`` (where the planner left it empty) and the cumulative
    ``est_cost`` (seconds of work, transfers included, spread over instances)."""
    kids = tuple(annotate(c, est) for c in plan.children())
    node = plan.with_children(kids) if kids else plan
    rows = estimate(node, est)
    own = work(node.replace(est_rows=rows)) / max(1, node.dop) + SETUP_PER_INSTANCE * node.dop
    if isinstance(node, PExchange) and node.mode == "gather_merge":
        own += rows * MERGE_PER_ROW
    cost = own + sum(c.est_cost or 0.0 for c in kids)
    return node.replace(est_rows=rows, est_cost=cost)
