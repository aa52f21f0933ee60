"""What every runtime's job shares: the result assembly, error reporting and the
``Job`` handle a user holds (``result()``, ``cancel()``, ``metrics()``)."""

from __future__ import annotations

import traceback
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from dataflow.errors import DataflowError, ExecutionError
from dataflow.exchange import merge_sorted
from dataflow.operators.base import Morsel
from dataflow.operators.scan import plan_morsels
from dataflow.physical import PhysicalPlan
from dataflow.types import conform_batch, schema_to_arrow

from .stages import StageGraph


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def error_record(e: BaseException, stage: int, instance: int) -> dict[str, Any]:
    """A picklable description of an exception inside a task."""
    return {
        "ok": False,
        "type": type(e).__name__,
        "message": str(e),
        "traceback": "".join(traceback.format_exception(type(e), e, e.__traceback__)),
        "operator": getattr(e, "_dataflow_operator", ""),
        "path": getattr(e, "_dataflow_path", ""),
        "stage": stage,
        "instance": instance,
    }


def to_execution_error(rec: dict[str, Any]) -> ExecutionError:
    return ExecutionError(
        rec["message"],
        operator=rec.get("operator") or "",
        stage=rec.get("stage"),
        instance=rec.get("instance"),
        remote_traceback=rec.get("traceback", ""),
        cause_type=rec.get("type", ""),
    )


def job_morsels(graph: StageGraph, batch_rows: int) -> dict[str, list[Morsel]]:
    """The morsels of every scan in the graph, keyed by the scan's plan path."""
    return {path: plan_morsels(node, batch_rows) for s in graph.stages for path, node in s.scans()}


STATIC_PER_INSTANCE = 4  # a scan of at most this many morsels per instance is dealt out in advance


def deal_morsels(
    graph: StageGraph, morsels: dict[str, list[Morsel]]
) -> tuple[dict[str, list[Morsel]], dict[tuple[str, int], list[Morsel]]]:
    """Split the scans' morsels into those the coordinator hands out while the job runs
    (morsel-driven: whoever is free takes the next) and those dealt to the instances in
    advance, for scans of one instance or of a few morsels, where balancing cannot gain
    what a round trip to the coordinator costs: largest first to the instance with the
    fewest rows so far. Returns (dynamic by scan, static by (scan, instance))."""
    dop = {path: s.dop for s in graph.stages for path, _ in s.scans()}
    dynamic: dict[str, list[Morsel]] = {}
    static: dict[tuple[str, int], list[Morsel]] = {}
    for key, ms in morsels.items():
        n = dop[key]
        if n > 1 and len(ms) > STATIC_PER_INSTANCE * n:
            dynamic[key] = ms
            continue
        load = [0] * n
        parts: list[list[int]] = [[] for _ in range(n)]  # morsel indexes per instance
        for i in sorted(range(len(ms)), key=lambda i: -ms[i].rows):
            j = min(range(n), key=lambda j: load[j])
            parts[j].append(i)
            load[j] += max(1, ms[i].rows)
        for j in range(n):
            static[(key, j)] = [ms[i] for i in sorted(parts[j])]  # each instance reads in file order
    return dynamic, static


def assemble(graph: StageGraph, plan: PhysicalPlan, per_instance: list[list[pa.RecordBatch]]) -> pa.Table:
    """The final gather in the caller: concatenate, or merge sorted streams."""
    schema = schema_to_arrow(plan.schema)
    edge = graph.stages[0].output
    assert edge is not None
    if edge.mode == "gather_merge" and len(per_instance) > 1:
        batches = list(merge_sorted([iter(b) for b in per_instance], edge.order, schema))
    else:
        batches = [b for inst in per_instance for b in inst]
    batches = [conform_batch(b, schema) for b in batches]
    return pa.Table.from_batches(batches, schema=schema)


class Job(ABC):
    """A running query. ``result()`` waits for it; an exception inside any operator
    instance is re-raised here as :class:`dataflow.errors.ExecutionError`."""

    def __init__(self, job_id: str, graph: StageGraph, plan: PhysicalPlan) -> None:
        self.job_id = job_id
        self.graph = graph
        self.plan = plan
        self._metrics: list[dict[str, Any]] = []
        self._result: pa.Table | None = None
        self._error: BaseException | None = None
        self._done = False
        # what the runtime changed from the plan (e.g. fewer actors than planned)
        self.notes: list[str] = []
        self.show_progress = False  # draw a progress bar while result() waits

    @abstractmethod
    def _wait(self, timeout: float | None) -> None:
        """Wait for every task; fill ``_metrics`` and ``_result`` or ``_error``."""

    @abstractmethod
    def cancel(self, reason: str = "was cancelled") -> None:
        """Stop the job; its actors go back to the pool. ``reason`` ends the message of
        the :class:`dataflow.JobCancelled` that ``result()`` raises ("the job ...")."""

    def result(self, timeout: float | None = None) -> pa.Table:
        """The query result as an Arrow table (waits for the job). After ``timeout``
        seconds the job is stopped and :class:`dataflow.JobCancelled` raised."""
        if not self._done:
            bar = None
            if self.show_progress:
                from dataflow.progress import ProgressBar

                bar = ProgressBar(self)
            try:
                self._wait(timeout)
            finally:
                if bar is not None:
                    bar.stop()
            self._done = True
        if self._error is not None:
            raise self._error
        if self._result is None:
            self._result = self._materialize()
        return self._result

    def _materialize(self) -> pa.Table:
        """The finished job's result, for runtimes that keep it elsewhere until asked."""
        raise AssertionError("the job finished without a result")

    def to_ray_dataset(self, timeout: float | None = None) -> Any:
        """The result as a Ray Dataset: only the Ray runtime's jobs have one."""
        raise DataflowError(
            "to_ray_dataset() needs the Ray runtime (Session(runtime='ray')); on the local runtime, "
            "use ray.data.from_arrow(df.to_arrow())"
        )

    def progress(self) -> dict[str, Any]:
        """Where the job stands: ``status``, ``attempt``, per stage ``instances``,
        ``done`` and ``rows`` so far, and scan ``morsels`` / ``morsels_left``."""
        raise NotImplementedError

    def status(self) -> str:
        """``queued``, ``running``, ``finished`` or ``failed``."""
        raise NotImplementedError

    def iter_batches(self, timeout: float | None = None) -> Iterator[pa.RecordBatch]:
        """The result's record batches. Runtimes that stream override this to yield
        batches as they arrive; this default waits for the whole result."""
        yield from self.result(timeout).to_batches()

    def metrics(self) -> list[dict[str, Any]]:
        """One record per operator instance: stage, operator, instance, actor_id,
        node_id, rows_in, rows_out, seconds. Waits for the job to finish."""
        if not self._done:
            try:
                self.result()
            except Exception:
                pass
        return list(self._metrics)
