"""Window functions against DuckDB: ranking, running aggregates with peers, whole
partition aggregates, NULL partitions and values."""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow as pa
import pytest

from dataflow.operators import TaskContext, build_operator
from dataflow.physical import PWindow
from dataflow.specs import OrderSpec, WindowSpec
from tests.oracle import assert_same
from tests.unit.test_operators import duck, run_op, sample_table, source

AGG_FUNCS = (
    WindowSpec(name="s_i", fn="sum", arg="i"),
    WindowSpec(name="s_d", fn="sum", arg="d"),
    WindowSpec(name="s_f", fn="sum", arg="f"),
    WindowSpec(name="a_i", fn="avg", arg="i"),
    WindowSpec(name="a_d", fn="avg", arg="d"),
    WindowSpec(name="mn_g", fn="min", arg="g"),
    WindowSpec(name="mx_d", fn="max", arg="d"),
    WindowSpec(name="mn_dt", fn="min", arg="dt"),
    WindowSpec(name="mx_f", fn="max", arg="f"),
    WindowSpec(name="c_i", fn="count", arg="i"),
    WindowSpec(name="c", fn="count_star"),
)
AGG_SQL = (
    "sum(i) over w as s_i, sum(d) over w as s_d, sum(f) over w as s_f, avg(i) over w as a_i, "
    "avg(d) over w as a_d, min(g) over w as mn_g, max(d) over w as mx_d, min(dt) over w as mn_dt, "
    "max(f) over w as mx_f, count(i) over w as c_i, count(*) over w as c"
)
RANK_FUNCS = (
    WindowSpec(name="rk", fn="rank"),
    WindowSpec(name="dr", fn="dense_rank"),
)
RANK_SQL = "rank() over w as rk, dense_rank() over w as dr"


def window(t: pa.Table, partition_by: tuple[str, ...], order: tuple[OrderSpec, ...], funcs) -> pa.Table:
    node = PWindow(input=source(t), partition_by=partition_by, order=order, funcs=funcs)
    return run_op(build_operator(node, TaskContext(batch_rows=333)), t, size=200)


def sql_order(order: tuple[OrderSpec, ...]) -> str:
    parts = [
        f"{o.column} {'asc' if o.ascending else 'desc'} nulls {'first' if o.nulls_first else 'last'}"
        for o in order
    ]
    return ", ".join(parts)


def expected(
    t: pa.Table, partition_by: tuple[str, ...], order: tuple[OrderSpec, ...], funcs_sql: str
) -> pa.Table:
    w = []
    if partition_by:
        w.append("partition by " + ", ".join(partition_by))
    if order:
        w.append("order by " + sql_order(order))
    return duck(f"select *, {funcs_sql} from t window w as ({' '.join(w)})", t=t)


CASES = [
    (("k",), (OrderSpec(column="g"), OrderSpec(column="dt", ascending=False))),  # many peers
    (("g",), (OrderSpec(column="i", nulls_first=True),)),
    (("k", "g"), ()),  # whole partitions
    ((), (OrderSpec(column="k", ascending=False, nulls_first=True),)),  # one partition
    ((), ()),
]


@pytest.mark.parametrize("partition_by,order", CASES)
def test_window_aggregates_and_ranks_match_duckdb(partition_by, order) -> None:
    t = sample_table(1500, seed=11)
    out = window(t, partition_by, order, AGG_FUNCS + RANK_FUNCS)
    assert_same(out, expected(t, partition_by, order, AGG_SQL + ", " + RANK_SQL))
    assert out.schema.field("s_d").type == pa.decimal128(38, 2)
    assert out.schema.field("s_i").type == pa.decimal128(38, 0)
    assert out.schema.field("a_d").type == pa.float64()
    assert out.schema.field("mn_g").type == pa.string()
    assert out.schema.field("rk").type == pa.int64()


def test_row_number_with_unique_order() -> None:
    t = sample_table(1000, seed=12)
    order = (OrderSpec(column="f", ascending=False), OrderSpec(column="id"))
    funcs = (WindowSpec(name="rn", fn="row_number"),) + RANK_FUNCS
    out = window(t, ("g",), order, funcs)
    assert_same(out, expected(t, ("g",), order, "row_number() over w as rn, " + RANK_SQL))


def test_running_sum_peers_share_values() -> None:
    t = pa.table({"p": [1, 1, 1, 1, 2, 2], "o": [1, 2, 2, 3, 5, 5], "x": [10, 20, 30, None, None, None]})
    funcs = (
        WindowSpec(name="s", fn="sum", arg="x"),
        WindowSpec(name="rn", fn="row_number"),
        WindowSpec(name="rk", fn="rank"),
        WindowSpec(name="dr", fn="dense_rank"),
        WindowSpec(name="mx", fn="max", arg="x"),
        WindowSpec(name="c", fn="count", arg="x"),
    )
    out = window(t, ("p",), (OrderSpec(column="o"),), funcs)
    got = {k: out.column(k).to_pylist() for k in ("s", "rn", "rk", "dr", "mx", "c")}
    assert got == {
        "s": [10, 60, 60, 60, None, None],
        "rn": [1, 2, 3, 4, 1, 2],
        "rk": [1, 2, 2, 4, 1, 1],
        "dr": [1, 2, 2, 3, 1, 1],
        "mx": [10, 30, 30, 30, None, None],
        "c": [1, 3, 3, 3, 0, 0],
    }


