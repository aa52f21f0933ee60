"""Compare a query's answer with a reference answer (DuckDB's).

Two answers *agree* when they have the same number of columns and the same rows,
numbers equal to ``REL_TOL`` relative (decimals compared as floats). Where the query
has an ``ORDER BY``, the rows must also come in the same order, except among rows
that tie on the sort keys, which engines may order as they like; where the query
also has a ``LIMIT``, the last run of ties may even hold different rows (the limit
cuts through it).

>>> import pyarrow as pa
>>> a = pa.table({"k": ["x", "y"], "v": [1.0, 2.0]})
>>> b = pa.table({"k": ["y", "x"], "v": [2.0, 1.0 + 1e-12]})
>>> compare_tables(a, b, OrderSpec(keys=None)) is None
True
>>> compare_tables(a, b, OrderSpec(keys=[0]))
"row 0: sort keys ('x',), expected ('y',)"
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

REL_TOL = 1e-9
ABS_TOL = 1e-12

# beyond this many rows in one bucket, give up exact matching of near-equal floats
_GREEDY_LIMIT = 20_000


@dataclass(frozen=True)
class OrderSpec:
    """How a query orders its answer: ``keys`` are the indexes of the output columns
    of the outermost ``ORDER BY`` (``None``: the query does not order, or its order
    keys are not output columns, see :func:`order_spec`); ``ordered`` is true when
    it has an ``ORDER BY`` at all; ``limit`` is its ``LIMIT`` (``-1``: a limit that
    is not a number)."""

    keys: list[int] | None
    ordered: bool | None = None
    limit: int | None = None

    @property
    def is_ordered(self) -> bool:
        return self.keys is not None if self.ordered is None else self.ordered


def order_spec(sql: str, columns: list[str]) -> OrderSpec:
    """The :class:`OrderSpec` of a query, from its outermost ``ORDER BY`` and ``LIMIT``.

    ``columns`` are the output column names (DuckDB's). A sort key that is an output
    column (by name or alias) or an ordinal maps to its index; if some key is not, the
    order is checked on whole rows (``keys`` = all columns).

    >>> order_spec("select a, sum(b) as s from t group by a order by s desc, a limit 5", ["a", "s"])
    OrderSpec(keys=[1, 0], ordered=True, limit=5)
    >>> order_spec("select count(*) from t", ["n"])
    OrderSpec(keys=None, ordered=False, limit=None)
    """
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    order = tree.args.get("order")
    limit = _limit_of(tree)
    if order is None or not order.expressions:
        return OrderSpec(keys=None, ordered=False, limit=limit)
    lowered = [c.lower() for c in columns]
    keys: list[int] = []
    for o in order.expressions:
        e = o.this if isinstance(o, exp.Ordered) else o
        idx: int | None = None
        if isinstance(e, exp.Literal) and not e.is_string:
            idx = int(e.this) - 1
        elif isinstance(e, exp.Column) and e.name.lower() in lowered:
            idx = lowered.index(e.name.lower())
        if idx is None or not 0 <= idx < len(columns):
            return OrderSpec(keys=list(range(len(columns))), ordered=True, limit=limit)
        keys.append(idx)
    return OrderSpec(keys=keys, ordered=True, limit=limit)


def _limit_of(tree: Any) -> int | None:
    node = tree.args.get("limit")
    if node is None:
        return None
    value = node.args.get("expression") or node.this
    try:
        return int(value.this)
    except (AttributeError, TypeError, ValueError):
        return -1


def normalize(v: Any) -> Any:
    """A value as compared: decimals as floats, timestamps without time zone."""
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None)
    return v


def rows_of(table: pa.Table) -> list[tuple[Any, ...]]:
    """The rows of an Arrow table as tuples of normalized Python values."""
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [tuple(normalize(c[r]) for c in cols) for r in range(table.num_rows)]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def values_equal(a: Any, b: Any, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    """Equal, numbers to ``rel_tol`` relative (ints and floats compare as numbers).

    >>> values_equal(1.0, 1.0 + 1e-10), values_equal(1.0, 1.001), values_equal(3, 3.0)
    (True, False, True)
    """
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if _is_number(a) and _is_number(b):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=rel_tol, abs_tol=abs_tol)
    return bool(a == b)


def rows_equal(
    a: tuple[Any, ...], b: tuple[Any, ...], rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL
) -> bool:
    return len(a) == len(b) and all(values_equal(x, y, rel_tol, abs_tol) for x, y in zip(a, b, strict=True))


def _exact_part(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # what must match exactly: everything but numbers (which may differ in the last bits)
    return tuple(None if _is_number(v) else (type(v).__name__, v) for v in row)


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out = []
    for v in row:
        if v is None:
            out.append((0, 0.0))
        elif _is_number(v):
            f = float(v)
            out.append((1, 0.0 if math.isnan(f) else float(f"{f:.6g}")))
        else:
            out.append((2, 0.0))
    return tuple(out)


def _bucket_diff(
    g: list[tuple[Any, ...]], w: list[tuple[Any, ...]], rel_tol: float, abs_tol: float
) -> str | None:
    """Rows of one bucket (same non-numeric values) as multisets."""
    if len(g) != len(w):
        return f"{len(g)} rows like {g[0] if g else w[0]}, expected {len(w)}"
    gs, ws = sorted(g, key=_sort_key), sorted(w, key=_sort_key)
    if all(rows_equal(a, b, rel_tol, abs_tol) for a, b in zip(gs, ws, strict=True)):
        return None
    if len(gs) > _GREEDY_LIMIT:
        a, b = next((a, b) for a, b in zip(gs, ws, strict=True) if not rows_equal(a, b, rel_tol, abs_tol))
        return f"got {a}, expected {b}"
    # rounding put near-equal rows in different places: match one by one
    left = list(ws)
    for a in gs:
        for j, b in enumerate(left):
            if rows_equal(a, b, rel_tol, abs_tol):
                del left[j]
                break
        else:
            return f"got {a}, which is not among the expected rows"
    return None


def multiset_diff(
    g: list[tuple[Any, ...]], w: list[tuple[Any, ...]], rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL
) -> str | None:
    """``None`` if the two lists hold the same rows in any order, else the first difference.

    >>> multiset_diff([(1, "a"), (2, "b")], [(2, "b"), (1, "a")]) is None
    True
    """
    gb: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    wb: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for r in g:
        gb[_exact_part(r)].append(r)
    for r in w:
        wb[_exact_part(r)].append(r)
    for k in wb:
        if k not in gb:
            return f"missing row {wb[k][0]}"
    for k in gb:
        if k not in wb:
            return f"unexpected row {gb[k][0]}"
        diff = _bucket_diff(gb[k], wb[k], rel_tol, abs_tol)
        if diff is not None:
            return diff
    return None


def compare_tables(
    got: pa.Table, want: pa.Table, order: OrderSpec, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL
) -> str | None:
    """``None`` if ``got`` agrees with ``want`` (see the module's docstring), else a
    one-line description of the first difference. Numbers agree when they are equal
    to ``rel_tol`` relative or ``abs_tol`` absolute."""
    if got.num_columns != want.num_columns:
        return (
            f"{got.num_columns} columns {got.column_names}, expected {want.num_columns} {want.column_names}"
        )
    if got.num_rows != want.num_rows:
        return f"{got.num_rows} rows, expected {want.num_rows}"
    g, w = rows_of(got), rows_of(want)
    if not order.is_ordered:
        return multiset_diff(g, w, rel_tol, abs_tol)
    keys = order.keys if order.keys is not None else list(range(want.num_columns))
    gk = [tuple(r[k] for k in keys) for r in g]
    wk = [tuple(r[k] for k in keys) for r in w]
    for i, (a, b) in enumerate(zip(gk, wk, strict=True)):
        if not rows_equal(a, b, rel_tol, abs_tol):
            return f"row {i}: sort keys {a}, expected {b}"
    # runs of ties on the sort keys compare as multisets
    start = 0
    for i in range(1, len(w) + 1):
        if i == len(w) or not rows_equal(wk[i], wk[start], rel_tol, abs_tol):
            diff = multiset_diff(g[start:i], w[start:i], rel_tol, abs_tol)
            # the limit may cut through the last run of ties: any of the tied rows will do
            last_cut = i == len(w) and order.limit is not None and (order.limit < 0 or len(w) >= order.limit)
            if diff is not None and not last_cut:
                return f"rows {start}..{i - 1}: {diff}"
            start = i
    return None


__all__ = [
    "ABS_TOL",
    "REL_TOL",
    "OrderSpec",
    "compare_tables",
    "multiset_diff",
    "normalize",
    "order_spec",
    "rows_equal",
    "rows_of",
    "values_equal",
]
