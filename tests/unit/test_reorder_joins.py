"""reorder_joins: golden plans (TPC-H through the DataFrame API and SQL), plan
properties on small in-memory tables, and equal results with the rule on and off.

Regenerate the golden files with ``DATAFLOW_UPDATE_GOLDEN=1 pytest tests/unit/test_reorder_joins.py``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

import dataflow
from dataflow import DataFrame, col, tpch
from dataflow import functions as F
from dataflow import logical as L
from dataflow.expr import Call, ColumnRef, Literal
from dataflow.optimizer.rules.push_down_filter import push_down_filter
from dataflow.optimizer.rules.reorder_joins import reorder_joins
from dataflow.types import schema_from_arrow
from tests.golden import GOLDEN as GOLDEN_DIR
from tests.golden import check_golden as _check_golden
from tests.golden import tpch_session
from tests.oracle import assert_same, duckdb_tpch, tpch_data

# the module (the package's ``reorder_joins`` attribute is the function)
RJ = importlib.import_module("dataflow.optimizer.rules.reorder_joins")
GOLDEN = GOLDEN_DIR / "reorder_joins"
DATE = "date32[day]"


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with the golden file ``name`` of this rule."""
    _check_golden(GOLDEN / f"{name}.txt", text)


def golden_text(title: str, plan: L.LogicalPlan) -> str:
    before = push_down_filter(plan)
    after = reorder_joins(before)
    return f"# {title}\n-- after push_down_filter\n{L.render(before)}\n-- after reorder_joins\n{L.render(after)}\n"


@pytest.fixture(scope="module")
def data():
    return tpch_data(0.01)


def _session(data: Path, disabled: tuple[str, ...] = ()) -> dataflow.Session:
    return tpch_session(disabled)


@pytest.fixture(scope="module")
def s(data):
    session = _session(data)
    yield session
    session.close()


@pytest.fixture(scope="module")
def s_off(data):
    """A Session without the rule."""
    session = _session(data, ("reorder_joins",))
    yield session
    session.close()


def d(x: str) -> Literal:
    return Literal(value=x, type=DATE)


def sql_plan(s: dataflow.Session, q: int) -> L.LogicalPlan:
    return s.sql(tpch.query_text(q)).plan


# ---------------------------------------------------------------------------------------
# The queries


def q5_dataframe(s: dataflow.Session) -> DataFrame:
    """TPC-H Q5 as the demo writes it: lineitem first, the dimensions last."""
    region = s.table("region").filter(col("r_name") == "ASIA")
    nation = s.table("nation").join(region, left_on="n_regionkey", right_on="r_regionkey")
    customer = s.table("customer").join(nation, left_on="c_nationkey", right_on="n_nationkey")
    orders = s.table("orders").filter(
        (col("o_orderdate") >= d("1994-01-01")) & (col("o_orderdate") < d("1995-01-01"))
    )
    return (
        s.table("lineitem")
        .join(orders, left_on="l_orderkey", right_on="o_orderkey")
        .join(customer, left_on="o_custkey", right_on="c_custkey")
        .join(
            s.table("supplier"),
            on=(col("l_suppkey") == col("s_suppkey")) & (col("c_nationkey") == col("s_nationkey")),
        )
        .group_by("n_name")
        .agg(F.sum(col("l_extendedprice") * (1 - col("l_discount"))).alias("revenue"))
    )


