"""reduce_aggregate_input: an aggregate whose groups are then joined on their keys with
a much smaller input keeps only the groups whose keys that input has, so its own input
may be cut down to those keys first (a semi join under the aggregate). No group that
survives the join changes: all of a group's rows share its key. TPC-H Q2's decorrelated
``min(ps_supplycost)`` then aggregates the supply costs of the few parts that pass the
outer filters, not of every part (as DuckDB's correlated plan does).

Applies to an inner join (the aggregate on either side) and to a semi or anti join
(the aggregate on the right, the side only looked up), through projections that pass
the keys on and filters (a HAVING: it keeps or drops whole groups), when the other side
has at most ``1/RATIO`` of the aggregate's input rows (estimated). Keys must be plain
columns all the way down.

>>> # Join(inner, k = p)[Aggregate k: min(v) <- I, Filter <- Scan part]
>>> #   becomes Join(inner, k = p)[Aggregate k: min(v) <- Semi(I, k = p)[Filter <- Scan part], ...]
"""

from __future__ import annotations

from typing import Any

from dataflow import logical as L
from dataflow.expr import ColumnRef, ExprNode, NamedExpr

RATIO = 10.0  # the other side must be this many times smaller than the aggregate's input
PREFIX = "__reduce_k"


def reduce_aggregate_input(plan: L.LogicalPlan, est: Any) -> L.LogicalPlan:
    """Apply the rewrite everywhere in ``plan`` (bottom up)."""
    kids = tuple(reduce_aggregate_input(c, est) for c in plan.children())
    plan = plan.with_children(kids) if kids else plan
    if not isinstance(plan, L.Join) or not plan.left_keys or plan.null_aware:
        return plan
    sides = ["left", "right"] if plan.how == "inner" else ["right"] if plan.how in ("semi", "anti") else []
    for side in sides:
        agg_side, other = (plan.left, plan.right) if side == "left" else (plan.right, plan.left)
        keys, other_keys = (plan.left_keys, plan.right_keys) if side == "left" else (plan.right_keys, plan.left_keys)
        reduced = _reduce(agg_side, keys, other, other_keys, est)
        if reduced is not None:
            return plan.replace(**{side: reduced})
    return plan


def _reduce(
    side: L.LogicalPlan, keys: tuple[ExprNode, ...], other: L.LogicalPlan, other_keys: tuple[ExprNode, ...],
    est: Any,
) -> L.LogicalPlan | None:
    """``side`` with its aggregate's input semi-joined with ``other``'s keys, or
    ``None`` where the rewrite does not apply."""
    if not all(isinstance(k, ColumnRef) for k in keys):
        return None
    names = [k.name for k in keys]  # type: ignore[attr-defined]
    above: list[L.LogicalPlan] = []  # the projections and filters between the join and the aggregate
    node = side
    while isinstance(node, L.Project | L.Filter):
        if isinstance(node, L.Project):
            exprs = {e.name: e.expr for e in node.exprs}
            refs = [exprs.get(n) for n in names]
            if not all(isinstance(e, ColumnRef) for e in refs):
                return None
            names = [e.name for e in refs]  # type: ignore[union-attr]
        above.append(node)
        node = node.input
    if not isinstance(node, L.Aggregate) or not node.keys:
        return None
    group = {k.name: k.expr for k in node.keys}
    inner = [group.get(n) for n in names]
    if not all(isinstance(e, ColumnRef) for e in inner):
        return None
    source = node.input
    if est.rows(other) * RATIO > est.rows(source):
        return None
    out: L.LogicalPlan = node.replace(input=_place(source, [e.name for e in inner], other, other_keys))  # type: ignore[union-attr]
    for p in reversed(above):
        out = p.replace(input=out)
    return out


def _place(
    plan: L.LogicalPlan, keys: list[str], other: L.LogicalPlan, other_keys: tuple[ExprNode, ...]
) -> L.LogicalPlan:
    """``plan`` semi-joined on ``keys`` with ``other``'s keys, as deep as the keys go:
    into the side of an inner join that has them all, through projections that pass
    them on and through filters, so the rows are dropped before they are joined."""
    if isinstance(plan, L.Join) and plan.how == "inner":
        for side in ("left", "right"):
            child = getattr(plan, side)
            if set(keys) <= {f.name for f in child.schema}:
                return plan.replace(**{side: _place(child, keys, other, other_keys)})
    if isinstance(plan, L.Project):
        exprs = {e.name: e.expr for e in plan.exprs}
        refs = [exprs.get(k) for k in keys]
        if all(isinstance(e, ColumnRef) for e in refs):
            return plan.replace(input=_place(plan.input, [e.name for e in refs], other, other_keys))  # type: ignore[union-attr]
    if isinstance(plan, L.Filter):
        return plan.replace(input=_place(plan.input, keys, other, other_keys))
    taken = {f.name for f in plan.schema}
    fresh = [_fresh(taken, i) for i in range(len(other_keys))]
    lookup = L.Project(
        input=other, exprs=tuple(NamedExpr(name=f, expr=k) for f, k in zip(fresh, other_keys, strict=True))
    )
    return L.Join(
        left=plan, right=lookup, how="semi", left_keys=tuple(ColumnRef(name=k) for k in keys),
        right_keys=tuple(ColumnRef(name=f) for f in fresh),
    )


def _fresh(taken: set[str], i: int) -> str:
    name = f"{PREFIX}{i}"
    while name in taken:
        name += "_"
    return name
