"""A job's result streamed into Ray's object store (``submit(stream=True)``).

Each instance of the root stage runs as a Ray streaming generator
(``Worker.run_root``): it yields its result batches as tables while it runs, then its
record. Every yielded object belongs to the driver, so the rows never pass through
another actor and survive the worker that made them. :class:`ResultStream` keeps the
object refs per root instance and in order of arrival; the job's driver thread takes
them as they come (never blocking), and the caller reads them: ``iter_batches()`` one
by one while the query runs (letting each object go once read), ``to_ray_dataset()``
as Ray Data blocks, ``result()`` all at once.

A lost attempt's objects are void: a new attempt starts the stream again, and a
reader that has not handed anything over starts again with it. Once a reader has
(``delivered``), the job cannot be retried: those rows cannot be taken back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import ray

from dataflow.errors import DataflowError
from dataflow.exchange import merge_sorted

from .stages import Edge

POLL = 0.25


class ResultStream:
    def __init__(self, schema: pa.Schema, edge: Edge, name: str) -> None:
        self.schema, self.edge, self.name = schema, edge, name
        self._gens: dict[int, Any] = {}  # root instance -> its ObjectRefGenerator
        self._streams: list[list[Any]] = []  # per root instance, its objects (None: taken off)
        self._arrivals: list[tuple[int, int]] = []  # (instance, position), in arrival order
        self._cv = threading.Condition()
        self._epoch = 0  # bumped when an attempt starts: what an earlier one streamed is void
        self._refs: list[list[Any]] | None = None  # a finished attempt's objects, per instance
        self.delivered = False  # a reader has handed part of the result to the caller
        self.consumed = False  # read by iter_batches(): the objects are gone

    # -- the job's driver thread --------------------------------------------------------

    def start_attempt(self, dop: int) -> None:
        self._void(dop)

    def end_failed_attempt(self) -> bool:
        """The attempt failed: from now on no reader hands over what it streamed (a
        reader holding one of its objects drops it). Returns whether a reader already
        had, which rules out a retry; checked under the same lock, so no batch of a
        retried attempt can reach the caller between the check and the retry."""
        return self._void(0)

    def _void(self, dop: int) -> bool:
        with self._cv:
            self._epoch += 1
            self._gens = {}
            self._streams = [[] for _ in range(dop)]
            self._arrivals = []
            self._cv.notify_all()
            return self.delivered

    def add(self, instance: int, gen: Any) -> None:
        self._gens[instance] = gen

    def streams(self, instance: int) -> bool:
        return instance in self._gens

    def poll(self) -> None:
        """Take the objects the root instances have yielded so far (never blocks)."""
        for i, gen in list(self._gens.items()):
            got = []
            try:
                while gen.next_ready():
                    got.append(next(gen))
            except StopIteration:  # it ended meanwhile: the rest is taken with its record
                pass
            if got:
                self._append(i, got)

    def _append(self, i: int, got: list[Any]) -> None:
        with self._cv:
            st = self._streams[i]
            self._arrivals.extend((i, len(st) + k) for k in range(len(got)))
            st.extend(got)
            self._cv.notify_all()

    def record(self, instance: int, timeout: float) -> dict[str, Any]:
        """A finished root instance: take the rest of its stream, whose last object is
        its record (taken off the stream)."""
        gen = self._gens.pop(instance)
        self._append(instance, list(gen))
        with self._cv:  # left as None: readers hold positions in these lists
            st = self._streams[instance]
            last = st[-1] if st else None
            if st:
                st[-1] = None
        rec = ray.get(last, timeout=timeout) if last is not None else None
        if not isinstance(rec, dict):
            raise DataflowError(f"root instance {instance} ended without its record")
        return rec

    def finish(self) -> None:
        """The attempt succeeded: its objects are the result."""
        with self._cv:
            self._refs = [[r for r in st if r is not None] for st in self._streams]

    # -- the caller ------------------------------------------------------------------

    def _take_refs(self) -> list[list[Any]]:
        if self.consumed:
            raise DataflowError(f"the result of job {self.name} was consumed by iter_batches()")
        refs, self._refs = self._refs, None
        if refs is None:
            raise DataflowError(f"the result of job {self.name} was already handed over")
        return refs

    def fetch(self) -> list[list[pa.RecordBatch]]:
        """Every root instance's batches, fetched to the caller."""
        return [[b for t in ray.get(lst) for b in t.to_batches()] if lst else [] for lst in self._take_refs()]

    def dataset(self) -> Any:
        """A Ray Dataset over the objects, never fetched here (a sorted result of several
        instances is merged by one Ray task)."""
        import ray.data

        refs = self._take_refs()
        if self.edge.mode == "gather_merge" and len(refs) > 1:
            flat = [_merge_tables.remote(self.schema, self.edge.order, refs)]
        else:
            flat = [r for lst in refs for r in lst] or [ray.put(self.schema.empty_table())]
        return ray.data.from_arrow_refs(flat)

    def batches(
        self, dop: int, deadline: float | None, finished: threading.Event, on_timeout: Callable[[], None]
    ) -> Iterator[pa.RecordBatch]:
        """The result's batches while the query runs, merged in order when it is sorted."""
        self.consumed = True
        if self.edge.mode == "gather_merge" and dop > 1:
            streams = [
                (b for t in self._read(i, deadline, finished, on_timeout) for b in t.to_batches()) for i in range(dop)
            ]
            yield from merge_sorted(streams, self.edge.order, self.schema)
        else:
            for t in self._read(None, deadline, finished, on_timeout):
                yield from t.to_batches()

    def _read(
        self, instance: int | None, deadline: float | None, finished: threading.Event,
        on_timeout: Callable[[], None],
    ) -> Iterator[pa.Table]:
        """The tables as they arrive: of one root instance, or (``None``) of all in
        arrival order, until the job has ``finished``; ``on_timeout`` once ``deadline``
        passes (it stops the job)."""
        epoch, cursor = -1, 0
        while True:
            with self._cv:
                while True:
                    if epoch != self._epoch:  # an attempt started: from its beginning
                        epoch, cursor = self._epoch, 0
                    seq = self._arrivals if instance is None else self._streams[instance] if self._streams else []
                    if cursor < len(seq):
                        i, pos = seq[cursor] if instance is None else (instance, cursor)
                        ref = self._streams[i][pos]
                        cursor += 1
                        if ref is None:  # a record, taken off
                            continue
                        break
                    if finished.is_set():
                        ref = None
                        break
                    if deadline is not None and time.monotonic() > deadline:
                        self._cv.release()  # the job's thread needs it to finish
                        try:
                            on_timeout()
                        finally:
                            self._cv.acquire()
                        continue
                    self._cv.wait(POLL)
            if ref is None:
                return
            try:
                table = ray.get(ref)
            except Exception:  # lost with its attempt: the job retries, or fails
                continue
            if not isinstance(table, pa.Table):
                continue  # a record (the stream's last object)
            with self._cv:
                if epoch != self._epoch:
                    continue
                self.delivered = True
                self._streams[i][pos] = None  # the caller has it: let the object go
            yield table


@ray.remote(num_cpus=0)
def _merge_tables(schema: pa.Schema, order: Any, per_instance: list[list[Any]]) -> pa.Table:
    """Merge the sorted tables of several root instances into one (a Ray task, so a
    sorted Dataset never passes through the driver)."""
    streams = [(b for t in ray.get(refs) for b in t.to_batches()) for refs in per_instance]
    return pa.Table.from_batches(list(merge_sorted(streams, order, schema)), schema=schema)


__all__ = ["ResultStream"]
