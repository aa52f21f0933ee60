"""Statistics and cardinality estimates, from Parquet metadata only (no scans).

Row counts and per-column min/max/null counts come from Parquet footers (cached per
file); an in-memory table knows only its row count. From those, :class:`Estimator`
derives distinct-count estimates traced through a plan to the base column
(:func:`column_ndv`), predicate selectivities (``1/ndv`` for an equality, the
covered fraction of ``[min, max]`` for a range) and output cardinalities (equi-joins
as ``|L|*|R| / max(ndv(lk), ndv(rk))``, aggregates as the product of their keys'
distinct counts). They steer the join order, broadcast versus partitioned joins and
the degree of parallelism; planning must stay in milliseconds.

>>> from dataflow.expr import Call, ColumnRef, Literal
>>> selectivity(Call(fn="eq", args=(ColumnRef(name="a"), Literal(value=1, type="int64"))))
0.1
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from dataflow import logical as L
from dataflow.expr import Call, Cast, ColumnRef, ExprNode, InList, Literal, columns_used, conjuncts
from dataflow.io import file_stamp, read_parquet_metadata

# selectivity of one predicate conjunct, by kind, when statistics say nothing better
EQ_SELECTIVITY = 0.1
RANGE_SELECTIVITY = 1 / 3
LIKE_SELECTIVITY = 0.25
DEFAULT_SELECTIVITY = 0.5
NULL_SELECTIVITY = 0.1
# no estimate goes below one row: zero would erase every product it enters
MIN_ROWS = 1.0
# a range that the statistics say misses every row still keeps this fraction
# (statistics may be stale, and a zero would hide the difference between plans)
MIN_RANGE_FRACTION = 1e-4

_RANGE_OPS = frozenset({"lt", "le", "gt", "ge"})
_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}


# ---------------------------------------------------------------------------------------
# Parquet metadata


@dataclass(frozen=True)
class ColumnStats:
    """Statistics of one column over a whole table; ``None`` where unknown.

    ``min``/``max`` are Python values (int, float, Decimal, date, datetime, str, bool)
    over the non-null values; ``null_count`` counts NULLs; ``rows`` is the table's rows.
    """

    rows: int
    min: Any = None
    max: Any = None
    null_count: int | None = None

    @property
    def has_min_max(self) -> bool:
        return self.min is not None and self.max is not None


def _stat_value(v: Any) -> Any:
    """A statistic as a plain comparable Python value (``None`` if unusable)."""
    if v is None or isinstance(v, (bool, int, str, _decimal.Decimal, _dt.date)):
        return v  # datetime is a date subclass
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _merge(a: ColumnStats | None, b: ColumnStats | None) -> ColumnStats | None:
    """Statistics of the union of two parts (row groups or files)."""
    if a is None or b is None:
        return None
    rows = a.rows + b.rows
    nulls = None if a.null_count is None or b.null_count is None else a.null_count + b.null_count
    lo = hi = None
    a_empty = a.null_count == a.rows  # an all-NULL part has no min/max and needs none
    b_empty = b.null_count == b.rows
    if (a.has_min_max or a_empty) and (b.has_min_max or b_empty):
        try:
            mins = [x for x in (a.min, b.min) if x is not None]
            maxs = [x for x in (a.max, b.max) if x is not None]
            lo, hi = (min(mins), max(maxs)) if mins else (None, None)
        except TypeError:  # values Python cannot compare (mixed types across files)
            lo = hi = None
    return ColumnStats(rows=rows, min=lo, max=hi, null_count=nulls)


def _row_group_column(rg: Any, j: int) -> ColumnStats | None:
    col = rg.column(j)
    st = col.statistics
    if st is None:
        return None
    nulls = st.null_count if st.has_null_count else None
    lo = hi = None
    if st.has_min_max:
        try:
            lo, hi = _stat_value(st.min), _stat_value(st.max)
        except (ValueError, TypeError, ArithmeticError, pa.ArrowException):
            lo = hi = None  # a logical type pyarrow cannot convert
        if lo is None or hi is None:
            lo = hi = None
    elif nulls is None or nulls != rg.num_rows:
        return ColumnStats(rows=rg.num_rows, null_count=nulls)
    return ColumnStats(rows=rg.num_rows, min=lo, max=hi, null_count=nulls)


@lru_cache(maxsize=4096)
def _footer(path: str, mtime_ns: int, size: int) -> tuple[int, Mapping[str, ColumnStats]]:
    """Rows and column statistics of one file, aggregated over its row groups."""
    md = read_parquet_metadata(path)
    stats: dict[str, ColumnStats | None] = {}
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        for j in range(rg.num_columns):
            name = rg.column(j).path_in_schema
            if "." in name:
                continue  # nested fields: not plan columns
            part = _row_group_column(rg, j)
            stats[name] = part if i == 0 else _merge(stats.get(name), part)
    return md.num_rows, MappingProxyType({k: v for k, v in stats.items() if v is not None})


def _file(path: str) -> tuple[int, Mapping[str, ColumnStats]]:
    mtime, size = file_stamp(path)
    return _footer(path, mtime, size)


def parquet_rows(path: str) -> int:
    """Row count of one Parquet file, from its (cached) footer."""
    return _file(path)[0]


def table_rows(source: L.Source) -> int:
    """Row count of a table."""
    if isinstance(source, L.MemorySource):
        return source.num_rows
    if isinstance(source, L.TextSource):
        return source.est_rows
    return sum(parquet_rows(p) for p in source.paths)


@lru_cache(maxsize=1024)
def _table_stats(key: tuple[tuple[str, int, int], ...]) -> Mapping[str, ColumnStats]:
    merged: dict[str, ColumnStats | None] = {}
    for i, (path, mtime, size) in enumerate(key):
        _, stats = _footer(path, mtime, size)
        names = set(merged) | set(stats) if i else set(stats)
        merged = {n: (stats.get(n) if i == 0 else _merge(merged.get(n), stats.get(n))) for n in names}
    return MappingProxyType({k: v for k, v in merged.items() if v is not None})


def table_column_stats(source: L.Source) -> Mapping[str, ColumnStats]:
    """Column statistics of a table by column name (empty for an in-memory table)."""
    if isinstance(source, (L.MemorySource, L.TextSource)):
        return MappingProxyType({})
    key = []
    for p in source.paths:
        mtime, size = file_stamp(p)
        key.append((p, mtime, size))
    return _table_stats(tuple(key))


# ---------------------------------------------------------------------------------------
# Values on a number line, for range fractions and distinct counts


def _as_number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, _decimal.Decimal)):
        return float(v)
    if isinstance(v, _dt.datetime):
        return v.timestamp() if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(v, _dt.date):
        return float(v.toordinal())
    return None


def _literal_like(lit: Literal, like: Any) -> Any:
    """The literal's value, parsed as the kind of value ``like`` is (a statistic)."""
    try:
        v = lit.py_value()
    except (ValueError, TypeError, ArithmeticError):
        return None
    if isinstance(v, str) and not isinstance(like, str):
        try:
            if isinstance(like, _dt.datetime):
                return _dt.datetime.fromisoformat(v)
            if isinstance(like, _dt.date):
                return _dt.date.fromisoformat(v)
            if isinstance(like, (int, float, _decimal.Decimal)):
                return _decimal.Decimal(v)
        except (ValueError, ArithmeticError):
            return None
    return v