def q9_comma_joins(s: dataflow.Session) -> DataFrame:
    """TPC-H Q9 written as SQL's comma joins: cross joins and one big filter."""
    rel = s.table("part")
    for t in ("supplier", "lineitem", "partsupp", "orders", "nation"):
        rel = rel.join(s.table(t), how="cross")
    rel = rel.filter(
        (col("s_suppkey") == col("l_suppkey"))
        & (col("ps_suppkey") == col("l_suppkey"))
        & (col("ps_partkey") == col("l_partkey"))
        & (col("p_partkey") == col("l_partkey"))
        & (col("o_orderkey") == col("l_orderkey"))
        & (col("s_nationkey") == col("n_nationkey"))
        & col("p_name").like("%green%")
    )
    return (
        rel.select(
            col("n_name").alias("nation"),
            col("o_orderdate").year().alias("o_year"),
            (
                col("l_extendedprice") * (1 - col("l_discount")) - col("ps_supplycost") * col("l_quantity")
            ).alias("amount"),
        )
        .group_by("nation", "o_year")
        .agg(F.sum("amount").alias("sum_profit"))
    )


def star_big_on_the_right(s: dataflow.Session) -> DataFrame:
    """A star written backwards: the dimension first, the fact table joined last."""
    return (
        s.table("nation")
        .join(s.table("customer"), left_on="n_nationkey", right_on="c_nationkey")
        .join(s.table("orders"), left_on="c_custkey", right_on="o_custkey")
        .join(s.table("lineitem"), left_on="o_orderkey", right_on="l_orderkey")
        .filter(col("n_name") == "FRANCE")
        .select("n_name", "o_orderkey", "l_linenumber", "l_quantity")
    )


def shared_key_renames(s: dataflow.Session) -> DataFrame:
    """Joins on shared column names: each adds a projection (dropping the right key)
    between the joins, which the rule looks through."""
    nation = s.table("nation").rename({"n_nationkey": "nationkey"})
    supplier = s.table("supplier").rename({"s_nationkey": "nationkey", "s_suppkey": "suppkey"})
    lineitem = s.table("lineitem").rename({"l_suppkey": "suppkey"})
    return (
        lineitem.join(supplier, on="suppkey").join(nation, on="nationkey").filter(col("n_name") == "GERMANY")
    )


def outer_join_barrier(s: dataflow.Session) -> DataFrame:
    """A left join is a barrier: its inputs are reordered on their own."""
    inner = (
        s.table("orders")
        .join(s.table("customer"), left_on="o_custkey", right_on="c_custkey")
        .join(s.table("nation"), left_on="c_nationkey", right_on="n_nationkey")
    )
    counts = s.table("lineitem").group_by("l_orderkey").agg(F.count().alias("lines"))
    return (
        s.table("region")
        .join(
            s.table("nation").select(col("n_regionkey").alias("rk"), col("n_name").alias("nn")),
            left_on="r_regionkey",
            right_on="rk",
        )
        .join(
            inner.join(counts, how="left", left_on="o_orderkey", right_on="l_orderkey"),
            left_on="nn",
            right_on="n_name",
        )
    )


def cross_join_last(s: dataflow.Session) -> DataFrame:
    """Region times (supplier joined with nation): the cross join comes last."""
    return (
        s.table("region")
        .join(s.table("supplier"), how="cross")
        .join(s.table("nation"), left_on="s_nationkey", right_on="n_nationkey")
    )


CASES: dict[str, Callable[[dataflow.Session], DataFrame]] = {
    "q5_dataframe": q5_dataframe,
    "q9_comma_joins": q9_comma_joins,
    "star_big_on_the_right": star_big_on_the_right,
    "shared_key_renames": shared_key_renames,
    "outer_join_barrier": outer_join_barrier,
    "cross_join_last": cross_join_last,
}
SQL_QUERIES = (5, 7, 8, 9)


# ---------------------------------------------------------------------------------------
# Golden plans


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_dataframe(s, name):
    plan = CASES[name](s).plan
    check_golden(name, golden_text(CASES[name].__doc__.strip().splitlines()[0], plan))


@pytest.mark.parametrize("q", SQL_QUERIES)
def test_golden_tpch_sql(s, q):
    check_golden(
        f"tpch_q{q:02d}", golden_text(f"TPC-H Q{q} from benchmarks/tpch/queries/q{q:02d}.sql", sql_plan(s, q))
    )


