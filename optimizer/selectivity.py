"""Predicate selectivity: the fraction of rows a predicate keeps, from column
statistics where they say something (``1/ndv`` for an equality, the covered fraction
of ``[min, max]`` for a range, the NULL fraction for ``IS NULL``) and rules of thumb
where they do not. :class:`Selectivity` is the part of the
:class:`~dataflow.optimizer.statistics.Estimator` that does this.

>>> from dataflow.expr import Call, ColumnRef, Literal
>>> from dataflow.optimizer.statistics import Estimator
>>> Estimator().selectivity(Call(fn="eq", args=(ColumnRef(name="a"), Literal(value=1, type="int64"))))
0.1
"""

from __future__ import annotations

from dataflow import logical as L
from dataflow.expr import Call, ColumnRef, ExprNode, InList, Literal, conjuncts
from dataflow.types import Schema

from .column_stats import ColumnStats, as_number, literal_like, table_column_stats, table_rows

# selectivity of one predicate conjunct, by kind, when statistics say nothing better
EQ_SELECTIVITY = 0.1
RANGE_SELECTIVITY = 1 / 3
LIKE_SELECTIVITY = 0.25
DEFAULT_SELECTIVITY = 0.5
NULL_SELECTIVITY = 0.1
# a range that the statistics say misses every row still keeps this fraction
# (statistics may be stale, and a zero would hide the difference between plans)
MIN_RANGE_FRACTION = 1e-4

_RANGE_OPS = frozenset({"lt", "le", "gt", "ge"})
_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}


class Ctx:
    """What a predicate is evaluated over: a plan's output (``"output"``), a table's
    rows before a scan's filters (``"base"``: ``source`` and ``table_schema``), or the
    pairs of rows of a join's two inputs (``"join"``, for its residual condition)."""

    __slots__ = ("plan", "mode", "source", "table_schema")

    def __init__(
        self, plan: L.LogicalPlan | None, mode: str = "output", source: L.Source | None = None,
        table_schema: Schema = (),
    ) -> None:
        self.plan = plan
        self.mode = mode
        self.source = source
        self.table_schema = table_schema

    @classmethod
    def base(cls, source: L.Source, table_schema: Schema) -> Ctx:
        return cls(None, "base", source, table_schema)


