"""Statistics from Parquet footers and the estimates built on them, on TPC-H SF 0.01
(no Ray, no data scans: every expected value is checked against the data itself)."""

from __future__ import annotations

import datetime as dt
import decimal
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import dataflow
from dataflow import col, lit, tpch
from dataflow import functions as F
from dataflow import logical as L
from dataflow.config import OptimizerSettings
from dataflow.expr import Call, ColumnRef, Literal
from dataflow.optimizer import column_stats as CS
from dataflow.optimizer import optimize
from dataflow.optimizer.selectivity import EQ_SELECTIVITY
from dataflow.optimizer.statistics import Estimator
from dataflow.types import schema_from_arrow
from tests.oracle import tpch_data

DATE = "date32[day]"


@pytest.fixture(scope="module")
def data():
    return tpch_data(0.01)


@pytest.fixture(scope="module")
def s(data):
    session = dataflow.Session(runtime="local", parallelism=2)
    for t in tpch.TABLES:
        session.register_parquet(t, str(data / f"{t}.parquet"))
    yield session
    session.close()


@pytest.fixture(scope="module")
def tables(data):
    return {
        t: pq.read_table(data / f"{t}.parquet")
        for t in ("lineitem", "orders", "nation", "region", "customer")
    }


def est_rows(plan: L.LogicalPlan) -> float:
    return Estimator().rows(plan)


def ndv(plan: L.LogicalPlan, column: str) -> float | None:
    return Estimator().ndv(plan, column)


def selectivity(pred, plan: L.LogicalPlan | None = None) -> float:  # type: ignore[no-untyped-def]
    return Estimator().selectivity(pred, plan)


def d(x: str) -> Literal:
    return Literal(value=x, type=DATE)


# ---------------------------------------------------------------------------------------
# Column statistics from footers


def test_column_stats_match_the_data(s, tables):
    stats = CS.table_column_stats(s.scan("lineitem").source)
    li = tables["lineitem"]
    for name in ("l_orderkey", "l_quantity", "l_shipdate", "l_returnflag", "l_shipmode"):
        st = stats[name]
        mm = pc.min_max(li[name].cast(pa.string()) if "string" in str(li[name].type) else li[name])
        assert st.min == mm["min"].as_py(), name
        assert st.max == mm["max"].as_py(), name
        assert st.null_count == 0
        assert st.rows == li.num_rows
    assert isinstance(stats["l_quantity"].min, decimal.Decimal)
    assert isinstance(stats["l_shipdate"].min, dt.date)
    assert isinstance(stats["l_returnflag"].min, str)  # written as string_view


def test_stats_merge_row_groups_and_files_with_nulls(tmp_path):
    def write(name: str, ints: list, strs: list, dates: list, decs: list) -> str:
        t = pa.table(
            {
                "i": pa.array(ints, pa.int32()),
                "s": pa.array(strs, pa.string_view()),
                "d": pa.array(dates, pa.date32()),
                "m": pa.array([None if x is None else decimal.Decimal(x) for x in decs], pa.decimal128(7, 2)),
            }
        )
        path = str(tmp_path / name)
        pq.write_table(t, path, row_group_size=2)
        return path

    a = write(
        "a.parquet",
        [5, None, None, None, 9],
        ["m", None, None, None, "x"],
        [dt.date(2000, 1, 2), None, None, None, None],
        ["1.50", None, None, None, "2.25"],
    )
    b = write(
        "b.parquet",
        [-3, 4, None, 7],
        ["c", "z", None, "d"],
        [None, dt.date(1999, 5, 6), None, None],
        ["-0.01", None, None, "10.00"],
    )
    src = L.ParquetSource(paths=(a, b))
    stats = CS.table_column_stats(src)
    assert CS.table_rows(src) == 9
    assert (stats["i"].min, stats["i"].max, stats["i"].null_count) == (-3, 9, 4)
    assert (stats["s"].min, stats["s"].max, stats["s"].null_count) == ("c", "z", 4)
    assert (stats["d"].min, stats["d"].max, stats["d"].null_count) == (
        dt.date(1999, 5, 6),
        dt.date(2000, 1, 2),
        7,
    )
    assert (stats["m"].min, stats["m"].max) == (decimal.Decimal("-0.01"), decimal.Decimal("10.00"))
    # one file alone: its all-NULL row group does not hide the others' min/max
    alone = CS.table_column_stats(L.ParquetSource(paths=(a,)))
    assert (alone["i"].min, alone["i"].max, alone["i"].null_count) == (5, 9, 3)