def _joins_bottom_up(plan: L.LogicalPlan) -> list[L.Join]:
    out: list[L.Join] = []

    def visit(p: L.LogicalPlan) -> None:
        for c in p.children():
            visit(c)
        if isinstance(p, L.Join):
            out.append(p)

    visit(plan)
    return out


def _tables(plan: L.LogicalPlan) -> set[str]:
    if isinstance(plan, L.Scan):
        return {plan.table}
    return set().union(*(_tables(c) for c in plan.children()))


@pytest.mark.parametrize("source", ["dataframe", "sql"])
def test_q5_starts_from_region_and_nation(s, source):
    plan = q5_dataframe(s).plan if source == "dataframe" else sql_plan(s, 5)
    first = _joins_bottom_up(reorder_joins(push_down_filter(plan)))[0]
    assert _tables(first) == {"region", "nation"}
    assert _tables(first.right) == {"region"}  # the filtered region builds


def test_q9_starts_from_the_filtered_part_or_the_small_dimensions(s):
    first = _joins_bottom_up(reorder_joins(push_down_filter(q9_comma_joins(s).plan)))[0]
    assert "lineitem" not in _tables(first) and "orders" not in _tables(first)


def test_comma_joins_never_cross_join_connected_tables(s):
    out = reorder_joins(push_down_filter(q9_comma_joins(s).plan))
    assert all(j.how == "inner" and j.left_keys for j in _joins_bottom_up(out))


# ---------------------------------------------------------------------------------------
# Properties on small in-memory tables


def mem(name: str, rows: int, *cols: str) -> L.Scan:
    schema = schema_from_arrow(pa.schema([(c, pa.int64()) for c in cols]))
    return L.Scan(table=name, source=L.MemorySource(table_id=name, num_rows=rows), table_schema=schema)


def c(name: str) -> ColumnRef:
    return ColumnRef(name=name)


def eq(a: str, b: str) -> Call:
    return Call(fn="eq", args=(c(a), c(b)))


def join(
    left: L.LogicalPlan, right: L.LogicalPlan, *keys: tuple[str, str], how: str = "inner", cond=None
) -> L.Join:
    return L.Join(
        left=left,
        right=right,
        how=how,
        left_keys=tuple(c(a) for a, _ in keys),
        right_keys=tuple(c(b) for _, b in keys),
        condition=cond,
    )


A = mem("a", 1_000_000, "a_id", "a_b", "a_x")
B = mem("b", 10_000, "b_id", "b_c", "b_x")
C = mem("c", 100, "c_id", "c_x")
D = mem("d", 10, "d_id")


def test_output_columns_and_order_are_kept():
    plan = join(join(C, B, ("c_id", "b_c")), A, ("b_id", "a_b"))
    out = reorder_joins(plan)
    assert out.schema == plan.schema
    assert isinstance(out, L.Project)


def test_smaller_input_builds_on_the_right():
    out = reorder_joins(join(D, A, ("d_id", "a_id")))
    j = _joins_bottom_up(out)[0]
    assert _tables(j.left) == {"a"} and _tables(j.right) == {"d"}
    assert j.left_keys == (c("a_id"),) and j.right_keys == (c("d_id"),)


def test_equalities_are_transitive():
    # a = b and b = c: a and c may join directly although no predicate names both
    plan = L.Filter(
        input=join(join(A, B, how="cross"), C, how="cross"),
        predicate=Call(fn="and", args=(eq("a_x", "b_x"), eq("b_x", "c_x"))),
    )
    out = reorder_joins(push_down_filter(plan))
    first = _joins_bottom_up(out)[0]
    assert _tables(first) in ({"b", "c"}, {"a", "c"})
    joins = _joins_bottom_up(out)
    assert len(joins) == 2 and all(len(j.left_keys) == 1 for j in joins)  # each equality once


