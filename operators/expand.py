"""Expand: one copy of each input row per grouping set (GROUPING SETS, ROLLUP, CUBE).

Every output batch is an input batch with, appended, a copy of each grouping key
(NULL where the key is not in the set) and the set's index. The aggregate above
groups by the copies and the index, so one pass of the ordinary two-phase aggregate
computes all the sets; the input columns themselves pass unchanged, so an aggregate
over a grouping key (``sum(x) ... ROLLUP (x)``) still sees its values.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from dataflow.physical import PExpand
from dataflow.types import conform_batch

from . import operator
from .base import Operator


@operator(PExpand)
class Expand(Operator):
    """Emit each input batch ``len(node.sets)`` times (see the module docstring)."""

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        keys = list(self.node.keys)
        sets = [set(s) for s in self.node.sets]
        for batch in inputs[0]:
            n = batch.num_rows
            if not n:
                continue
            base = list(batch.columns)
            for gid, members in enumerate(sets):
                extra = []
                for i, k in enumerate(keys):
                    col = batch.column(k)
                    extra.append(col if i in members else pa.nulls(n, col.type))
                extra.append(pa.array(np.full(n, gid, dtype=np.int64)))
                out = pa.RecordBatch.from_arrays(base + extra, names=self.schema.names)
                yield conform_batch(out, self.schema)
