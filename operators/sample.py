"""Sample: keep each row with probability ``fraction``, decided by a seeded hash of
the row's values, so the rows kept do not depend on batching, morsel order or the
degree of parallelism.

The rule, for a row with the stable hash ``h`` of all its columns
(:func:`dataflow.exchange.hashing.hash_columns`): keep it when the top 53 bits of
``splitmix64(h ^ splitmix64(seed))``, read as a fraction of 2**53, are below
``fraction``. Equal rows share their fate; distinct rows are kept independently.

>>> import pyarrow as pa
>>> t = pa.table({"x": list(range(1000))})
>>> int(keep_mask(t, 0.0, 7).sum()), int(keep_mask(t, 1.0, 7).sum())
(0, 1000)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from dataflow.exchange.hashing import hash_columns, splitmix64
from dataflow.physical import PSample
from dataflow.types import conform_batch

from . import operator
from .base import Operator

_U64 = np.uint64
_SEED_MASK = (1 << 64) - 1


def keep_mask(batch: pa.RecordBatch | pa.Table, fraction: float, seed: int) -> np.ndarray:
    """Which rows of ``batch`` a sample of ``fraction`` with ``seed`` keeps (bools)."""
    if batch.num_rows == 0 or batch.num_columns == 0:
        return np.full(batch.num_rows, fraction >= 1.0)
    mixed_seed = splitmix64(np.array([seed & _SEED_MASK], dtype=_U64))[0]
    z = hash_columns(list(batch.columns))
    z ^= mixed_seed
    splitmix64(z)
    u = (z >> _U64(11)).astype(np.float64) / float(1 << 53)  # uniform in [0, 1)
    return u < fraction


@operator(PSample)
class Sample(Operator):
    """Keep the rows of ``node.fraction`` whose seeded hash falls below it."""

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        fraction, seed = self.node.fraction, self.node.seed
        if fraction <= 0.0:
            return  # as LIMIT 0 does: nothing to pull
        for batch in inputs[0]:
            if not batch.num_rows:
                continue
            out = batch if fraction >= 1.0 else batch.filter(pa.array(keep_mask(batch, fraction, seed)))
            if out.num_rows:
                yield conform_batch(out, self.schema)
