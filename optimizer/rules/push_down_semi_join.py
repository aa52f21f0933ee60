"""push_down_semi_join: a semi or anti join is a filter on its left input's rows (a row
is kept or dropped by its own key and the right side), so it may move down into the
input of an inner join, the preserved side of a left join, below a filter, or below a
projection that passes its columns on, wherever all the left columns it reads are.
It goes to the point on that path where its input has the fewest estimated rows, so
that it never filters more rows than it did, and usually far fewer, before the joins
above it multiply them.

TPC-H Q18's ``o_orderkey in (select l_orderkey ... having sum(l_quantity) > 300)`` is
decorrelated into a semi join over ``customer ⋈ orders ⋈ lineitem`` (6 M rows at sf 1);
moved onto ``orders`` (1.5 M rows) it keeps the 57 orders before lineitem is joined.

>>> # Semi(Join(lineitem, orders, l_orderkey = o_orderkey), R, o_orderkey = k)
>>> #   becomes Join(lineitem, Semi(orders, R, o_orderkey = k), l_orderkey = o_orderkey)
"""

from __future__ import annotations

from typing import Any

from dataflow import expr as ex
from dataflow import logical as L


def push_down_semi_join(plan: L.LogicalPlan, est: Any) -> L.LogicalPlan:
    """Move every semi and anti join of ``plan`` down where it filters fewest rows."""
    kids = tuple(push_down_semi_join(c, est) for c in plan.children())
    plan = plan.with_children(kids) if kids else plan
    if not isinstance(plan, L.Join) or plan.how not in ("semi", "anti"):
        return plan
    return _place(plan, est)


def _left_columns(join: L.Join) -> set[str]:
    """The left input's columns that ``join`` reads (its keys and its condition)."""
    right = {f.name for f in join.right.schema}
    cols: set[str] = set()
    for k in join.left_keys:
        cols |= ex.columns_used(k)
    if join.condition is not None:
        cols |= ex.columns_used(join.condition) - right
    return cols


def _step(node: L.LogicalPlan, cols: set[str]) -> tuple[str, dict[str, str]] | None:
    """Where below ``node`` a filter on ``cols`` may go: the child's field name and the
    renaming of ``cols`` into that child's names; None where it may go no further."""
    if isinstance(node, L.Join) and node.how in ("inner", "cross", "left"):
        sides = ("left", "right") if node.how != "left" else ("left",)
        for side in sides:
            names = {f.name for f in getattr(node, side).schema}
            if cols <= names:
                return side, {c: c for c in cols}
        return None
    if isinstance(node, L.Filter):
        return "input", {c: c for c in cols}
    if isinstance(node, L.Project):
        by_name = {e.name: e.expr for e in node.exprs}
        mapping: dict[str, str] = {}
        for c in cols:
            e = by_name.get(c)
            if not isinstance(e, ex.ColumnRef):
                return None
            mapping[c] = e.name
        return "input", mapping
    return None


def _rename(e: ex.ExprNode, mapping: dict[str, str]) -> ex.ExprNode:
    return ex.transform(e, lambda n: ex.ColumnRef(name=mapping[n.name])
                        if isinstance(n, ex.ColumnRef) and n.name in mapping else n)


def _place(join: L.Join, est: Any) -> L.LogicalPlan:
    cols = _left_columns(join)
    if not cols:
        return join
    right_names = {f.name for f in join.right.schema}
    # the path down: (node, the renaming of the original columns into its names)
    path: list[tuple[L.LogicalPlan, dict[str, str], str]] = []
    node, mapping = join.left, {c: c for c in cols}
    while True:
        step = _step(node, set(mapping.values()))
        if step is None:
            break
        field, rename = step
        child = getattr(node, field)
        mapping = {c: rename[m] for c, m in mapping.items()}
        if right_names & {f.name for f in child.schema}:
            break  # a left column there has the name of a right one
        path.append((node, mapping, field))
        node = child
    if not path:
        return join
    # the candidates: the join's own input (depth 0) and each child along the path
    rows = [est.rows(join.left)] + [est.rows(getattr(n, f)) for n, _, f in path]
    best = min(range(len(rows)), key=lambda i: (rows[i], -i))
    if best == 0:
        return join
    target_mapping = path[best - 1][1]
    target = getattr(path[best - 1][0], path[best - 1][2])
    moved = join.replace(
        left=target,
        left_keys=tuple(_rename(k, target_mapping) for k in join.left_keys),
        condition=None if join.condition is None else _rename(join.condition, target_mapping),
    )
    out: L.LogicalPlan = moved
    for n, _, field in reversed(path[:best]):
        out = n.replace(**{field: out})
    return out