def test_footers_are_read_once(s):
    src = s.scan("orders").source
    CS.table_column_stats(src)
    before = CS._footer.cache_info()
    for _ in range(3):
        CS.table_column_stats(src)
        CS.table_rows(src)
    after = CS._footer.cache_info()
    assert after.hits > before.hits
    assert after.misses == before.misses  # no footer read again


def test_memory_table_has_rows_but_no_column_stats():
    schema = schema_from_arrow(pa.schema([("k", pa.int64())]))
    scan = L.Scan(table="m", source=L.MemorySource(table_id="m", num_rows=42), table_schema=schema)
    assert CS.table_rows(scan.source) == 42
    assert dict(CS.table_column_stats(scan.source)) == {}
    assert ndv(scan, "k") is None
    assert est_rows(scan) == 42


# ---------------------------------------------------------------------------------------
# Distinct counts


def test_ndv_of_base_columns(s, tables):
    li = s.scan("lineitem")
    orders = s.scan("orders")
    assert ndv(orders, "o_orderkey") == tables["orders"].num_rows  # capped by rows
    assert ndv(li, "l_orderkey") == 60000  # max - min + 1 < rows
    assert ndv(li, "l_suppkey") == 100
    assert ndv(li, "l_discount") == 11  # decimal(15, 2) from 0.00 to 0.10
    assert ndv(li, "l_shipdate") == (dt.date(1998, 11, 29) - dt.date(1992, 1, 4)).days + 1
    assert ndv(li, "l_comment") is None  # free text: unknown
    true_flags = len(pc.unique(tables["lineitem"]["l_returnflag"]))
    assert true_flags <= ndv(li, "l_returnflag") <= 20  # one-letter codes


def test_ndv_traced_through_renames_filters_joins_and_aggregates(s):
    nation = s.table("nation")
    renamed = nation.select(col("n_nationkey").alias("key"), col("n_regionkey").alias("region"))
    assert ndv(renamed.plan, "key") == 25
    assert ndv(renamed.plan, "region") == 5
    one = nation.filter(col("n_regionkey") == 2)
    assert ndv(one.plan, "n_regionkey") == 1
    assert ndv(one.plan, "n_nationkey") <= est_rows(one.plan)
    j = s.table("customer").join(one, left_on="c_nationkey", right_on="n_nationkey")
    # an inner join key keeps only the values both sides have
    assert ndv(j.plan, "c_nationkey") == ndv(one.plan, "n_nationkey")
    years = s.table("orders").group_by(col("o_orderdate").year().alias("y")).agg(F.count().alias("n"))
    assert ndv(years.plan, "y") == 7  # 1992..1998
    assert est_rows(years.plan) == 7
    assert ndv(years.plan, "n") is None


# ---------------------------------------------------------------------------------------
# Selectivity and cardinality


def test_equality_selectivity_is_one_over_ndv(s):
    orders = s.scan("orders")
    eq = Call(fn="eq", args=(ColumnRef(name="o_custkey"), Literal(value=7, type="int64")))
    assert selectivity(eq, orders) == pytest.approx(1 / ndv(orders, "o_custkey"))
    flipped = Call(fn="eq", args=(Literal(value=7, type="int64"), ColumnRef(name="o_custkey")))
    assert selectivity(flipped, orders) == selectivity(eq, orders)
    assert selectivity(eq) == EQ_SELECTIVITY  # no plan: the rule of thumb
    nation = s.table("nation").filter(col("n_nationkey") == 3)
    assert est_rows(nation.plan) == 1


