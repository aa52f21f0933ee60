"""The receiving side of a ``gather_merge`` exchange: k sorted streams into one.

Volcano's merging exchange, vectorized: instead of a heap of single rows, keep one
buffered batch per input stream. A row is safe to emit once no row still to come can
sort before it: every stream is sorted, so the rows still to come from a stream that
is not exhausted sort at or after the last row of its buffer. The *bound* is the
smallest of those last rows; every buffered row at or before the bound is emitted
(sorted together, ties in stream order), the rest stay buffered. The stream whose last
row is the bound is emptied each round, so each round makes progress, and a new batch
is pulled only from a stream whose buffer ran empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflow.specs import OrderSpec
from dataflow.types import conform_batch

from .ordering import count_before, is_elementwise, key_codes, lex_rank, order_codes, sort_key_tuples

__all__ = ["merge_sorted"]


def merge_sorted(
    streams: Sequence[Iterable[pa.RecordBatch]], order: Sequence[OrderSpec], schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """Merge ``streams``, each sorted by ``order``, into one stream sorted by ``order``.

    Lazy: nothing is pulled before the first output batch is asked for; then one batch
    from every stream (the least any merge needs), and afterwards a stream's next batch
    only once its buffered rows are all emitted. Rows with equal keys come out in
    stream order. Batches are cast to ``schema`` if they differ from it. Raises
    ``ValueError`` when it notices that a stream is not sorted.

    >>> order = [OrderSpec(column="a")]
    >>> s1 = [pa.record_batch({"a": [1, 4]})]
    >>> s2 = [pa.record_batch({"a": [2, 3]}), pa.record_batch({"a": [5]})]
    >>> out = merge_sorted([s1, s2], order, pa.schema([("a", pa.int64())]))
    >>> pa.Table.from_batches(out).column("a").to_pylist()
    [1, 2, 3, 4, 5]
    """
    order = tuple(order)
    if not order:
        raise ValueError("merge_sorted needs at least one sort key")
    its = [iter(s) for s in streams]
    k = len(its)
    bufs: list[pa.RecordBatch | None] = [None] * k
    done = [False] * k

    def refill(i: int) -> None:
        for batch in its[i]:
            if batch.num_rows:
                bufs[i] = conform_batch(batch, schema)
                return
        done[i] = True

    while True:
        for i in range(k):
            if bufs[i] is None and not done[i]:
                refill(i)
        live = [i for i in range(k) if bufs[i] is not None]
        if not live:
            return
        if len(live) == 1:
            # every other stream is exhausted (a stream not exhausted has rows buffered):
            # the rest of this one passes through
            i = live[0]
            yield bufs[i]
            bufs[i] = None
            if not done[i]:
                for batch in its[i]:
                    if batch.num_rows:
                        yield conform_batch(batch, schema)
                done[i] = True
            return

        # the bound: the first, under order, of the last buffered rows of the streams
        # still running (a handful of rows: cheap to rank)
        waiting = [i for i in live if not done[i]]
        bound_stream, bound = None, None
        if waiting:
            lasts = [bufs[i].slice(bufs[i].num_rows - 1) for i in waiting]  # type: ignore[union-attr]
            last_cols = [pa.chunked_array([b.column(s.column) for b in lasts]) for s in order]
            j = int(np.argmin(lex_rank(order_codes(last_cols, order))))
            bound_stream, bound = waiting[j], [c.chunk(j) for c in last_cols]

        pieces: list[pa.RecordBatch] = []
        for i in live:
            batch = bufs[i]
            assert batch is not None
            rows = batch.num_rows
            if bound is None or i == bound_stream:
                c = rows  # every row sorts at or before the bound (its own last row)
            else:
                # rows at or before the bound: those the bound row does not sort before
                at_or_before = count_before([batch.column(s.column) for s in order], bound, order) == 0
                c = int(np.count_nonzero(at_or_before))
                if not at_or_before[:c].all():
                    raise _not_sorted(i, order)
            if c:
                pieces.append(batch if c == rows else batch.slice(0, c))
            bufs[i] = None if c == rows else batch.slice(c)

        if len(pieces) == 1:
            yield pieces[0]
            continue
        # sort the emitted rows together (stable: ties stay in stream order); each row
        # is sorted once, when it is emitted
        merged = pa.concat_batches(pieces)
        yield merged.take(_sort_indices(merged, order, [p.num_rows for p in pieces]))


def _sort_indices(merged: pa.RecordBatch, order: tuple[OrderSpec, ...], runs: list[int]) -> np.ndarray:
    """A stable sort of rows made of sorted ``runs``: numpy's stable sort (a merge of
    runs) over the codes of a single numeric key, else Arrow's multi-key sort."""
    if len(order) == 1 and is_elementwise(merged.schema.field(order[0].column).type):
        perm = np.argsort(key_codes(merged.column(order[0].column), order[0]), kind="stable")
    else:
        try:
            perm = pc.sort_indices(merged, sort_keys=sort_key_tuples(order)).to_numpy()
        except pa.ArrowNotImplementedError:  # e.g. view or dictionary keys
            perm = np.argsort(
                lex_rank(order_codes([merged.column(s.column) for s in order], order)), kind="stable"
            )
    # A stable sort keeps the rows of a sorted run in their order; so if, grouped by
    # run, the permutation is not 0, 1, 2, ..., some run was not sorted.
    run_of = np.repeat(np.arange(len(runs), dtype=np.uint16 if len(runs) < 1 << 16 else np.uint32), runs)
    if np.any(perm[np.argsort(run_of[perm], kind="stable")] != np.arange(len(perm))):
        raise _not_sorted(None, order)
    return perm


def _not_sorted(stream: int | None, order: Sequence[OrderSpec]) -> ValueError:
    which = "a merge input stream" if stream is None else f"merge input stream {stream}"
    return ValueError(f"{which} is not sorted by {', '.join(map(str, order))}")
