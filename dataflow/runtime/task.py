"""Run one stage instance: build its operators, pull batches through them, and route
the output into its edge. Pure Python over Arrow; the transport (Ray actors, or
threads in-process) comes in through the small :class:`Inbox` / :class:`Outbox`
interfaces, so this module does not import Ray.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from dataflow.exchange import (
    RoundRobinPartitioner,
    hash_partition,
    merge_sorted,
    range_partition,
    sample_for_range,
)
from dataflow.operators import build_operator
from dataflow.operators.base import TaskContext
from dataflow.physical import PhysicalPlan
from dataflow.types import schema_to_arrow

from .stages import Edge, Stage

RANGE_SAMPLE_ROWS = 2048


class Inbox(Protocol):
    def stream(self, edge_id: str) -> Iterator[pa.RecordBatch]:
        """Batches from all producers of an edge, in arrival order, until every
        producer's end-of-stream has been counted."""

    def streams(self, edge_id: str) -> list[Iterator[pa.RecordBatch]]:
        """One stream per producer (for merging sorted streams)."""


class ConsumersDone(Exception):
    """Raised by an outbox once every consumer has finished without needing more:
    the producer stops early (Volcano's close travelling upstream)."""


class Outbox(Protocol):
    def send(self, dest: int, batch: pa.RecordBatch) -> None:
        """Send a batch to consumer instance ``dest`` (blocks when its channel is full;
        a no-op once that consumer is done; :class:`ConsumersDone` once all are)."""

    def broadcast(self, batch: pa.RecordBatch) -> None:
        """Send one batch to every consumer instance."""

    def close(self) -> None:
        """Send end-of-stream to every consumer and wait for delivery."""


class EdgeOutbox:
    """The sending end of an edge, from one producer instance to its consumers: the
    numbering of each consumer's stream, the consumers that need nothing more (a
    LIMIT above them), and end-of-stream. A runtime says only how one batch travels
    (:meth:`_deliver`, which marks ``done[dest]`` when the consumer says so), how a
    broadcast batch is shared (:meth:`_shared`) and what to wait for at the end
    (:meth:`_drain`)."""

    def __init__(self, edge: Edge, producer: int, consumers: int) -> None:
        self.edge = edge
        self.producer = producer
        self.seq = [0] * consumers
        self.done = [False] * consumers  # consumers that need nothing more
        self.dests = [producer] if edge.mode == "forward" else list(range(consumers))

    def _deliver(self, dest: int, seq: int, payload: Any) -> None:
        raise NotImplementedError

    def _shared(self, batch: pa.RecordBatch) -> Any:
        return batch

    def _drain(self) -> None:
        pass

    def _put(self, dest: int, payload: Any) -> None:
        if self.done[dest]:
            return
        seq = self.seq[dest]
        self.seq[dest] += 1
        self._deliver(dest, seq, payload)

    def _check_done(self) -> None:
        if all(self.done[d] for d in self.dests):
            raise ConsumersDone()

    def send(self, dest: int, batch: pa.RecordBatch) -> None:
        self._put(dest, batch)
        if self.done[dest]:
            self._check_done()

    def broadcast(self, batch: pa.RecordBatch) -> None:
        payload = self._shared(batch)
        for dest in self.dests:
            self._put(dest, payload)
        self._check_done()

    def close(self) -> None:
        for dest in self.dests:
            self._put(dest, None)
        self._drain()


@dataclass
class OperatorMetrics:
    """Counters of one operator instance."""

    stage: int
    operator: str
    path: str
    instance: int
    rows_in: int = 0
    rows_out: int = 0
    batches_out: int = 0
    bytes_out: int = 0
    seconds: float = 0.0  # wall time inside the operator, inputs included
    self_seconds: float = 0.0  # without its inputs' time (filled in at the end)
    children: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "operator": self.operator,
            "path": self.path,
            "instance": self.instance,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "batches_out": self.batches_out,
            "bytes_out": self.bytes_out,
            "seconds": round(self.seconds, 6),
            "self_seconds": round(max(0.0, self.self_seconds), 6),
        }


Observer = Callable[[OperatorMetrics, pa.RecordBatch], None]


def _metered(
    it: Iterator[pa.RecordBatch], m: OperatorMetrics, aborted: threading.Event | None = None,
    observe: Observer | None = None,
) -> Iterator[pa.RecordBatch]:
    """Count what an operator yields, tag any exception with the operator's name, and
    stop between batches once the job is aborted (so even a long CPU-bound pipeline
    notices a cancel or another instance's failure)."""
    while True:
        if aborted is not None and aborted.is_set():
            from .channels import Aborted

            raise Aborted("job aborted")
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            m.seconds += time.perf_counter() - t0
            return
        except BaseException as e:
            if not hasattr(e, "_dataflow_operator"):
                e._dataflow_operator = m.operator  # type: ignore[attr-defined]
                e._dataflow_path = m.path  # type: ignore[attr-defined]
            raise
        m.seconds += time.perf_counter() - t0
        m.rows_out += batch.num_rows
        m.batches_out += 1
        m.bytes_out += batch.nbytes
        if observe is not None:
            observe(m, batch)
        yield batch


