"""Cardinality estimates: the :class:`Estimator` of rows and distinct counts.

Each plan node kind names its own row estimate (``estimate_rows`` on the logical and
physical nodes); the Estimator supplies what those need from the statistics
(``optimizer/column_stats.py``, Parquet metadata only): distinct counts traced
through a plan to the base column (:meth:`Estimator.ndv`), predicate selectivities
(``optimizer/selectivity.py``), equi-joins as ``|L|*|R| / max(ndv(lk), ndv(rk))`` and
aggregates as the product of their keys' distinct counts. They steer the join
order, broadcast versus partitioned joins and the degree of parallelism; planning
must stay in milliseconds.

One Estimator serves one ``optimize()`` call: it memoizes per plan node, so a rule
that tries many candidate plans sharing subtrees estimates each node once.

>>> import pyarrow as pa
>>> from dataflow import logical as L
>>> from dataflow.types import schema_from_arrow
>>> t = L.Scan(table="t", source=L.MemorySource(table_id="t", num_rows=1000),
...            table_schema=schema_from_arrow(pa.schema([("k", pa.int64())])))
>>> Estimator().rows(L.Limit(input=t, limit=10))
10.0
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from dataflow import logical as L
from dataflow.expr import Call, Cast, ColumnRef, ExprNode, Literal, columns_used, conjuncts
from dataflow.types import Schema

from .column_stats import range_ndv, table_column_stats, table_rows
from .selectivity import (
    DEFAULT_SELECTIVITY,
    EQ_SELECTIVITY,
    LIKE_SELECTIVITY,
    NULL_SELECTIVITY,
    RANGE_SELECTIVITY,
    Ctx,
    Selectivity,
    base_column,
    is_eq_literal,
)

# no estimate goes below one row: zero would erase every product it enters
MIN_ROWS = 1.0


class Estimator(Selectivity):
    """Cardinality and distinct-count estimates, memoized per plan node.

    Plans are immutable, so one Estimator may serve many estimates over plans that
    share subtrees (a join-ordering rule trying candidate joins): each node is
    estimated once. Make one per optimization (it holds the nodes it estimated).
    """

    def __init__(self) -> None:
        # keyed by id(node); the node is kept in the value so its id stays unique
        self._rows: dict[int, tuple[L.LogicalPlan, float]] = {}
        self._ndv: dict[tuple[int, str], tuple[L.LogicalPlan, float | None]] = {}

    def size(self) -> int:
        """How many estimates the memo holds."""
        return len(self._rows) + len(self._ndv)

    # -- rows ------------------------------------------------------------------------------

    def rows(self, plan: L.LogicalPlan) -> float:
        """Estimated output rows of ``plan`` (at least one, except a LIMIT 0)."""
        hit = self._rows.get(id(plan))
        if hit is not None:
            return hit[1]
        value = plan.estimate_rows(self)
        if not isinstance(plan, L.Limit):
            value = max(MIN_ROWS, value)
        self._rows[id(plan)] = (plan, value)
        return value

    def scan_rows(self, source: L.Source, table_schema: Schema, filters: tuple[ExprNode, ...]) -> float:
        """Rows of a table that pass the conjuncts ``filters`` (pushed into its scan)."""
        rows = float(table_rows(source))
        if filters:
            rows *= self._selectivity(list(filters), Ctx.base(source, table_schema))
        return rows

    def filter_rows(self, input: L.LogicalPlan, predicate: ExprNode) -> float:
        """Rows of ``input`` that pass ``predicate``."""
        return self.rows(input) * self._selectivity(conjuncts(predicate), Ctx(input))

    def groups(self, plan: L.LogicalPlan, keys: list[ExprNode], unknown_exp: float = 0.5) -> float:
        """Distinct combinations of ``keys`` over ``plan``: the product of their
        distinct counts, capped by the rows; keys without an estimate count as
        ``rows ** unknown_exp`` together (the old rule of thumb)."""
        rows = self.rows(plan)
        known = 1.0
        unknown = 0
        for k in keys:
            d = self.expr_ndv(plan, k)
            if d is None:
                unknown += 1
            else:
                known *= d
        return _capped_groups(rows, known, unknown, unknown_exp)

    def group_rows(self, rows: float, keys: int) -> float:
        """Groups of ``keys`` key columns over ``rows`` rows when no distinct count is
        known (the physical aggregates the planner did not annotate)."""
        return _capped_groups(rows, 1.0, keys, 0.5)

    def join_rows(self, plan: L.Join) -> float:
        """Output rows of a logical join, from its inputs' rows and key distinct counts."""
        left = self.rows(plan.left)
        right = self.rows(plan.right)
        dl = dr = None
        if plan.left_keys:
            dl = self._key_ndv(plan.left, plan.left_keys, left)
            dr = self._key_ndv(plan.right, plan.right_keys, right)
        cond = self._selectivity(conjuncts(plan.condition), Ctx(plan, "join"))
        return self.combine_join(plan.how, left, right, dl, dr, cond, keyed=bool(plan.left_keys))

    def combine_join(
        self, how: str, left: float, right: float, dl: float | None, dr: float | None, condition: float,
        keyed: bool = True,
    ) -> float:
        """A join's output rows from its inputs' rows, the distinct counts of its keys
        on each side (``None``: unknown) and its residual condition's selectivity;
        without keys (``keyed=False``) every pair of rows is a candidate."""
        if how in ("semi", "anti"):
            frac = 0.5
            if dl is not None and dr is not None:
                frac = min(1.0, dr / dl)  # containment: the smaller key set matches
            frac *= condition
            frac = frac if how == "semi" else max(0.1, 1.0 - frac)
            return max(MIN_ROWS, left * frac)
        if not keyed:
            rows = left * right
        else:
            # a side without distinct counts is taken to be a key/foreign-key match
            dl = min(left, dr if dr is not None else right) if dl is None else dl
            dr = min(right, dl) if dr is None else dr
            rows = left * right / max(1.0, dl, dr)
        rows *= condition
        if how == "left":
            rows = max(rows, left)
        elif how == "right":
            rows = max(rows, right)
        elif how == "full":
            rows = max(rows, left, right)
        return max(MIN_ROWS, rows)

    def _key_ndv(self, plan: L.LogicalPlan, keys: tuple[ExprNode, ...], rows: float) -> float | None:
        """Distinct combinations of a join's keys on one side (``None``: unknown)."""
        d = 1.0
        for k in keys:
            n = self.expr_ndv(plan, k)
            if n is None:
                return None
            d *= n
        return max(1.0, min(d, rows))

    # -- distinct counts -------------------------------------------------------------------

    def ndv(self, plan: L.LogicalPlan, column: str) -> float | None:
        """Estimated distinct non-NULL values of output ``column`` of ``plan``."""
        key = (id(plan), column)
        hit = self._ndv.get(key)
        if hit is not None:
            return hit[1]
        value = self._estimate_ndv(plan, column)
        if value is not None:
            value = max(1.0, min(value, self.rows(plan)))
        self._ndv[key] = (plan, value)
        return value

    def expr_ndv(self, plan: L.LogicalPlan, expr: ExprNode) -> float | None:
        """Distinct values of an expression over ``plan``'s rows (``None``: unknown)."""
        if isinstance(expr, ColumnRef):
            return self.ndv(plan, expr.name)
        if isinstance(expr, Literal):
            return 1.0
        if isinstance(expr, Cast):
            return self.expr_ndv(plan, expr.expr)
        used = columns_used(expr)
        if not used:
            return 1.0
        if isinstance(expr, Call) and len(expr.args) == 1 and isinstance(expr.args[0], ColumnRef):
            bounded = self._date_part_ndv(plan, expr.fn, expr.args[0].name)
            if bounded is not None:
                return bounded
        d = 1.0
        for c in sorted(used):
            n = self.ndv(plan, c)
            if n is None:
                return None
            d *= n  # a function of these columns takes at most this many values
        return min(d, self.rows(plan))

    def _date_part_ndv(self, plan: L.LogicalPlan, fn: str, column: str) -> float | None:
        cap = {"month": 12.0, "quarter": 4.0, "day": 31.0}.get(fn)
        inner = self.ndv(plan, column)
        if fn == "year":
            lo_hi = self.column_range(plan, column)
            if lo_hi is not None and isinstance(lo_hi[0], _dt.date) and isinstance(lo_hi[1], _dt.date):
                cap = float(lo_hi[1].year - lo_hi[0].year + 1)
        if cap is None:
            return None
        return cap if inner is None else min(cap, inner)

    def _estimate_ndv(self, plan: L.LogicalPlan, column: str) -> float | None:
        if isinstance(plan, L.Scan):
            base = self.base_ndv(plan.source, plan.table_schema, column)
            return self._narrow(base, column, list(plan.filters), Ctx.base(plan.source, plan.table_schema))
        if isinstance(plan, L.Filter):
            inner = self.ndv(plan.input, column)
            return self._narrow(inner, column, conjuncts(plan.predicate), Ctx(plan.input))
        if isinstance(plan, L.Project):
            for e in plan.exprs:
                if e.name == column:
                    return self.expr_ndv(plan.input, e.expr)
            return None
        if isinstance(plan, L.Aggregate):
            for k in plan.keys:
                if k.name == column:
                    return self.expr_ndv(plan.input, k.expr)
            return None
        if isinstance(plan, L.Join):
            return self._join_ndv(plan, column)
        if type(plan).keeps_columns:
            return self.ndv(plan.input, column)  # type: ignore[attr-defined]
        if isinstance(plan, L.Window):
            if column in {f.name for f in plan.input.schema}:
                return self.ndv(plan.input, column)
            return None
        if isinstance(plan, L.Expand):
            if column == plan.gid:
                return float(len(plan.sets))
            if column in plan.names:
                d = self.ndv(plan.input, plan.keys[plan.names.index(column)])
                return None if d is None else d + 1  # NULL where the key is not grouped
            return self.ndv(plan.input, column)
        if isinstance(plan, L.Union):
            names = [f.name for f in plan.schema]
            if column not in names:
                return None
            i = names.index(column)
            total = 0.0
            for inp in plan.inputs:
                d = self.ndv(inp, inp.schema[i].name)
                if d is None:
                    return None
                total += d
            return total
        return None

    def _join_ndv(self, plan: L.Join, column: str) -> float | None:
        lnames = {f.name for f in plan.left.schema}
        side, keys, other, other_keys = (
            (plan.left, plan.left_keys, plan.right, plan.right_keys)
            if column in lnames
            else (plan.right, plan.right_keys, plan.left, plan.left_keys)
        )
        d = self.ndv(side, column)
        if (
            plan.how in ("inner", "semi")
            or (plan.how == "left" and side is plan.right)
            or (plan.how == "right" and side is plan.left)
        ):
            # an inner key keeps only the values the other side has too
            for key, other_key in zip(keys, other_keys, strict=True):
                if isinstance(key, ColumnRef) and key.name == column:
                    od = self.expr_ndv(other, other_key)
                    if od is not None:
                        d = od if d is None else min(d, od)
        return d

    def base_ndv(self, source: L.Source, table_schema: Schema, column: str) -> float | None:
        """Distinct values of a table's column, before any filter."""
        f = next((f for f in table_schema if f.name == column), None)
        if f is None:
            return None
        if f.type == "bool":
            return 2.0
        st = table_column_stats(source).get(column)
        if st is None:
            return None
        nonnull = st.rows - (st.null_count or 0)
        if nonnull <= 0:
            return 1.0
        d = range_ndv(st, f.type)
        return None if d is None else max(1.0, min(float(nonnull), d))

    def _narrow(self, ndv: float | None, column: str, preds: list[ExprNode], ctx: Ctx) -> float | None:
        """The distinct count left after filtering with ``preds`` (those on ``column``)."""
        own = [p for p in preds if columns_used(p) == {column}]
        for p in own:
            if is_eq_literal(p, column):
                return 1.0
        if ndv is None or not own:
            return ndv
        return ndv * self._selectivity(own, ctx)

    def column_range(self, plan: L.LogicalPlan, column: str) -> tuple[Any, Any] | None:
        """The base table's (min, max) of the column that ``column`` of ``plan`` reads."""
        base = base_column(plan, column)
        if base is None:
            return None
        scan, name = base
        st = table_column_stats(scan.source).get(name)
        if st is None or not st.has_min_max:
            return None
        return st.min, st.max


def _capped_groups(rows: float, known: float, unknown: int, unknown_exp: float) -> float:
    if unknown:
        known *= rows ** min(1.0, unknown_exp + 0.15 * (unknown - 1))
    return max(1.0, min(rows, known))


__all__ = [
    "DEFAULT_SELECTIVITY", "EQ_SELECTIVITY", "LIKE_SELECTIVITY", "MIN_ROWS", "NULL_SELECTIVITY",
    "RANGE_SELECTIVITY", "Estimator",
]
