"""The engine end to end on a local Ray cluster (started once for this module):
multi-table DataFrame queries on TPC-H data, each compared with DuckDB's answer at
parallelism 1, 2 and 3, with operators chained and unchained."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest

import dataflow
from dataflow import col, lit
from dataflow import functions as F
from dataflow.cli import DEMO_SQL
from tests.oracle import assert_same, duckdb_tpch, tpch_data

SF = 0.01


@pytest.fixture(scope="module")
def data():
    return tpch_data(SF)


@pytest.fixture(scope="module")
def duck(data):
    return duckdb_tpch(data)


@pytest.fixture(scope="module")
def session(data):
    with dataflow.Session(parallelism=2) as s:
        for t in dataflow.tpch.TABLES:
            s.register_parquet(t, str(data / f"{t}.parquet"))
        yield s


def date(s: str) -> dataflow.Expr:
    return lit(s).cast("date32[day]")


# Each case: a DataFrame query, the same query in DuckDB SQL, and whether order matters.
def q_revenue_by_nation(s: dataflow.Session) -> dataflow.DataFrame:
    region = s.table("region").filter(col("r_name") == "ASIA")
    nation = s.table("nation").join(region, left_on="n_regionkey", right_on="r_regionkey")
    customer = s.table("customer").join(nation, left_on="c_nationkey", right_on="n_nationkey")
    orders = s.table("orders").filter((col("o_orderdate") >= date("1994-01-01")) & (col("o_orderdate") < date("1995-01-01")))
    return (
        s.table("lineitem")
        .join(orders, left_on="l_orderkey", right_on="o_orderkey")
        .join(customer, left_on="o_custkey", right_on="c_custkey")
        .join(s.table("supplier"), on=(col("l_suppkey") == col("s_suppkey")) & (col("c_nationkey") == col("s_nationkey")))
        .group_by("n_name")
        .agg(F.sum(col("l_extendedprice") * (1 - col("l_discount"))).alias("revenue"))
        .sort(col("revenue").desc())
    )


SQL_REVENUE_BY_NATION = DEMO_SQL  # the demo's query (TPC-H Q5's shape), checked against DuckDB here


def q_pricing_summary(s: dataflow.Session) -> dataflow.DataFrame:
    return (
        s.table("lineitem")
        .filter(col("l_shipdate") <= date("1998-09-02"))
        .group_by("l_returnflag", "l_linestatus")
        .agg(
            F.sum("l_quantity").alias("sum_qty"),
            F.sum(col("l_extendedprice") * (1 - col("l_discount")) * (1 + col("l_tax"))).alias("sum_charge"),
            F.avg("l_discount").alias("avg_disc"),
            F.min("l_shipdate").alias("first_ship"),
            F.max("l_extendedprice").alias("max_price"),
            F.count().alias("count_order"),
            F.count_distinct("l_suppkey").alias("suppliers"),
        )
        .sort("l_returnflag", "l_linestatus")
    )


SQL_PRICING_SUMMARY = """
select l_returnflag, l_linestatus, sum(l_quantity) as sum_qty,
  sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) as sum_charge, avg(l_discount) as avg_disc,
  min(l_shipdate) as first_ship, max(l_extendedprice) as max_price, count(*) as count_order,
  count(distinct l_suppkey) as suppliers
from lineitem where l_shipdate <= date '1998-09-02'
group by l_returnflag, l_linestatus order by l_returnflag, l_linestatus
"""


def q_orders_per_customer(s: dataflow.Session) -> dataflow.DataFrame:
    # left outer join: customers without orders count 0
    orders = s.table("orders").filter(~col("o_comment").like("%special%requests%"))
    return (
        s.table("customer")
        .join(orders, left_on="c_custkey", right_on="o_custkey", how="left")
        .group_by("c_custkey")
        .agg(F.count("o_orderkey").alias("c_count"))
        .group_by("c_count")
        .agg(F.count().alias("custdist"))
        .sort(col("custdist").desc(), col("c_count").desc())
    )


SQL_ORDERS_PER_CUSTOMER = """
select c_count, count(*) as custdist from (
  select c_custkey, count(o_orderkey) as c_count
  from customer left outer join orders on c_custkey = o_custkey and o_comment not like '%special%requests%'
  group by c_custkey) as c_orders
group by c_count order by custdist desc, c_count desc
"""


def q_right_and_full(s: dataflow.Session) -> dataflow.DataFrame:
    # suppliers of nations 0..9 against nations 5..14: a full outer join keeps both sides' misses
    sup = s.table("supplier").filter(col("s_nationkey") < 10).select("s_suppkey", "s_nationkey")
    nat = s.table("nation").filter((col("n_nationkey") >= 5) & (col("n_nationkey") < 15)).select("n_nationkey", "n_name")
    full = sup.join(nat, left_on="s_nationkey", right_on="n_nationkey", how="full")
    return full.group_by("n_name").agg(F.count("s_suppkey").alias("suppliers"), F.count().alias("n"))


SQL_RIGHT_AND_FULL = """
select n_name, count(s_suppkey) as suppliers, count(*) as n from
  (select s_suppkey, s_nationkey from supplier where s_nationkey < 10) s
  full outer join (select n_nationkey, n_name from nation where n_nationkey >= 5 and n_nationkey < 15) n
  on s_nationkey = n_nationkey