def _range_ndv(st: ColumnStats, type_name: str) -> float | None:
    """Distinct values that fit between min and max, for discrete types."""
    lo, hi = st.min, st.max
    if lo is None or hi is None:
        return None
    try:
        if isinstance(lo, bool):
            return 2.0 if lo != hi else 1.0
        if isinstance(lo, int) and isinstance(hi, int):
            return float(hi - lo + 1)
        if isinstance(lo, _dt.datetime) or isinstance(hi, _dt.datetime):
            return None
        if isinstance(lo, _dt.date) and isinstance(hi, _dt.date):
            return float(hi.toordinal() - lo.toordinal() + 1)
        if (
            isinstance(lo, _decimal.Decimal)
            and isinstance(hi, _decimal.Decimal)
            and type_name.startswith("decimal")
        ):
            scale = int(type_name.rsplit(",", 1)[1].strip(" )"))
            return float((hi - lo) * (_decimal.Decimal(10) ** scale)) + 1.0
        if isinstance(lo, str) and isinstance(hi, str):
            # short codes ('A'..'R'): at most one value per character in between
            k = len(os.path.commonprefix([lo, hi]))
            if len(lo) <= k + 1 and len(hi) <= k + 1:
                a = ord(lo[k]) if len(lo) > k else 0
                b = ord(hi[k]) if len(hi) > k else 0
                return float(abs(b - a) + 2)
    except (ValueError, TypeError, ArithmeticError, IndexError):
        return None
    return None


