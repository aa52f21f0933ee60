"""Nested loop join: joins without equality keys (cross joins, non-equi conditions)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from dataflow.compute import evaluate_predicate
from dataflow.errors import DataflowError
from dataflow.physical import PNestedLoopJoin
from dataflow.types import conform_batch, schema_to_arrow

from . import operator
from ._util import numpy_bool, to_table
from .base import Operator, TaskContext

# Pairs materialized at once (left rows x right rows per chunk).
MAX_PAIRS = 1 << 20


@operator(PNestedLoopJoin)
class NestedLoopJoin(Operator):
    """Pair every left row with every right row and keep the pairs satisfying
    ``condition`` (all of them when it is ``None``): ``inner``/``cross``, ``left``
    (unmatched left rows padded with NULLs), ``semi`` and ``anti`` (left rows with /
    without a passing pair).

    The right side is materialized once; each left batch is paired with it in chunks
    of at most :data:`MAX_PAIRS` pairs, built with numpy ``repeat``/``tile`` and
    ``take``. Output columns: left then right (semi/anti: left only)."""

    max_pairs: int = MAX_PAIRS

    def __init__(self, node: Any, ctx: TaskContext, node_id: str = "0") -> None:
        super().__init__(node, ctx, node_id)
        self.how = "inner" if node.how == "cross" else node.how
        if self.how not in ("inner", "left", "semi", "anti"):
            raise DataflowError(f"nested loop join does not support join type {node.how!r}")
        self.left_schema = schema_to_arrow(node.left.schema)
        self.right_schema = schema_to_arrow(node.right.schema)
        self.pair_schema = pa.schema(list(self.left_schema) + list(self.right_schema))

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        right_table = to_table(inputs[1], self.right_schema).combine_chunks()
        right = right_table.to_batches()[0] if right_table.num_rows else None
        for batch in inputs[0]:
            if batch.num_rows:
                yield from self._join_batch(conform_batch(batch, self.left_schema), right)

    def _join_batch(self, left: pa.RecordBatch, right: pa.RecordBatch | None) -> Iterator[pa.RecordBatch]:
        nl = left.num_rows
        if right is None:
            if self.how == "left":
                yield self._pad_right(left)
            elif self.how == "anti":
                yield conform_batch(left, self.schema)
            return
        nr = right.num_rows
        cond = self.node.condition
        if cond is None and self.how in ("semi", "anti"):
            if self.how == "semi":
                yield conform_batch(left, self.schema)
            return
        matched = np.zeros(nl, dtype=bool)
        r_step = min(nr, self.max_pairs)
        l_step = max(1, self.max_pairs // r_step)
        for ls in range(0, nl, l_step):
            lc = min(l_step, nl - ls)
            for rs in range(0, nr, r_step):
                rc = min(r_step, nr - rs)
                li = np.repeat(np.arange(ls, ls + lc, dtype=np.int64), rc)
                ri = np.tile(np.arange(rs, rs + rc, dtype=np.int64), lc)
                pairs = pa.RecordBatch.from_arrays(
                    list(left.take(pa.array(li)).columns) + list(right.take(pa.array(ri)).columns),
                    schema=self.pair_schema,
                )
                if cond is None:
                    passed = np.ones(len(li), dtype=bool)
                else:
                    passed = numpy_bool(evaluate_predicate(cond, pairs))
                matched[li[passed]] = True
                if self.how in ("inner", "left") and passed.any():
                    out = pairs if passed.all() else pairs.filter(pa.array(passed))
                    yield conform_batch(out, self.schema)
        if self.how == "left" and not matched.all():
            yield self._pad_right(left.filter(pa.array(~matched)))
        elif self.how == "semi" and matched.any():
            yield conform_batch(left.filter(pa.array(matched)), self.schema)
        elif self.how == "anti" and not matched.all():
            yield conform_batch(left.filter(pa.array(~matched)), self.schema)

    def _pad_right(self, left: pa.RecordBatch) -> pa.RecordBatch:
        """Left rows with NULLs for every right column."""
        arrays = list(left.columns) + [pa.nulls(left.num_rows, f.type) for f in self.right_schema]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)
