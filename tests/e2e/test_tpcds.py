"""All 99 TPC-DS queries (DuckDB's texts) through ``Session.sql`` at a small scale
factor, each answer compared with DuckDB's on the same Parquet files: the same rows,
in the same order where the query orders (ties on the sort keys may come in any
order, and a LIMIT may cut through the last run of ties), numbers equal to 1e-9
relative (:func:`dataflow.bench.compare.compare_tables`).

The 99 run on the local runtime (the same stages, tasks and exchanges on threads), at
parallelism 2; a handful that exercise ROLLUP, INTERSECT, EXCEPT, stddev_samp and a
window frame also run on a local Ray cluster started once for this module.

Scale factor 0.05: at 0.01 the data of Q12 divides 0 by 0, where DuckDB 2.0 gives NaN
and dataflow NULL (its documented division contract), which is not what this file
tests.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import dataflow
from dataflow import tpcds
from dataflow.bench.compare import compare_tables, order_spec
from tests.oracle import DATA

SF = 0.05
PARALLELISM = 2
ON_RAY = (5, 8, 17, 51, 87)  # small plans: the Ray runtime of today starts ~545 threads per actor


@pytest.fixture(scope="module")
def data():
    return tpcds.generate(SF, DATA / f"tpcds-sf{SF:g}")


@pytest.fixture(scope="module")
def expected(data):
    """DuckDB's answer to each query, computed once."""
    import duckdb

    con = duckdb.connect()
    for name, path in tpcds.table_paths(data).items():
        con.execute(f"create view {name} as select * from read_parquet('{path}')")
    cache: dict[int, pa.Table] = {}

    def answer(n: int) -> pa.Table:
        if n not in cache:
            result = con.sql(tpcds.query_text(n)).arrow()
            cache[n] = result.read_all() if hasattr(result, "read_all") else result
        return cache[n]

    return answer


def _session(data, runtime: str) -> dataflow.Session:
    s = dataflow.Session(runtime=runtime, parallelism=PARALLELISM)
    for name, path in tpcds.table_paths(data).items():
        s.register_parquet(name, str(path))
    return s


@pytest.fixture(scope="module")
def local(data):
    with _session(data, "local") as s:
        yield s


@pytest.fixture(scope="module")
def ray_session(data):
    with _session(data, "ray") as s:
        yield s


def _check(session: dataflow.Session, expected, n: int) -> None:
    text = tpcds.query_text(n)
    got = session.sql(text).to_arrow()
    want = expected(n)
    diff = compare_tables(got, want, order_spec(text, want.column_names))
    assert diff is None, f"Q{n}: {diff}"


def test_the_99_queries_are_there():
    texts = [tpcds.query_text(n) for n in tpcds.QUERY_NUMBERS]
    assert len(texts) == 99 and all("select" in t.lower() for t in texts)


@pytest.mark.parametrize("n", tpcds.QUERY_NUMBERS, ids=[f"q{n:02d}" for n in tpcds.QUERY_NUMBERS])
def test_tpcds_query_matches_duckdb(local, expected, n: int) -> None:
    _check(local, expected, n)


@pytest.mark.parametrize("n", ON_RAY, ids=[f"q{n:02d}" for n in ON_RAY])
def test_tpcds_query_on_ray_matches_duckdb(ray_session, expected, n: int) -> None:
    _check(ray_session, expected, n)


def test_the_answers_are_not_all_empty(expected):
    """Most queries return rows at this scale factor, so the comparisons prove something:
    at sf 0.05, 80 of the 99 do (the others filter on values the small data lacks; at
    sf 1, in ``dataflow bench tpcds``, all 99 return rows)."""
    empty = [n for n in tpcds.QUERY_NUMBERS if expected(n).num_rows == 0]
    assert len(empty) <= 20, empty
