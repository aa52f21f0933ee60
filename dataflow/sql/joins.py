"""Joins of a FROM clause: predicate normalization and a join order that follows
equality predicates, so that no large cross product is built even before the
optimizer runs.

For ``FROM a, b, c WHERE a.x = b.y AND b.z = c.w AND a.k > 0``, :func:`join_units`
filters ``a`` by ``a.k > 0``, joins it with ``b`` on ``x = y``, then with ``c`` on
``z = w``: each conjunct is applied as soon as the relations it reads are joined.

>>> from dataflow.expr import col
>>> p = ((col("k") == 1) & (col("a") == 2)) | ((col("k") == 1) & (col("b") == 3))
>>> [display(c) for c in factor_or(p.node)]
['(k = 1)', '((a = 2) OR (b = 3))']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import PlanError
from ..expr import Call, ExprNode, columns_used, conjoin, conjuncts, display, split_equi_keys
from ..expr import equi_key_pair as split_equality
from ..logical import Filter, Join, LogicalPlan


@dataclass
class Unit:
    """One input of a join ordering: a plan and the columns it provides."""

    plan: LogicalPlan
    columns: frozenset[str]

    @staticmethod
    def of(plan: LogicalPlan) -> Unit:
        return Unit(plan, frozenset(plan.column_names()))


def disjuncts(node: ExprNode) -> list[ExprNode]:
    """Split a predicate on OR."""
    if isinstance(node, Call) and node.fn == "or":
        return [d for a in node.args for d in disjuncts(a)]
    return [node]


def disjoin(preds: list[ExprNode]) -> ExprNode:
    out = preds[0]
    for p in preds[1:]:
        out = Call(fn="or", args=(out, p))
    return out


def factor_or(pred: ExprNode) -> list[ExprNode]:
    """The conjuncts of ``pred``, where an OR whose every branch shares conjuncts
    (TPC-H Q19's ``p_partkey = l_partkey``) has them pulled out in front of it."""
    out: list[ExprNode] = []
    for c in conjuncts(pred):
        ds = disjuncts(c)
        if len(ds) < 2:
            out.append(c)
            continue
        parts = [conjuncts(d) for d in ds]
        common = [x for x in parts[0] if all(x in p for p in parts[1:])]
        if not common:
            out.append(c)
            continue
        out.extend(dict.fromkeys(common))
        rests = [[x for x in p if x not in common] for p in parts]
        if all(rests):  # a branch with nothing left makes the OR true
            out.append(disjoin([conjoin(r) for r in rests]))  # type: ignore[misc]
    return out


def implied_filters(pred: ExprNode, units: list[Unit]) -> list[ExprNode]:
    """Single-input filters implied by an OR across inputs: from ``(n1 = 'A' AND n2 =
    'B') OR (n1 = 'B' AND n2 = 'A')`` follows ``n1 = 'A' OR n1 = 'B'`` on the input of
    n1. The OR itself stays; these only let each input shrink before the join."""
    ds = disjuncts(pred)
    if len(ds) < 2:
        return []
    out = []
    for u in units:
        parts = []
        for d in ds:
            own = [c for c in conjuncts(d) if columns_used(c) and columns_used(c) <= u.columns]
            if not own:
                break
            parts.append(conjoin(own))
        else:
            out.append(disjoin(parts))  # type: ignore[arg-type]
    return out


def filter_plan(plan: LogicalPlan, preds: Iterable[ExprNode]) -> LogicalPlan:
    cond = conjoin(list(preds))
    return plan if cond is None else Filter(input=plan, predicate=cond)


def join_units(units: list[Unit], preds: list[ExprNode]) -> LogicalPlan:
    """Inner-join ``units`` under the conjunction of ``preds``: filters go to the
    single input they read; the join order starts with the first unit and takes next
    the first unit (in FROM order) connected to the joined ones by an equality, so
    equalities become join keys and every conjunct applies as soon as it can."""
    owner: dict[str, int] = {}
    for i, u in enumerate(units):
        for c in u.columns:
            owner.setdefault(c, i)

    def units_of(p: ExprNode) -> frozenset[int]:
        cols = columns_used(p)
        missing = [c for c in cols if c not in owner]
        if missing:
            raise PlanError(f"internal: predicate {display(p)} reads unknown columns {missing}")
        return frozenset(owner[c] for c in cols)

    pending: list[ExprNode] = []
    constant: list[ExprNode] = []
    local: dict[int, list[ExprNode]] = {i: [] for i in range(len(units))}
    for p in [x for pred in preds for x in factor_or(pred)]:
        us = units_of(p)
        if not us:
            constant.append(p)
        elif len(us) == 1:
            local[next(iter(us))].append(p)
        else:
            pending.append(p)
            for q in implied_filters(p, [units[i] for i in sorted(us)]):
                (i,) = units_of(q)
                if q not in local[i]:
                    local[i].append(q)
    plans = [filter_plan(u.plan, local[i]) for i, u in enumerate(units)]

    joined = {0}
    cols = set(units[0].columns)
    plan = plans[0]
    remaining = list(range(1, len(units)))
    while remaining:
        nxt = next(
            (
                i
                for i in remaining
                if any(
                    units_of(p) <= joined | {i}
                    and i in units_of(p)
                    and split_equality(p, cols, units[i].columns) is not None
                    for p in pending
                )
            ),
            remaining[0],
        )
        remaining.remove(nxt)
        right_cols = units[nxt].columns
        ready = [p for p in pending if units_of(p) <= joined | {nxt}]
        pending = [p for p in pending if not units_of(p) <= joined | {nxt}]
        lk, rk, residual = split_equi_keys(ready, cols, right_cols)
        how = "inner" if lk else "cross"
        plan = Join(left=plan, right=plans[nxt], how=how, left_keys=tuple(lk), right_keys=tuple(rk))
        plan = filter_plan(plan, residual)
        joined.add(nxt)
        cols |= right_cols
    assert not pending, pending
    return filter_plan(plan, constant)
