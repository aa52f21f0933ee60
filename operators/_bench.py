"""Micro-benchmarks of the operators (a development tool, not used by the engine).

    python -m dataflow.operators._bench [probe_rows] [build_rows] [batch_rows]

Hash join: the streaming HashJoin operator (hash table built once) against calling
``pa.Table.join`` once per probe batch (hash table rebuilt every call), and peak RSS
growth while a slow consumer drains the join. Also times the aggregate, sort and
window operators on the same data.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from dataflow.logical import MemorySource
from dataflow.physical import PHashAggregate, PHashJoin, PScan, PSort, PWindow
from dataflow.specs import AggSpec, OrderSpec, WindowSpec
from dataflow.types import schema_from_arrow

from . import TaskContext, build_operator


def _source(schema: pa.Schema, name: str) -> PScan:
    s = schema_from_arrow(schema)
    return PScan(
        table=name,
        source=MemorySource(table_id=name, num_rows=0),
        table_schema=s,
        columns=tuple(f.name for f in s),
    )


def _probe(rows: int, batch_rows: int, keys: int, seed: int = 0) -> Iterator[pa.RecordBatch]:
    rng = np.random.default_rng(seed)
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        yield pa.record_batch(
            {"k": rng.integers(0, keys, n), "v": rng.random(n), "g": rng.integers(0, 1000, n)}
        )


def main(probe_rows: int = 1_000_000, build_rows: int = 200_000, batch_rows: int = 8192) -> None:
    rng = np.random.default_rng(1)
    build = pa.table({"bk": np.arange(build_rows), "bv": rng.random(build_rows)})
    probe_schema = pa.schema([("k", pa.int64()), ("v", pa.float64()), ("g", pa.int64())])
    node = PHashJoin(
        left=_source(probe_schema, "l"),
        right=_source(build.schema, "r"),
        how="inner",
        left_keys=("k",),
        right_keys=("bk",),
    )
    keys = 2 * build_rows  # half the probe rows match

    t0 = time.perf_counter()
    op = build_operator(node, TaskContext(batch_rows=batch_rows))
    rows = sum(
        b.num_rows for b in op.execute([_probe(probe_rows, batch_rows, keys), iter(build.to_batches())])
    )
    t_op = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows_naive = 0
    for b in _probe(probe_rows, batch_rows, keys):
        rows_naive += pa.Table.from_batches([b]).join(build, "k", "bk", join_type="inner").num_rows
    t_naive = time.perf_counter() - t0
    assert rows == rows_naive, (rows, rows_naive)
    print(
        f"hash join: {probe_rows:,} probe rows in batches of {batch_rows:,} x {build_rows:,} build rows "
        f"-> {rows:,} rows: HashJoin {t_op:.2f}s, Table.join per batch {t_naive:.2f}s ({t_naive / t_op:.1f}x)"
    )

    # Arrow memory while a slow consumer drains a larger join, with and without the gate
    for label, window in (("gated", None), ("ungated", 10**9)):
        op = build_operator(node, TaskContext(batch_rows=batch_rows))
        if window is not None:
            op.gate_window = window  # type: ignore[attr-defined]
            op.gate_rows = 10**12  # type: ignore[attr-defined]
        base = pa.total_allocated_bytes()
        peak = n = 0
        for b in op.execute([_probe(4 * probe_rows, batch_rows, keys), iter(build.to_batches())]):
            n += b.num_rows
            peak = max(peak, pa.total_allocated_bytes() - base)
            time.sleep(0.01)  # a slow consumer
        print(
            f"hash join, slow consumer, {label}: {4 * probe_rows:,} probe rows -> {n * 32 / 2**20:,.0f} MB of output, "
            f"peak Arrow memory {peak / 2**20:,.0f} MB"
        )

    data = pa.Table.from_batches(list(_probe(probe_rows, 128 * 1024, 1000)))
    for label, pnode in [
        (
            "aggregate (single, 1000 groups, sum/avg/count/min)",
            PHashAggregate(
                input=_source(data.schema, "t"),
                mode="single",
                keys=("g",),
                aggs=(
                    AggSpec(name="s", fn="sum", arg="v"),
                    AggSpec(name="a", fn="avg", arg="k"),
                    AggSpec(name="c", fn="count_star"),
                    AggSpec(name="m", fn="min", arg="v"),
                ),
            ),
        ),
        (
            "sort (2 keys)",
            PSort(
                input=_source(data.schema, "t"),
                order=(OrderSpec(column="g"), OrderSpec(column="v", ascending=False)),
            ),
        ),
        (
            "window (1000 partitions, rank + running sum + running max)",
            PWindow(
                input=_source(data.schema, "t"),
                partition_by=("g",),
                order=(OrderSpec(column="k"),),
                funcs=(
                    WindowSpec(name="r", fn="rank"),
                    WindowSpec(name="s", fn="sum", arg="v"),
                    WindowSpec(name="m", fn="max", arg="v"),
                ),
            ),
        ),
    ]:
        t0 = time.perf_counter()
        out = sum(b.num_rows for b in build_operator(pnode, TaskContext()).execute([iter(data.to_batches())]))
        print(f"{label}: {data.num_rows:,} rows -> {out:,} in {time.perf_counter() - t0:.2f}s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
