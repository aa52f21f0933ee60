"""Run one stage instance: build its operators, pull batches through them, and route
the output into its edge. Pure Python over Arrow; the transport (Ray actors, or
threads in-process) comes in through the small :class:`Inbox` / :class:`Outbox`
interfaces, so this module does not import Ray.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from dataflow.exchange import (
    RoundRobinPartitioner,
    hash_partition,
    merge_sorted,
    range_partition,
    sample_for_range,
    split_points,
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


class Outbox(Protocol):
    def send(self, dest: int, batch: pa.RecordBatch) -> None:
        """Send a batch to consumer instance ``dest`` (blocks when its channel is full)."""

    def broadcast(self, batch: pa.RecordBatch) -> None:
        """Send one batch to every consumer instance."""

    def close(self) -> None:
        """Send end-of-stream to every consumer and wait for delivery."""


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
    seconds: float = 0.0  # wall time inside the operator, inputs included
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
            "seconds": round(self.seconds, 6),
        }


def _metered(
    it: Iterator[pa.RecordBatch], m: OperatorMetrics, aborted: threading.Event | None = None
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
        yield batch


def run_task(
    stage: Stage,
    instance: int,
    ctx: TaskContext,
    inbox: Inbox,
    outbox: Outbox,
    rendezvous: Callable[[str, int, pa.Table], pa.Table] | None = None,
    aborted: threading.Event | None = None,
) -> list[OperatorMetrics]:
    """Run instance ``instance`` of ``stage`` to completion; return its metrics."""
    metrics: dict[str, OperatorMetrics] = {}

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
            return _metered(src, m, aborted)
        op = build_operator(node, ctx, node_id=path)
        kids = node.children()
        m = OperatorMetrics(stage.id, node.name, path, instance, children=[f"{path}.{i}" for i in range(len(kids))])
        metrics[path] = m
        inputs = [build(c, f"{path}.{i}") for i, c in enumerate(kids)]
        return _metered(op.execute(inputs), m, aborted)

    out = build(stage.root, stage.root_path)
    assert stage.output is not None
    sender = OperatorMetrics(stage.id, f"Send({stage.output.mode})", "send:" + stage.output.id, instance)
    route(out, stage.output, instance, outbox, sender, rendezvous)
    metrics[sender.path] = sender
    for m in metrics.values():
        if m.children:
            m.rows_in = sum(metrics[c].rows_out for c in m.children if c in metrics)
    return list(metrics.values())


def route(
    batches: Iterator[pa.RecordBatch],
    edge: Edge,
    instance: int,
    outbox: Outbox,
    m: OperatorMetrics,
    rendezvous: Callable[[str, int, pa.Table], pa.Table] | None,
) -> None:
    """The sending half of an exchange: partition each batch and send the pieces."""
    t0 = time.perf_counter()
    mode = edge.mode
    n = edge.consumers
    rr = RoundRobinPartitioner(n, start=instance) if mode == "round_robin" else None
    held: list[pa.RecordBatch] = []
    for batch in batches:
        if batch.num_rows == 0:
            continue
        m.rows_in += batch.num_rows
        if mode in ("forward",):
            outbox.send(instance, batch)
        elif mode in ("gather", "gather_merge", "result") or n == 1:
            outbox.send(0, batch)
        elif mode == "hash":
            for i, part in enumerate(hash_partition(batch, list(edge.keys), n)):
                if part.num_rows:
                    outbox.send(i, part)
        elif mode == "round_robin":
            assert rr is not None
            for i, part in rr.partition(batch):
                outbox.send(i, part)
        elif mode == "broadcast":
            outbox.broadcast(batch)
        elif mode == "range":
            held.append(batch)  # split points need a sample of every producer's rows
        else:
            raise ValueError(f"unknown exchange mode {mode}")
    if mode == "range" and n > 1:
        if rendezvous is None:
            raise RuntimeError("a range exchange needs a rendezvous for its split points")
        table = pa.Table.from_batches(held) if held else None
        sample = (
            sample_for_range(table, edge.order, RANGE_SAMPLE_ROWS)
            if table is not None
            else None
        )
        splits = rendezvous(edge.id, instance, sample)
        for batch in held:
            for i, part in enumerate(range_partition(batch, edge.order, splits)):
                if part.num_rows:
                    outbox.send(i, part)
    m.rows_out = m.rows_in
    outbox.close()
    m.seconds = time.perf_counter() - t0


class Rendezvous:
    """Collects range samples from every producer of an edge and hands each the same
    split points once all have reported. Plain Python, thread-safe; the Ray runtime
    hosts one inside its coordinator actor."""

    def __init__(self) -> None:
        import threading

        self._cv = threading.Condition()
        self._samples: dict[str, dict[int, pa.Table | None]] = {}
        self._splits: dict[str, pa.Table] = {}

    def exchange(
        self, key: str, producers: int, consumers: int, order: Any, instance: int, sample: pa.Table | None,
        timeout: float = 3600.0,
    ) -> pa.Table:
        with self._cv:
            self._samples.setdefault(key, {})[instance] = sample
            if len(self._samples[key]) == producers and key not in self._splits:
                samples = [s for s in self._samples[key].values() if s is not None and s.num_rows]
                self._splits[key] = split_points(samples, order, consumers)
                self._cv.notify_all()
            if not self._cv.wait_for(lambda: key in self._splits, timeout=timeout):
                raise TimeoutError(f"range exchange {key}: not every producer sent a sample")
            return self._splits[key]
