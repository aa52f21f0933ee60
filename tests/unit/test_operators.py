"""Runtime operators fed with lists of batches (no Ray): dispatch, filter, project,
sort, topk, limit, union. Helpers here are shared by the other ``test_operators_*``
modules."""

from __future__ import annotations

import decimal
from collections.abc import Iterator, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from dataflow.errors import DataflowError
from dataflow.expr import col, lit
from dataflow.logical import MemorySource
from dataflow.operators import TaskContext, build_operator
from dataflow.operators.base import Operator
from dataflow.physical import (
    PExchange,
    PFilter,
    PLimit,
    PProject,
    PScan,
    PSort,
    PTopK,
    PUnion,
)
from dataflow.specs import OrderSpec
from dataflow.types import schema_from_arrow
from tests.oracle import assert_same

# -- helpers -------------------------------------------------------------------------------


def source(table: pa.Table | pa.Schema, name: str = "t") -> PScan:
    """A plan node standing for an input with ``table``'s schema."""
    schema = schema_from_arrow(table if isinstance(table, pa.Schema) else table.schema)
    n = 0 if isinstance(table, pa.Schema) else table.num_rows
    return PScan(
        table=name,
        source=MemorySource(table_id=name, num_rows=n),
        table_schema=schema,
        columns=tuple(f.name for f in schema),
    )


