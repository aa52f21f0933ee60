"""Filter: keep the rows for which the predicate is true."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from dataflow.compute import compile_predicate
from dataflow.physical import PFilter
from dataflow.types import conform_batch

from . import operator
from .base import Operator


@operator(PFilter)
class Filter(Operator):
    """Keep the rows where ``node.predicate`` is true (NULL counts as false); empty
    results are not emitted."""

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        pred = compile_predicate(self.node.predicate)  # once per instance, not per batch
        for batch in inputs[0]:
            if not batch.num_rows:
                continue
            mask = pred(batch)
            out = batch.filter(mask)
            if out.num_rows:
                yield conform_batch(out, self.schema)
