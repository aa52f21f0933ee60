"""Union all: concatenate the input streams."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from dataflow.physical import PUnion
from dataflow.types import conform_batch

from . import operator
from .base import Operator


@operator(PUnion)
class Union(Operator):
    """Pass on every input stream in order (instance i receives partition i of each
    input), each batch cast to the output schema by column position."""

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        for stream in inputs:
            for batch in stream:
                if batch.num_rows:
                    yield conform_batch(batch, self.schema)
