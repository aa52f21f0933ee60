"""Sort: materialize an instance's input and sort it by the node's order."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from dataflow.physical import PSort

from . import operator
from ._util import rebatch, sort_indices, to_table
from .base import Operator


@operator(PSort)
class Sort(Operator):
    """Sort each instance's whole input by ``node.order`` (per key: direction, and NULLs
    last unless ``nulls_first``); the sort is stable."""

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        table = to_table(inputs[0], self.schema)
        if table.num_rows == 0:
            return
        table = table.take(sort_indices(table, self.node.order))
        yield from rebatch(table, self.ctx.batch_rows)