class Selectivity:
    """Predicate selectivities; the estimator supplies distinct counts and rows."""

    def ndv(self, plan: L.LogicalPlan, column: str) -> float | None:
        raise NotImplementedError

    def expr_ndv(self, plan: L.LogicalPlan, expr: ExprNode) -> float | None:
        raise NotImplementedError

    def rows(self, plan: L.LogicalPlan) -> float:
        raise NotImplementedError

    def base_ndv(self, source: L.Source, table_schema: Schema, column: str) -> float | None:
        raise NotImplementedError

    def selectivity(self, pred: ExprNode | None, plan: L.LogicalPlan | None = None) -> float:
        """Estimated fraction of the rows of ``plan`` (when given) that pass ``pred``."""
        return self._selectivity(conjuncts(pred), Ctx(plan))

    def _ctx_stats(self, ctx: Ctx, column: str) -> ColumnStats | None:
        """The table statistics of the base column behind ``column`` in ``ctx``."""
        if ctx.mode == "base":
            assert ctx.source is not None
            return table_column_stats(ctx.source).get(column)
        if ctx.plan is None:
            return None
        base = base_column(ctx.plan, column)
        if base is None:
            return None
        scan, name = base
        return table_column_stats(scan.source).get(name)

    def _null_fraction(self, ctx: Ctx, column: str) -> float | None:
        st = self._ctx_stats(ctx, column)
        if st is None or st.null_count is None or st.rows == 0:
            return None
        return st.null_count / st.rows

    def _ctx_ndv(self, ctx: Ctx, expr: ExprNode) -> float | None:
        if ctx.mode == "base":
            assert ctx.source is not None
            return self.base_ndv(ctx.source, ctx.table_schema, expr.name) if isinstance(expr, ColumnRef) else None
        plan = ctx.plan
        if plan is None:
            return None
        if ctx.mode == "join":
            assert isinstance(plan, L.Join)
            if not isinstance(expr, ColumnRef):
                return None
            left = expr.name in {f.name for f in plan.left.schema}
            return self.ndv(plan.left if left else plan.right, expr.name)
        return self.expr_ndv(plan, expr)

    def _ctx_rows(self, ctx: Ctx) -> float | None:
        if ctx.mode == "base":
            assert ctx.source is not None
            return float(table_rows(ctx.source))
        plan = ctx.plan
        if plan is None:
            return None
        if ctx.mode == "join":
            assert isinstance(plan, L.Join)
            return self.rows(plan.left) * self.rows(plan.right)
        return self.rows(plan)

    def _selectivity(self, preds: list[ExprNode], ctx: Ctx) -> float:
        s = 1.0
        ranges: dict[str, list[tuple[str, Literal]]] = {}
        for c in preds:
            r = as_range(c)
            if r is not None and (ctx.plan is not None or ctx.mode == "base"):
                column, bounds = r
                ranges.setdefault(column, []).extend(bounds)
                continue
            s *= self._one(c, ctx)
        for column, bounds in ranges.items():
            s *= self._range_fraction(ctx, column, bounds)
        return s

    def _eq_fraction(self, ctx: Ctx, expr: ExprNode) -> float:
        d = self._ctx_ndv(ctx, expr)
        if d is None:
            rows = self._ctx_rows(ctx)
            # at least one row matches; a tiny table has few distinct values
            return max(EQ_SELECTIVITY, 1.0 / rows) if rows else EQ_SELECTIVITY
        return 1.0 / max(1.0, d)

    def _one(self, c: ExprNode, ctx: Ctx) -> float:
        if isinstance(c, Literal):
            return 1.0 if c.value is True else 0.0 if c.type == "bool" else DEFAULT_SELECTIVITY
        if isinstance(c, InList):
            if all(isinstance(v, Literal) for v in c.values):
                n = len({v for v in c.values if v.value is not None})  # type: ignore[union-attr]
                s = min(1.0, n * self._eq_fraction(ctx, c.expr))
            else:
                s = min(1.0, EQ_SELECTIVITY * len(c.values))
            return 1.0 - s if c.negated else s
        if not isinstance(c, Call):
            return DEFAULT_SELECTIVITY
        fn, args = c.fn, c.args
        if fn in ("eq", "ne") and len(args) == 2:
            a, b = args
            if isinstance(b, Literal) and not isinstance(a, Literal):
                s = self._eq_fraction(ctx, a)
            elif isinstance(a, Literal) and not isinstance(b, Literal):
                s = self._eq_fraction(ctx, b)
            else:
                da, db = self._ctx_ndv(ctx, a), self._ctx_ndv(ctx, b)
                known = [d for d in (da, db) if d is not None]
                s = 1.0 / max(1.0, *known) if known else EQ_SELECTIVITY
            return s if fn == "eq" else 1.0 - s
        if fn in _RANGE_OPS or fn == "between":
            return RANGE_SELECTIVITY
        if fn in ("like", "ilike"):
            if len(args) == 2 and isinstance(args[1], Literal) and isinstance(args[1].value, str):
                if not any(ch in args[1].value for ch in "%_"):
                    return self._eq_fraction(ctx, args[0])
            return LIKE_SELECTIVITY
        if fn in ("is_null", "is_not_null") and len(args) == 1:
            frac = None
            if isinstance(args[0], ColumnRef):
                frac = self._null_fraction(ctx, args[0].name)
            frac = NULL_SELECTIVITY if frac is None else frac
            return frac if fn == "is_null" else 1.0 - frac
        if fn == "not" and len(args) == 1:
            return 1.0 - self._selectivity(conjuncts(args[0]), ctx)
        if fn == "or":
            miss = 1.0
            for a in args:
                miss *= 1.0 - self._selectivity(conjuncts(a), ctx)
            return 1.0 - miss
        if fn == "and":
            return self._selectivity(conjuncts(c), ctx)
        return DEFAULT_SELECTIVITY

    def _range_fraction(self, ctx: Ctx, column: str, bounds: list[tuple[str, Literal]]) -> float:
        """The fraction of ``[min, max]`` of ``column`` that all ``bounds`` together keep."""
        default = RANGE_SELECTIVITY ** min(len(bounds), 2)
        st = self._ctx_stats(ctx, column)
        if st is None or not st.has_min_max:
            return default
        mn, mx = as_number(st.min), as_number(st.max)
        if mn is None or mx is None:
            return default
        lo, hi = mn, mx
        for op, lit in bounds:
            v = as_number(literal_like(lit, st.min))
            if v is None:
                return default
            if op in ("gt", "ge"):
                lo = max(lo, v)
            else:
                hi = min(hi, v)
        if mx == mn:
            return 1.0 if lo <= mn <= hi else MIN_RANGE_FRACTION
        return min(1.0, max(MIN_RANGE_FRACTION, (hi - lo) / (mx - mn)))


