"""All 22 TPC-H queries through ``Session.sql`` at scale factor 0.1, on a local Ray
cluster started once for this module, at parallelism 1 and 2. Each answer is compared
with DuckDB's on the same Parquet files: same column names, same rows, in the same
order where the query orders, numbers equal to 1e-9 relative."""

from __future__ import annotations

import pyarrow as pa
import pytest

import dataflow
from dataflow import tpch
from tests.oracle import assert_same, duckdb_tpch, tpch_data

SF = 0.1


@pytest.fixture(scope="module")
def data():
    return tpch_data(SF)


@pytest.fixture(scope="module")
def expected(data):
    """DuckDB's answer to each query, computed once."""
    con = duckdb_tpch(data)
    cache: dict[int, pa.Table] = {}

    def answer(n: int) -> pa.Table:
        if n not in cache:
            result = con.sql(tpch.query_text(n)).arrow()
            cache[n] = result.read_all() if hasattr(result, "read_all") else result
        return cache[n]

    return answer


@pytest.fixture(scope="module")
def session(data):
    with dataflow.Session(parallelism=2) as s:
        for name, path in tpch.table_paths(data).items():
            s.register_parquet(name, str(path))
        yield s


def test_the_22_queries_are_there():
    texts = [tpch.query_text(n) for n in tpch.QUERY_NUMBERS]
    assert len(texts) == 22
    assert all(
        t.lstrip().startswith(f"-- TPC-H Q{n}:") for n, t in zip(tpch.QUERY_NUMBERS, texts, strict=True)
    )


@pytest.mark.parametrize("parallelism", [1, 2])
@pytest.mark.parametrize("n", tpch.QUERY_NUMBERS, ids=[f"q{n:02d}" for n in tpch.QUERY_NUMBERS])
def test_tpch_query_matches_duckdb(session, expected, n: int, parallelism: int) -> None:
    text = tpch.query_text(n)
    got = session.sql(text).to_arrow(parallelism=parallelism)
    want = expected(n)
    assert want.num_rows > 0, "a query with an empty answer would prove little"
    assert_same(got, want, ordered="order by" in text.lower())
