"""Bounded channels with end-of-stream counting (Volcano's flow control), without a
thread per waiting sender.

Each edge into a consumer instance has a bounded :class:`Channel` (one per producer
when the consumer merges sorted streams). ``None`` is the end-of-stream mark; a
consumer's stream ends after it has counted one from every producer.

A channel has two ends that live in different worlds:

* the *receiving* end is read by the task's one executor thread (operators are plain
  blocking Python over Arrow), which waits on a ``threading.Condition``;
* the *sending* end is written either from an ``asyncio`` event loop (the Ray
  worker's ``push`` coroutine: a sender that finds the channel full awaits a future,
  costing no OS thread) or from a plain thread (the local runtime).

So a worker with a fan-in of hundreds of producers runs the same handful of threads:
measured 25 threads for an idle async actor against 540 for the threaded actor with a
512-thread concurrency group that this replaced. A fast producer still waits: it keeps
at most a window of pushes in flight per consumer, and each push completes only once
its batch is in the channel.

Every wait checks an abort flag, so a failed or cancelled job never leaves a thread
or a coroutine blocked.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from dataflow.errors import JobCancelled

from .stages import Edge

DEFAULT_CAPACITY = 4  # batches in flight per channel
_POLL = 0.05


class Aborted(JobCancelled):
    """Raised inside a task whose job was aborted (another instance failed, or cancel)."""


class ConsumerDone(Exception):
    """The consumer has finished without needing more input (a LIMIT was reached):
    the batch is dropped, and its producer may stop sending to it."""


class Channel:
    """A bounded FIFO with a thread-side receiver and an async or blocking sender."""

    def __init__(self, capacity: int, aborted: threading.Event, loop: asyncio.AbstractEventLoop | None = None):
        self.capacity = capacity
        self.aborted = aborted
        self.loop = loop
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self.closed = False  # the consumer finished: puts are dropped
        self._space: deque[asyncio.Future[None]] = deque()  # async senders waiting for room

    def __len__(self) -> int:
        return len(self._items)

    async def put_async(self, item: Any) -> None:
        """Append ``item``, awaiting room (called on the event loop)."""
        while True:
            if self.aborted.is_set():
                raise Aborted("job aborted")
            if self.closed:
                raise ConsumerDone()
            with self._cond:
                if len(self._items) < self.capacity or item is None:  # end-of-stream never waits
                    self._items.append(item)
                    self._cond.notify()
                    return
                assert self.loop is not None
                fut = self.loop.create_future()
                self._space.append(fut)
            await fut

    def put(self, item: Any) -> None:
        """Append ``item``, blocking this thread for room (the local runtime)."""
        with self._cond:
            while len(self._items) >= self.capacity and item is not None:
                if self.aborted.is_set():
                    raise Aborted("job aborted")
                if self.closed:
                    raise ConsumerDone()
                self._cond.wait(_POLL)
            if self.closed:
                raise ConsumerDone()
            self._items.append(item)
            self._cond.notify_all()

    def get(self) -> Any:
        """Take the next item, waiting for one (called on the task's thread)."""
        with self._cond:
            while not self._items:
                if self.aborted.is_set():
                    raise Aborted("job aborted")
                self._cond.wait(_POLL)
            item = self._items.popleft()
            waiters = list(self._space)
            self._space.clear()
            self._cond.notify_all()  # blocking senders (local runtime)
        for fut in waiters:
            self._wake(fut)
        return item

    def close(self) -> None:
        """The consumer needs nothing more: drop what waits, refuse what comes."""
        with self._cond:
            self.closed = True
            self._items.clear()
        self.wake_all()

    def wake_all(self) -> None:
        """Release every waiting sender (on abort: they see the flag and stop)."""
        with self._cond:
            waiters = list(self._space)
            self._space.clear()
            self._cond.notify_all()
        for fut in waiters:
            self._wake(fut)

    def _wake(self, fut: asyncio.Future[None]) -> None:
        assert self.loop is not None
        try:
            self.loop.call_soon_threadsafe(_resolve, fut)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Inbox:
    """The receiving ends of all edges into one stage instance.

    Transports may deliver one producer's items concurrently (Ray runs an async
    actor's calls as concurrent coroutines), so items carry a sequence number and wait
    for their turn: each producer's stream stays in order, end-of-stream last.
    """

    def __init__(
        self,
        edges: dict[str, Edge],
        aborted: threading.Event,
        capacity: int = DEFAULT_CAPACITY,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.aborted = aborted
        self.loop = loop
        self.edges = {e.id: e for e in edges.values()}
        self.channels: dict[str, list[Channel]] = {}
        for e in self.edges.values():
            if e.per_producer:
                self.channels[e.id] = [Channel(capacity, aborted, loop) for _ in range(e.producers)]
            else:
                self.channels[e.id] = [Channel(capacity * e.senders, aborted, loop)]
        self._next: dict[tuple[str, int], int] = {}
        self._turn: dict[tuple[str, int], list[asyncio.Future[None]]] = {}
        self._lock = threading.Lock()

    def _channel(self, edge_id: str, producer: int) -> Channel:
        if edge_id not in self.channels:
            raise KeyError(f"this stage instance has no input edge {edge_id!r}")
        chans = self.channels[edge_id]
        return chans[producer] if self.edges[edge_id].per_producer else chans[0]

    async def put_async(self, edge_id: str, producer: int, seq: int, item: pa.RecordBatch | None) -> None:
        """Deliver item number ``seq`` of a producer's stream (on the event loop)."""
        key = (edge_id, producer)
        ch = self._channel(edge_id, producer)
        while self._next.get(key, 0) != seq:
            if self.aborted.is_set():
                raise Aborted("job aborted")
            if ch.closed:
                raise ConsumerDone()
            assert self.loop is not None
            fut = self.loop.create_future()
            self._turn.setdefault(key, []).append(fut)
            await fut
        await ch.put_async(item)
        self._next[key] = seq + 1
        for fut in self._turn.pop(key, []):
            _resolve(fut)

    def put(self, edge_id: str, producer: int, seq: int, item: pa.RecordBatch | None) -> None:
        """Deliver an item from a producer thread (the local runtime: one thread per
        producer, so its items come in order and ``seq`` is only checked)."""
        key = (edge_id, producer)
        with self._lock:
            expected = self._next.get(key, 0)
            if seq != expected:
                raise RuntimeError(f"edge {edge_id} producer {producer}: item {seq} arrived before {expected}")
            self._next[key] = seq + 1
        self._channel(edge_id, producer).put(item)

    def finish(self) -> None:
        """The task has ended: producers still sending learn that it is done."""
        for chans in self.channels.values():
            for ch in chans:
                ch.close()
        self.wake_all()

    def wake_all(self) -> None:
        """On abort: release every waiting sender and every sender waiting its turn."""
        for chans in self.channels.values():
            for ch in chans:
                ch.wake_all()
        if self.loop is not None:
            turns = [f for fs in self._turn.values() for f in fs]
            self._turn.clear()
            for fut in turns:
                try:
                    self.loop.call_soon_threadsafe(_resolve, fut)
                except RuntimeError:
                    pass

    def depths(self) -> dict[str, int]:
        """Batches waiting per edge (for live metrics)."""
        return {eid: sum(len(c) for c in chans) for eid, chans in self.channels.items()}

    def stream(self, edge_id: str) -> Iterator[pa.RecordBatch]:
        """Batches from all producers of an edge, in arrival order, until every
        producer's end-of-stream has been counted."""
        e = self.edges[edge_id]
        if e.per_producer:
            for s in self.streams(edge_id):
                yield from s
            return
        ch = self.channels[edge_id][0]
        remaining = e.senders
        while remaining:
            item = ch.get()
            if item is None:
                remaining -= 1
            else:
                yield item

    def streams(self, edge_id: str) -> list[Iterator[pa.RecordBatch]]:
        """One stream per producer (for merging sorted streams)."""
        e = self.edges[edge_id]
        if not e.per_producer:
            return [self.stream(edge_id)]
        return [_until_end(ch) for ch in self.channels[edge_id]]


def _until_end(ch: Channel) -> Iterator[pa.RecordBatch]:
    while True:
        item = ch.get()
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