# ---------------------------------------------------------------------------------------
# The estimator


class _Ctx:
    """What a predicate is evaluated over: a plan's output (``"output"``), a scan's
    base table (``"base"``, for the filters pushed into that scan), or the pairs of
    rows of a join's two inputs (``"join"``, for its residual condition)."""

    __slots__ = ("plan", "mode")

    def __init__(self, plan: L.LogicalPlan | None, mode: str = "output") -> None:
        self.plan = plan
        self.mode = mode


class Estimator:
    """Cardinality and distinct-count estimates, memoized per plan node.

    Plans are immutable, so one Estimator may serve many estimates over plans that
    share subtrees (a join-ordering rule trying candidate joins): each node is
    estimated once. Do not keep one across plans that are thrown away (it holds them).
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
        value = self._estimate_rows(plan)
        self._rows[id(plan)] = (plan, value)
        return value

    def _estimate_rows(self, plan: L.LogicalPlan) -> float:
        if isinstance(plan, L.Scan):
            rows = float(table_rows(plan.source))
            if plan.filters:
                rows *= self._selectivity(list(plan.filters), _Ctx(plan, "base"))
            return max(MIN_ROWS, rows)
        if isinstance(plan, L.Filter):
            inner = self.rows(plan.input)
            return max(MIN_ROWS, inner * self._selectivity(conjuncts(plan.predicate), _Ctx(plan.input)))
        if isinstance(plan, (L.Project, L.Sort, L.Window)):
            return self.rows(plan.input)
        if isinstance(plan, L.Limit):
            inner = max(0.0, self.rows(plan.input) - plan.offset)
            return inner if plan.limit is None else min(inner, float(plan.limit))
        if isinstance(plan, L.Aggregate):
            if not plan.keys:
                return 1.0
            return self._groups(plan.input, [k.expr for k in plan.keys])
        if isinstance(plan, L.Distinct):
            return self._groups(plan.input, [ColumnRef(name=f.name) for f in plan.input.schema], 0.75)
        if isinstance(plan, L.Union):
            return sum(self.rows(i) for i in plan.inputs)
        if isinstance(plan, L.Expand):
            return self.rows(plan.input) * len(plan.sets)
        if isinstance(plan, L.Values):
            return float(max(1, len(plan.rows)))
        if isinstance(plan, L.Join):
            return self._join_rows(plan)
        if isinstance(plan, L.Write):
            return 1.0  # a row per file written: a handful
        raise TypeError(f"no estimate for {type(plan).__name__}")

    def _groups(self, plan: L.LogicalPlan, keys: list[ExprNode], unknown_exp: float = 0.5) -> float:
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
        if unknown:
            known *= rows ** min(1.0, unknown_exp + 0.15 * (unknown - 1))
        return max(1.0, min(rows, known))

    def _join_rows(self, plan: L.Join) -> float:
        left = self.rows(plan.left)
        right = self.rows(plan.right)
        how = plan.how
        if how in ("semi", "anti"):
            frac = 0.5
            if plan.left_keys:
                dl = self._key_ndv(plan.left, plan.left_keys, left)
                dr = self._key_ndv(plan.right, plan.right_keys, right)
                if dl is not None and dr is not None:
                    frac = min(1.0, dr / dl)  # containment: the smaller key set matches
            frac *= self._selectivity(conjuncts(plan.condition), _Ctx(plan, "join"))
            frac = frac if how == "semi" else max(0.1, 1.0 - frac)
            return max(MIN_ROWS, left * frac)
        if not plan.left_keys:
            rows = left * right
        else:
            dl = self._key_ndv(plan.left, plan.left_keys, left)
            dr = self._key_ndv(plan.right, plan.right_keys, right)
            # a side without distinct counts is taken to be a key/foreign-key match
            dl = min(left, dr if dr is not None else right) if dl is None else dl
            dr = min(right, dl) if dr is None else dr
            rows = left * right / max(1.0, dl, dr)
        rows *= self._selectivity(conjuncts(plan.condition), _Ctx(plan, "join"))
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
            return self._scan_ndv(plan, column)
        if isinstance(plan, L.Filter):
            inner = self.ndv(plan.input, column)
            return self._narrow(inner, column, conjuncts(plan.predicate), _Ctx(plan.input))
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
        if isinstance(plan, (L.Sort, L.Limit, L.Distinct)):
            return self.ndv(plan.input, column)
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

    def _scan_ndv(self, scan: L.Scan, column: str) -> float | None:
        base = self._base_ndv(scan, column)
        return self._narrow(base, column, list(scan.filters), _Ctx(scan, "base"))

    def _base_ndv(self, scan: L.Scan, column: str) -> float | None:
        """Distinct values of a table's column, before the scan's filters."""
        fields = {f.name: f for f in scan.table_schema}
        f = fields.get(column)
        if f is None:
            return None
        if f.type == "bool":
            return 2.0
        st = table_column_stats(scan.source).get(column)
        if st is None:
            return None
        nonnull = st.rows - (st.null_count or 0)
        if nonnull <= 0:
            return 1.0
        d = _range_ndv(st, f.type)
        return None if d is None else max(1.0, min(float(nonnull), d))

    def _narrow(self, ndv: float | None, column: str, preds: list[ExprNode], ctx: _Ctx) -> float | None:
        """The distinct count left after filtering with ``preds`` (those on ``column``)."""
        own = [p for p in preds if columns_used(p) == {column}]
        for p in own:
            if _is_eq_literal(p, column):
                return 1.0
        if ndv is None or not own:
            return ndv
        return ndv * self._selectivity(own, ctx)

    # -- min/max ---------------------------------------------------------------------------

    def column_range(self, plan: L.LogicalPlan, column: str) -> tuple[Any, Any] | None:
        """The base table's (min, max) of the column that ``column`` of ``plan`` reads."""
        base = _base_column(plan, column)
        if base is None:
            return None
        scan, name = base
        st = table_column_stats(scan.source).get(name)
        if st is None or not st.has_min_max:
            return None
        return st.min, st.max

    def _null_fraction(self, ctx: _Ctx, column: str) -> float | None:
        if ctx.plan is None:
            return None
        base = _base_column(ctx.plan, column)
        if base is None:
            return None
        scan, name = base
        st = table_column_stats(scan.source).get(name)
        if st is None or st.null_count is None or st.rows == 0:
            return None
        return st.null_count / st.rows

    # -- selectivity -----------------------------------------------------------------------

    def selectivity(self, pred: ExprNode | None, plan: L.LogicalPlan | None = None) -> float:
        """Estimated fraction of the rows of ``plan`` (when given) that pass ``pred``."""
        return self._selectivity(conjuncts(pred), _Ctx(plan))

    def _ctx_ndv(self, ctx: _Ctx, expr: ExprNode) -> float | None:
        plan = ctx.plan
        if plan is None:
            return None
        if ctx.mode == "base":
            assert isinstance(plan, L.Scan)
            return self._base_ndv(plan, expr.name) if isinstance(expr, ColumnRef) else None
        if ctx.mode == "join":
            assert isinstance(plan, L.Join)
            if not isinstance(expr, ColumnRef):
                return None
            left = expr.name in {f.name for f in plan.left.schema}
            return self.ndv(plan.left if left else plan.right, expr.name)
        return self.expr_ndv(plan, expr)

    def _ctx_rows(self, ctx: _Ctx) -> float | None:
        plan = ctx.plan
        if plan is None:
            return None
        if ctx.mode == "base":
            assert isinstance(plan, L.Scan)
            return float(table_rows(plan.source))
        if ctx.mode == "join":
            assert isinstance(plan, L.Join)
            return self.rows(plan.left) * self.rows(plan.right)
        return self.rows(plan)

    def _selectivity(self, preds: list[ExprNode], ctx: _Ctx) -> float:
        s = 1.0
        ranges: dict[str, list[tuple[str, Literal]]] = {}
        for c in preds:
            r = _as_range(c)
            if r is not None and ctx.plan is not None:
                column, bounds = r
                ranges.setdefault(column, []).extend(bounds)
                continue
            s *= self._one(c, ctx)
        for column, bounds in ranges.items():
            s *= self._range_fraction(ctx, column, bounds)
        return s

    def _eq_fraction(self, ctx: _Ctx, expr: ExprNode) -> float:
        d = self._ctx_ndv(ctx, expr)
        if d is None:
            rows = self._ctx_rows(ctx)
            # at least one row matches; a tiny table has few distinct values
            return max(EQ_SELECTIVITY, 1.0 / rows) if rows else EQ_SELECTIVITY
        return 1.0 / max(1.0, d)

    def _one(self, c: ExprNode, ctx: _Ctx) -> float:
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

    def _range_fraction(self, ctx: _Ctx, column: str, bounds: list[tuple[str, Literal]]) -> float:
        """The fraction of ``[min, max]`` of ``column`` that all ``bounds`` together keep."""
        default = RANGE_SELECTIVITY ** min(len(bounds), 2)
        assert ctx.plan is not None
        lo_hi = self.column_range(ctx.plan, column)
        if lo_hi is None:
            return default
        mn, mx = _as_number(lo_hi[0]), _as_number(lo_hi[1])
        if mn is None or mx is None:
            return default
        lo, hi = mn, mx
        for op, lit in bounds:
            v = _as_number(_literal_like(lit, lo_hi[0]))
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


