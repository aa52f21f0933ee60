"""DataFrame.sample and SQL TABLESAMPLE, on the local runtime: the rows kept are
exactly those of the documented rule (recomputed here from the stable row hash), the
same at every parallelism and batch size, near ``fraction * n``, and bad fractions fail
at planning, naming the value."""

from __future__ import annotations

import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dataflow
from dataflow import col
from dataflow.errors import PlanError, UnsupportedError
from dataflow.exchange.hashing import hash_columns, splitmix64
from dataflow.physical import PSample, load_physical, walk
from tests.oracle import tpch_data


@pytest.fixture(scope="module")
def orders_path():
    return str(tpch_data(0.01) / "orders.parquet")


@pytest.fixture(scope="module")
def s(orders_path):
    with dataflow.Session(runtime="local", parallelism=2) as session:
        session.register_parquet("orders", orders_path)
        yield session


def by_hand(table: pa.Table, fraction: float, seed: int) -> pa.Table:
    """The sampling rule of operators/sample.py, written out again: keep a row when
    the top 53 bits of splitmix64(hash(row) ^ splitmix64(seed)) / 2**53 < fraction.
    Returns the kept rows' key and price."""
    h = hash_columns(list(table.columns))
    z = h ^ splitmix64(np.array([seed], dtype=np.uint64))[0]
    splitmix64(z)
    u = (z >> np.uint64(11)).astype(np.float64) / 2.0**53
    return table.select(["o_orderkey", "o_totalprice"]).filter(pa.array(u < fraction))


def keys(t: pa.Table) -> list[int]:
    return sorted(t.column("o_orderkey").to_pylist())


def test_the_rows_kept_are_the_rule_s(s, orders_path):
    table = pq.read_table(orders_path)
    got = s.table("orders").sample(0.1, seed=42).to_arrow()
    want = by_hand(table, 0.1, 42)
    assert got.num_rows == want.num_rows
    assert keys(got) == keys(want)
    # near fraction * n: within four standard deviations of the binomial
    n = table.num_rows
    assert abs(got.num_rows - 0.1 * n) < 4 * math.sqrt(n * 0.1 * 0.9)
    other = s.table("orders").sample(0.1, seed=43).to_arrow()
    assert keys(other) != keys(got)  # the seed matters


@pytest.mark.parametrize("parallelism, batch_rows", [(1, 128 * 1024), (2, 1000), (3, 777)])
def test_the_same_rows_at_every_parallelism_and_batch_size(orders_path, parallelism, batch_rows):
    with dataflow.Session(runtime="local", parallelism=parallelism, batch_rows=batch_rows) as s:
        s.register_parquet("orders", orders_path)
        got = s.table("orders").sample(0.05, seed=7).to_arrow(parallelism=parallelism)
        # and in memory (morsels are slices of batch_rows rows)
        s.register("mem", pq.read_table(orders_path))
        mem = s.table("mem").sample(0.05, seed=7).to_arrow(parallelism=parallelism)
    want = by_hand(pq.read_table(orders_path), 0.05, 7)
    assert keys(got) == keys(want) == keys(mem)


def test_fraction_zero_and_one(s, orders_path):
    n = pq.read_metadata(orders_path).num_rows
    assert s.table("orders").sample(0.0, seed=1).count() == 0
    assert s.table("orders").sample(0, seed=1).count() == 0
    assert s.table("orders").sample(1.0, seed=1).count() == n
    assert s.table("orders").sample(1).count() == n


@pytest.mark.parametrize("bad", [-0.1, 1.5, 2, "0.5", None, True, float("nan")])
def test_a_bad_fraction_fails_at_planning_naming_it(s, bad):
    with pytest.raises(PlanError, match="sample fraction must be .*got " + re.escape(repr(bad))):
        s.table("orders").sample(bad)  # type: ignore[arg-type]


def test_a_bad_seed_fails(s):
    with pytest.raises(PlanError, match="seed must be an integer, got 'x'"):
        s.table("orders").sample(0.5, seed="x")  # type: ignore[arg-type]


def test_without_a_seed_a_dataframe_keeps_its_rows(s):
    df = s.table("orders").sample(0.2)
    assert keys(df.to_arrow()) == keys(df.to_arrow())


def test_a_filter_above_moves_below_and_keeps_the_answer(s, orders_path):
    df = s.table("orders").sample(0.3, seed=5).filter(col("o_totalprice") > 100_000)
    opt = s.optimize(df.plan)
    sample = next(n for n in walk(opt.physical) if isinstance(n, PSample))
    assert sample.input.kind == "scan" and sample.input.predicate is not None  # pushed into the scan
    # the estimate is the fraction of what the sample reads
    assert sample.est_rows == pytest.approx(0.3 * sample.input.est_rows)
    table = pq.read_table(orders_path)
    want = by_hand(table, 0.3, 5)
    want = want.filter(pa.compute.greater(want["o_totalprice"], 100_000))
    assert keys(df.to_arrow()) == keys(want)
    assert load_physical(opt.physical.model_dump_json()) == opt.physical


def test_sql_tablesample(s, orders_path):
    want = keys(by_hand(pq.read_table(orders_path), 0.1, 42))
    for clause in ("TABLESAMPLE BERNOULLI (10) REPEATABLE (42)", "TABLESAMPLE (10 PERCENT) REPEATABLE (42)"):
        got = s.sql(f"SELECT * FROM orders {clause}").to_arrow()
        assert keys(got) == want, clause
    aliased = s.sql("SELECT o.o_orderkey FROM orders AS o TABLESAMPLE BERNOULLI (10) REPEATABLE (42)").to_arrow()
    assert keys(aliased) == want
    assert s.sql("SELECT count(*) AS n FROM orders TABLESAMPLE BERNOULLI (0)").to_pylist() == [{"n": 0}]


@pytest.mark.parametrize(
    "clause, error, message",
    [
        ("TABLESAMPLE (10)", UnsupportedError, "number of rows is not supported"),
        ("TABLESAMPLE (10 ROWS)", UnsupportedError, "number of rows is not supported"),
        ("TABLESAMPLE (150 PERCENT)", PlanError, "between 0 and 100, got 150"),
        ("TABLESAMPLE BERNOULLI ('a')", PlanError, "must be a number, got 'a'"),
    ],
)
def test_sql_tablesample_errors(s, clause, error, message):
    with pytest.raises(error, match=message):
        s.sql(f"SELECT * FROM orders {clause}")