group by n_name
"""


def q_right_join(s: dataflow.Session) -> dataflow.DataFrame:
    sup = s.table("supplier").filter(col("s_acctbal") > 5000).select("s_suppkey", "s_nationkey")
    return (
        sup.join(s.table("nation").select("n_nationkey", "n_name"), left_on="s_nationkey", right_on="n_nationkey", how="right")
        .group_by("n_name")
        .agg(F.count("s_suppkey").alias("rich_suppliers"))
    )


SQL_RIGHT_JOIN = """
select n_name, count(s_suppkey) as rich_suppliers
from (select s_suppkey, s_nationkey from supplier where s_acctbal > 5000) s
  right join (select n_nationkey, n_name from nation) n on s_nationkey = n_nationkey
group by n_name
"""


def q_semi_anti(s: dataflow.Session) -> dataflow.DataFrame:
    urgent = s.table("orders").filter(col("o_orderpriority") == "1-URGENT")
    with_urgent = s.table("customer").join(urgent, left_on="c_custkey", right_on="o_custkey", how="semi")
    without_any = s.table("customer").join(s.table("orders"), left_on="c_custkey", right_on="o_custkey", how="anti")
    return (
        with_urgent.select(col("c_mktsegment"), lit("urgent").alias("kind"))
        .union(without_any.select(col("c_mktsegment"), lit("none").alias("kind")))
        .group_by("c_mktsegment", "kind")
        .agg(F.count().alias("customers"))
    )


SQL_SEMI_ANTI = """
select c_mktsegment, kind, count(*) as customers from (
  select c_mktsegment, 'urgent' as kind from customer
    where exists (select 1 from orders where o_custkey = c_custkey and o_orderpriority = '1-URGENT')
  union all
  select c_mktsegment, 'none' as kind from customer
    where not exists (select 1 from orders where o_custkey = c_custkey)
) group by c_mktsegment, kind
"""


def q_cross_topk(s: dataflow.Session) -> dataflow.DataFrame:
    pairs = s.table("region").join(s.table("nation").select("n_name", "n_nationkey"), how="cross")
    return (
        pairs.with_column("tag", F.concat(col("r_name"), lit("/"), col("n_name")))
        .select("tag", (col("r_regionkey") * 100 + col("n_nationkey")).alias("code"))
        .sort(col("code").desc())
        .limit(7, offset=3)
    )


SQL_CROSS_TOPK = """
select r_name || '/' || n_name as tag, r_regionkey * 100 + n_nationkey as code
from region cross join nation order by code desc limit 7 offset 3
"""


def q_distinct_union(s: dataflow.Session) -> dataflow.DataFrame:
    a = s.table("lineitem").filter(col("l_quantity") > 45).select(col("l_shipmode").alias("mode"))
    b = s.table("orders").filter(col("o_totalprice") > 400000).select(col("o_orderpriority").alias("mode"))
    return a.union(b).distinct().sort("mode")


SQL_DISTINCT_UNION = """
select distinct mode from (
  select l_shipmode as mode from lineitem where l_quantity > 45
  union all select o_orderpriority as mode from orders where o_totalprice > 400000
) order by mode
"""

CASES: dict[str, tuple[Callable[[dataflow.Session], dataflow.DataFrame], str, bool]] = {
    "revenue_by_nation": (q_revenue_by_nation, SQL_REVENUE_BY_NATION, True),
    "pricing_summary": (q_pricing_summary, SQL_PRICING_SUMMARY, True),
    "orders_per_customer": (q_orders_per_customer, SQL_ORDERS_PER_CUSTOMER, True),
    "full_join": (q_right_and_full, SQL_RIGHT_AND_FULL, False),
    "right_join": (q_right_join, SQL_RIGHT_JOIN, False),
    "semi_anti_union": (q_semi_anti, SQL_SEMI_ANTI, False),
    "cross_topk": (q_cross_topk, SQL_CROSS_TOPK, True),
    "distinct_union": (q_distinct_union, SQL_DISTINCT_UNION, True),
}


@pytest.mark.parametrize("chain", [True, False], ids=["chained", "unchained"])
@pytest.mark.parametrize("dop", [1, 2, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_query_matches_duckdb(session, duck, case, dop, chain):
    build, sql, ordered = CASES[case]
    session.chain_operators = chain
    try:
        got = build(session).to_arrow(parallelism=dop)
    finally:
        session.chain_operators = True
    expected = duck.sql(sql).arrow()
    if isinstance(expected, pa.RecordBatchReader):
        expected = expected.read_all()
    assert got.num_rows > 0
    assert_same(got, expected, ordered=ordered)


def test_unchained_metrics_one_actor_per_operator_instance(session):
    session.chain_operators = False
    try:
        job = q_revenue_by_nation(session).submit(parallelism=3)
        job.result()
    finally:
        session.chain_operators = True
    metrics = job.metrics()
    assert metrics and all({"stage", "operator", "instance", "actor_id", "rows_in", "rows_out"} <= m.keys() for m in metrics)
    ops = [m for m in metrics if not m["operator"].startswith(("Send", "Receive"))]
    # every operator instance ran on an actor of its own
    assert len({m["actor_id"] for m in ops}) == len(ops)
    by_op: dict[tuple[int, str], int] = {}
    for m in ops:
        by_op[(m["stage"], m["operator"])] = by_op.get((m["stage"], m["operator"]), 0) + 1
    assert max(by_op.values()) == 3
    scans = [m for m in ops if m["operator"] == "Scan"]
    assert len({m["instance"] for m in scans if m["rows_out"] >= 0}) == 3
    lineitem_rows = sum(m["rows_out"] for m in scans)
    assert lineitem_rows > 0


def test_chained_metrics_share_actors(session):
    job = q_revenue_by_nation(session).submit(parallelism=2)
    job.result()
    metrics = job.metrics()
    ops = [m for m in metrics if not m["operator"].startswith(("Send", "Receive"))]
    assert len({m["actor_id"] for m in ops}) < len(ops)
    # each stage instance ran on one actor
    for m in ops:
        same = {x["actor_id"] for x in ops if x["stage"] == m["stage"] and x["instance"] == m["instance"]}
        assert len(same) == 1


def test_small_queries_run_in_the_driver(session, duck, data):
    """Below ``leader_rows`` a query runs on the driver's threads: the same answers as
    DuckDB, no actor leased and no task sent; above it, the actors run it."""
    from dataflow.runtime.local import LocalJob
    from dataflow.runtime.ray_runtime import RayJob
    from tests.oracle import duckdb_answer

    with dataflow.Session(parallelism=2, leader_rows=1_000_000, name="leader") as s:
        for t in dataflow.tpch.TABLES:
            s.register_parquet(t, str(data / f"{t}.parquet"))
        pool = s._runtime.pool
        for q in (1, 3, 6, 13, 18):
            text = dataflow.tpch.query_text(q)
            job = s.sql(text).submit()
            assert isinstance(job, LocalJob), q
            assert_same(job.result(), duckdb_answer(duck, text), ordered="order by" in text.lower())
            assert pool.leased == 0
            assert any(n.startswith("ran in the driver on threads: its scans read ") for n in job.notes), q
        analyzed = s.sql(dataflow.tpch.query_text(6)).explain(analyze=True)
        assert "ran in the driver on threads: its scans read 60,175 rows" in analyzed  # Q6: lineitem
    with dataflow.Session(parallelism=2, leader_rows=1_000, name="leader2") as s:
        for t in dataflow.tpch.TABLES:
            s.register_parquet(t, str(data / f"{t}.parquet"))
        text = dataflow.tpch.query_text(6)
        big = s.sql(text).submit()  # lineitem: 60,175 rows at sf 0.01, above 1,000
        assert isinstance(big, RayJob) and not big.notes
        assert_same(big.result(), duckdb_answer(duck, text))
        small = s.sql("select count(*) as n from nation").submit()  # 25 rows
        assert isinstance(small, LocalJob) and small.result().column("n").to_pylist() == [25]


def test_a_driver_job_stops_on_timeout_and_on_close(data, monkeypatch):
    """A query run in the driver obeys ``result(timeout=)`` and ``close()`` as the actors'
    jobs do: a clear JobCancelled, the Session still answers, no thread left running.
    A bad ``DATAFLOW_LEADER_ROWS`` is a ConfigError that names it."""
    import threading
    import time

    def slow(a: pa.Array) -> pa.Array:
        time.sleep(0.05)
        return a

    before = threading.active_count()
    with dataflow.Session(parallelism=2, leader_rows=1_000_000, batch_rows=1_000, name="leader3") as s:
        s.register("t", pa.table({"v": pa.array(range(60_000))}))
        udf = s.register_udf("slow_leader", slow, "int64")
        query = s.table("t").select(udf(col("v")).alias("v")).agg(F.sum("v").alias("s"))
        with pytest.raises(dataflow.JobCancelled):
            query.submit().result(timeout=0.3)  # 60 batches x 50 ms: about 1.5 s
        assert s.table("t").agg(F.count().alias("n")).to_arrow().column("n").to_pylist() == [60_000]
        running = query.submit()
    assert running.status() != "running"  # close() cancelled it
    with pytest.raises(dataflow.JobCancelled, match="closed"):
        running.result()
    give_up = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < give_up:
        time.sleep(0.05)
    assert threading.active_count() <= before
    monkeypatch.setenv("DATAFLOW_LEADER_ROWS", "lots")
    with pytest.raises(dataflow.errors.ConfigError, match="DATAFLOW_LEADER_ROWS"):
        dataflow.Session(parallelism=2, name="leader4")