def run_task(
    stage: Stage,
    instance: int,
    ctx: TaskContext,
    inbox: Inbox,
    outbox: Outbox,
    rendezvous: Callable[[str, int, pa.Table], pa.Table] | None = None,
    aborted: threading.Event | None = None,
    live: dict[str, OperatorMetrics] | None = None,
    observe: Observer | None = None,
) -> list[OperatorMetrics]:
    """Run instance ``instance`` of ``stage`` to completion; return its metrics.
    ``live`` (if given) is filled as the task runs, for progress reports read from
    another thread; ``observe`` is called with every batch an operator yields."""
    metrics: dict[str, OperatorMetrics] = live if live is not None else {}

    def build(node: PhysicalPlan, path: str) -> Iterator[pa.RecordBatch]:
        if path in stage.inputs:
            edge = stage.inputs[path]
            m = OperatorMetrics(stage.id, f"Receive({edge.mode})", path, instance)
            metrics[path] = m
            if edge.per_producer:
                schema = schema_to_arrow(node.schema)
                src: Iterator[pa.RecordBatch] = merge_sorted(inbox.streams(edge.id), edge.order, schema)
            else:
                src = inbox.stream(edge.id)
            return _metered(src, m, aborted, observe)
        op = build_operator(node, ctx, node_id=path)
        kids = node.children()
        m = OperatorMetrics(stage.id, node.name, path, instance, children=[f"{path}.{i}" for i in range(len(kids))])
        metrics[path] = m
        inputs = [build(c, f"{path}.{i}") for i, c in enumerate(kids)]
        return _metered(op.execute(inputs), m, aborted, observe)

    out = build(stage.root, stage.root_path)
    assert stage.output is not None
    sender = OperatorMetrics(
        stage.id, f"Send({stage.output.mode})", "send:" + stage.output.id, instance, children=[stage.root_path]
    )
    metrics[sender.path] = sender
    route(out, stage.output, instance, outbox, sender, rendezvous)
    for m in metrics.values():
        kids = [metrics[c] for c in m.children if c in metrics]
        if kids:
            m.rows_in = sum(k.rows_out for k in kids)
        # pulling from a child happens inside this operator's next(): subtract it
        m.self_seconds = m.seconds - sum(k.seconds for k in kids)
    return list(metrics.values())


BROADCAST = -1  # a destination meaning "every consumer instance"

Splitter = Callable[[pa.RecordBatch], Iterable[tuple[int, pa.RecordBatch]]]


def _hash_splitter(edge: Edge, instance: int) -> Splitter:
    keys, n = list(edge.keys), edge.consumers
    return lambda b: ((i, p) for i, p in enumerate(hash_partition(b, keys, n)) if p.num_rows)


# How each exchange mode splits one batch into (consumer, piece) pairs. A range
# exchange is not here: it must see a sample of every producer's rows first.
SPLITTERS: dict[str, Callable[[Edge, int], Splitter]] = {
    "forward": lambda edge, instance: lambda b: ((instance, b),),
    "gather": lambda edge, instance: lambda b: ((0, b),),
    "gather_merge": lambda edge, instance: lambda b: ((0, b),),
    "hash": _hash_splitter,
    "round_robin": lambda edge, instance: RoundRobinPartitioner(edge.consumers, start=instance).partition,
    "broadcast": lambda edge, instance: lambda b: ((BROADCAST, b),),
}


def route(
    batches: Iterator[pa.RecordBatch],
    edge: Edge,
    instance: int,
    outbox: Outbox,
    m: OperatorMetrics,
    rendezvous: Callable[[str, int, pa.Table], pa.Table] | None,
) -> None:
    """The sending half of an exchange: split each batch and send the pieces."""
    t0 = time.perf_counter()
    try:
        if edge.mode == "range" and edge.consumers > 1:
            meet = rendezvous
            if meet is None:
                raise RuntimeError("a range exchange needs a rendezvous for its split points")
            _route_range(batches, edge, outbox, m, lambda sample: meet(edge.id, instance, sample))
        else:
            mode = "gather" if edge.consumers == 1 and edge.mode != "forward" else edge.mode
            if mode not in SPLITTERS:
                raise ValueError(f"unknown exchange mode {edge.mode}")
            split = SPLITTERS[mode](edge, instance)
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                m.rows_in += batch.num_rows
                for dest, part in split(batch):
                    if dest == BROADCAST:
                        outbox.broadcast(part)
                    else:
                        outbox.send(dest, part)
    except ConsumersDone:
        pass  # nobody needs more: stop pulling the inputs
    m.rows_out = m.rows_in
    outbox.close()
    m.seconds = time.perf_counter() - t0


def _route_range(
    batches: Iterator[pa.RecordBatch],
    edge: Edge,
    outbox: Outbox,
    m: OperatorMetrics,
    split_points: Callable[[pa.Table | None], pa.Table],
) -> None:
    """Hold every batch, offer a sample to the agreement on split points, then send."""
    held = [b for b in batches if b.num_rows]  # split points need a sample of every producer's rows
    m.rows_in += sum(b.num_rows for b in held)
    table = pa.Table.from_batches(held) if held else None
    sample = sample_for_range(table, edge.order, RANGE_SAMPLE_ROWS) if table is not None else None
    splits = split_points(sample)
    for batch in held:
        for i, part in enumerate(range_partition(batch, edge.order, splits)):
            if part.num_rows:
                outbox.send(i, part)
