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
from dataflow.expr import Call, ColumnRef, Literal
from dataflow.optimizer import statistics as S
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


def d(x: str) -> Literal:
    return Literal(value=x, type=DATE)


# ---------------------------------------------------------------------------------------
# Column statistics from footers


def test_column_stats_match_the_data(s, tables):
    stats = S.table_column_stats(s.scan("lineitem").source)
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
    stats = S.table_column_stats(src)
    assert S.table_rows(src) == 9
    assert (stats["i"].min, stats["i"].max, stats["i"].null_count) == (-3, 9, 4)
    assert (stats["s"].min, stats["s"].max, stats["s"].null_count) == ("c", "z", 4)
    assert (stats["d"].min, stats["d"].max, stats["d"].null_count) == (
        dt.date(1999, 5, 6),
        dt.date(2000, 1, 2),
        7,
    )
    assert (stats["m"].min, stats["m"].max) == (decimal.Decimal("-0.01"), decimal.Decimal("10.00"))
    # one file alone: its all-NULL row group does not hide the others' min/max
    alone = S.table_column_stats(L.ParquetSource(paths=(a,)))
    assert (alone["i"].min, alone["i"].max, alone["i"].null_count) == (5, 9, 3)


def test_footers_are_read_once(s):
    src = s.scan("orders").source
    S.table_column_stats(src)
    before = S._footer.cache_info()
    for _ in range(3):
        S.table_column_stats(src)
        S.table_rows(src)
    after = S._footer.cache_info()
    assert after.hits > before.hits
    assert after.misses == before.misses  # no footer read again


def test_memory_table_has_rows_but_no_column_stats():
    schema = schema_from_arrow(pa.schema([("k", pa.int64())]))
    scan = L.Scan(table="m", source=L.MemorySource(table_id="m", num_rows=42), table_schema=schema)
    assert S.table_rows(scan.source) == 42
    assert dict(S.table_column_stats(scan.source)) == {}
    assert S.column_ndv(scan, "k") is None
    assert S.estimate_rows(scan) == 42


# ---------------------------------------------------------------------------------------
# Distinct counts


def test_ndv_of_base_columns(s, tables):
    li = s.scan("lineitem")
    orders = s.scan("orders")
    assert S.column_ndv(orders, "o_orderkey") == tables["orders"].num_rows  # capped by rows
    assert S.column_ndv(li, "l_orderkey") == 60000  # max - min + 1 < rows
    assert S.column_ndv(li, "l_suppkey") == 100
    assert S.column_ndv(li, "l_discount") == 11  # decimal(15, 2) from 0.00 to 0.10
    assert S.column_ndv(li, "l_shipdate") == (dt.date(1998, 11, 29) - dt.date(1992, 1, 4)).days + 1
    assert S.column_ndv(li, "l_comment") is None  # free text: unknown
    true_flags = len(pc.unique(tables["lineitem"]["l_returnflag"]))
    assert true_flags <= S.column_ndv(li, "l_returnflag") <= 20  # one-letter codes


def test_ndv_traced_through_renames_filters_joins_and_aggregates(s):
    nation = s.table("nation")
    renamed = nation.select(col("n_nationkey").alias("key"), col("n_regionkey").alias("region"))
    assert S.column_ndv(renamed.plan, "key") == 25
    assert S.column_ndv(renamed.plan, "region") == 5
    one = nation.filter(col("n_regionkey") == 2)
    assert S.column_ndv(one.plan, "n_regionkey") == 1
    assert S.column_ndv(one.plan, "n_nationkey") <= S.estimate_rows(one.plan)
    j = s.table("customer").join(one, left_on="c_nationkey", right_on="n_nationkey")
    # an inner join key keeps only the values both sides have
    assert S.column_ndv(j.plan, "c_nationkey") == S.column_ndv(one.plan, "n_nationkey")
    years = s.table("orders").group_by(col("o_orderdate").year().alias("y")).agg(F.count().alias("n"))
    assert S.column_ndv(years.plan, "y") == 7  # 1992..1998
    assert S.estimate_rows(years.plan) == 7
    assert S.column_ndv(years.plan, "n") is None


# ---------------------------------------------------------------------------------------
# Selectivity and cardinality


