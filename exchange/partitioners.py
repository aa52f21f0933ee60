"""Routing rows to the consumers of an exchange: hash, range, round robin, broadcast.

Pure functions over Arrow record batches, run on the sending side of an exchange;
each returns one batch per consumer (possibly empty) or, for round robin, the
batches with their consumer index. Nothing here knows about Ray.

Range partitioning takes three steps across the producers: each producer samples its
key columns (:func:`sample_for_range`), one place computes the ``n - 1`` split points
from all samples (:func:`split_points`), and each producer routes its rows by them
(:func:`range_partition`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import pyarrow as pa

from dataflow.specs import OrderSpec
from dataflow.types import normalize_type

from .hashing import hash_columns
from .ordering import count_before, lex_rank, order_codes

__all__ = [
    "RoundRobinPartitioner",
    "broadcast",
    "hash_partition",
    "range_partition",
    "sample_for_range",
    "split_points",
]

_U64 = np.uint64
# schema metadata of a range sample: how many rows it was drawn from (its weight)
ROWS_KEY = b"dataflow.sample_of_rows"

# a record batch, or a table where a caller has one (every function here accepts both)
Batch: TypeAlias = "pa.RecordBatch | pa.Table"


def _takeable(batch: Batch) -> Batch:
    """Arrow's ``take`` has no kernel for view types: cast them as the engine does
    (:func:`dataflow.types.normalize_type`) before routing."""
    if not any(t in (pa.string_view(), pa.binary_view()) for t in batch.schema.types):
        return batch
    target = pa.schema(
        [
            f.with_type(normalize_type(f.type)) if f.type in (pa.string_view(), pa.binary_view()) else f
            for f in batch.schema
        ],
        metadata=batch.schema.metadata,
    )
    return batch.cast(target)


def _split_by_ids(batch: Batch, ids: np.ndarray, n: int) -> list[Batch]:
    """Rows of ``batch`` grouped by partition id in ``[0, n)``, keeping their order within
    each partition; every output is a compact batch of its own (no slice of a shared
    buffer: pickling a slice would ship the whole buffer). String/binary view columns
    come out as plain string/binary."""
    if n == 1:
        return [batch]
    batch = _takeable(batch)
    # numpy sorts small unsigned ints stably with a radix sort: O(rows)
    ids = ids.astype(np.uint16 if n <= 1 << 16 else np.uint32, copy=False)
    perm = np.argsort(ids, kind="stable")
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ids, minlength=n), out=bounds[1:])
    return [batch.take(perm[bounds[p] : bounds[p + 1]]) for p in range(n)]


def hash_partition(batch: Batch, keys: Sequence[str], n: int) -> list[Batch]:
    """Split ``batch`` into ``n`` batches by a stable hash of the ``keys`` columns:
    row r goes to partition ``hash_columns(keys)[r] % n``; rows with equal keys land in
    the same partition in every producer.

    >>> b = pa.record_batch({"k": [1, 2, 1, 3], "v": ["a", "b", "c", "d"]})
    >>> parts = hash_partition(b, ["k"], 2)
    >>> sum(p.num_rows for p in parts)
    4
    """
    if n < 1:
        raise ValueError(f"hash_partition needs n >= 1, got {n}")
    if not keys:
        raise ValueError("hash_partition needs at least one key column")
    if n == 1:
        return [batch]
    h = hash_columns([batch.column(k) for k in keys])
    return _split_by_ids(batch, h % _U64(n), n)


def broadcast(batch: Batch, n: int) -> list[Batch]:
    """The same batch for each of the ``n`` consumers (no copy).

    >>> len(broadcast(pa.record_batch({"a": [1]}), 3))
    3
    """
    return [batch] * n


class RoundRobinPartitioner:
    """Deals whole batches to ``n`` consumers in turn (stateful: one per producer).

    ``start`` is the first consumer (give each producer a different one so that the
    first batches of all producers do not pile onto consumer 0); batches of more than
    ``max_rows`` rows are cut into slices dealt one after another. Empty batches are
    dropped.

    >>> rr = RoundRobinPartitioner(2)
    >>> [i for b in [pa.record_batch({"a": [1]})] * 3 for i, _ in rr.partition(b)]
    [0, 1, 0]
    """

    def __init__(self, n: int, start: int = 0, max_rows: int | None = None) -> None:
        if n < 1:
            raise ValueError(f"RoundRobinPartitioner needs n >= 1, got {n}")
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self.n = n
        self.max_rows = max_rows
        self._next = start % n

    def partition(self, batch: Batch) -> list[tuple[int, Batch]]:
        """The pieces of ``batch`` with the consumer index each goes to."""
        rows = batch.num_rows
        if rows == 0:
            return []
        step = rows if self.max_rows is None else self.max_rows
        out = []
        for offset in range(0, rows, step):
            piece = batch if step >= rows else batch.slice(offset, step)
            out.append((self._next, piece))
            self._next = (self._next + 1) % self.n
        return out


def _key_names(order: Sequence[OrderSpec]) -> list[str]:
    return list(dict.fromkeys(s.column for s in order))


def sample_for_range(batch_or_table: Batch, order: Sequence[OrderSpec], k: int, seed: int = 0) -> pa.Table:
    """A sample of about ``k`` rows of the key columns of ``order``, for
    :func:`split_points`. The sample is stratified (one random row from each of ``k``
    equal runs of rows, so sorted or clustered inputs are covered evenly) and records
    how many rows it stands for, so that producers of different sizes weigh in
    proportionally.

    >>> t = pa.table({"a": list(range(100)), "b": ["x"] * 100})
    >>> s = sample_for_range(t, [OrderSpec(column="a")], 10)
    >>> (s.column_names, s.num_rows)
    (['a'], 10)
    """
    if k < 1:
        raise ValueError(f"sample_for_range needs k >= 1, got {k}")
    table = batch_or_table
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    table = table.select(_key_names(order))
    rows = table.num_rows
    if rows > k:
        rng = np.random.default_rng(seed)
        lo = np.arange(k, dtype=np.int64) * rows // k
        hi = np.arange(1, k + 1, dtype=np.int64) * rows // k
        table = table.take(lo + (rng.random(k) * (hi - lo)).astype(np.int64))
    return table.replace_schema_metadata({ROWS_KEY: str(rows).encode()})


def _common_keys(samples: Sequence[pa.Table], names: list[str]) -> pa.Table:
    """The key columns of all samples in one table of one (normalized) schema."""
    parts = []
    for s in samples:
        s = s.select(names)
        target = pa.schema([pa.field(f.name, normalize_type(f.type)) for f in s.schema])
        parts.append(s.replace_schema_metadata(None).cast(target))
    return pa.concat_tables(parts, promote_options="permissive").combine_chunks()


def split_points(samples: Sequence[pa.Table], order: Sequence[OrderSpec], n: int) -> pa.Table:
    """The ``n - 1`` boundary rows for range partitioning into ``n`` partitions, from
    the samples of all producers: the weighted ``i/n`` quantiles of the sampled keys
    under ``order``, in order (equal boundaries are kept, so the table always has
    ``n - 1`` rows; with no sampled rows at all they are NULL).

    >>> s = sample_for_range(pa.table({"a": list(range(100))}), [OrderSpec(column="a")], 100)
    >>> split_points([s], [OrderSpec(column="a")], 4).column("a").to_pylist()
    [24, 49, 74]
    """
    if n < 1:
        raise ValueError(f"split_points needs n >= 1, got {n}")
    if not samples:
        raise ValueError("split_points needs at least one sample (it may be empty)")
    names = _key_names(order)
    keys = _common_keys(samples, names)
    if n == 1:
        return keys.slice(0, 0)
    if keys.num_rows == 0:
        return pa.table({f.name: pa.nulls(n - 1, f.type) for f in keys.schema})
    # each sampled row stands for (rows it was drawn from) / (rows in its sample)
    weights = np.concatenate([np.full(s.num_rows, _sample_weight(s), dtype=np.float64) for s in samples])
    ranks = lex_rank(order_codes([keys.column(s.column) for s in order], order))
    perm = np.argsort(ranks, kind="stable")
    cum = np.cumsum(weights[perm])
    targets = cum[-1] * np.arange(1, n, dtype=np.float64) / n
    pos = np.minimum(np.searchsorted(cum, targets, side="left"), len(perm) - 1)
    return keys.take(perm[pos])


def _sample_weight(sample: pa.Table) -> float:
    meta = sample.schema.metadata or {}
    if ROWS_KEY in meta and sample.num_rows:
        return int(meta[ROWS_KEY]) / sample.num_rows
    return 1.0


def range_partition(batch: Batch, order: Sequence[OrderSpec], splits: pa.Table) -> list[Batch]:
    """Split ``batch`` into ``splits.num_rows + 1`` batches by the boundary rows
    ``splits`` (from :func:`split_points`): a row goes to the first partition i whose
    boundary ``splits[i]`` it sorts before or equals under ``order``, or to the last.
    So every row of partition i sorts before or equal to every row of partition i+1,
    and equal keys always land in the same partition.

    >>> order = [OrderSpec(column="a", ascending=False)]
    >>> splits = pa.table({"a": [5]})
    >>> [p.column("a").to_pylist() for p in range_partition(pa.record_batch({"a": [1, 9, 5]}), order, splits)]
    [[9, 5], [1]]
    """
    m = splits.num_rows
    if m == 0:
        return [batch]
    ids = count_before(
        [batch.column(s.column) for s in order], [splits.column(s.column) for s in order], order
    )
    return _split_by_ids(batch, ids, m + 1)
