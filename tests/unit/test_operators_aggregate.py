"""Hash aggregate in single, partial -> final and distinct forms, against DuckDB."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dataflow.errors import DataflowError
from dataflow.operators import TaskContext, build_operator
from dataflow.physical import PHashAggregate
from dataflow.specs import AggSpec
from tests.oracle import assert_same
from tests.unit.test_operators import duck, run, run_op, sample_table, source

AGGS = (
    AggSpec(name="c", fn="count", arg="i"),
    AggSpec(name="cs", fn="count_star"),
    AggSpec(name="si", fn="sum", arg="i"),
    AggSpec(name="sd", fn="sum", arg="d"),
    AggSpec(name="sf", fn="sum", arg="f"),
    AggSpec(name="ai", fn="avg", arg="i"),
    AggSpec(name="ad", fn="avg", arg="d"),
    AggSpec(name="mn", fn="min", arg="dt"),
    AggSpec(name="mx", fn="max", arg="d"),
    AggSpec(name="mg", fn="min", arg="g"),
    AggSpec(name="cs2", fn="count_star"),
)
AGG_SQL = (
    "count(i) as c, count(*) as cs, sum(i) as si, sum(d) as sd, sum(f) as sf, avg(i) as ai, "
    "avg(d) as ad, min(dt) as mn, max(d) as mx, min(g) as mg, count(*) as cs2"
)

EXPECTED_TYPES = {
    "c": pa.int64(),
    "cs": pa.int64(),
    "si": pa.decimal128(38, 0),  # DuckDB sums integers as HUGEINT
    "sd": pa.decimal128(38, 2),
    "sf": pa.float64(),
    "ai": pa.float64(),
    "ad": pa.float64(),
    "mn": pa.date32(),
    "mx": pa.decimal128(12, 2),
    "mg": pa.string(),
}


def single(t: pa.Table, keys: tuple[str, ...], aggs=AGGS, chunk_rows: int | None = None) -> pa.Table:
    node = PHashAggregate(input=source(t), mode="single", keys=keys, aggs=aggs)
    op = build_operator(node, TaskContext(batch_rows=97))
    if chunk_rows:
        op.chunk_rows = chunk_rows  # type: ignore[attr-defined]
    return run_op(op, t, size=50)


def partial_final(
    t: pa.Table, keys: tuple[str, ...], aggs=AGGS, instances: int = 3, chunk_rows: int = 100
) -> pa.Table:
    """Split ``t`` across instances, run partial on each, concatenate states, run final."""
    partial = PHashAggregate(input=source(t), mode="partial", keys=keys, aggs=aggs)
    states = []
    for i in range(instances):
        part = t.slice(
            i * t.num_rows // instances, (i + 1) * t.num_rows // instances - i * t.num_rows // instances
        )
        op = build_operator(partial, TaskContext(batch_rows=64))
        op.chunk_rows = chunk_rows  # type: ignore[attr-defined]
        states.append(run_op(op, part, size=30))
    final = PHashAggregate(input=partial, mode="final", keys=keys, aggs=aggs)
    op = build_operator(final, TaskContext())
    op.chunk_rows = chunk_rows  # type: ignore[attr-defined]
    return run_op(op, pa.concat_tables(states), size=40)


def expected(t: pa.Table, keys: tuple[str, ...], agg_sql: str = AGG_SQL) -> pa.Table:
    if keys:
        k = ", ".join(keys)
        return duck(f"select {k}, {agg_sql} from t group by {k}", t=t)
    return duck(f"select {agg_sql} from t", t=t)


@pytest.mark.parametrize("keys", [("k",), ("g", "k"), ("dt",), ()])
def test_single_matches_duckdb(keys: tuple[str, ...]) -> None:
    t = sample_table(3000, seed=1)
    out = single(t, keys)
    assert_same(out, expected(t, keys))
    for name, typ in EXPECTED_TYPES.items():
        assert out.schema.field(name).type == typ, name


@pytest.mark.parametrize("keys", [("k",), ("g", "k"), ()])
def test_single_in_chunks_matches_duckdb(keys: tuple[str, ...]) -> None:
    t = sample_table(3000, seed=2)
    assert_same(single(t, keys, chunk_rows=200), expected(t, keys))


@pytest.mark.parametrize("keys", [("k",), ("g", "k"), ("id",), ()])
def test_partial_final_matches_single_and_duckdb(keys: tuple[str, ...]) -> None:
    t = sample_table(3000, seed=5)
    out = partial_final(t, keys)
    assert_same(out, expected(t, keys))
    assert_same(out, single(t, keys))


def test_partial_states_have_contract_columns() -> None:
    t = sample_table(500)
    node = PHashAggregate(input=source(t), mode="partial", keys=("k",), aggs=AGGS)
    out = run(node, t)
    assert "ai__sum" in out.column_names and "ai__count" in out.column_names
    assert out.schema.field("ai__count").type == pa.int64()
    assert out.schema.field("ad__sum").type == pa.decimal128(38, 2)
    # NULL is its own group
    assert out.column("k").null_count == 1


def test_partial_does_not_hold_all_input() -> None:
    t = sample_table(5000, seed=6)
    node = PHashAggregate(input=source(t), mode="partial", keys=("k",), aggs=AGGS)
    op = build_operator(node, TaskContext())
    op.chunk_rows = 500  # type: ignore[attr-defined]
    sizes = []
    original = op._chunk_states  # type: ignore[attr-defined]

    def spy(chunk):
        sizes.append(chunk.num_rows)
        return original(chunk)

    op._chunk_states = spy  # type: ignore[attr-defined]
    out = run_op(op, t, size=100)
    assert len(sizes) == 10 and max(sizes) == 500
    assert out.num_rows == 21  # 20 keys and NULL


@pytest.mark.parametrize("mode", ["single", "partial_final"])
def test_global_aggregate_on_empty_input_gives_one_row(mode: str) -> None:
    t = sample_table(100).slice(0, 0)
    out = single(t, ()) if mode == "single" else partial_final(t, ())
    assert out.num_rows == 1
    row = out.to_pylist()[0]
    assert row["c"] == 0 and row["cs"] == 0 and row["cs2"] == 0
    assert all(row[n] is None for n in ("si", "sd", "sf", "ai", "ad", "mn", "mx", "mg"))
    assert_same(out, expected(t, ()))


def test_keyed_aggregate_on_empty_input_gives_no_rows() -> None:
    t = sample_table(100).slice(0, 0)
    assert single(t, ("k",)).num_rows == 0
    assert partial_final(t, ("k",)).num_rows == 0


def test_all_null_group_values() -> None:
    t = pa.table({"k": [1, 1, 2], "x": pa.array([None, None, 3], pa.int64())})
    node = PHashAggregate(
        input=source(t),
        mode="single",
        keys=("k",),
        aggs=(
            AggSpec(name="s", fn="sum", arg="x"),
            AggSpec(name="a", fn="avg", arg="x"),
            AggSpec(name="c", fn="count", arg="x"),
        ),
    )
    out = sorted(run(node, t).to_pylist(), key=lambda r: r["k"])
    assert out == [{"k": 1, "s": None, "a": None, "c": 0}, {"k": 2, "s": 3, "a": 3.0, "c": 1}]


DISTINCT_AGGS = (
    AggSpec(name="cd", fn="count", arg="i", distinct=True),
    AggSpec(name="sd", fn="sum", arg="k", distinct=True),
    AggSpec(name="ad", fn="avg", arg="d", distinct=True),
    AggSpec(name="s", fn="sum", arg="k"),
    AggSpec(name="cs", fn="count_star"),
    AggSpec(name="mx", fn="max", arg="g", distinct=True),
)
DISTINCT_SQL = "count(distinct i) as cd, sum(distinct k) as sd, avg(distinct d) as ad, sum(k) as s, count(*) as cs, max(distinct g) as mx"


@pytest.mark.parametrize("keys", [("g",), ("dt",), ()])
def test_distinct_aggregates_match_duckdb(keys: tuple[str, ...]) -> None:
    t = sample_table(2000, seed=7)
    out = single(t, keys, aggs=DISTINCT_AGGS)
    assert_same(out, expected(t, keys, DISTINCT_SQL))
    assert out.schema.field("sd").type == pa.decimal128(38, 0)


def test_distinct_global_on_empty_input() -> None:
    t = sample_table(10).slice(0, 0)
    out = single(t, (), aggs=DISTINCT_AGGS)
    assert out.to_pylist() == [{"cd": 0, "sd": None, "ad": None, "s": None, "cs": 0, "mx": None}]


def test_distinct_rejected_outside_single_mode() -> None:
    t = sample_table(10)
    node = PHashAggregate(input=source(t), mode="partial", keys=("k",), aggs=DISTINCT_AGGS[:1])
    with pytest.raises(DataflowError):
        build_operator(node, TaskContext())


def test_key_names_that_look_like_aggregate_outputs() -> None:
    t = pa.table({"count_all": [1, 1, 2], "x_sum": [1, 2, 3]})
    aggs = (AggSpec(name="n", fn="count_star"), AggSpec(name="s", fn="sum", arg="x_sum"))
    for distinct in (False, True):
        a = aggs + ((AggSpec(name="d", fn="count", arg="x_sum", distinct=True),) if distinct else ())
        out = single(t, ("count_all",), aggs=a)
        rows = sorted(out.to_pylist(), key=lambda r: r["count_all"])
        assert [(r["count_all"], r["n"], r["s"]) for r in rows] == [(1, 2, 3), (2, 1, 3)]