def batches(data: pa.Table | Sequence[pa.RecordBatch], size: int | None = None) -> list[pa.RecordBatch]:
    """A table cut into batches of ``size`` rows (some empty batches mixed in)."""
    if not isinstance(data, pa.Table):
        return list(data)
    out = data.to_batches(max_chunksize=size or max(1, data.num_rows // 3 + 1))
    return out + [pa.RecordBatch.from_pylist([], schema=data.schema)]


def run_op(op: Operator, *inputs: pa.Table | Sequence[pa.RecordBatch], size: int | None = None) -> pa.Table:
    """Run an operator over inputs and check every output batch has exactly its schema."""
    out = list(op.execute([iter(batches(x, size)) for x in inputs]))
    for b in out:
        assert b.schema.equals(op.schema), (b.schema, op.schema)
        assert b.num_rows > 0
    return pa.Table.from_batches(out, schema=op.schema)


def run(
    node,
    *inputs: pa.Table | Sequence[pa.RecordBatch],
    ctx: TaskContext | None = None,
    size: int | None = None,
) -> pa.Table:
    return run_op(build_operator(node, ctx or TaskContext()), *inputs, size=size)


def duck(sql: str, **tables: pa.Table) -> pa.Table:
    """Run ``sql`` in DuckDB over the given pyarrow tables (by name)."""
    con = duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
    return con.sql(sql).to_arrow_table()


def sample_table(n: int = 2000, seed: int = 0) -> pa.Table:
    """Mixed types with NULLs: int keys, strings, decimals, floats, dates."""
    rng = np.random.default_rng(seed)

    def nulls(p: float = 0.1) -> np.ndarray:
        return rng.random(n) < p

    return pa.table(
        {
            "id": pa.array(np.arange(n), pa.int64()),
            "k": pa.array(rng.integers(0, 20, n), pa.int64(), mask=nulls(0.05)),
            "g": pa.array(rng.choice(["a", "b", "c", "dd"], n), pa.string(), mask=nulls(0.05)),
            "i": pa.array(rng.integers(-1000, 1000, n).astype(np.int32), pa.int32(), mask=nulls()),
            "d": pa.array(
                [decimal.Decimal(int(v)).scaleb(-2) for v in rng.integers(-(10**6), 10**6, n)],
                pa.decimal128(12, 2),
                mask=nulls(),
            ),
            "f": pa.array(rng.normal(size=n), pa.float64(), mask=nulls()),
            "dt": pa.array(rng.integers(8000, 9000, n).astype(np.int32), pa.int32(), mask=nulls()).cast(
                pa.date32()
            ),
        }
    )


# -- dispatch --------------------------------------------------------------------------------


def test_build_operator_rejects_exchange() -> None:
    t = sample_table(10)
    node = PExchange(input=source(t), mode="hash", keys=("k",))
    with pytest.raises(DataflowError, match="Exchange"):
        build_operator(node, TaskContext())


def test_operators_are_lazy() -> None:
    t = sample_table(10)
    pulled = []

    def stream() -> Iterator[pa.RecordBatch]:
        pulled.append(1)
        yield from t.to_batches()

    op = build_operator(PSort(input=source(t), order=(OrderSpec(column="k"),)), TaskContext())
    gen = op.execute([stream()])
    assert not pulled
    next(gen)
    assert pulled


# -- filter / project ------------------------------------------------------------------------


def test_filter_matches_duckdb() -> None:
    t = sample_table()
    pred = ((col("i") > 100) & col("g").isin(["a", "dd"])) | col("f").is_null()
    out = run(PFilter(input=source(t), predicate=pred.node), t)
    expected = duck("select * from t where (i > 100 and g in ('a', 'dd')) or f is null", t=t)
    assert_same(out, expected)


def test_filter_skips_empty_outputs() -> None:
    t = sample_table(100)
    op = build_operator(PFilter(input=source(t), predicate=(col("i") > 10**6).node), TaskContext())
    assert list(op.execute([iter(t.to_batches(max_chunksize=10))])) == []


def test_project_matches_duckdb_and_schema() -> None:
    t = sample_table()
    exprs = (
        col("k").named(),
        (col("i") * 2 + 1).alias("x").named(),
        (col("d") * lit(2)).alias("d2").named(),
        col("g").upper().alias("G").named(),
    )
    node = PProject(input=source(t), exprs=exprs)
    out = run(node, t)
    assert out.schema.field("x").type == pa.int64() or out.schema.field("x").type == pa.int32()
    expected = duck("select k, i * 2 + 1 as x, d * 2 as d2, upper(g) as G from t", t=t)
    assert_same(out, expected)


# -- sort / topk / limit / union ----------------------------------------------------------


@pytest.mark.parametrize(
    "order,sql",
    [
        ((OrderSpec(column="k"), OrderSpec(column="i", ascending=False)), "k, i desc"),
        ((OrderSpec(column="g", nulls_first=True), OrderSpec(column="f")), "g nulls first, f"),
        (
            (
                OrderSpec(column="d", ascending=False),
                OrderSpec(column="dt", ascending=False, nulls_first=True),
            ),
            "d desc, dt desc nulls first",
        ),
    ],
)
def test_sort_matches_duckdb(order: tuple[OrderSpec, ...], sql: str) -> None:
    t = sample_table(1500)
    out = run(PSort(input=source(t), order=order), t, ctx=TaskContext(batch_rows=100))
    expected = duck(f"select * from t order by {sql}", t=t)
    keys = [o.column for o in order]
    # compare the key columns in order (ties may come in any order), and the row sets
    assert_same(out.select(keys), expected.select(keys), ordered=True)
    assert_same(out, expected)


def test_sort_nulls_last_by_default_also_descending() -> None:
    t = pa.table({"x": [3, None, 1, 2]})
    out = run(PSort(input=source(t), order=(OrderSpec(column="x", ascending=False),)), t)
    assert out.column("x").to_pylist() == [3, 2, 1, None]
    out = run(PSort(input=source(t), order=(OrderSpec(column="x"),)), t)
    assert out.column("x").to_pylist() == [1, 2, 3, None]


@pytest.mark.parametrize("k", [0, 1, 7, 100, 5000])
def test_topk_matches_sort(k: int) -> None:
    t = sample_table(3000, seed=3)
    order = (
        OrderSpec(column="g", ascending=False),
        OrderSpec(column="i", nulls_first=True),
        OrderSpec(column="f"),
        OrderSpec(column="id"),
    )
    out = run(PTopK(input=source(t), order=order, k=k), t, ctx=TaskContext(batch_rows=64), size=50)
    expected = duck(f"select * from t order by g desc, i nulls first, f, id limit {k}", t=t)
    assert_same(out, expected, ordered=True)


def test_topk_streams_with_bounded_memory() -> None:
    t = sample_table(5000, seed=4)
    op = build_operator(
        PTopK(input=source(t), order=(OrderSpec(column="f"),), k=10), TaskContext(batch_rows=100)
    )
    merges = []
    original = op._merge  # type: ignore[attr-defined]

    def spy(top, buffer):
        merges.append(sum(b.num_rows for b in buffer) + (0 if top is None else top.num_rows))
        return original(top, buffer)

    op._merge = spy  # type: ignore[attr-defined]
    out = run_op(op, t, size=50)
    assert out.num_rows == 10
    assert len(merges) > 10 and max(merges) <= 100 + 10 + 50


@pytest.mark.parametrize("limit,offset", [(10, 0), (10, 5), (0, 3), (None, 990), (1000, 995), (5, 2000)])
def test_limit_with_offset(limit: int | None, offset: int) -> None:
    t = pa.table({"x": np.arange(1000)})
    out = run(PLimit(input=source(t), limit=limit, offset=offset), t, size=7)
    stop = 1000 if limit is None else offset + limit
    assert out.column("x").to_pylist() == list(range(1000))[offset:stop]


def test_limit_stops_pulling_input() -> None:
    t = pa.table({"x": np.arange(100)})
    pulled = []

    def stream() -> Iterator[pa.RecordBatch]:
        for b in t.to_batches(max_chunksize=10):
            pulled.append(b.num_rows)
            yield b

    op = build_operator(PLimit(input=source(t), limit=15, offset=3), TaskContext())
    out = pa.Table.from_batches(list(op.execute([stream()])))
    assert out.column("x").to_pylist() == list(range(3, 18))
    assert len(pulled) == 2


def test_union_concatenates_and_casts() -> None:
    a = pa.table({"x": pa.array([1, 2], pa.int64()), "s": pa.array(["a", None], pa.string())})
    b = pa.table({"y": pa.array([3], pa.int32()), "s2": pa.array(["c"], pa.large_string())})
    node = PUnion(inputs=(source(a, "a"), source(b, "b")))
    out = run(node, a, b)
    assert out.column_names == ["x", "s"]
    assert out.to_pylist() == [{"x": 1, "s": "a"}, {"x": 2, "s": None}, {"x": 3, "s": "c"}]


def test_zero_column_batches_keep_their_rows() -> None:
    """count(*) plans project no columns: the row count must survive."""
    from dataflow.physical import PHashAggregate
    from dataflow.specs import AggSpec

    t = sample_table(500)
    project = PProject(input=source(t), exprs=())
    op = build_operator(project, TaskContext())
    out = list(op.execute([iter(t.to_batches(max_chunksize=128))]))
    assert [b.num_columns for b in out] == [0] * 4 and sum(b.num_rows for b in out) == 500
    agg = PHashAggregate(input=project, mode="single", keys=(), aggs=(AggSpec(name="n", fn="count_star"),))
    assert run_op(build_operator(agg, TaskContext()), out).to_pylist() == [{"n": 500}]
    partial = PHashAggregate(
        input=project, mode="partial", keys=(), aggs=(AggSpec(name="n", fn="count_star"),)
    )
    states = run_op(build_operator(partial, TaskContext()), out)
    final = PHashAggregate(input=partial, mode="final", keys=(), aggs=(AggSpec(name="n", fn="count_star"),))
    assert run_op(build_operator(final, TaskContext()), states).to_pylist() == [{"n": 500}]
