"""Compare query results with DuckDB's: same rows, same order where the query orders,
numbers equal to a relative tolerance.

Run the 22 TPC-H queries and compare (in-process, without Ray)::

    python benchmarks/tpch/compare.py --sf 0.1 --local [QUERY ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import math
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

REL_TOL = 1e-9


def normalize_value(v: Any) -> Any:
    """A value as compared: numbers as floats (decimals included), the rest as is."""
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, (dt.date, dt.datetime, str)):
        return v
    return v


def rows_of(table: pa.Table) -> list[tuple[Any, ...]]:
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [tuple(normalize_value(c[r]) for c in cols) for r in range(table.num_rows)]


def values_equal(a: Any, b: Any, rel_tol: float = REL_TOL) -> bool:
    if a is None or b is None:
        return a is None and b is None
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        if isinstance(a, float) and math.isnan(a) or isinstance(b, float) and math.isnan(b):
            return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=0.0) or a == b
    return a == b


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # Rounded numbers, so tiny float differences do not reorder the two sides differently.
    out = []
    for v in row:
        if v is None:
            out.append((0, ""))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((1, round(float(v), 6)))
        else:
            out.append((2, str(v)))
    return tuple(out)


def compare_tables(
    got: pa.Table, want: pa.Table, ordered: bool, order_columns: int = 0, rel_tol: float = REL_TOL
) -> str | None:
    """``None`` if ``got`` matches ``want``, else a description of the first difference.

    ``ordered``: the rows must come in the same order, except among rows whose first
    ``order_columns`` values tie (DuckDB may order ties differently), where ``0``
    means all columns are compared in order."""
    if got.num_columns != want.num_columns:
        return f"{got.num_columns} columns, expected {want.num_columns}: {got.column_names} vs {want.column_names}"
    if got.num_rows != want.num_rows:
        return f"{got.num_rows} rows, expected {want.num_rows}"
    g, w = rows_of(got), rows_of(want)
    if not ordered:
        g, w = sorted(g, key=_sort_key), sorted(w, key=_sort_key)
    for i, (a, b) in enumerate(zip(g, w, strict=True)):
        if len(a) != len(b) or not all(values_equal(x, y, rel_tol) for x, y in zip(a, b, strict=True)):
            if ordered:
                # rows may tie on the sort keys: compare each run of ties as a set
                return _compare_with_ties(g, w, rel_tol) if _compare_with_ties(g, w, rel_tol) else None
            return f"row {i}: got {a}, expected {b}"
    return None


def _compare_with_ties(g: list[tuple[Any, ...]], w: list[tuple[Any, ...]], rel_tol: float) -> str | None:
    """Ordered rows may differ only by the order of rows that are equal as a whole set;
    a mismatch that survives sorting both sides is a real difference."""
    gs, ws = sorted(g, key=_sort_key), sorted(w, key=_sort_key)
    for i, (a, b) in enumerate(zip(gs, ws, strict=True)):
        if not all(values_equal(x, y, rel_tol) for x, y in zip(a, b, strict=True)):
            return f"(as sets) row {i}: got {a}, expected {b}"
    for i, (a, b) in enumerate(zip(g, w, strict=True)):
        if not all(values_equal(x, y, rel_tol) for x, y in zip(a, b, strict=True)):
            return f"same rows, different order: at row {i} got {a}, expected {b}"
    return None


def duckdb_connection(data_dir: str | Path) -> Any:
    import duckdb

    from dataflow import tpch

    con = duckdb.connect()
    for t, path in tpch.table_paths(data_dir).items():
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{path}')")
    return con


def main(argv: list[str] | None = None) -> int:
    from dataflow import Session, tpch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("queries", nargs="*", type=int)
    ap.add_argument("--sf", type=float, default=0.1)
    ap.add_argument("--data", default=None)
    ap.add_argument("--local", action="store_true", help="run in-process without Ray")
    ap.add_argument("--parallelism", type=int, default=2)
    args = ap.parse_args(argv)
    data = Path(args.data or f"data/tpch-sf{args.sf:g}")
    tpch.generate(args.sf, data)
    con = duckdb_connection(data)
    failures = 0
    with Session(runtime="local" if args.local else "ray", parallelism=args.parallelism) as s:
        for t, path in tpch.table_paths(data).items():
            s.register_parquet(t, str(path))
        for n in args.queries or tpch.QUERY_NUMBERS:
            text = tpch.query_text(n)
            t0 = time.time()
            try:
                got = s.sql(text).to_arrow()
            except Exception as e:  # noqa: BLE001 - report and go on
                failures += 1
                print(f"Q{n:02d} ERROR {type(e).__name__}: {str(e)[:300]}")
                continue
            elapsed = time.time() - t0
            want = con.sql(text).arrow()
            if hasattr(want, "read_all"):
                want = want.read_all()
            diff = compare_tables(got, want, ordered=True)
            failures += diff is not None
            print(
                f"Q{n:02d} {'ok  ' if diff is None else 'FAIL'} {elapsed:6.2f}s {got.num_rows} rows"
                + (f": {diff}" if diff else "")
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