def test_residual_condition_at_the_lowest_join_that_has_its_columns():
    lt = Call(fn="lt", args=(c("a_x"), c("c_x")))
    plan = join(join(join(A, B, ("a_b", "b_id")), C, ("b_c", "c_id")), D, ("c_x", "d_id"), cond=lt)
    out = reorder_joins(plan)
    for j in _joins_bottom_up(out):
        if j.condition is not None:
            assert j.condition == lt
            assert {"a", "c"} <= _tables(j)
            assert not ({"a", "c"} <= _tables(j.left)) and not ({"a", "c"} <= _tables(j.right))
    assert sum(j.condition is not None for j in _joins_bottom_up(out)) == 1


def test_cross_join_only_when_nothing_connects():
    plan = join(join(D, C, how="cross"), B, ("c_id", "b_c"))
    joins = _joins_bottom_up(reorder_joins(plan))
    assert joins[0].how == "inner" and _tables(joins[0]) == {"b", "c"}
    assert joins[1].how == "cross"


def test_outer_join_is_a_barrier():
    inner_left = join(D, A, ("d_id", "a_id"))
    plan = join(inner_left, C, ("a_x", "c_id"), how="left")
    out = reorder_joins(plan)
    assert isinstance(out, L.Join) and out.how == "left"
    assert _tables(out.right) == {"c"}
    assert out.schema == plan.schema


def test_single_relation_predicates_inside_the_tree_filter_their_relation():
    gt = Call(fn="gt", args=(c("b_x"), Literal(value=3, type="int64")))
    plan = join(L.Filter(input=join(A, B, ("a_b", "b_id")), predicate=gt), C, ("b_c", "c_id"))
    out = reorder_joins(plan)
    filters = [n for n in _walk(out) if isinstance(n, L.Filter)]
    assert len(filters) == 1 and filters[0].predicate == gt and _tables(filters[0]) == {"b"}


def _walk(plan: L.LogicalPlan):
    yield plan
    for ch in plan.children():
        yield from _walk(ch)


def test_idempotent(s):
    once = reorder_joins(push_down_filter(q5_dataframe(s).plan))
    assert reorder_joins(once) == once


def test_greedy_above_the_dp_limit_gives_a_valid_plan(s, monkeypatch):
    plan = push_down_filter(q9_comma_joins(s).plan)
    monkeypatch.setattr(RJ, "DP_LIMIT", 1)
    out = reorder_joins(plan)
    assert out.schema == plan.schema
    assert all(j.left_keys for j in _joins_bottom_up(out))


def test_planning_takes_milliseconds(s):
    plans = [push_down_filter(CASES[n](s).plan) for n in sorted(CASES)]
    for p in plans:
        reorder_joins(p)  # footers cached
    t0 = time.perf_counter()
    for p in plans:
        reorder_joins(p)
    assert (time.perf_counter() - t0) / len(plans) < 0.05


# ---------------------------------------------------------------------------------------
# Results with the rule on and off


def _results(s, s_off, plan: L.LogicalPlan) -> tuple[pa.Table, pa.Table]:
    return s.execute(plan).result(), s_off.execute(plan).result()


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_results_with_the_rule_on_and_off(s, s_off, name):
    on, off = _results(s, s_off, CASES[name](s).plan)
    assert on.schema == off.schema
    assert_same(on, off)


@pytest.mark.parametrize("q", [2, 5, 7, 8, 9, 10, 21])
def test_same_tpch_results_with_the_rule_on_and_off(s, s_off, q):
    on, off = _results(s, s_off, sql_plan(s, q))
    assert_same(on, off)


@pytest.mark.parametrize("q", SQL_QUERIES)
def test_reordered_tpch_matches_duckdb(s, data, q):
    plan = sql_plan(s, q)
    on = s.execute(reorder_joins(push_down_filter(plan))).result()
    expected = duckdb_tpch(data).sql(tpch.query_text(q)).to_arrow_table()
    assert_same(on, expected, check_names=False)
