"""push_down_filter: move predicates as close to the scans as they can go.

Through projections (renames), sorts, distincts, unions, group keys, and into join
inputs where the join type allows it; equalities between the two sides of a join
become its keys (so a cross join with an equality becomes an equi-join); what reaches
a scan becomes a scan filter, used to prune row groups by their statistics.

>>> # Filter(a = 1) <- Project(a) <- Scan t   becomes   Project(a) <- Scan t filters=[a = 1]
"""

from __future__ import annotations

from dataflow import expr as ex
from dataflow import logical as L


def push_down_filter(plan: L.LogicalPlan) -> L.LogicalPlan:
    """Push every filter of ``plan`` down as far as it may go."""
    return _push(plan, [])


def _wrap(plan: L.LogicalPlan, preds: list[ex.ExprNode]) -> L.LogicalPlan:
    pred = ex.conjoin(preds)
    return plan if pred is None else L.Filter(input=plan, predicate=pred)


def _names(plan: L.LogicalPlan) -> set[str]:
    return {f.name for f in plan.schema}


def _substitute(pred: ex.ExprNode, mapping: dict[str, ex.ExprNode]) -> ex.ExprNode:
    return ex.transform(pred, lambda n: mapping[n.name] if isinstance(n, ex.ColumnRef) and n.name in mapping else n)


def _push(plan: L.LogicalPlan, preds: list[ex.ExprNode]) -> L.LogicalPlan:
    """Rewrite ``plan`` with ``preds`` (conjuncts to apply on its output) pushed in."""
    if isinstance(plan, L.Filter):
        return _push(plan.input, preds + ex.conjuncts(plan.predicate))

    if isinstance(plan, L.Scan):
        if not preds:
            return plan
        return plan.replace(filters=tuple(plan.filters) + tuple(preds))

    if isinstance(plan, L.Project):
        mapping = {e.name: e.expr for e in plan.exprs}
        down, keep = [], []
        for p in preds:
            used = ex.columns_used(p)
            # push through when every column it reads is a plain column or a cheap,
            # deterministic expression of the input
            if all(u in mapping and not ex.contains_window(mapping[u]) for u in used):
                down.append(_substitute(p, mapping))
            else:
                keep.append(p)
        return _wrap(plan.replace(input=_push(plan.input, down)), keep)

    if type(plan).commutes_with_filter:  # Sort, Distinct
        return plan.replace(input=_push(plan.input, preds))  # type: ignore[attr-defined]

    if isinstance(plan, L.Union):
        names = [f.name for f in plan.schema]
        inputs = []
        for inp in plan.inputs:
            mapping = {n: ex.ColumnRef(name=f.name) for n, f in zip(names, inp.schema, strict=True)}
            inputs.append(_push(inp, [_substitute(p, mapping) for p in preds]))  # type: ignore[arg-type]
        return plan.replace(inputs=tuple(inputs))

    if isinstance(plan, L.Aggregate):
        keys = {k.name: k.expr for k in plan.keys}
        down, keep = [], []
        for p in preds:
            used = ex.columns_used(p)
            if plan.keys and used and used <= set(keys) and not ex.contains_aggregate(p):
                down.append(_substitute(p, keys))
            else:
                keep.append(p)
        return _wrap(plan.replace(input=_push(plan.input, down)), keep)

    if isinstance(plan, L.Join):
        return _push_join(plan, preds)

    # Limit, Window: a filter above must stay above; push what is inside
    kids = tuple(_push(c, []) for c in plan.children())
    return _wrap(plan.with_children(kids) if kids else plan, preds)


def _push_join(plan: L.Join, preds: list[ex.ExprNode]) -> L.LogicalPlan:
    how = plan.how
    lnames, rnames = _names(plan.left), _names(plan.right)
    left_preds: list[ex.ExprNode] = []
    right_preds: list[ex.ExprNode] = []
    keep: list[ex.ExprNode] = []
    lkeys, rkeys = list(plan.left_keys), list(plan.right_keys)
    cond: list[ex.ExprNode] = []

    # predicates above the join
    for p in preds:
        used = ex.columns_used(p)
        if used <= lnames and how in ("inner", "cross", "left", "semi", "anti"):
            left_preds.append(p)
        elif used <= rnames and how in ("inner", "cross", "right"):
            right_preds.append(p)
        elif how in ("inner", "cross") and used:
            cond.append(p)  # over both sides: part of the join
        else:
            keep.append(p)

    # the join's own condition (the ON clause): one-sided parts go to the side whose
    # rows they filter without changing which rows are preserved
    for p in ex.conjuncts(plan.condition):
        used = ex.columns_used(p)
        if used and used <= rnames and how in ("inner", "cross", "left", "semi", "anti"):
            right_preds.append(p)
        elif used and used <= lnames and how in ("inner", "cross", "right"):
            left_preds.append(p)
        else:
            cond.append(p)

    # equalities across the sides become keys
    lk, rk, rest = ex.split_equi_keys(cond, lnames, rnames)
    lkeys += lk
    rkeys += rk

    new_how = "inner" if how == "cross" and lkeys else how
    joined = plan.replace(
        left=_push(plan.left, left_preds),
        right=_push(plan.right, right_preds),
        how=new_how,
        left_keys=tuple(lkeys),
        right_keys=tuple(rkeys),
        condition=ex.conjoin(rest),
    )
    return _wrap(joined, keep)


__all__ = ["push_down_filter"]
