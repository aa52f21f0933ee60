"""Statistics and cardinality estimates, from Parquet metadata only (no scans).

Estimates are deliberately simple (System R style selectivities); they steer choices
such as broadcast versus partitioned joins and the degree of parallelism.
"""

from __future__ import annotations

from functools import lru_cache

import pyarrow.parquet as pq

from dataflow import logical as L
from dataflow.expr import Call, ExprNode, InList, conjuncts

# selectivity of one predicate conjunct, by kind
EQ_SELECTIVITY = 0.1
RANGE_SELECTIVITY = 1 / 3
LIKE_SELECTIVITY = 0.25
DEFAULT_SELECTIVITY = 0.5


@lru_cache(maxsize=4096)
def parquet_rows(path: str) -> int:
    """Row count of one Parquet file, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows


def table_rows(source: L.Source) -> int:
    if isinstance(source, L.MemorySource):
        return source.num_rows
    return sum(parquet_rows(p) for p in source.paths)


def selectivity(pred: ExprNode | None) -> float:
    """Estimated fraction of rows that pass ``pred``."""
    s = 1.0
    for c in conjuncts(pred):
        if isinstance(c, Call) and c.fn == "eq":
            s *= EQ_SELECTIVITY
        elif isinstance(c, Call) and c.fn in ("lt", "le", "gt", "ge", "between"):
            s *= RANGE_SELECTIVITY
        elif isinstance(c, Call) and c.fn in ("like", "ilike"):
            s *= LIKE_SELECTIVITY
        elif isinstance(c, InList):
            s *= min(1.0, EQ_SELECTIVITY * len(c.values))
        elif isinstance(c, Call) and c.fn == "or":
            s *= min(1.0, sum(selectivity(a) for a in c.args))
        else:
            s *= DEFAULT_SELECTIVITY
    return s


def estimate_rows(plan: L.LogicalPlan) -> float:
    """Estimated output rows of a logical plan."""
    if isinstance(plan, L.Scan):
        rows = table_rows(plan.source)
        for f in plan.filters:
            rows *= selectivity(f)
        return float(rows)
    if isinstance(plan, L.Filter):
        return estimate_rows(plan.input) * selectivity(plan.predicate)
    if isinstance(plan, (L.Project, L.Sort, L.Window)):
        return estimate_rows(plan.input)
    if isinstance(plan, L.Limit):
        inner = estimate_rows(plan.input)
        return inner if plan.limit is None else min(inner, float(plan.limit))
    if isinstance(plan, L.Aggregate):
        if not plan.keys:
            return 1.0
        inner = estimate_rows(plan.input)
        return max(1.0, min(inner, inner ** (0.5 + 0.15 * (len(plan.keys) - 1))))
    if isinstance(plan, L.Distinct):
        return max(1.0, estimate_rows(plan.input) ** 0.75)
    if isinstance(plan, L.Union):
        return sum(estimate_rows(i) for i in plan.inputs)
    if isinstance(plan, L.Join):
        left = estimate_rows(plan.left)
        right = estimate_rows(plan.right)
        if plan.how in ("semi", "anti"):
            return left * 0.5
        if not plan.left_keys:
            return left * right * selectivity(plan.condition)
        # a key/foreign-key join keeps about the size of the larger side
        rows = max(left, right)
        if plan.how == "full":
            rows = left + right
        return rows * selectivity(plan.condition)
    raise TypeError(f"no estimate for {type(plan).__name__}")
