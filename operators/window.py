"""Window functions over sorted partitions, vectorized with numpy.

The instance's input is materialized and sorted by (partition_by, order). Partition
starts and peer groups (rows with equal order keys) become boolean flags; from them
every row gets its partition start ``s`` and its frame end ``e``: the last row of its
peer group with an ORDER BY (SQL's default frame, RANGE UNBOUNDED PRECEDING to CURRENT
ROW), the partition's last row without. Aggregates over ``[s, e]`` are differences of
prefix sums (exact for integers and decimals) or, for min/max, segmented running
extremes of the values' dense ranks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflow.compute import aggregate_result_type
from dataflow.errors import UnsupportedError
from dataflow.physical import OrderSpec, WindowSpec
from dataflow.types import schema_to_arrow

from ._util import conform_table, rebatch, sort_indices, to_table
from .base import Operator, TaskContext

_FUNCTIONS = ("row_number", "rank", "dense_rank", "sum", "avg", "min", "max", "count", "count_star")


class Window(Operator):
    """Append one column per window function (``row_number``, ``rank``, ``dense_rank``,
    ``sum``, ``avg``, ``min``, ``max``, ``count``, ``count_star``) computed over the
    partitions of ``partition_by`` in ``order``; output rows come sorted by
    (partition_by, order)."""

    def __init__(self, node: Any, ctx: TaskContext, node_id: str = "0") -> None:
        super().__init__(node, ctx, node_id)
        self.input_schema = schema_to_arrow(node.input.schema)
        for f in node.funcs:
            if f.fn not in _FUNCTIONS:
                raise UnsupportedError(f"unsupported window function {f.fn!r}")

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        table = to_table(inputs[0], self.input_schema)
        n = table.num_rows
        if n == 0:
            return
        order = [OrderSpec(column=c) for c in self.node.partition_by] + list(self.node.order)
        if order:
            table = table.take(sort_indices(table, order))
        table = table.combine_chunks()

        part_flag = _changes(table, self.node.partition_by)
        peer_flag = part_flag | _changes(table, [o.column for o in self.node.order])
        part_id = np.cumsum(part_flag) - 1
        part_starts = np.flatnonzero(part_flag)
        s = part_starts[part_id]
        peer_id = np.cumsum(peer_flag) - 1
        peer_starts = np.flatnonzero(peer_flag)
        if self.node.order:
            ends = np.append(peer_starts[1:], n) - 1
            e = ends[peer_id]
        else:
            ends = np.append(part_starts[1:], n) - 1
            e = ends[part_id]
        frame = _Frame(s=s, e=e, part_id=part_id, n_parts=len(part_starts))

        columns = list(table.columns)
        out_fields = list(self.schema)[len(self.input_schema) :]
        for f, field in zip(self.node.funcs, out_fields, strict=True):
            if f.fn == "row_number":
                col: pa.Array = pa.array(np.arange(n, dtype=np.int64) - s + 1)
            elif f.fn == "rank":
                col = pa.array(peer_starts[peer_id] - s + 1)
            elif f.fn == "dense_rank":
                col = pa.array(peer_id - peer_id[s] + 1)
            else:
                col = self._aggregate(f, table, frame, field.type)
            columns.append(col)
        out = pa.Table.from_arrays(columns, names=self.schema.names)
        yield from rebatch(conform_table(out, self.schema), self.ctx.batch_rows)

    def _aggregate(self, f: WindowSpec, table: pa.Table, frame: _Frame, out_type: pa.DataType) -> pa.Array:
        if f.fn == "count_star":
            return pa.array(frame.e - frame.s + 1)
        arr = (
            table.column(f.arg).chunk(0)
            if table.column(f.arg).num_chunks
            else pa.array([], table.schema.field(f.arg).type)
        )
        valid = _valid(arr)
        count = frame.diff(np.cumsum(valid, dtype=np.int64))
        if f.fn == "count":
            return pa.array(count)
        empty = count == 0
        if f.fn in ("min", "max"):
            return _running_extreme(arr, valid, f.fn, frame)
        sum_t = out_type if f.fn == "sum" else aggregate_result_type("sum", arr.type)
        total = _frame_sum(arr, sum_t, frame, empty)
        if f.fn == "sum":
            return total
        return pc.divide(total.cast(pa.float64()), pa.array(np.where(empty, 1, count).astype(np.float64)))


class _Frame:
    """Per row: partition start ``s``, frame end ``e`` (inclusive), partition number."""

    def __init__(self, s: np.ndarray, e: np.ndarray, part_id: np.ndarray, n_parts: int) -> None:
        self.s, self.e, self.part_id, self.n_parts = s, e, part_id, n_parts

    def diff(self, prefix: np.ndarray) -> np.ndarray:
        """Sum over each row's frame, from ``prefix`` (inclusive prefix sums)."""
        before = np.where(self.s > 0, prefix[np.maximum(self.s - 1, 0)], 0)
        return prefix[self.e] - before


