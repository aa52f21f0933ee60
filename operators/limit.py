"""Limit: skip ``offset`` rows, then pass at most ``limit``."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from dataflow.physical import PLimit
from dataflow.types import conform_batch

from . import operator
from .base import Operator


@operator(PLimit)
class Limit(Operator):
    """Skip ``node.offset`` rows, then pass at most ``node.limit`` rows (all when
    ``None``); stops pulling its input as soon as the limit is reached."""

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        remaining = self.node.limit
        skip = max(self.node.offset, 0)
        if remaining is not None and remaining <= 0:
            return
        for batch in inputs[0]:
            n = batch.num_rows
            if skip >= n:
                skip -= n
                continue
            if skip:
                batch = batch.slice(skip)
                skip = 0
            if remaining is not None:
                batch = batch.slice(0, remaining)
                remaining -= batch.num_rows
            if batch.num_rows:
                yield conform_batch(batch, self.schema)
            if remaining == 0:
                return
