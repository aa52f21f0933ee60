"""INTERSECT and EXCEPT, with ALL or DISTINCT, as a tagged union and an aggregate.

Both inputs are tagged (a column that is 1 on the left side's rows and NULL on the
right's, and one the other way round), unioned, and grouped by every column, which
counts each distinct row's occurrences on each side. GROUP BY treats NULLs as equal,
as set operations must (``NULL INTERSECT NULL`` is one NULL row, in DuckDB too).

- ``INTERSECT``: rows with both counts above 0; ``EXCEPT``: left count above 0 and
  right count 0.
- ``ALL`` keeps duplicates: each side first numbers the copies of each distinct row
  (``row_number() OVER (PARTITION BY every column)``), and the numbered rows are
  grouped as above. Copy k of a row is in ``INTERSECT ALL`` when both sides have a
  copy k (so min(m, n) copies) and in ``EXCEPT ALL`` when only the left has it
  (max(m - n, 0) copies), as in SQL's multiset semantics.

Every step is an ordinary node, so all of it runs in parallel: the window and the
aggregate are hash partitioned on the row's columns.
"""

from __future__ import annotations

from .. import builder
from ..expr import AggCall, Call, Cast, ColumnRef, ExprNode, Literal, NamedExpr, WindowCall, conjoin
from ..logical import Aggregate, Filter, LogicalPlan, Project, Union

_LEFT, _RIGHT, _COPY = "__setop_left", "__setop_right", "__setop_copy"


def _tagged(plan: LogicalPlan, names: list[str], left: bool, number: bool) -> LogicalPlan:
    one = Literal(value=1, type="int64")
    null = Cast(expr=Literal(value=None, type="null"), to="int64")
    exprs = [NamedExpr(name=n, expr=ColumnRef(name=n)) for n in names]
    if number:
        rn = WindowCall(fn="row_number", partition_by=tuple(ColumnRef(name=n) for n in names))
        exprs.append(NamedExpr(name=_COPY, expr=rn))
    exprs += [
        NamedExpr(name=_LEFT, expr=one if left else null),
        NamedExpr(name=_RIGHT, expr=null if left else one),
    ]
    return builder.window(plan, exprs)


def intersect_except(
    left: LogicalPlan, right: LogicalPlan, names: list[str], kind: str, distinct: bool
) -> LogicalPlan:
    """``left INTERSECT/EXCEPT [ALL] right`` over inputs already projected to ``names``
    with matching types (``kind`` is "INTERSECT" or "EXCEPT")."""
    number = not distinct
    union = Union(inputs=(_tagged(left, names, True, number), _tagged(right, names, False, number)))
    keys = [*names, _COPY] if number else list(names)
    counts = (
        NamedExpr(name=_LEFT, expr=AggCall(fn="count", arg=ColumnRef(name=_LEFT))),
        NamedExpr(name=_RIGHT, expr=AggCall(fn="count", arg=ColumnRef(name=_RIGHT))),
    )
    plan: LogicalPlan = Aggregate(
        input=union, keys=tuple(NamedExpr(name=k, expr=ColumnRef(name=k)) for k in keys), aggs=counts
    )
    zero = Literal(value=0, type="int64")
    has_left: ExprNode = Call(fn="gt", args=(ColumnRef(name=_LEFT), zero))
    right_cmp = "gt" if kind == "INTERSECT" else "eq"
    on_right: ExprNode = Call(fn=right_cmp, args=(ColumnRef(name=_RIGHT), zero))
    plan = Filter(input=plan, predicate=conjoin([has_left, on_right]))  # type: ignore[arg-type]
    return Project(input=plan, exprs=tuple(NamedExpr(name=n, expr=ColumnRef(name=n)) for n in names))