def _is_eq_literal(p: ExprNode, column: str) -> bool:
    if not (isinstance(p, Call) and p.fn == "eq" and len(p.args) == 2):
        return False
    a, b = p.args
    return (
        isinstance(a, ColumnRef) and a.name == column and isinstance(b, Literal) and b.value is not None
    ) or (isinstance(b, ColumnRef) and b.name == column and isinstance(a, Literal) and a.value is not None)


def _as_range(p: ExprNode) -> tuple[str, list[tuple[str, Literal]]] | None:
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


def _base_column(plan: L.LogicalPlan, column: str) -> tuple[L.Scan, str] | None:
    """The scan and table column that output ``column`` of ``plan`` passes through
    unchanged (renames followed), or ``None``."""
    while True:
        if isinstance(plan, L.Scan):
            return (plan, column) if any(f.name == column for f in plan.table_schema) else None
        if isinstance(plan, (L.Filter, L.Sort, L.Limit, L.Distinct)):
            plan = plan.input
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


# ---------------------------------------------------------------------------------------
# The module-level entry points
#
# A planner asks for the estimate of every node of a plan, one call at a time; an
# Estimator shared for a short while lets those calls reuse each other's subtree
# estimates instead of re-estimating every subtree (the memo holds its nodes, so
# their ids stay unique). It is replaced after SHARED_SECONDS or SHARED_ENTRIES, so
# a rewritten file is seen by the next planning pass.

