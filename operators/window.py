"""Window functions over sorted partitions, vectorized with numpy.

The instance's input is materialized and sorted by (partition_by, order). Partition
starts and peer groups (rows with equal order keys) become boolean flags; from them
every row gets its partition's first and last row and its peer group's first and last
row, and from those each function's frame ``[lo, hi]``: ROWS bounds are offsets from
the row clamped to the partition, RANGE bounds are the partition's ends or the row's
peers (the default frame with an ORDER BY is RANGE UNBOUNDED PRECEDING to CURRENT ROW,
the whole partition without). Aggregates over ``[lo, hi]`` are differences of prefix
sums (exact for integers and decimals); min/max are running extremes of the values'
dense ranks when frames start at the partition's start, else range-minimum queries
over a sparse table. lag/lead, first/last/nth_value are takes at computed positions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflow.compute import aggregate_result_type
from dataflow.errors import UnsupportedError
from dataflow.physical import PWindow
from dataflow.specs import OrderSpec, WindowSpec
from dataflow.types import conform_table, schema_to_arrow

from . import operator
from ._util import rebatch, sort_indices, to_table
from .base import Operator, TaskContext

_FUNCTIONS = (
    "row_number",
    "rank",
    "dense_rank",
    "ntile",
    "percent_rank",
    "cume_dist",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "count_star",
)


@operator(PWindow)
class Window(Operator):
    """Append one column per window function (see :data:`_FUNCTIONS`) computed over the
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
        pend = (np.append(part_starts[1:], n) - 1)[part_id]
        peer_id = np.cumsum(peer_flag) - 1
        peer_starts = np.flatnonzero(peer_flag)
        ps = peer_starts[peer_id]
        pe = (np.append(peer_starts[1:], n) - 1)[peer_id]
        rows = _Rows(s=s, pend=pend, ps=ps, pe=pe, part_id=part_id, n_parts=len(part_starts))

        columns = list(table.columns)
        out_fields = list(self.schema)[len(self.input_schema) :]
        idx = np.arange(n, dtype=np.int64)
        for f, field in zip(self.node.funcs, out_fields, strict=True):
            size = pend - s + 1
            if f.fn == "row_number":
                col: Any = pa.array(idx - s + 1)
            elif f.fn == "rank":
                col = pa.array(ps - s + 1)
            elif f.fn == "dense_rank":
                col = pa.array(peer_id - peer_id[s] + 1)
            elif f.fn == "percent_rank":
                col = pa.array(np.where(size > 1, (ps - s) / np.maximum(size - 1, 1), 0.0))
            elif f.fn == "cume_dist":
                col = pa.array((pe - s + 1) / size)
            elif f.fn == "ntile":
                col = pa.array(_ntile(idx - s, size, int(f.param or 1)))
            elif f.fn in ("lag", "lead"):
                col = self._shift(f, table, rows, idx, field.type)
            else:
                lo, hi = self._frame(f, rows, idx)
                frame = _Frame(s=lo, e=hi, part_id=part_id, n_parts=len(part_starts))
                if f.fn in ("first_value", "last_value", "nth_value"):
                    col = self._value_at(f, table, frame, field.type)
                else:
                    col = self._aggregate(f, table, frame, field.type, running=bool((lo == s).all()))
            columns.append(col)
        out = pa.Table.from_arrays(columns, names=self.schema.names)
        yield from rebatch(conform_table(out, self.schema), self.ctx.batch_rows)

    def _frame(self, f: WindowSpec, rows: _Rows, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's frame ``[lo, hi]`` (``lo > hi``: empty)."""
        frame = f.frame
        if frame is None:
            frame = ("range", None, 0) if self.node.order else ("rows", None, None)
        kind, start, end = frame
        if kind == "rows":
            lo = rows.s if start is None else np.maximum(rows.s, idx + start)
            hi = rows.pend if end is None else np.minimum(rows.pend, idx + end)
        elif kind == "range" and start in (None, 0) and end in (None, 0):
            lo = rows.s if start is None else rows.ps
            hi = rows.pend if end is None else rows.pe
        else:
            raise UnsupportedError(f"the window frame {frame} is not supported")
        return lo, hi

    def _shift(
        self, f: WindowSpec, table: pa.Table, rows: _Rows, idx: np.ndarray, out_type: pa.DataType
    ) -> Any:
        """lag/lead: the value ``param`` rows before/after within the partition, else
        the default (NULL without one)."""
        k = int(f.param if f.param is not None else 1)
        src = idx - k if f.fn == "lag" else idx + k
        inside = (src >= rows.s) & (src <= rows.pend)
        arr = _column(table, f.arg)
        got = arr.take(pa.array(np.where(inside, src, 0), mask=~inside))
        if f.arg2 is None:
            return got
        default = _column(table, f.arg2).cast(out_type)
        return pc.if_else(pa.array(inside), got, default)

    def _value_at(self, f: WindowSpec, table: pa.Table, frame: _Frame, out_type: pa.DataType) -> Any:
        """first_value / last_value / nth_value over each row's frame."""
        if f.fn == "first_value":
            pos = frame.s
        elif f.fn == "last_value":
            pos = frame.e
        else:
            pos = frame.s + int(f.param or 1) - 1
        ok = (pos <= frame.e) & (frame.s <= frame.e)
        arr = _column(table, f.arg)
        return arr.take(pa.array(np.where(ok, pos, 0), mask=~ok)).cast(out_type)

    def _aggregate(
        self, f: WindowSpec, table: pa.Table, frame: _Frame, out_type: pa.DataType, running: bool = True
    ) -> pa.Array:
        empty_frame = frame.s > frame.e
        if f.fn == "count_star":
            return pa.array(np.where(empty_frame, 0, frame.e - frame.s + 1))
        arr = _column(table, f.arg)
        valid = _valid(arr)
        count = np.where(empty_frame, 0, frame.diff(np.cumsum(valid, dtype=np.int64)))
        if f.fn == "count":
            return pa.array(count)
        empty = count == 0
        if f.fn in ("min", "max"):
            if running and not empty.any():
                return _running_extreme(arr, valid, f.fn, frame)
            return _sliding_extreme(arr, valid, f.fn, frame, empty)
        sum_t = out_type if f.fn == "sum" else aggregate_result_type("sum", arr.type)
        total = _frame_sum(arr, sum_t, frame, empty)
        if f.fn == "sum":
            return total
        return pc.divide(total.cast(pa.float64()), pa.array(np.where(empty, 1, count).astype(np.float64)))


class _Rows:
    """Per row: its partition's first and last row, its peer group's first and last."""

    def __init__(
        self,
        s: np.ndarray,
        pend: np.ndarray,
        ps: np.ndarray,
        pe: np.ndarray,
        part_id: np.ndarray,
        n_parts: int,
    ) -> None:
        self.s, self.pend, self.ps, self.pe, self.part_id, self.n_parts = s, pend, ps, pe, part_id, n_parts


def _column(table: pa.Table, name: str | None) -> pa.Array:
    col = table.column(name)
    return col.chunk(0) if col.num_chunks else pa.array([], table.schema.field(name).type)


def _ntile(r: np.ndarray, size: np.ndarray, buckets: int) -> np.ndarray:
    """NTILE: row r (0-based) of a partition of ``size`` rows in ``buckets`` buckets,
    the first ``size % buckets`` of them one row larger."""
    q = size // buckets
    rem = size % buckets
    big = rem * (q + 1)
    return np.where(r < big, r // (q + 1), rem + (r - big) // np.maximum(q, 1)) + 1


class _Frame:
    """Per row: partition start ``s``, frame end ``e`` (inclusive), partition number."""

    def __init__(self, s: np.ndarray, e: np.ndarray, part_id: np.ndarray, n_parts: int) -> None:
        self.s, self.e, self.part_id, self.n_parts = s, e, part_id, n_parts

    def diff(self, prefix: np.ndarray) -> np.ndarray:
        """Sum over each row's frame, from ``prefix`` (inclusive prefix sums); rows
        whose frame is empty get a meaningless value (callers mask them)."""
        n = len(prefix)
        lo = np.minimum(self.s, n - 1)
        hi = np.clip(self.e, 0, n - 1)
        before = np.where(lo > 0, prefix[np.maximum(lo - 1, 0)], 0)
        return prefix[hi] - before


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


def _sliding_extreme(arr: pa.Array, valid: np.ndarray, fn: str, frame: _Frame, empty: np.ndarray) -> pa.Array:
    """MIN or MAX over arbitrary frames: range-minimum queries over a sparse table of
    the values' dense ranks (NULLs rank past every value)."""
    n = len(arr)
    ranks = pc.rank(arr, sort_keys="ascending", tiebreaker="dense").to_numpy().astype(np.int64)
    if fn == "max":
        ranks = -ranks  # the max is the min of the negated ranks
    sentinel = np.iinfo(np.int64).max
    keys = np.where(valid, ranks, sentinel)
    levels = [keys]
    span = 1
    while span * 2 <= n:
        prev = levels[-1]
        levels.append(np.minimum(prev[:-span], prev[span:]))
        span *= 2
    lo = np.clip(frame.s, 0, n - 1)
    hi = np.clip(frame.e, 0, n - 1)
    length = np.maximum(hi - lo + 1, 1)
    k = np.floor(np.log2(length)).astype(np.int64)
    best = np.full(n, sentinel, dtype=np.int64)
    for lvl in np.unique(k):
        sel = k == lvl
        table = levels[int(lvl)]
        a = table[lo[sel]]
        b = table[hi[sel] - (1 << int(lvl)) + 1]
        best[sel] = np.minimum(a, b)
    missing = empty | (best == sentinel)
    if fn == "max":
        best = -best
    row_of_rank = np.zeros(int(np.abs(ranks).max(initial=0)) + 2, dtype=np.int64)
    row_of_rank[np.abs(ranks[valid])] = np.flatnonzero(valid)
    idx = pa.array(row_of_rank[np.where(missing, 0, np.abs(best))], mask=missing)
    return arr.take(idx) if n else arr