def test_range_selectivity_from_min_max_is_close_to_the_truth(s, tables):
    o = tables["orders"]
    lo, hi = dt.date(1994, 1, 1), dt.date(1995, 1, 1)
    mask = pc.and_(pc.greater_equal(o["o_orderdate"], lo), pc.less(o["o_orderdate"], hi))
    truth = pc.sum(mask).as_py()
    df = s.table("orders").filter(
        (col("o_orderdate") >= d("1994-01-01")) & (col("o_orderdate") < d("1995-01-01"))
    )
    est = est_rows(df.plan)
    assert truth / 1.2 < est < truth * 1.2, (est, truth)
    # the same bounds pushed into the scan estimate the same
    scan = s.scan("orders").replace(
        filters=(
            Call(fn="ge", args=(ColumnRef(name="o_orderdate"), d("1994-01-01"))),
            Call(fn="lt", args=(ColumnRef(name="o_orderdate"), d("1995-01-01"))),
        )
    )
    assert est_rows(scan) == pytest.approx(est)
    between = s.table("orders").filter(col("o_orderdate").between(d("1994-01-01"), d("1994-12-31")))
    assert est_rows(between.plan) == pytest.approx(est, rel=0.01)
    # a range outside the data keeps a sliver, never zero
    none = s.table("orders").filter(col("o_orderdate") > d("2100-01-01"))
    assert 1 <= est_rows(none.plan) < 10


def test_equi_join_cardinality(s, tables):
    li, orders = s.table("lineitem"), s.table("orders")
    j = li.join(orders, left_on="l_orderkey", right_on="o_orderkey")
    L_, R_ = tables["lineitem"].num_rows, tables["orders"].num_rows
    expected = L_ * R_ / max(ndv(li.plan, "l_orderkey"), ndv(orders.plan, "o_orderkey"))
    assert est_rows(j.plan) == pytest.approx(expected)
    # a key/foreign-key join with a filtered dimension shrinks with the filter
    region = s.table("region").filter(col("r_name") == "ASIA")
    nation = s.table("nation").join(region, left_on="n_regionkey", right_on="r_regionkey")
    assert est_rows(nation.plan) == pytest.approx(5)


def test_aggregate_is_product_of_key_ndvs_capped_by_rows(s):
    flags = s.table("lineitem").group_by("l_returnflag", "l_linestatus").agg(F.count().alias("n"))
    li = s.scan("lineitem")
    assert est_rows(flags.plan) == pytest.approx(
        ndv(li, "l_returnflag") * ndv(li, "l_linestatus")
    )
    keys = s.table("lineitem").group_by("l_orderkey", "l_linenumber").agg(F.count().alias("n"))
    assert est_rows(keys.plan) == est_rows(li)


def test_estimates_stay_cheap(s):
    q = s.table("lineitem").join(s.table("orders"), left_on="l_orderkey", right_on="o_orderkey")
    q = q.filter(col("o_orderdate") >= d("1995-01-01")).group_by("o_orderpriority").agg(F.count().alias("n"))
    est_rows(q.plan)  # warm the footer cache
    t0 = time.perf_counter()
    for _ in range(20):
        est_rows(q.plan)
    assert (time.perf_counter() - t0) / 20 < 0.01


def test_literal_comparisons_parse_strings_as_the_column_type(s):
    # a string literal against a date column still uses the date range
    as_string = s.table("orders").filter(col("o_orderdate") < lit("1993-01-01"))
    as_date = s.table("orders").filter(col("o_orderdate") < d("1993-01-01"))
    assert est_rows(as_string.plan) == pytest.approx(est_rows(as_date.plan))


def test_each_optimization_reads_the_files_as_they_are_now(tmp_path):
    # no estimator outlives an optimize() call: a file rewritten between two calls
    # is estimated from its new footer by the second
    path = str(tmp_path / "t.parquet")
    pq.write_table(pa.table({"k": list(range(10))}), path)
    with dataflow.Session(runtime="local", parallelism=1) as s:
        df = s.read_parquet(path)
        first = optimize(df.plan, OptimizerSettings()).physical
        pq.write_table(pa.table({"k": list(range(1000))}), path)
        second = optimize(df.plan, OptimizerSettings()).physical
    assert (first.est_rows, second.est_rows) == (10, 1000)


def test_one_estimator_serves_every_rule_of_an_optimization(s):
    est = Estimator()
    q = s.table("lineitem").join(s.table("orders"), left_on="l_orderkey", right_on="o_orderkey")
    optimize(q.plan, OptimizerSettings(dop=2), est)
    assert est.size() > 0  # reorder_joins and the planner estimated through it