def test_decimal_sums_are_exact_beyond_64_bits() -> None:
    big = decimal.Decimal("9" * 17 + ".99")
    n = 500
    t = pa.table(
        {
            "p": np.repeat([0, 1], n // 2),
            "o": np.arange(n),
            "d": pa.array([big if i % 3 else -big / 3 for i in range(n)], pa.decimal128(19, 2)),
        }
    )
    out = window(t, ("p",), (OrderSpec(column="o"),), (WindowSpec(name="s", fn="sum", arg="d"),))
    exp = duck("select *, sum(d) over (partition by p order by o) as s from t", t=t)
    assert out.column("s").type == pa.decimal128(38, 2)
    got = sorted(zip(out.column("o").to_pylist(), out.column("s").to_pylist(), strict=True))
    want = sorted(zip(exp.column("o").to_pylist(), exp.column("s").to_pylist(), strict=True))
    assert got == want  # exact Decimal equality, values far beyond 2**63 units
    assert max(abs(v) for _, v in got) > decimal.Decimal(2**63) / 100


def test_window_on_empty_input() -> None:
    t = sample_table(10).slice(0, 0)
    assert window(t, ("k",), (OrderSpec(column="g"),), AGG_FUNCS).num_rows == 0


# -- frames and the value functions ------------------------------------------------------

FRAMED = (
    WindowSpec(name="run", fn="sum", arg="i", frame=("rows", None, 0)),
    WindowSpec(name="slide", fn="sum", arg="d", frame=("rows", -2, 1)),
    WindowSpec(name="ahead", fn="avg", arg="f", frame=("rows", 1, 3)),
    WindowSpec(name="cnt", fn="count", arg="i", frame=("rows", -3, -1)),
    WindowSpec(name="mn", fn="min", arg="g", frame=("rows", -1, 1)),
    WindowSpec(name="mx", fn="max", arg="d", frame=("rows", 0, None)),
    WindowSpec(name="mxr", fn="max", arg="i", frame=("rows", None, -1)),
    WindowSpec(name="peers", fn="sum", arg="i", frame=("range", 0, 0)),
    WindowSpec(name="rest", fn="count_star", frame=("range", 0, None)),
    WindowSpec(name="fv", fn="first_value", arg="g", frame=("rows", -1, 1)),
    WindowSpec(name="lv", fn="last_value", arg="i", frame=("rows", None, None)),
    WindowSpec(name="nv", fn="nth_value", arg="d", param=2, frame=("rows", None, 0)),
    WindowSpec(name="lg", fn="lag", arg="i", param=2),
    WindowSpec(name="ld", fn="lead", arg="g", param=1, arg2="g"),
    WindowSpec(name="nt", fn="ntile", param=4),
    WindowSpec(name="pr", fn="percent_rank"),
    WindowSpec(name="cd", fn="cume_dist"),
)
FRAMED_SQL = (
    "sum(i) over (w rows between unbounded preceding and current row) as run, "
    "sum(d) over (w rows between 2 preceding and 1 following) as slide, "
    "avg(f) over (w rows between 1 following and 3 following) as ahead, "
    "count(i) over (w rows between 3 preceding and 1 preceding) as cnt, "
    "min(g) over (w rows between 1 preceding and 1 following) as mn, "
    "max(d) over (w rows between current row and unbounded following) as mx, "
    "max(i) over (w rows between unbounded preceding and 1 preceding) as mxr, "
    "sum(i) over (w range between current row and current row) as peers, "
    "count(*) over (w range between current row and unbounded following) as rest, "
    "first_value(g) over (w rows between 1 preceding and 1 following) as fv, "
    "last_value(i) over (w rows between unbounded preceding and unbounded following) as lv, "
    "nth_value(d, 2) over (w rows between unbounded preceding and current row) as nv, "
    "lag(i, 2) over w as lg, lead(g, 1, g) over w as ld, ntile(4) over w as nt, "
    "percent_rank() over w as pr, cume_dist() over w as cd"
)


@pytest.mark.parametrize(
    "partition_by,order",
    [
        (("k",), (OrderSpec(column="id"),)),  # a total order: every frame is deterministic
        ((), (OrderSpec(column="id", ascending=False),)),
    ],
)
def test_frames_and_value_functions_match_duckdb(partition_by, order) -> None:
    t = sample_table(1200, seed=21)
    out = window(t, partition_by, order, FRAMED)
    assert_same(out, expected(t, partition_by, order, FRAMED_SQL))


def test_peer_frames_and_distribution_functions_with_ties_match_duckdb() -> None:
    t = sample_table(800, seed=4)
    funcs = (FRAMED[7], FRAMED[8], FRAMED[15], FRAMED[16], WindowSpec(name="rk", fn="rank"))
    order = (OrderSpec(column="g"),)
    sql = ", ".join(
        FRAMED_SQL.split(", ")[7:9]
        + ["percent_rank() over w as pr", "cume_dist() over w as cd", "rank() over w as rk"]
    )
    out = window(t, ("k",), order, funcs)
    assert_same(out, expected(t, ("k",), order, sql))
