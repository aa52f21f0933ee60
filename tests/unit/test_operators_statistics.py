"""The statistical, boolean and holistic aggregates of the hash aggregate, in single
and partial -> final modes, against DuckDB; Expand (grouping sets) and Values."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dataflow.errors import DataflowError
from dataflow.expr import Literal
from dataflow.operators import TaskContext, build_operator
from dataflow.physical import PExpand, PValues
from dataflow.specs import AggSpec
from tests.oracle import assert_same
from tests.unit.test_operators import duck, run_op, sample_table, source
from tests.unit.test_operators_aggregate import partial_final, single

MOMENTS = (
    AggSpec(name="ss", fn="stddev_samp", arg="i"),
    AggSpec(name="sp", fn="stddev_pop", arg="f"),
    AggSpec(name="vs", fn="var_samp", arg="d"),
    AggSpec(name="vp", fn="var_pop", arg="i"),
    AggSpec(name="cs", fn="covar_samp", arg="i", arg2="f"),
    AggSpec(name="cp", fn="covar_pop", arg="d", arg2="i"),
    AggSpec(name="co", fn="corr", arg="f", arg2="i"),
    AggSpec(name="ba", fn="bool_and", arg="b"),
    AggSpec(name="bo", fn="bool_or", arg="b"),
    AggSpec(name="n", fn="count_star"),
)
MOMENTS_SQL = (
    "stddev_samp(i) as ss, stddev_pop(f) as sp, var_samp(d) as vs, var_pop(i) as vp, covar_samp(i, f) as cs, "
    "covar_pop(d, i) as cp, corr(f, i) as co, bool_and(b) as ba, bool_or(b) as bo, count(*) as n"
)
HOLISTIC = (
    AggSpec(name="md", fn="median", arg="i"),
    AggSpec(name="mdd", fn="median", arg="f"),
    AggSpec(name="qc", fn="quantile_cont", arg="f", param=0.9),
    AggSpec(name="qd", fn="quantile_disc", arg="i", param=0.25),
    AggSpec(name="qdd", fn="quantile_disc", arg="d", param=0.5),
    AggSpec(name="s", fn="sum", arg="i"),
    AggSpec(name="cd", fn="count", arg="i", distinct=True),
)
HOLISTIC_SQL = (
    "median(i) as md, median(f) as mdd, quantile_cont(f, 0.9) as qc, quantile_disc(i, 0.25) as qd, "
    "quantile_disc(d, 0.5) as qdd, sum(i) as s, count(distinct i) as cd"
)


def table(n: int = 3000, seed: int = 3) -> pa.Table:
    t = sample_table(n, seed=seed)
    return t.append_column("b", pc.greater(t.column("i"), 0))


def expected(t: pa.Table, keys: tuple[str, ...], sql: str) -> pa.Table:
    if keys:
        k = ", ".join(keys)
        return duck(f"select {k}, {sql} from t group by {k}", t=t)
    return duck(f"select {sql} from t", t=t)


@pytest.mark.parametrize("keys", [("k",), ("g", "k"), ()])
def test_moments_single_and_partial_final_match_duckdb(keys: tuple[str, ...]) -> None:
    t = table()
    want = expected(t, keys, MOMENTS_SQL)
    assert_same(single(t, keys, aggs=MOMENTS), want)
    assert_same(partial_final(t, keys, aggs=MOMENTS), want)


@pytest.mark.parametrize("keys", [("k",), ("g",), ()])
def test_holistic_aggregates_match_duckdb(keys: tuple[str, ...]) -> None:
    t = table(2000, seed=5)
    out = single(t, keys, aggs=HOLISTIC)
    assert_same(out, expected(t, keys, HOLISTIC_SQL))
    assert out.schema.field("qdd").type == pa.decimal128(12, 2)


def test_holistic_aggregates_refuse_partial_mode() -> None:
    from dataflow.physical import PHashAggregate

    t = table(10)
    node = PHashAggregate(input=source(t), mode="partial", keys=("k",), aggs=HOLISTIC[:1])
    with pytest.raises(DataflowError, match="single mode"):
        build_operator(node, TaskContext())


def test_single_value_raises_on_two_rows_and_passes_one() -> None:
    t = pa.table({"k": [1, 2, 2], "v": ["a", "b", "c"]})
    aggs = (AggSpec(name="x", fn="single_value", arg="v"),)
    with pytest.raises(DataflowError, match="More than one row returned by a subquery"):
        single(t, (), aggs=aggs)
    with pytest.raises(DataflowError, match="More than one row"):
        single(t, ("k",), aggs=aggs)
    assert single(t.slice(0, 1), (), aggs=aggs).to_pylist() == [{"x": "a"}]
    assert single(t.slice(0, 0), (), aggs=aggs).to_pylist() == [{"x": None}]


def test_expand_emits_each_row_once_per_set_with_keys_nulled() -> None:
    t = pa.table({"a": [1, 2], "b": ["x", None], "v": [10, 20]})
    node = PExpand(input=source(t), keys=("a", "b"), names=("ga", "gb"), sets=((0, 1), (0,), ()), gid="gid")
    out = run_op(build_operator(node, TaskContext()), t, size=1)
    assert out.column_names == ["a", "b", "v", "ga", "gb", "gid"]
    rows = sorted(out.to_pylist(), key=lambda r: (r["gid"], r["a"]))
    assert [(r["a"], r["ga"], r["gb"], r["gid"]) for r in rows] == [
        (1, 1, "x", 0),
        (2, 2, None, 0),
        (1, 1, None, 1),
        (2, 2, None, 1),
        (1, None, None, 2),
        (2, None, None, 2),
    ]
    # the input columns pass unchanged, so aggregates over the keys still see them
    assert sorted(out.column("v").to_pylist()) == [10, 10, 10, 20, 20, 20]


def test_values_emits_its_rows_from_instance_zero_only() -> None:
    rows = (
        (Literal(value=1, type="int64"), Literal(value="a", type="string")),
        (Literal(value=None, type="null"), Literal(value="b", type="string")),
    )
    node = PValues(names=("x", "y"), types=("int64", "string"), rows=rows)
    out = pa.Table.from_batches(list(build_operator(node, TaskContext()).execute([])))
    assert out.to_pylist() == [{"x": 1, "y": "a"}, {"x": None, "y": "b"}]
    assert list(build_operator(node, TaskContext(instance=1, dop=2)).execute([])) == []