def test_equality_selectivity_is_one_over_ndv(s):
    orders = s.scan("orders")
    eq = Call(fn="eq", args=(ColumnRef(name="o_custkey"), Literal(value=7, type="int64")))
    assert S.selectivity(eq, orders) == pytest.approx(1 / S.column_ndv(orders, "o_custkey"))
    flipped = Call(fn="eq", args=(Literal(value=7, type="int64"), ColumnRef(name="o_custkey")))
    assert S.selectivity(flipped, orders) == S.selectivity(eq, orders)
    assert S.selectivity(eq) == S.EQ_SELECTIVITY  # no plan: the rule of thumb
    nation = s.table("nation").filter(col("n_nationkey") == 3)
    assert S.estimate_rows(nation.plan) == 1


def test_range_selectivity_from_min_max_is_close_to_the_truth(s, tables):
    o = tables["orders"]
    lo, hi = dt.date(1994, 1, 1), dt.date(1995, 1, 1)
    mask = pc.and_(pc.greater_equal(o["o_orderdate"], lo), pc.less(o["o_orderdate"], hi))
    truth = pc.sum(mask).as_py()
    df = s.table("orders").filter(
        (col("o_orderdate") >= d("1994-01-01")) & (col("o_orderdate") < d("1995-01-01"))
    )
    est = S.estimate_rows(df.plan)
    assert truth / 1.2 < est < truth * 1.2, (est, truth)
    # the same bounds pushed into the scan estimate the same
    scan = s.scan("orders").replace(
        filters=(
            Call(fn="ge", args=(ColumnRef(name="o_orderdate"), d("1994-01-01"))),
            Call(fn="lt", args=(ColumnRef(name="o_orderdate"), d("1995-01-01"))),
        )
    )
    assert S.estimate_rows(scan) == pytest.approx(est)
    between = s.table("orders").filter(col("o_orderdate").between(d("1994-01-01"), d("1994-12-31")))
    assert S.estimate_rows(between.plan) == pytest.approx(est, rel=0.01)
    # a range outside the data keeps a sliver, never zero
    none = s.table("orders").filter(col("o_orderdate") > d("2100-01-01"))
    assert 1 <= S.estimate_rows(none.plan) < 10


def test_equi_join_cardinality(s, tables):
    li, orders = s.table("lineitem"), s.table("orders")
    j = li.join(orders, left_on="l_orderkey", right_on="o_orderkey")
    L_, R_ = tables["lineitem"].num_rows, tables["orders"].num_rows
    expected = L_ * R_ / max(S.column_ndv(li.plan, "l_orderkey"), S.column_ndv(orders.plan, "o_orderkey"))
    assert S.estimate_rows(j.plan) == pytest.approx(expected)
    # a key/foreign-key join with a filtered dimension shrinks with the filter
    region = s.table("region").filter(col("r_name") == "ASIA")
    nation = s.table("nation").join(region, left_on="n_regionkey", right_on="r_regionkey")
    assert S.estimate_rows(nation.plan) == pytest.approx(5)


def test_aggregate_is_product_of_key_ndvs_capped_by_rows(s):
    flags = s.table("lineitem").group_by("l_returnflag", "l_linestatus").agg(F.count().alias("n"))
    li = s.scan("lineitem")
    assert S.estimate_rows(flags.plan) == pytest.approx(
        S.column_ndv(li, "l_returnflag") * S.column_ndv(li, "l_linestatus")
    )
    keys = s.table("lineitem").group_by("l_orderkey", "l_linenumber").agg(F.count().alias("n"))
    assert S.estimate_rows(keys.plan) == S.estimate_rows(li)


def test_estimates_stay_cheap(s):
    q = s.table("lineitem").join(s.table("orders"), left_on="l_orderkey", right_on="o_orderkey")
    q = q.filter(col("o_orderdate") >= d("1995-01-01")).group_by("o_orderpriority").agg(F.count().alias("n"))
    S.estimate_rows(q.plan)  # warm the footer cache
    t0 = time.perf_counter()
    for _ in range(20):
        S.estimate_rows(q.plan)
    assert (time.perf_counter() - t0) / 20 < 0.01


def test_literal_comparisons_parse_strings_as_the_column_type(s):
    # a string literal against a date column still uses the date range
    as_string = s.table("orders").filter(col("o_orderdate") < lit("1993-01-01"))
    as_date = s.table("orders").filter(col("o_orderdate") < d("1993-01-01"))
    assert S.estimate_rows(as_string.plan) == pytest.approx(S.estimate_rows(as_date.plan))


def test_module_functions_share_an_estimator_for_a_planning_pass(monkeypatch):
    monkeypatch.setattr(S, "SHARED_SECONDS", 60.0)
    assert S._estimator() is S._estimator()
    monkeypatch.setattr(S, "SHARED_SECONDS", -1.0)
    assert S._estimator() is not S._estimator()  # stale: the next pass starts afresh
