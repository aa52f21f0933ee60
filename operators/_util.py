"""Small Arrow helpers shared by the operator modules (not part of the public interface)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflow.specs import OrderSpec
from dataflow.types import conform_batch


def to_table(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    """Materialize a stream as a table, each batch conformed to ``schema``."""
    return pa.Table.from_batches([conform_batch(b, schema) for b in batches if b.num_rows], schema=schema)


def rebatch(data: pa.Table | pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    """Yield ``data`` as batches of at most ``rows`` rows, skipping empty ones."""
    batches = data.to_batches(max_chunksize=rows) if isinstance(data, pa.Table) else [data]
    for b in batches:
        for start in range(0, b.num_rows, rows):
            yield b.slice(start, rows)


def sort_keys(order: Sequence[OrderSpec]) -> list[tuple[str, str, str]]:
    """``OrderSpec`` list as the ``(name, order, null_placement)`` tuples Arrow sorts by."""
    return [
        (o.column, "ascending" if o.ascending else "descending", "at_start" if o.nulls_first else "at_end")
        for o in order
    ]


def sort_indices(table: pa.Table | pa.RecordBatch, order: Sequence[OrderSpec]) -> pa.Array:
    """Stable sort indices of ``table`` by ``order`` (per-key direction and NULL placement)."""
    if not order or table.num_rows == 0:
        return pa.array(np.arange(table.num_rows, dtype=np.int64))
    return pc.sort_indices(table, sort_keys=sort_keys(order))


def as_array(values: pa.Array | pa.ChunkedArray | pa.Scalar, length: int) -> pa.Array:
    """A plain array of ``length`` from whatever an expression evaluation returned."""
    if isinstance(values, pa.Scalar):
        return pa.repeat(values, length)
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def numpy_bool(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as numpy, NULL read as false."""
    mask = pc.fill_null(mask, False)
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return mask.to_numpy(zero_copy_only=False)
