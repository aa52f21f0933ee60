"""The exchange's data path: routing rows to consumers and merging sorted streams.

Pure functions over Arrow, no Ray: the runtime calls the partitioners on the sending
side of an exchange and :func:`merge_sorted` on the receiving side of a
``gather_merge``.

* :func:`hash_columns`: a stable, vectorized 64-bit row hash over key columns;
* :func:`hash_partition`, :func:`range_partition` (with :func:`sample_for_range` and
  :func:`split_points`), :class:`RoundRobinPartitioner`, :func:`broadcast`;
* :func:`merge_sorted`: k sorted streams into one sorted stream, lazily;
* :func:`key_codes`, :func:`order_codes`, :func:`lex_rank`, :func:`count_before`,
  :func:`sort_key_tuples`: vectorized comparison of rows under an ``ORDER BY``.

>>> import pyarrow as pa
>>> parts = hash_partition(pa.record_batch({"k": [1, 2, 3]}), ["k"], 4)
>>> len(parts), sum(p.num_rows for p in parts)
(4, 3)
"""

from __future__ import annotations

from .hashing import hash_columns
from .merge import merge_sorted
from .ordering import count_before, key_codes, lex_rank, order_codes, sort_key_tuples
from .partitioners import (
    RoundRobinPartitioner,
    broadcast,
    hash_partition,
    range_partition,
    sample_for_range,
    split_points,
)

__all__ = [
    "RoundRobinPartitioner",
    "broadcast",
    "count_before",
    "hash_columns",
    "hash_partition",
    "key_codes",
    "lex_rank",
    "merge_sorted",
    "order_codes",
    "range_partition",
    "sample_for_range",
    "sort_key_tuples",
    "split_points",
]
