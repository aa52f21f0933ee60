"""Project: compute the output columns from expressions."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from dataflow.compute import compile_expr
from dataflow.physical import PProject

from . import operator
from ._util import as_array
from .base import Operator


@operator(PProject)
class Project(Operator):
    """Evaluate ``node.exprs`` over each input batch; one output column per
    expression, cast to the output schema's type. The expressions are compiled once,
    when the instance starts (:func:`dataflow.compute.compile_expr`)."""

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        exprs = [compile_expr(e.expr) for e in self.node.exprs]
        for batch in inputs[0]:
            n = batch.num_rows
            if not n:
                continue
            arrays = []
            for e, field in zip(exprs, self.schema, strict=True):
                arr = as_array(e(batch), n)
                if arr.type != field.type:
                    arr = arr.cast(field.type)
                arrays.append(arr)
            # no expressions (e.g. under count(*)): no columns, but the rows still count
            yield pa.RecordBatch.from_arrays(arrays, schema=self.schema) if arrays else batch.select([])
