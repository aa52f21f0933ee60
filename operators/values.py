"""Values: constant rows, evaluated once by instance 0 (VALUES lists and the one row
of a SELECT without FROM)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from dataflow.compute import evaluate
from dataflow.physical import PValues
from dataflow.types import conform_batch

from . import operator
from .base import Operator


@operator(PValues)
class Values(Operator):
    """Emit ``node.rows`` as one batch with the node's schema."""

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        if self.ctx.instance != 0 or not self.node.rows:
            return
        one = pa.record_batch({"__one": pa.array(np.zeros(1, dtype=np.int8))})
        columns = []
        for j, field in enumerate(self.schema):
            values = [evaluate(row[j], one).cast(field.type) for row in self.node.rows]
            columns.append(pa.concat_arrays(values))
        yield conform_batch(pa.RecordBatch.from_arrays(columns, schema=self.schema), self.schema)
