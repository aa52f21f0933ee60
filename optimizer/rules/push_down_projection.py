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


def _cols(*exprs) -> set[str]:  # type: ignore[no-untyped-def]
    out: set[str] = set()
    for e in exprs:
        if e is not None:
            out |= columns_used(e)
    return out


def _prune(plan: L.LogicalPlan, required: set[str] | None) -> L.LogicalPlan:
    """``required``: the output columns the parent reads (``None``: all)."""
    if isinstance(plan, L.Scan):
        need = set(f.name for f in plan.table_schema) if required is None else set(required)
        need |= _cols(*plan.filters)
        columns = [f.name for f in plan.table_schema if f.name in need]
        if not columns:
            # count(*) and friends still need rows: read the narrowest column
            columns = [min(plan.table_schema, key=lambda f: _width(f.type)).name]
        return plan.replace(columns=tuple(columns))

    if isinstance(plan, L.Project):
        exprs = plan.exprs if required is None else tuple(e for e in plan.exprs if e.name in required)
        if not exprs:
            exprs = plan.exprs[:1]
        child = _prune(plan.input, _cols(*(e.expr for e in exprs)))
        return plan.replace(input=child, exprs=exprs)

    if isinstance(plan, L.Filter):
        need = None if required is None else required | _cols(plan.predicate)
        return plan.replace(input=_prune(plan.input, need))

    if isinstance(plan, L.Aggregate):
        need = _cols(*(k.expr for k in plan.keys), *(a.expr for a in plan.aggs))
        return plan.replace(input=_prune(plan.input, need))

    if isinstance(plan, L.Join):
        lnames = {f.name for f in plan.left.schema}
        rnames = {f.name for f in plan.right.schema}
        out = (lnames | rnames) if required is None else set(required)
        need = out | _cols(*plan.left_keys, *plan.right_keys, plan.condition)
        return plan.replace(left=_prune(plan.left, need & lnames), right=_prune(plan.right, need & rnames))

    if isinstance(plan, L.Sort):
        need = None if required is None else required | _cols(*(k.expr for k in plan.keys))
        return plan.replace(input=_prune(plan.input, need))

    if isinstance(plan, L.Limit):
        return plan.replace(input=_prune(plan.input, required))

    if isinstance(plan, L.Window):
        need = None
        if required is not None:
            inner = {f.name for f in plan.input.schema}
            need = (required & inner) | _cols(*(e.expr for e in plan.exprs))
        return plan.replace(input=_prune(plan.input, need))

    if isinstance(plan, L.Expand):
        inner = {f.name for f in plan.input.schema}
        need = inner if required is None else (required & inner)
        return plan.replace(input=_prune(plan.input, need | set(plan.keys)))

    # Distinct and Union compare whole rows: their inputs keep every column
    return plan.with_children(tuple(_prune(c, None) for c in plan.children()))


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
