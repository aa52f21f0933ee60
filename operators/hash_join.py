"""Hash join on Acero: the hash table is built once on the right (build) input and the
left (probe) input streams through it.

The build side is materialized and fed to Acero as a ``table_source``; the probe side is
a ``record_batch_reader_source`` over the incoming stream, and the output is pulled
lazily with ``Declaration.to_reader()``.

Flow control: Acero's sink only pauses its sources once 1 GiB of output is queued, so
a slow consumer would let it read (and join) most of the probe side ahead. A
:class:`ProbeGate` holds the probe stream back instead. Two tiny Python UDFs inside the
Acero plan report progress to it: one in a projection just before the join sees each
probe batch number (``__df_seq``) arrive at the join, one just after the join counts
the rows handed to the sink. The probe generator waits while more than ``window``
batches are in flight or more than ``max_queued_rows`` output rows wait for the
consumer. (The join's own output only moves in chunks of 32K rows per thread, so
output alone cannot show progress for selective joins.)

A residual ``condition`` is handed to Acero as its ``filter_expression`` when it
translates to a ``pyarrow.compute.Expression`` (:func:`to_acero_expression`); otherwise
the join runs without it and the condition is evaluated on the output, tracking which
probe and build rows found a match (:meth:`HashJoin._run_with_residual`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.acero as ac
import pyarrow.compute as pc

from dataflow.compute import evaluate_predicate
from dataflow.errors import DataflowError
from dataflow.expr import ExprNode
from dataflow.physical import PHashJoin
from dataflow.types import conform_batch, schema_to_arrow

from . import operator
from ._join_keys import binds, common_key_type, to_acero_expression
from ._probe_gate import (
    EMITTED_UDF,
    PROBED_UDF,
    SEQ,
    ProbeGate,
    register_udfs,
    release_io_thread,
    report_progress,
    reserve_io_thread,
)
from ._util import numpy_bool, to_table
from .base import Operator, TaskContext

ACERO_JOIN_TYPES = {
    "inner": "inner",
    "left": "left outer",
    "right": "right outer",
    "full": "full outer",
    "semi": "left semi",
    "anti": "left anti",
    "right_semi": "right semi",
    "right_anti": "right anti",
}
BUILD_SIDE = ("right_semi", "right_anti")  # joins that output build rows only

# Hidden columns added to the join inputs (never part of the output; SEQ, the probe
# batch number, is the gate's: see _probe_gate).
PID = "__df_probe_row"  # probe row number, for matched-row tracking
BID = "__df_build_row"  # build row number, for matched-row tracking


@operator(PHashJoin)
class HashJoin(Operator):
    """Equi-join of the left (probe) and right (build) inputs on ``left_keys`` =
    ``right_keys``: inner, left, right, full, semi or anti (semi/anti output the left
    rows that have / have no match), right_semi or right_anti (the right rows that
    have / have no match: the hash table is built on the side that is kept). NULL keys never match; keys of different types
    are cast to a common type first. ``condition`` is part of the match.

    ``null_aware`` (anti only, SQL ``NOT IN``): a NULL key on the build side empties
    the output; otherwise probe rows with a NULL key are dropped unless the build side
    is empty. Output columns: left then right (semi/anti: left only); row order is
    not preserved.

    ``use_acero_filter`` may be turned off to force the fallback path for conditions
    (the tests use this to check both)."""

    use_acero_filter: bool = True
    gate_window: int = 4  # probe batches in flight inside Acero
    gate_rows: int | None = None  # output rows queued for the consumer (None: 4 batches)

    def __init__(self, node: Any, ctx: TaskContext, node_id: str = "0") -> None:
        super().__init__(node, ctx, node_id)
        if node.how not in ACERO_JOIN_TYPES:
            raise DataflowError(f"hash join does not support join type {node.how!r}")
        if not node.left_keys or len(node.left_keys) != len(node.right_keys):
            raise DataflowError("hash join needs the same number (at least one) of left and right keys")
        if node.null_aware and node.how != "anti":
            raise DataflowError("null_aware applies only to anti joins")
        self.left_schema = schema_to_arrow(node.left.schema)
        self.right_schema = schema_to_arrow(node.right.schema)
        self.how: str = node.how
        self.key_types = [
            common_key_type(self.left_schema.field(lk).type, self.right_schema.field(rk).type)
            for lk, rk in zip(node.left_keys, node.right_keys, strict=True)
        ]
        # Acero key columns: the key itself, or a hidden copy cast to the common type
        self.probe_keys = [
            k if self.left_schema.field(k).type == t else f"__df_lkey{i}"
            for i, (k, t) in enumerate(zip(node.left_keys, self.key_types, strict=True))
        ]
        self.build_keys = [
            k if self.right_schema.field(k).type == t else f"__df_rkey{i}"
            for i, (k, t) in enumerate(zip(node.right_keys, self.key_types, strict=True))
        ]

    # -- driver ---------------------------------------------------------------------

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        build = self._with_build_keys(to_table(inputs[1], self.right_schema))
        probe = inputs[0]
        if self.node.null_aware:
            if build.num_rows and any(build.column(k).null_count for k in self.node.right_keys):
                return  # x NOT IN (..., NULL, ...) is never true
            if build.num_rows:
                probe = self._drop_null_keys(probe)
        if not _all_valid(build, self.build_keys).any():
            yield from self._no_match(probe, build)
            return
        cond = self.node.condition
        expr = None
        if cond is not None and self.use_acero_filter:
            expr = to_acero_expression(cond)
            if expr is not None and not binds(
                expr, pa.schema(list(self.left_schema) + list(self.right_schema))
            ):
                expr = None
        if cond is None or expr is not None:
            yield from self._run_acero(probe, build, expr)
        else:
            yield from self._run_with_residual(probe, build, cond)

    def _with_build_keys(self, build: pa.Table) -> pa.Table:
        for k, name, t in zip(self.node.right_keys, self.build_keys, self.key_types, strict=True):
            if name != k:
                build = build.append_column(name, build.column(k).cast(t))
        return build

    def _drop_null_keys(self, probe: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in probe:
            b = b.filter(pa.array(_all_valid(b, self.node.left_keys)))
            if b.num_rows:
                yield b

    def _no_match(self, probe: Iterator[pa.RecordBatch], build: pa.Table) -> Iterator[pa.RecordBatch]:
        """The join when no build row has a complete key (e.g. an empty build side):
        nothing matches, so no hash table is needed."""
        if self.how in ("left", "full", "anti"):
            for b in probe:
                if b.num_rows:
                    b = conform_batch(b, self.left_schema)
                    yield conform_batch(b, self.schema) if self.how == "anti" else self._pad_right(b)
        if self.how in ("right", "full"):
            for b in build.select(self.right_schema.names).to_batches():
                if b.num_rows:
                    yield self._pad_left(b)
        if self.how == "right_anti":
            for b in build.select(self.right_schema.names).to_batches():
                if b.num_rows:
                    yield conform_batch(b, self.schema)

    # -- Acero plumbing ---------------------------------------------------------------

    def _gate(self) -> ProbeGate:
        rows = self.gate_rows if self.gate_rows is not None else 4 * self.ctx.batch_rows
        return ProbeGate(self.gate_window, rows)

    def _declaration(
        self,
        probe: Iterator[pa.RecordBatch],
        build: pa.Table,
        join_type: str,
        expr: pc.Expression | None,
        gate: ProbeGate,
        with_pid: bool = False,
        with_bid: bool = False,
    ) -> ac.Declaration:
        """The Acero plan: ``probe`` (plus hidden columns) joined with ``build`` (plus
        hidden columns), with the gate's progress reports before and after the join."""
        if with_bid:
            build = build.append_column(BID, pa.array(np.arange(build.num_rows, dtype=np.int64)))
        fields = list(self.left_schema)
        for k, name, t in zip(self.node.left_keys, self.probe_keys, self.key_types, strict=True):
            if name != k:
                fields.append(pa.field(name, t))
        fields.append(pa.field(SEQ, pa.int64()))
        if with_pid:
            fields.append(pa.field(PID, pa.int64()))
        probe_schema = pa.schema(fields)

        def feed() -> Iterator[pa.RecordBatch]:
            seq = 0
            next_pid = 0
            try:
                for b in probe:
                    if not b.num_rows:
                        continue
                    if not gate.admit(seq):
                        return
                    b = conform_batch(b, self.left_schema)
                    n = b.num_rows
                    arrays = list(b.columns)
                    for k, name, t in zip(self.node.left_keys, self.probe_keys, self.key_types, strict=True):
                        if name != k:
                            arrays.append(b.column(k).cast(t))
                    arrays.append(pa.array(np.full(n, seq, dtype=np.int64)))
                    if with_pid:
                        arrays.append(pa.array(np.arange(next_pid, next_pid + n, dtype=np.int64)))
                    next_pid += n
                    seq += 1
                    yield pa.RecordBatch.from_arrays(arrays, schema=probe_schema)
            except BaseException as e:  # re-raised by the consumer, with its own type
                gate.error = e
                raise

        reader = pa.RecordBatchReader.from_batches(probe_schema, feed())
        source = ac.Declaration("record_batch_reader_source", ac.RecordBatchReaderSourceNodeOptions(reader))
        probed = report_progress(probe_schema.names, PROBED_UDF, gate)
        left_out = [*self.left_schema.names, SEQ] + ([PID] if with_pid else [])
        right_out: list[str] = []
        if join_type not in ("left semi", "left anti"):
            right_out = [*self.right_schema.names] + ([BID] if with_bid else [])
        if join_type in ("right semi", "right anti"):
            left_out = []
        opts = ac.HashJoinNodeOptions(
            join_type,
            self.probe_keys,
            self.build_keys,
            left_output=left_out,
            right_output=right_out or None,
            filter_expression=expr,
        )
        join = ac.Declaration(
            "hashjoin",
            opts,
            inputs=[
                ac.Declaration.from_sequence([source, probed]),
                ac.Declaration("table_source", ac.TableSourceNodeOptions(build)),
            ],
        )
        return ac.Declaration.from_sequence([join, report_progress(left_out + right_out, EMITTED_UDF, gate)])

    def _stream(self, decl: ac.Declaration, gate: ProbeGate) -> Iterator[pa.RecordBatch]:
        """Pull the join output, telling the gate how much was consumed."""
        register_udfs()
        reserve_io_thread()
        try:
            reader = decl.to_reader()
        except BaseException:
            release_io_thread()
            raise
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except Exception:
                    if gate.error is not None:
                        raise gate.error from None
                    raise
                gate.consumed(batch.num_rows)
                if batch.num_rows:
                    yield batch
            if gate.error is not None:
                raise gate.error
        finally:
            gate.close()
            reader.close()
            release_io_thread()

    def _run_acero(
        self, probe: Iterator[pa.RecordBatch], build: pa.Table, expr: pc.Expression | None
    ) -> Iterator[pa.RecordBatch]:
        """The join done entirely by Acero (no condition, or one Acero can evaluate)."""
        gate = self._gate()
        decl = self._declaration(probe, build, ACERO_JOIN_TYPES[self.how], expr, gate)
        names = self.schema.names
        for batch in self._stream(decl, gate):
            yield conform_batch(batch.select(names), self.schema)

    # -- residual conditions Acero cannot evaluate --------------------------------------

    def _run_with_residual(
        self, probe: Iterator[pa.RecordBatch], build: pa.Table, cond: ExprNode
    ) -> Iterator[pa.RecordBatch]:
        """The join with ``cond`` evaluated by :mod:`dataflow.compute` on Acero's output.

        inner/right/semi run an Acero inner join; left/full/anti run a left outer join
        so that a probe row without any key match comes out (once, with NULL build
        columns) and is known to be unmatched right away. Probe rows whose key pairs
        all fail the condition are kept aside (one row each) until the end, then
        emitted if no pair of theirs passed; build rows without a passing pair are
        emitted at the end for right/full joins."""
        how = self.how
        if how in BUILD_SIDE:
            yield from self._build_side_with_residual(probe, build, cond)
            return
        outer_probe = how in ("left", "full", "anti")
        with_pid = how in ("left", "full", "semi", "anti")
        with_bid = how in ("right", "full", "left", "anti")  # also tells unmatched probe rows
        gate = self._gate()
        decl = self._declaration(
            probe, build, "left outer" if outer_probe else "inner", None, gate, with_pid, with_bid
        )
        left_names = self.left_schema.names
        pair_names = left_names + self.right_schema.names
        probe_matched = _Bitmap()
        build_matched = np.zeros(build.num_rows, dtype=bool)
        pending: list[pa.RecordBatch] = []  # probe rows (left columns + PID) whose pairs all failed so far
        pending_rows = 0
        compact_at = max(1 << 20, self.ctx.batch_rows)

        for batch in self._stream(decl, gate):
            if outer_probe:
                nomatch = numpy_bool(pc.is_null(batch.column(BID)))
            else:
                nomatch = np.zeros(batch.num_rows, dtype=bool)
            if nomatch.any():
                lonely = batch.filter(pa.array(nomatch))
                if how == "anti":
                    yield conform_batch(lonely.select(left_names), self.schema)
                elif how in ("left", "full"):
                    yield self._pad_right(lonely.select(left_names))
                batch = batch.filter(pa.array(~nomatch))
                if not batch.num_rows:
                    continue
            passed = numpy_bool(evaluate_predicate(cond, batch.select(pair_names)))
            if how == "semi":
                yield from self._first_matches(batch, passed, probe_matched)
            elif with_pid:
                probe_matched.set(batch.column(PID).to_numpy()[passed])
            if with_bid:
                build_matched[batch.column(BID).to_numpy()[passed]] = True
            if how in ("inner", "left", "right", "full") and passed.any():
                yield conform_batch(batch.filter(pa.array(passed)).select(pair_names), self.schema)
            if outer_probe and not passed.all():
                failed = batch.filter(pa.array(~passed)).select([*left_names, PID])
                pending.append(failed)
                pending_rows += failed.num_rows
                if pending_rows >= compact_at:
                    pending = [self._unmatched(pending, probe_matched)]
                    pending_rows = pending[0].num_rows
                    compact_at = max(compact_at, 2 * pending_rows)

        if outer_probe and pending:
            rest = self._unmatched(pending, probe_matched).select(left_names)
            if rest.num_rows:
                yield conform_batch(rest, self.schema) if how == "anti" else self._pad_right(rest)
        if how in ("right", "full") and not build_matched.all():
            rest = build.filter(pa.array(~build_matched))
            yield from (self._pad_left(b) for b in rest.to_batches() if b.num_rows)

    def _build_side_with_residual(
        self, probe: Iterator[pa.RecordBatch], build: pa.Table, cond: ExprNode
    ) -> Iterator[pa.RecordBatch]:
        """Right semi/anti with ``cond``: an inner join marks the build rows with a
        passing pair; once the probe side is done, those (semi) or the others (anti)
        come out."""
        gate = self._gate()
        decl = self._declaration(probe, build, "inner", None, gate, with_bid=True)
        pair_names = self.left_schema.names + self.right_schema.names
        matched = np.zeros(build.num_rows, dtype=bool)
        for batch in self._stream(decl, gate):
            passed = numpy_bool(evaluate_predicate(cond, batch.select(pair_names)))
            matched[batch.column(BID).to_numpy()[passed]] = True
        keep = matched if self.how == "right_semi" else ~matched
        rest = build.filter(pa.array(keep)).select(self.right_schema.names)
        yield from (conform_batch(b, self.schema) for b in rest.to_batches() if b.num_rows)

    def _first_matches(
        self, batch: pa.RecordBatch, passed: np.ndarray, matched: _Bitmap
    ) -> Iterator[pa.RecordBatch]:
        """Semi join: the left columns of the probe rows matching for the first time."""
        idx = np.flatnonzero(passed)
        if not len(idx):
            return
        ids, first = np.unique(batch.column(PID).to_numpy()[idx], return_index=True)
        fresh = ~matched.get(ids)
        matched.set(ids)
        if fresh.any():
            rows = pa.array(idx[first[fresh]])
            yield conform_batch(batch.select(self.left_schema.names).take(rows), self.schema)

    @staticmethod
    def _unmatched(pending: list[pa.RecordBatch], matched: _Bitmap) -> pa.RecordBatch:
        """One row per probe row id of ``pending`` that never had a passing pair."""
        table = pa.Table.from_batches(pending).combine_chunks()
        pids = table.column(PID).to_numpy()
        keep = ~matched.get(pids)
        ids, first = np.unique(pids[keep], return_index=True)
        rows = np.flatnonzero(keep)[first]
        out = table.take(pa.array(rows))
        return out.to_batches()[0] if out.num_rows else pa.RecordBatch.from_pylist([], schema=table.schema)

    def _pad_right(self, left: pa.RecordBatch) -> pa.RecordBatch:
        """Left rows with NULLs for every right column."""
        n = left.num_rows
        arrays = list(conform_batch(left, self.left_schema).columns)
        arrays += [pa.nulls(n, f.type) for f in self.right_schema]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _pad_left(self, right: pa.RecordBatch) -> pa.RecordBatch:
        """Right rows with NULLs for every left column."""
        n = right.num_rows
        arrays = [pa.nulls(n, f.type) for f in self.left_schema]
        arrays += list(conform_batch(right.select(self.right_schema.names), self.right_schema).columns)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


class _Bitmap:
    """A growable set of row ids, as numpy booleans."""

    def __init__(self) -> None:
        self.bits = np.zeros(1024, dtype=bool)

    def _grow(self, ids: np.ndarray) -> None:
        top = int(ids.max()) if len(ids) else 0
        if top >= len(self.bits):
            size = max(top + 1, 2 * len(self.bits))
            self.bits = np.concatenate([self.bits, np.zeros(size - len(self.bits), dtype=bool)])

    def set(self, ids: np.ndarray) -> None:
        self._grow(ids)
        self.bits[ids] = True

    def get(self, ids: np.ndarray) -> np.ndarray:
        self._grow(ids)
        return self.bits[ids]



def _all_valid(data: pa.Table | pa.RecordBatch, columns: list[str] | tuple[str, ...]) -> np.ndarray:
    """Rows where none of ``columns`` is NULL."""
    mask = np.ones(data.num_rows, dtype=bool)
    for c in columns:
        if data.column(c).null_count:
            mask &= numpy_bool(pc.is_valid(data.column(c)))
    return mask
