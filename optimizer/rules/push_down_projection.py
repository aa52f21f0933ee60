"""push_down_projection: read and carry only the columns a query uses.

Walks the plan from the root with the set of columns each node must produce, drops
unused projection outputs, and sets each scan's column list (plus the columns its
pushed filters read), so Parquet reads only those column chunks.
"""

from __future__ import annotations

from dataflow import logical as L
from dataflow.expr import columns_used


def push_down_projection(plan: L.LogicalPlan) -> L.LogicalPlan:
    """Prune unused columns everywhere below the root (the root keeps its columns)."""
    return _prune(plan, None)


def _prune(plan: L.LogicalPlan, required: L.Columns) -> L.LogicalPlan:
    """``required``: the output columns the parent reads (``None``: all). Scans and
    projections prune themselves; every other node says what it reads of its inputs
    (:meth:`~dataflow.logical.LogicalNode.required_columns`)."""
    if isinstance(plan, L.Scan):
        need = set(f.name for f in plan.table_schema) if required is None else set(required)
        for f in plan.filters:
            need |= columns_used(f)
        columns = [f.name for f in plan.table_schema if f.name in need]
        if not columns:
            # count(*) and friends still need rows: read the narrowest column
            columns = [min(plan.table_schema, key=lambda f: _width(f.type)).name]
        return plan.replace(columns=tuple(columns))

    if isinstance(plan, L.Project):
        exprs = plan.exprs if required is None else tuple(e for e in plan.exprs if e.name in required)
        plan = plan.replace(exprs=exprs or plan.exprs[:1])
        required = None  # it now produces only what is read

    kids = plan.children()
    if not kids:
        return plan
    needs = plan.required_columns(required)
    return plan.with_children(tuple(_prune(c, n) for c, n in zip(kids, needs, strict=True)))


def _width(type_name: str) -> int:
    if type_name in ("bool", "int8", "uint8"):
        return 1
    if type_name in ("int16", "uint16"):
        return 2
    if type_name in ("int32", "uint32", "float", "date32[day]"):
        return 4
    if type_name.startswith(("int", "uint", "double", "timestamp", "date64")):
        return 8
    if type_name.startswith("decimal"):
        return 16
    return 32
