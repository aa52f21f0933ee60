"""Scan: morsel planning with row-group pruning by Parquet statistics, and reading the
morsels handed out through the TaskContext."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataflow.expr import col, lit
from dataflow.logical import MemorySource, ParquetSource
from dataflow.operators import Morsel, TaskContext, build_operator
from dataflow.operators.scan import plan_morsels
from dataflow.physical import PScan
from dataflow.types import schema_from_arrow
from tests.oracle import assert_same
from tests.unit.test_operators import duck

ROWS = 1000
GROUP = 100  # rows per row group: 10 row groups per file


def make_table(offset: int = 0) -> pa.Table:
    """Columns sorted by row number so that row groups have disjoint ranges."""
    i = np.arange(offset, offset + ROWS)
    group = (i // GROUP) % 10
    null_n = (group == 5) | (((group == 3) | (group == 7)) & (i % 10 == 0))
    return pa.table(
        {
            "i": pa.array(i, pa.int64()),
            "s": pa.array([f"s{v:05d}" for v in i], pa.string_view()),
            "d": pa.array([decimal.Decimal(int(v)).scaleb(-2) for v in i], pa.decimal128(10, 2)),
            "dt": pa.array(i.astype(np.int32) + 8000, pa.int32()).cast(pa.date32()),
            # NULL in row groups 3 and 7 only; all NULL in row group 5
            "n": pa.array(i % 7, pa.int64(), mask=null_n),
            "f": pa.array(np.where(i % 50 == 0, np.nan, 1.0)),
            "cat": pa.array(np.array(["x", "y"])[i % 2]).dictionary_encode(),
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("scan")
    paths = []
    for k in range(2):
        p = d / f"part{k}.parquet"
        pq.write_table(make_table(k * ROWS), p, row_group_size=GROUP)
        paths.append(str(p))
    return paths


def scan_node(paths: list[str], predicate=None, columns: tuple[str, ...] | None = None) -> PScan:
    schema = schema_from_arrow(pq.read_schema(paths[0]))
    return PScan(
        table="t",
        source=ParquetSource(paths=tuple(paths)),
        table_schema=schema,
        columns=columns if columns is not None else tuple(f.name for f in schema),
        predicate=None if predicate is None else predicate.node,
    )


def run_scan(node: PScan, morsels: list[Morsel], batch_rows: int = 64, instances: int = 1) -> pa.Table:
    """Instances pop morsels from one shared list, as the runtime hands them out."""
    queue = list(morsels)
    asked: list[str] = []

    def next_morsel(key: str) -> Morsel | None:
        asked.append(key)
        return queue.pop(0) if queue else None

    out = []
    ops = [
        build_operator(
            node,
            TaskContext(instance=i, dop=instances, next_morsel=next_morsel, batch_rows=batch_rows),
            node_id="scan7",
        )
        for i in range(instances)
    ]
    streams = [op.execute([]) for op in ops]
    while streams:  # interleave instances
        for s in list(streams):
            b = next(s, None)
            if b is None:
                streams.remove(s)
                continue
            assert b.schema.equals(ops[0].schema) and 0 < b.num_rows <= batch_rows
            out.append(b)
    assert set(asked) == {"scan7"}
    return pa.Table.from_batches(out, schema=ops[0].schema)


def duck_rows(paths: list[str], where: str, columns: str = "*") -> pa.Table:
    # the data goes to DuckDB in memory: its own Parquet reader drops NaN rows of
    # row groups whose statistics say min = max = 1.0 for ``f <> 1.0``
    t = pa.concat_tables([pq.read_table(p) for p in paths])
    return duck(f"select {columns} from t where {where}", t=t)


PRUNING = [
    # predicate, SQL, row groups kept (of 20)
    (col("i") == 250, "i = 250", 1),
    (col("i") < 150, "i < 150", 2),
    (lit(1850) <= col("i"), "1850 <= i", 2),
    (col("i").between(420, 610), "i between 420 and 610", 3),
    (col("i").isin([5, 1999, None]), "i in (5, 1999)", 2),
    ((col("i") > 300) & (col("s") < "s00450"), "i > 300 and s < 's00450'", 2),
    ((col("i") < 100) | (col("i") >= 1900), "i < 100 or i >= 1900", 2),
    (col("d") >= lit(decimal.Decimal("18.50")), "d >= 18.50", 2),
    (col("dt") < lit(dt.date(1991, 12, 8)), "dt < DATE '1991-12-08'", 1),
    (col("dt") > lit("1996-12-20"), "dt > DATE '1996-12-20'", 2),  # string literal parsed as a date
    (col("n").is_null(), "n is null", 6),  # row groups 3, 5, 7 of each file
    (col("n").is_not_null(), "n is not null", 18),
    (col("n") == 3, "n = 3", 18),  # the all-NULL row groups go
    (col("f") != 1.0, "f <> 1.0", 20),  # NaN is not in the statistics: no pruning
    (col("i") + 1 == 5, "i + 1 = 5", 20),  # not of the form column <op> literal
]


@pytest.mark.parametrize("pred,sql,kept", PRUNING, ids=[p[1] for p in PRUNING])
def test_scan_prunes_row_groups_and_filters_rows(files: list[str], pred, sql: str, kept: int) -> None:
    node = scan_node(files, pred)
    morsels = plan_morsels(node, 64)
    assert len(morsels) == kept
    assert len(plan_morsels(scan_node(files), 64)) == 20
    out = run_scan(node, morsels)
    expected = duck_rows(files, sql)
    assert out.schema.field("s").type == pa.string() and out.schema.field("cat").type == pa.string()
    assert_same(out, expected.cast(out.schema))


def test_scan_reads_predicate_columns_it_does_not_output(files: list[str]) -> None:
    node = scan_node(files, (col("i") >= 1990) & (col("s") != "s01995"), columns=("d", "dt"))
    out = run_scan(node, plan_morsels(node, 64), instances=3)
    assert out.column_names == ["d", "dt"]
    assert_same(out, duck_rows(files, "i >= 1990 and s <> 's01995'", "d, dt"))


def test_scan_shares_morsels_between_instances(files: list[str]) -> None:
    node = scan_node(files, col("i") % 3 == 0)
    out = run_scan(node, plan_morsels(node, 64), instances=3, batch_rows=30)
    assert sorted(out.column("i").to_pylist()) == list(range(0, 2 * ROWS, 3))


def test_memory_scan(files: list[str]) -> None:
    table = make_table()
    schema = schema_from_arrow(table.schema)
    node = PScan(
        table="m",
        source=MemorySource(table_id="m1", num_rows=table.num_rows),
        table_schema=schema,
        columns=("i", "s"),
        predicate=(col("i") % 10 == 1).node,
    )
    morsels = plan_morsels(node, 128)
    assert [m.length for m in morsels] == [128] * 7 + [104]
    queue = list(morsels)
    ctx = TaskContext(
        next_morsel=lambda key: queue.pop(0) if queue else None,
        get_table={"m1": table}.__getitem__,
        batch_rows=50,
    )
    out = pa.Table.from_batches(list(build_operator(node, ctx).execute([])))
    assert out.schema.field("s").type == pa.string()
    assert out.column("i").to_pylist() == list(range(1, ROWS, 10))


def test_scan_without_morsel_callback_takes_its_share(files: list[str]) -> None:
    node = scan_node(files, col("i") < 500)
    total = []
    for i in range(2):
        op = build_operator(node, TaskContext(instance=i, dop=2))
        total += pa.Table.from_batches(list(op.execute([])), schema=op.schema).column("i").to_pylist()
    assert sorted(total) == list(range(500))


def test_decimal_and_string_statistics_are_compared_as_values(tmp_path: Path) -> None:
    t = pa.table(
        {
            "d": pa.array(
                [decimal.Decimal("-2.50"), decimal.Decimal("10.00"), decimal.Decimal("100.25")],
                pa.decimal128(7, 2),
            ),
            "s": pa.array(["b", "ab", "é"], pa.string()),
        }
    )
    p = tmp_path / "x.parquet"
    pq.write_table(t, p, row_group_size=1)
    cases = [
        (col("d") < lit(decimal.Decimal("0")), 1),
        (col("d") > 9, 2),  # an int literal against decimal statistics
        (col("s") >= "b", 2),  # 'é' sorts after 'b' (UTF-8 bytes)
        (col("s") == "ab", 1),
    ]
    for pred, kept in cases:
        assert len(plan_morsels(scan_node([str(p)], pred), 10)) == kept, pred


def test_scan_without_output_columns_counts_rows(files: list[str]) -> None:
    node = scan_node(files, col("i") < 250, columns=())
    out = run_scan(node, plan_morsels(node, 64))
    assert out.num_columns == 0 and out.num_rows == 250
