"""TopK: the first ``k`` rows in an order, kept while streaming."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from dataflow.physical import PTopK
from dataflow.types import conform_batch

from . import operator
from ._util import rebatch, sort_indices
from .base import Operator


@operator(PTopK)
class TopK(Operator):
    """Keep the best ``node.k`` rows of the input in ``node.order`` and emit them sorted.

    Memory holds the current top plus a buffer of at most ``max(k, batch_rows)`` rows:
    whenever the buffer fills up it is merged with the current top (sort, keep ``k``).
    Ties keep arrival order (the sort is stable)."""

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        k = self.node.k
        if k <= 0:
            return
        threshold = max(k, self.ctx.batch_rows)
        top: pa.Table | None = None
        buffer: list[pa.RecordBatch] = []
        buffered = 0
        for batch in inputs[0]:
            if not batch.num_rows:
                continue
            buffer.append(conform_batch(batch, self.schema))
            buffered += batch.num_rows
            if buffered >= threshold:
                top = self._merge(top, buffer)
                buffer, buffered = [], 0
        if buffer or top is None:
            top = self._merge(top, buffer)
        yield from rebatch(top, self.ctx.batch_rows)

    def _merge(self, top: pa.Table | None, batches: list[pa.RecordBatch]) -> pa.Table:
        """Sort the current top followed by ``batches`` and keep the first ``k`` rows."""
        parts = ([] if top is None else top.to_batches()) + batches
        table = pa.Table.from_batches(parts, schema=self.schema)
        idx = sort_indices(table, self.node.order)
        return table.take(idx[: self.node.k]).combine_chunks()
