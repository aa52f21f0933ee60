"""Bounded channels with end-of-stream counting (Volcano's flow control).

Each edge into a consumer instance has a bounded queue (one per producer when the
consumer merges sorted streams). A producer that finds the queue full waits, so a
fast producer cannot fill memory. ``None`` is the end-of-stream mark; a consumer's
stream ends after it has counted one from every producer. Every wait checks an
abort flag, so a failed or cancelled job never leaves a thread blocked.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pyarrow as pa

from dataflow.errors import JobCancelled

from .stages import Edge

DEFAULT_CAPACITY = 4  # batches in flight per channel
_POLL = 0.05


class Aborted(JobCancelled):
    """Raised inside a task whose job was aborted (another instance failed, or cancel)."""


class QueueInbox:
    """The receiving ends of all edges into one stage instance."""

    def __init__(self, edges: dict[str, Edge], aborted: threading.Event, capacity: int = DEFAULT_CAPACITY) -> None:
        self.aborted = aborted
        self._lock = threading.Lock()
        self._turn: dict[tuple[str, int], threading.Condition] = {}
        self._next: dict[tuple[str, int], int] = {}
        self.edges = {e.id: e for e in edges.values()}
        self.queues: dict[str, list[queue.Queue]] = {}
        for e in self.edges.values():
            if e.per_producer:
                self.queues[e.id] = [queue.Queue(capacity) for _ in range(e.producers)]
            else:
                self.queues[e.id] = [queue.Queue(capacity * e.senders)]

    def put(self, edge_id: str, producer: int, seq: int, item: pa.RecordBatch | None) -> None:
        """Deliver item number ``seq`` of a producer's stream. Transports may deliver
        concurrently (Ray runs a threaded actor's calls in parallel), so items wait
        for their turn: each producer's stream stays in order, end-of-stream last."""
        qs = self.queues[edge_id]
        q = qs[producer] if self.edges[edge_id].per_producer else qs[0]
        key = (edge_id, producer)
        with self._lock:
            cv = self._turn.get(key)
            if cv is None:
                cv = self._turn[key] = threading.Condition()
                self._next[key] = 0
        with cv:
            while self._next[key] != seq:
                if self.aborted.is_set():
                    raise Aborted("job aborted")
                cv.wait(_POLL)
            while True:
                if self.aborted.is_set():
                    raise Aborted("job aborted")
                try:
                    q.put(item, timeout=_POLL)
                    break
                except queue.Full:
                    continue
            self._next[key] = seq + 1
            cv.notify_all()

    def _get(self, q: queue.Queue) -> pa.RecordBatch | None:
        while True:
            if self.aborted.is_set():
                raise Aborted("job aborted")
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                continue

    def stream(self, edge_id: str) -> Iterator[pa.RecordBatch]:
        e = self.edges[edge_id]
        if e.per_producer:
            for s in self.streams(edge_id):
                yield from s
            return
        q = self.queues[edge_id][0]
        remaining = e.senders
        while remaining:
            item = self._get(q)
            if item is None:
                remaining -= 1
            else:
                yield item

    def streams(self, edge_id: str) -> list[Iterator[pa.RecordBatch]]:
        e = self.edges[edge_id]
        if not e.per_producer:
            return [self.stream(edge_id)]
        return [self._one(q) for q in self.queues[edge_id]]

    def _one(self, q: queue.Queue) -> Iterator[pa.RecordBatch]:
        while True:
            item = self._get(q)
            if item is None:
                return
            yield item


class CollectOutbox:
    """The outbox of the result edge: keeps the batches for the caller."""

    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    def send(self, dest: int, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)

    def broadcast(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)

    def close(self) -> None:
        pass