SHARED_SECONDS = 1.0
SHARED_ENTRIES = 20_000
_shared: tuple[float, Estimator] | None = None


def _estimator() -> Estimator:
    global _shared
    now = time.monotonic()
    if _shared is None or now - _shared[0] > SHARED_SECONDS or _shared[1].size() > SHARED_ENTRIES:
        _shared = (now, Estimator())
    return _shared[1]


def selectivity(pred: ExprNode | None, plan: L.LogicalPlan | None = None) -> float:
    """Estimated fraction of rows that pass ``pred``; with ``plan`` (the rows the
    predicate filters), statistics of its columns refine the guess."""
    return _estimator().selectivity(pred, plan)


def estimate_rows(plan: L.LogicalPlan) -> float:
    """Estimated output rows of a logical plan."""
    return _estimator().rows(plan)


def column_ndv(plan: L.LogicalPlan, column: str) -> float | None:
    """Estimated number of distinct values of output ``column`` of ``plan``, traced
    through the plan to its base column; ``None`` when nothing is known."""
    return _estimator().ndv(plan, column)


def column_range(plan: L.LogicalPlan, column: str) -> tuple[Any, Any] | None:
    """(min, max) of the table column behind output ``column`` of ``plan``, if known."""
    return _estimator().column_range(plan, column)


__all__ = [
    "ColumnStats",
    "Estimator",
    "column_ndv",
    "column_range",
    "estimate_rows",
    "parquet_rows",
    "selectivity",
    "table_column_stats",
    "table_rows",
]