# ---------------------------------------------------------------------------------------
# Predicate shapes and column tracing


def is_eq_literal(p: ExprNode, column: str) -> bool:
    """Whether ``p`` is ``column = literal`` (either way round, the literal not NULL)."""
    if not (isinstance(p, Call) and p.fn == "eq" and len(p.args) == 2):
        return False
    a, b = p.args
    return (
        isinstance(a, ColumnRef) and a.name == column and isinstance(b, Literal) and b.value is not None
    ) or (isinstance(b, ColumnRef) and b.name == column and isinstance(a, Literal) and a.value is not None)


def as_range(p: ExprNode) -> tuple[str, list[tuple[str, Literal]]] | None:
    """``column op literal`` (either way round) or ``column BETWEEN lit AND lit`` as
    the column and its bounds (``gt``/``ge`` lower, ``lt``/``le`` upper)."""
    if not isinstance(p, Call):
        return None
    if p.fn in _RANGE_OPS and len(p.args) == 2:
        a, b = p.args
        if isinstance(a, ColumnRef) and isinstance(b, Literal) and b.value is not None:
            return a.name, [(p.fn, b)]
        if isinstance(b, ColumnRef) and isinstance(a, Literal) and a.value is not None:
            return b.name, [(_FLIP[p.fn], a)]
        return None
    if p.fn == "between" and len(p.args) == 3:
        a, lo, hi = p.args
        if isinstance(a, ColumnRef) and isinstance(lo, Literal) and isinstance(hi, Literal):
            if lo.value is not None and hi.value is not None:
                return a.name, [("ge", lo), ("le", hi)]
    return None


def base_column(plan: L.LogicalPlan, column: str) -> tuple[L.Scan, str] | None:
    """The scan and table column that output ``column`` of ``plan`` passes through
    unchanged (renames followed), or ``None``."""
    while True:
        if isinstance(plan, L.Scan):
            return (plan, column) if any(f.name == column for f in plan.table_schema) else None
        if type(plan).keeps_columns:
            plan = plan.input  # type: ignore[attr-defined]
        elif isinstance(plan, (L.Project, L.Aggregate)):
            exprs = plan.exprs if isinstance(plan, L.Project) else plan.keys
            e = next((x for x in exprs if x.name == column), None)
            if e is None or not isinstance(e.expr, ColumnRef):
                return None
            column = e.expr.name
            plan = plan.input
        elif isinstance(plan, L.Window):
            if column not in {f.name for f in plan.input.schema}:
                return None
            plan = plan.input
        elif isinstance(plan, L.Join):
            plan = plan.left if column in {f.name for f in plan.left.schema} else plan.right
        else:
            return None
