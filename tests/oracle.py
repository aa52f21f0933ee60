"""Compare query results with DuckDB's (the test oracle)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from dataflow import tpch
from dataflow.bench.compare import normalize

REL_TOL = 1e-9

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


def tpch_data(sf: float) -> Path:
    """TPC-H Parquet files at scale factor ``sf``, generated once into data/."""
    return tpch.generate(sf, DATA / f"tpch-sf{sf:g}")


def duckdb_tpch(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per TPC-H table over the same Parquet files."""
    con = duckdb.connect()
    for name, path in tpch.table_paths(data_dir).items():
        con.execute(f"create view {name} as select * from read_parquet('{path}')")
    return con


def duckdb_answer(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """DuckDB's answer to ``sql`` as an Arrow table."""
    result = con.sql(sql).arrow()
    return result.read_all() if hasattr(result, "read_all") else result


def rows(table: pa.Table) -> list[tuple]:
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [tuple(normalize(c[i]) for c in cols) for i in range(table.num_rows)]


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, "" if v is None else (round(v, 6) if isinstance(v, float) else v)) for v in row)


def _same_value(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            if math.isnan(a) and math.isnan(b):
                return True
            return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
        return False
    return a == b


def assert_same(actual: pa.Table, expected: pa.Table, ordered: bool = False, check_names: bool = True) -> None:
    """Same rows (in the same order if ``ordered``); numbers equal to 1e-9 relative."""
    if check_names:
        assert actual.column_names == expected.column_names, (actual.column_names, expected.column_names)
    a, e = rows(actual), rows(expected)
    assert len(a) == len(e), f"{len(a)} rows, expected {len(e)}\nfirst actual: {a[:3]}\nfirst expected: {e[:3]}"
    if not ordered:
        a, e = sorted(a, key=_sort_key), sorted(e, key=_sort_key)
    for i, (ra, re_) in enumerate(zip(a, e, strict=True)):
        assert len(ra) == len(re_), (ra, re_)
        if not all(_same_value(x, y) for x, y in zip(ra, re_, strict=True)):
            raise AssertionError(f"row {i} differs:\n  actual   {ra}\n  expected {re_}")
