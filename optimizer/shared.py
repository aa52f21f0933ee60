"""Shared subplans: a subquery the plan computes more than once, identically.

A common table expression referenced twice is planned twice (each reference gets its
own copy, so that filters can be pushed into it), and so are subqueries written out
twice. When such a copy is costly and its result small, computing it once and reading
the result at every reference is cheaper: TPC-DS Q01 computes ``customer_total_return``
three times, Q11 ``year_total`` four times. The Session runs the chosen subplan first
as a job of its own and plans the rest over its result, with its true row count (as
Spark's adaptive execution re-plans after a query stage).

This module only finds the candidates; it is pure (plan in, plans out). Which one is
worth it the caller decides from estimates (``dataflow.staged.choose``).

>>> from dataflow import expr as ex
>>> from dataflow.types import Field
>>> t = L.Scan(table="t", source=L.MemorySource(table_id="t", num_rows=10),
...            table_schema=(Field(name="k", type="int64"),))
>>> agg = L.Aggregate(input=t, keys=(ex.NamedExpr(name="k", expr=ex.col("k").node),), aggs=())
>>> plan = L.Union(inputs=(agg, agg))
>>> [type(p).__name__ for p, n in repeated_subplans(plan)]
['Aggregate']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataflow import logical as L

COSTLY = (L.Join, L.Aggregate, L.Window)


def _post_order(plan: L.LogicalPlan, done: dict[int, Any], visit: Callable[[L.LogicalPlan], Any]) -> None:
    """Fill ``done[id(node)] = visit(node)`` for every node not yet in ``done``, children
    first, without recursion (plans can be deep); ``visit`` may read its children's."""
    stack: list[tuple[L.LogicalPlan, bool]] = [(plan, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in done:
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((c, False) for c in node.children() if id(c) not in done)
            continue
        done[id(node)] = visit(node)


def _keys(
    plan: L.LogicalPlan, classes: dict[Any, int] | None = None
) -> dict[int, tuple[int, L.LogicalPlan, int]]:
    """Per node (by ``id``): its structural class (equal subtrees share one), the node
    and its size in nodes, so that comparing subtrees costs one dict lookup per node
    instead of a deep ``==``. Plans keyed with the same ``classes`` share the numbering."""
    classes = {} if classes is None else classes
    out: dict[int, tuple[int, L.LogicalPlan, int]] = {}

    def visit(node: L.LogicalPlan) -> tuple[int, L.LogicalPlan, int]:
        kids = node.children()
        own = tuple((f, getattr(node, f)) for f in type(node).model_fields if f not in type(node).child_fields)
        key = (type(node).__name__, own, tuple(out[id(c)][0] for c in kids))
        return classes.setdefault(key, len(classes)), node, 1 + sum(out[id(c)][2] for c in kids)

    _post_order(plan, out, visit)
    return out


def _occurrences(plan: L.LogicalPlan) -> list[L.LogicalPlan]:
    """Every node of the plan, once per place it occurs (shared objects counted at each)."""
    nodes: list[L.LogicalPlan] = []
    stack = [plan]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.children())
    return nodes


def _costly(plan: L.LogicalPlan) -> bool:
    stack = [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, COSTLY):
            return True
        stack.extend(node.children())
    return False


def repeated_subplans(plan: L.LogicalPlan) -> list[tuple[L.LogicalPlan, int]]:
    """The subplans that occur more than once and join, aggregate or window (a
    repeated scan or filter is no work to share), with how often each occurs,
    largest first."""
    keys = _keys(plan)
    counts: dict[int, int] = {}
    for node in _occurrences(plan):
        cls = keys[id(node)][0]
        counts[cls] = counts.get(cls, 0) + 1
    seen: set[int] = set()
    found: list[tuple[int, L.LogicalPlan, int]] = []
    for cls, node, size in keys.values():
        if counts[cls] >= 2 and cls not in seen and _costly(node):
            seen.add(cls)
            found.append((size, node, counts[cls]))
    found.sort(key=lambda x: -x[0])
    return [(node, n) for _, node, n in found]


def substitute(plan: L.LogicalPlan, sub: L.LogicalPlan, by: L.LogicalPlan) -> L.LogicalPlan:
    """``plan`` with every occurrence of ``sub`` (every equal subtree) replaced by ``by``."""
    classes: dict[Any, int] = {}
    keys = _keys(plan, classes)
    target = _keys(sub, classes)[id(sub)][0]
    done: dict[int, L.LogicalPlan] = {id(n): by for cls, n, _ in keys.values() if cls == target}

    def visit(node: L.LogicalPlan) -> L.LogicalPlan:
        kids = node.children()
        new = tuple(done[id(c)] for c in kids)
        return node if all(a is b for a, b in zip(new, kids, strict=True)) else node.with_children(new)

    _post_order(plan, done, visit)
    return done[id(plan)]


__all__ = ["repeated_subplans", "substitute"]