def _valid(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return arr.is_valid().to_numpy(zero_copy_only=False)


def _changes(table: pa.Table, columns: list[str] | tuple[str, ...]) -> np.ndarray:
    """True at row 0 and wherever any of ``columns`` differs from the previous row
    (NULL equals NULL, NaN equals NaN)."""
    n = table.num_rows
    flag = np.zeros(n, dtype=bool)
    flag[0] = True
    for c in columns:
        arr = table.column(c).chunk(0)
        a, b = arr.slice(1), arr.slice(0, n - 1)
        ne = pc.fill_null(pc.not_equal(a, b), False)
        if pa.types.is_floating(arr.type):
            ne = pc.and_(ne, pc.invert(pc.and_(pc.is_nan(a), pc.is_nan(b))))
            ne = pc.fill_null(ne, False)
        differ = pc.or_(ne, pc.xor(a.is_null(), b.is_null()))
        flag[1:] |= differ.to_numpy(zero_copy_only=False)
    return flag


def _frame_sum(arr: pa.Array, sum_t: pa.DataType, frame: _Frame, empty: np.ndarray) -> pa.Array:
    """SUM over each row's frame, NULL where the frame has no value."""
    vals = pc.fill_null(
        arr.cast(sum_t), pa.scalar(0, sum_t) if not pa.types.is_decimal(sum_t) else pa.scalar(0).cast(sum_t)
    )
    if pa.types.is_decimal(sum_t):
        return _decimal_frame_sum(vals, frame, empty)
    dtype = np.float64 if pa.types.is_floating(sum_t) else np.int64
    # int64 prefix sums may wrap around; their differences are still exact (mod 2**64)
    prefix = np.cumsum(vals.to_numpy(zero_copy_only=False).astype(dtype, copy=False))
    return pa.array(frame.diff(prefix), type=sum_t, mask=empty)


_M32 = np.uint64(0xFFFFFFFF)


def _decimal_frame_sum(vals: pa.Array, frame: _Frame, empty: np.ndarray) -> pa.Array:
    """Exact decimal128 frame sums: the 128-bit unscaled values are split into 32, 32
    and 64 bit limbs whose int64 prefix sums cannot overflow, then recombined."""
    t = vals.type
    n = len(vals)
    if vals.offset:
        vals = pa.concat_arrays([vals])
    words = np.frombuffer(vals.buffers()[1], dtype="<u8")[: 2 * n].reshape(n, 2)
    lo, hi = words[:, 0], words[:, 1].view(np.int64)
    d0 = frame.diff(np.cumsum((lo & _M32).astype(np.int64)))
    d1 = frame.diff(np.cumsum((lo >> np.uint64(32)).astype(np.int64)))
    d2 = frame.diff(np.cumsum(hi))
    carry0 = d0 >> 32
    t1 = d1 + carry0
    out = np.empty((n, 2), dtype=np.uint64)
    out[:, 0] = ((t1.astype(np.uint64) & _M32) << np.uint64(32)) | (d0.astype(np.uint64) & _M32)
    out[:, 1] = (d2 + (t1 >> 32)).view(np.uint64)
    data = pa.py_buffer(out.tobytes())
    validity = pa.array(~empty).buffers()[1] if empty.any() else None
    return pa.Array.from_buffers(t, n, [validity, data], null_count=int(empty.sum()))


def _running_extreme(arr: pa.Array, valid: np.ndarray, fn: str, frame: _Frame) -> pa.Array:
    """MIN or MAX over each row's frame: a running extreme of dense ranks, kept apart
    per partition by offsetting each partition's keys past all earlier ones."""
    n = len(arr)
    ranks = pc.rank(arr, sort_keys="ascending", tiebreaker="dense").to_numpy().astype(np.int64)
    width = (int(ranks[valid].max()) if valid.any() else 0) + 2
    part = frame.part_id.astype(np.int64)
    if fn == "min":
        base = (frame.n_parts - part) * width  # earlier partitions get larger keys
        keys = base + np.where(valid, ranks, width - 1)
        best = np.minimum.accumulate(keys)[frame.e] - base
        missing = best == width - 1
    else:
        base = part * width  # earlier partitions get smaller keys
        keys = base + np.where(valid, ranks, 0)
        best = np.maximum.accumulate(keys)[frame.e] - base
        missing = best == 0
    row_of_rank = np.zeros(width, dtype=np.int64)
    row_of_rank[ranks[valid]] = np.flatnonzero(valid)
    idx = pa.array(row_of_rank[np.where(missing, 0, best)], mask=missing)
    return arr.take(idx) if n else arr
