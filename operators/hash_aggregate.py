"""Hash aggregation with ``pa.Table.group_by``, in partial, final or single mode.

Internally every aggregate ``i`` carries its state in columns ``__s{i}`` or, for
those with several (avg, the variances and covariances), ``__s{i}_<part>`` (see
:mod:`._aggregates`). A chunk of raw rows becomes a state table
(:meth:`HashAggregate._chunk_states`), state tables merge into one
(:meth:`HashAggregate._merge_states`: counts and sums are summed, min of mins, max of
maxes), and a merged state table becomes the result (:meth:`HashAggregate._finalize`).
Input is consumed in chunks of about :data:`CHUNK_ROWS` rows, so no mode holds all its
input except single mode with a DISTINCT or holistic (median, quantile, string_agg)
aggregate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflow.compute import aggregate_result_type
from dataflow.errors import DataflowError
from dataflow.physical import PHashAggregate
from dataflow.specs import AGG_STATES, HOLISTIC_AGGREGATES, AggSpec, partial_columns
from dataflow.types import conform_batch, conform_table, retype_decimal, schema_to_arrow

from . import operator
from ._aggregates import SUM, SUPPORTED, VALID, finalize, holistic, merge_spec, raw_specs, state_names
from ._util import rebatch
from .base import Operator, TaskContext

CHUNK_ROWS = 1 << 20

_VALID, _SUM = VALID, SUM


@operator(PHashAggregate)
class HashAggregate(Operator):
    """Group by ``node.keys`` (none: a global aggregate, which outputs exactly one row
    even on empty input) and compute ``node.aggs``; NULL keys form their own group.

    ``partial`` emits states (:func:`dataflow.specs.partial_columns`), ``final``
    merges states, ``single`` does both. Distinct aggregates run only in single mode."""

    chunk_rows: int = CHUNK_ROWS

    def __init__(self, node: Any, ctx: TaskContext, node_id: str = "0") -> None:
        super().__init__(node, ctx, node_id)
        self.keys: list[str] = list(node.keys)
        self.aggs: list[AggSpec] = list(node.aggs)
        self.mode: str = node.mode
        self.input_schema = schema_to_arrow(node.input.schema)
        # DISTINCT and holistic aggregates see a group's values at once
        self.has_distinct = any(a.distinct or a.fn in HOLISTIC_AGGREGATES for a in self.aggs)
        if self.has_distinct and self.mode != "single":
            raise DataflowError("distinct and holistic aggregates run only in single mode")
        for a in self.aggs:
            if a.fn not in SUPPORTED:
                raise DataflowError(f"unsupported aggregate function {a.fn!r}")

    # -- driver ---------------------------------------------------------------------

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        if self.mode == "single" and self.has_distinct:
            table = pa.Table.from_batches(
                [conform_batch(b, self.input_schema) for b in inputs[0] if b.num_rows],
                schema=self.input_schema,
            )
            result = self._finalize(self._distinct_states(table))
        else:
            raw = self.mode != "final"
            states = self._consume(inputs[0], raw)
            result = self._emit_states(states) if self.mode == "partial" else self._finalize(states)
        if not self.keys and result.num_rows == 0:
            result = self._empty_global()
        yield from rebatch(result, self.ctx.batch_rows)

    def _consume(self, stream: Iterator[pa.RecordBatch], raw: bool) -> pa.Table:
        """Fold the stream into one state table, a chunk of about ``chunk_rows`` at a time;
        ``raw``: the stream holds input rows (else states, in final mode)."""
        schema = self.input_schema
        states: list[pa.Table] = []
        state_rows = 0
        compact_at = self.chunk_rows
        buffer: list[pa.RecordBatch] = []
        buffered = 0

        def flush() -> None:
            nonlocal buffer, buffered, state_rows
            chunk = pa.Table.from_batches(buffer, schema=schema)
            part = self._chunk_states(chunk) if raw else self._merge_states(self._rename_states(chunk))
            states.append(part)
            state_rows += part.num_rows
            buffer, buffered = [], 0

        for batch in stream:
            if not batch.num_rows:
                continue
            buffer.append(conform_batch(batch, schema))
            buffered += batch.num_rows
            if buffered >= self.chunk_rows:
                flush()
                if len(states) > 1 and state_rows >= compact_at:
                    merged = self._merge_states(pa.concat_tables(states))
                    states, state_rows = [merged], merged.num_rows
                    compact_at = max(compact_at, 2 * state_rows)  # high-cardinality keys: merge less often
        if buffer or not states:
            flush()
        if len(states) == 1:
            return states[0]
        return self._merge_states(pa.concat_tables(states))

    # -- states -----------------------------------------------------------------------

    def _state_names(self, i: int, agg: AggSpec) -> list[str]:
        return state_names(i, agg)

    def _chunk_states(self, chunk: pa.Table) -> pa.Table:
        """Raw rows -> one state row per group."""
        key_cols = self._key_columns()
        columns: dict[str, Any] = {kc: chunk.column(k) for kc, k in zip(key_cols, self.keys, strict=True)}
        specs: list[tuple[Any, ...]] = []
        outputs: list[tuple[str, str]] = []  # (state column, group_by output column)
        for i, agg in enumerate(self.aggs):
            sp, out = raw_specs(i, agg, chunk, columns)
            specs += [x for x in sp if x not in specs]
            outputs += out
        if columns:
            res = pa.table(columns).group_by(key_cols).aggregate(specs)
        else:  # a global count(*) only: no column to aggregate
            res = pa.table({"count_all": pa.array([chunk.num_rows], pa.int64())})
        return self._state_table(res, outputs, key_cols)

    def _key_columns(self) -> list[str]:
        """Internal names for the keys while grouping raw rows (so that no key name can
        collide with an aggregate's output name, like ``count_all``)."""
        return [f"__k{j}" for j in range(len(self.keys))]

    def _merge_states(self, states: pa.Table) -> pa.Table:
        """State rows -> one state row per group."""
        specs: list[tuple[Any, ...]] = []
        outputs: list[tuple[str, str]] = []
        for i, agg in enumerate(self.aggs):
            for name in self._state_names(i, agg):
                spec, out = merge_spec(agg, name)
                specs.append(spec)
                outputs.append((name, out))
        if not specs:  # no aggregates: distinct keys
            return states.group_by(self.keys).aggregate([]).select(self.keys)
        return self._state_table(states.group_by(self.keys).aggregate(specs), outputs)

    def _state_table(
        self, res: pa.Table, outputs: list[tuple[str, str]], key_cols: list[str] | None = None
    ) -> pa.Table:
        """``res`` (a group_by result) as a state table: keys, then state columns."""
        names = list(self.keys) + [s for s, _ in outputs]
        cols = [res.column(k) for k in (key_cols or self.keys)] + [res.column(o) for _, o in outputs]
        return pa.Table.from_arrays(cols, names=names)

    def _rename_states(self, chunk: pa.Table) -> pa.Table:
        """Final mode input (keys + :func:`partial_columns`) -> internal state names."""
        cols = [chunk.column(k) for k in self.keys]
        names = list(self.keys)
        for i, agg in enumerate(self.aggs):
            for src, dst in zip(partial_columns(agg), self._state_names(i, agg), strict=True):
                cols.append(chunk.column(src))
                names.append(dst)
        return pa.Table.from_arrays(cols, names=names)

    def _emit_states(self, states: pa.Table) -> pa.Table:
        """Partial mode output: the states under their :func:`partial_columns` names."""
        return conform_table(pa.Table.from_arrays(states.columns, names=self.schema.names), self.schema)

    def _finalize(self, states: pa.Table) -> pa.Table:
        """Merged states -> the output columns."""
        cols = [states.column(k) for k in self.keys]
        for i, agg in enumerate(self.aggs):
            cols.append(finalize(i, agg, states))
        return conform_table(pa.Table.from_arrays(cols, names=self.schema.names), self.schema)

    def _empty_global(self) -> pa.Table:
        """The one row of a global aggregate over no rows: counts 0, everything else NULL."""
        arrays = []
        for f in self.schema:
            zero = f.name in self._count_columns()
            arrays.append(pa.array([0 if zero else None], type=f.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _count_columns(self) -> set[str]:
        out = set()
        for agg in self.aggs:
            if agg.fn in ("count", "count_star"):
                out.add(agg.name)
            elif agg.fn in AGG_STATES and self.mode == "partial":
                out |= {c for c in partial_columns(agg) if c.endswith(("__count", "__n"))}
        return out

    # -- single mode with DISTINCT aggregates ------------------------------------------------

    def _distinct_states(self, table: pa.Table) -> pa.Table:
        """Merged-state table for the whole input, DISTINCT and holistic aggregates
        included (their results stand as their states)."""
        keys = self._key_columns() or ["__df_global"]
        columns: dict[str, Any] = {kc: table.column(k) for kc, k in zip(keys, self.keys, strict=False)}
        if not self.keys:
            columns["__df_global"] = pa.array(np.zeros(table.num_rows, dtype=np.int8))
        specs: list[tuple[Any, ...]] = [([], "count_all")]
        outputs: dict[int, list[str]] = {}
        for i, agg in enumerate(self.aggs):
            a = f"__a{i}"
            if agg.fn in HOLISTIC_AGGREGATES or (agg.distinct and agg.fn in ("sum", "avg", "count")):
                arg = table.column(agg.arg)
                if agg.fn in ("sum", "avg"):
                    arg = retype_decimal(arg, aggregate_result_type("sum", arg.type))
                columns[a] = arg
                if agg.fn in HOLISTIC_AGGREGATES:
                    specs.append((a, "list"))
                elif agg.fn == "count":
                    specs.append((a, "count_distinct", _VALID))
                else:
                    specs.append((a, "distinct", _VALID))
                continue
            # DISTINCT does not change min and max; the rest as usual
            sp, out = raw_specs(i, agg, table, columns)
            specs += [x for x in sp if x not in specs]
            outputs[i] = [o for _, o in out]
        res = pa.table(columns).group_by(keys).aggregate(specs)
        out_cols = [res.column(kc) for kc in keys[: len(self.keys)]]
        names = list(self.keys)
        out_fields = list(self.schema)[len(self.keys) :]
        for i, agg in enumerate(self.aggs):
            a = f"__a{i}"
            if i in outputs:
                cols = [res.column(o) for o in outputs[i]]
            elif agg.fn in HOLISTIC_AGGREGATES:
                cols = [holistic(agg, res.column(f"{a}_list"), res.column("count_all"), out_fields[i].type)]
            elif agg.fn == "count":
                cols = [res.column(f"{a}_count_distinct")]
            else:
                total, count = _list_sums(res.column(f"{a}_distinct"))
                cols = [total] if agg.fn == "sum" else [total, count]
            out_cols += cols
            names += self._state_names(i, agg) if agg.fn not in HOLISTIC_AGGREGATES else [f"__s{i}"]
        return pa.Table.from_arrays(out_cols, names=names)


def _list_sums(lists: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Per list: the sum of its values (NULL when empty) and their count."""
    lists = lists.combine_chunks()
    n = len(lists)
    values = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    res = (
        pa.table({"g": parents, "v": values})
        .group_by("g")
        .aggregate([("v", "sum", _SUM), ("v", "count", _VALID)])
    )
    pos = np.full(n, -1, dtype=np.int64)
    pos[res.column("g").to_numpy()] = np.arange(res.num_rows)
    idx = pa.array(pos, mask=pos < 0)
    total = res.column("v_sum").take(idx)
    count = pc.fill_null(res.column("v_count").take(idx), 0)
    return total, count
