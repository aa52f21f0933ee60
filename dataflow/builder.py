"""Plan-building helpers shared by the DataFrame API and the SQL front end.

>>> from dataflow.expr import col, NamedExpr
>>> from dataflow.functions import sum as sum_
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import PlanError, UnknownColumnError
from .expr import (
    AggCall,
    ColumnRef,
    ExprNode,
    NamedExpr,
    WindowCall,
    columns_used,
    contains_aggregate,
    display,
    transform,
    walk,
)
from .logical import Aggregate, Filter, LogicalPlan, Project, Window


def check_columns(node: ExprNode, plan: LogicalPlan, where: str = "") -> None:
    """Raise :class:`UnknownColumnError` (with near matches) for a column the plan lacks."""
    names = plan.column_names()
    for c in sorted(columns_used(node)):
        if c not in names:
            raise UnknownColumnError(c, names, where)


def _replace_subtrees(node: ExprNode, mapping: dict[ExprNode, str]) -> ExprNode:
    """Replace, top-down, every subtree equal to a key of ``mapping`` by a column ref."""
    if node in mapping:
        return ColumnRef(name=mapping[node])
    kids = node.children()
    if not kids:
        return node
    return node.with_children(tuple(_replace_subtrees(k, mapping) for k in kids))


def aggregate(
    input: LogicalPlan,
    keys: Sequence[NamedExpr],
    outputs: Sequence[NamedExpr],
    having: ExprNode | None = None,
) -> LogicalPlan:
    """Group ``input`` by ``keys`` and compute ``outputs``, expressions over the keys
    and aggregates (``sum(a) / count(*)``, ``upper(k)``); ``having`` filters groups.

    Builds ``Project(outputs) <- [Filter(having)] <- Aggregate(keys, aggs)``, where the
    aggregate computes each distinct :class:`AggCall` once.
    """
    for e in [*keys, *outputs]:
        check_columns(e.expr, input, "GROUP BY" if e in keys else "the select list")
    if having is not None:
        check_columns(having, input, "HAVING")
    for k in keys:
        if contains_aggregate(k.expr):
            raise PlanError(f"aggregate functions are not allowed in GROUP BY: {display(k.expr)}")

    key_names: dict[ExprNode, str] = {}
    key_exprs: list[NamedExpr] = []
    for i, k in enumerate(keys):
        if k.expr in key_names:
            continue
        name = k.expr.name if isinstance(k.expr, ColumnRef) else f"__key{i}"
        key_names[k.expr] = name
        key_exprs.append(NamedExpr(name=name, expr=k.expr))

    agg_names: dict[ExprNode, str] = {}
    for e in [*(o.expr for o in outputs), *([having] if having is not None else [])]:
        for n in walk(e):
            if isinstance(n, AggCall) and n not in agg_names:
                if n.arg is not None and contains_aggregate(n.arg):
                    raise PlanError(f"aggregate calls cannot be nested: {display(n)}")
                agg_names[n] = f"__agg{len(agg_names)}"
    aggs = tuple(NamedExpr(name=name, expr=n) for n, name in agg_names.items())
    plan: LogicalPlan = Aggregate(input=input, keys=tuple(key_exprs), aggs=aggs)

    mapping = {**key_names, **agg_names}
    allowed = set(mapping.values())

    def rewrite(e: ExprNode, where: str) -> ExprNode:
        out = _replace_subtrees(e, mapping)
        stray = sorted(columns_used(out) - allowed)
        if stray:
            raise PlanError(
                f"column {stray[0]!r} in {where} must appear in GROUP BY or be used in an aggregate function"
            )
        return out

    if having is not None:
        plan = Filter(input=plan, predicate=rewrite(having, "HAVING"))
    return Project(
        input=plan, exprs=tuple(NamedExpr(name=o.name, expr=rewrite(o.expr, "the select list")) for o in outputs)
    )


def window(input: LogicalPlan, outputs: Sequence[NamedExpr]) -> LogicalPlan:
    """Compute ``outputs`` that may contain window functions (``rank() OVER (...)``,
    ``sum(x) OVER (...) / 2``): the window calls go into a :class:`Window` node, and a
    projection computes the outputs on top of it."""
    calls: dict[ExprNode, str] = {}
    for o in outputs:
        for n in walk(o.expr):
            if isinstance(n, WindowCall) and n not in calls:
                calls[n] = f"__win{len(calls)}"
    if not calls:
        return Project(input=input, exprs=tuple(outputs))
    plan = Window(input=input, exprs=tuple(NamedExpr(name=nm, expr=n) for n, nm in calls.items()))
    exprs = tuple(
        NamedExpr(name=o.name, expr=transform(o.expr, lambda n: ColumnRef(name=calls[n]) if n in calls else n))
        for o in outputs
    )
    return Project(input=plan, exprs=exprs)


def rename(plan: LogicalPlan, mapping: dict[str, str]) -> LogicalPlan:
    """Rename some columns of ``plan`` (a projection that keeps every column)."""
    if not mapping:
        return plan
    return Project(
        input=plan,
        exprs=tuple(NamedExpr(name=mapping.get(n, n), expr=ColumnRef(name=n)) for n in plan.column_names()),
    )
