"""Column statistics from Parquet metadata only (no scans): row counts and per-column
min/max/null counts from the files' footers (cached per file and stamp), merged over
row groups and files; an in-memory table knows only its row count. Also the helpers
that put statistics values on a number line, for range fractions and distinct counts.

>>> ColumnStats(rows=10, min=1, max=5).has_min_max
True
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from dataflow import logical as L
from dataflow.expr import Literal
from dataflow.io import file_stamp, read_parquet_metadata

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


def as_number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float, _decimal.Decimal)):
        return float(v)
    if isinstance(v, _dt.datetime):
        return v.timestamp() if v.tzinfo else v.replace(tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(v, _dt.date):
        return float(v.toordinal())
    return None


def literal_like(lit: Literal, like: Any) -> Any:
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


def range_ndv(st: ColumnStats, type_name: str) -> float | None:
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


__all__ = [
    "ColumnStats", "as_number", "literal_like", "parquet_rows", "range_ndv", "table_column_stats", "table_rows",
]
