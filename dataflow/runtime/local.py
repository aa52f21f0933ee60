"""The in-process runtime: every stage instance on a thread, channels as bounded
queues. Same stage graph, same tasks, same exchanges as on Ray, without actors;
used for development, for tests of plans, and as a fallback with no cluster."""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa

from dataflow.errors import JobCancelled
from dataflow.operators.base import TaskContext
from dataflow.physical import PhysicalPlan

from .channels import Aborted, CollectOutbox, ConsumerDone, Inbox
from .coordinator import BlockingRendezvous, Coordinator
from .job import Job, assemble, error_record, job_morsels, new_job_id, to_execution_error
from .stages import RESULT, Edge, StageGraph
from .task import EdgeOutbox, run_task


class _QueueOutbox(EdgeOutbox):
    """An edge between threads: straight into the consumers' inboxes."""

    def __init__(self, edge: Edge, producer: int, targets: list[Inbox]) -> None:
        super().__init__(edge, producer, len(targets))
        self.targets = targets

    def _deliver(self, dest: int, seq: int, payload: pa.RecordBatch | None) -> None:
        try:
            self.targets[dest].put(self.edge.id, self.producer, seq, payload)
        except ConsumerDone:
            self.done[dest] = True


class LocalJob(Job):
    def __init__(
        self,
        graph: StageGraph,
        plan: PhysicalPlan,
        tables: dict[str, pa.Table],
        coordinator: Coordinator,
        batch_rows: int,
        name: str = "",
    ) -> None:
        super().__init__(new_job_id(), graph, plan)
        self.name = name or self.job_id
        self.coordinator = coordinator
        self.aborted = threading.Event()
        meet = BlockingRendezvous(coordinator)
        coordinator.open(self.job_id)
        for key, morsels in job_morsels(graph, batch_rows).items():
            coordinator.register(self.job_id, key, morsels)
        inboxes = {
            (s.id, i): Inbox(s.inputs, self.aborted) for s in graph.stages for i in range(s.dop)
        }
        self._collect: dict[int, CollectOutbox] = {}
        self._errors: list[dict[str, Any]] = []
        self._threads: list[threading.Thread] = []
        for s in graph.stages:
            for i in range(s.dop):
                edge = s.output
                assert edge is not None
                if edge.consumer == RESULT:
                    outbox: Any = self._collect.setdefault(i, CollectOutbox())
                else:
                    cons = graph.stages[edge.consumer]
                    outbox = _QueueOutbox(edge, i, [inboxes[(cons.id, j)] for j in range(cons.dop)])
                ctx = TaskContext(
                    instance=i,
                    dop=s.dop,
                    next_morsel=lambda key, job=self.job_id: coordinator.next_morsel(job, key),
                    get_table=tables.__getitem__,
                    batch_rows=batch_rows,
                )

                def rendezvous(key: str, inst: int, sample: pa.Table | None, edge: Edge = edge) -> pa.Table:
                    return meet.split_points(
                        self.job_id, key, edge.producers, edge.consumers, edge.order, inst, sample, self.aborted
                    )

                t = threading.Thread(
                    target=self._run, args=(s, i, ctx, inboxes[(s.id, i)], outbox, rendezvous),
                    name=f"dataflow-{self.job_id}-s{s.id}-i{i}", daemon=True,
                )
                self._threads.append(t)
        for t in self._threads:
            t.start()

    def _run(self, stage, instance, ctx, inbox, outbox, rendezvous) -> None:  # type: ignore[no-untyped-def]
        try:
            ms = run_task(stage, instance, ctx, inbox, outbox, rendezvous, self.aborted)
            for m in ms:
                rec = m.as_record()
                rec.update(actor_id=None, node_id=None, thread=threading.current_thread().name)
                self._metrics.append(rec)
        except Aborted:
            pass
        except BaseException as e:
            self._errors.append(error_record(e, stage.id, instance))
            self.aborted.set()
        finally:
            inbox.finish()  # producers still sending learn that this instance needs no more

    def _wait(self, timeout: float | None) -> None:
        import time

        give_up = None if timeout is None else time.monotonic() + timeout
        timed_out = False
        for t in self._threads:
            t.join(None if give_up is None else max(0.0, give_up - time.monotonic()))
            if t.is_alive():
                timed_out = True
                self.aborted.set()  # stop the job like a cancel
                for u in self._threads:
                    u.join()
                break
        self.coordinator.finish(self.job_id)
        if timed_out:
            self._error = JobCancelled(f"the job did not finish within {timeout:g} s and was stopped")
        elif self._errors:
            self._error = to_execution_error(self._errors[0])
        elif self.aborted.is_set():
            self._error = JobCancelled("the job was cancelled")
        else:
            per_instance = [self._collect[i].batches for i in sorted(self._collect)]
            self._result = assemble(self.graph, self.plan, per_instance)

    def status(self) -> str:
        if any(t.is_alive() for t in self._threads):
            return "running"
        return "failed" if self._errors else "finished"

    def progress(self) -> dict[str, Any]:
        """Per stage, instances done out of total and rows sent so far (of finished ones)."""
        recs = list(self._metrics)
        stages = []
        for st in self.graph.stages:
            mine = [m for m in recs if m["stage"] == st.id]
            stages.append({
                "stage": st.id,
                "operators": "→".join(n.name for _, n in reversed(st.operators)),
                "instances": st.dop,
                "done": len({m["instance"] for m in mine}),
                "rows": sum(m["rows_out"] for m in mine if m["path"].startswith("send:")),
            })
        return {"status": self.status(), "attempt": 1, "stages": stages, "morsels_left": 0, "morsels": 0}

    def cancel(self, reason: str = "was cancelled") -> None:
        self.aborted.set()
        for t in self._threads:
            t.join()
        self._done = True
        self._error = JobCancelled(f"the job {reason}")


class LocalRuntime:
    """Runs jobs on threads of this process (``Session(runtime="local")``)."""

    dashboard_url = None

    def __init__(self) -> None:
        self.coordinator = Coordinator()
        self.jobs: dict[str, LocalJob] = {}
        self._lock = threading.Lock()

    def total_cpus(self) -> int:
        import os

        return os.cpu_count() or 1

    def available_actors(self) -> int | None:
        return None  # threads: no limit

    def check_udf(self, name: str, fn: Any) -> None:
        pass  # in-process: nothing is shipped

    def submit(
        self, graph: StageGraph, plan: PhysicalPlan, tables: dict[str, pa.Table], batch_rows: int,
        udfs: dict[str, tuple[Any, str, bool]] | None = None, name: str | None = None, stream: bool = False,
    ) -> LocalJob:
        job = LocalJob(graph, plan, tables, self.coordinator, batch_rows, name or "")
        with self._lock:
            self.jobs = {k: j for k, j in self.jobs.items() if j.status() == "running"}
            self.jobs[job.job_id] = job
        return job

    def forget_table(self, table_id: str) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            running = list(self.jobs.values())
            self.jobs.clear()
        for job in running:
            if not job._done:
                job.cancel("the Session was closed")
