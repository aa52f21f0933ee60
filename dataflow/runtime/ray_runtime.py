"""The Ray runtime: one actor per stage instance, batches pushed actor to actor.

* ``Worker`` is a threaded actor that runs one task (a stage instance) at a time.
  Producers call ``push`` on their consumers; ``push`` blocks while the bounded
  channel is full, and a producer keeps at most ``window`` pushes in flight per
  consumer, so flow control reaches back to the producer.
* ``ActorPool`` keeps warm workers per node and leases them to jobs, so a query pays
  no actor start-up; it grows as plans need and shrinks when idle.
* ``RayJob`` sets up every task, starts them all at once (pipeline and bushy
  parallelism come from that), and on the first failure aborts the others, returns
  the actors to the pool and re-raises the error in the caller.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import pyarrow as pa
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from dataflow import cluster
from dataflow.errors import JobCancelled
from dataflow.operators.base import TaskContext
from dataflow.physical import PhysicalPlan

from .channels import DEFAULT_CAPACITY, Aborted, CollectOutbox, QueueInbox
from .coordinator import Coordinator
from .job import Job, assemble, error_record, job_morsels, new_job_id, to_execution_error
from .stages import RESULT, Edge, Stage, StageGraph
from .task import run_task

PUSH_WINDOW = 4  # pushes in flight per consumer channel
ABORT_GRACE_SECONDS = 30.0


@ray.remote(num_cpus=0, concurrency_groups={"control": 4, "data": 512})
class Worker:
    """A warm actor that runs one stage instance at a time."""

    def __init__(self) -> None:
        ctx = ray.get_runtime_context()
        self.actor_id = ctx.get_actor_id()
        self.node_id = ctx.get_node_id()
        self.job: str | None = None
        self.aborted = threading.Event()
        self.inbox: QueueInbox | None = None
        self._tables: dict[str, pa.Table] = {}
        self._table_refs: dict[str, Any] = {}

    @ray.method(concurrency_group="control")
    def ping(self) -> tuple[str, str]:
        return self.actor_id, self.node_id

    @ray.method(concurrency_group="control")
    def setup(
        self,
        job: str,
        stage: Stage,
        instance: int,
        consumers: list[Any],
        coordinator: Any,
        table_refs: dict[str, list[Any]],
        batch_rows: int,
        udfs: dict[str, tuple[Any, str, bool]],
    ) -> bool:
        from dataflow.compute import register_udf

        for name, (fn, rtype, safe) in udfs.items():
            register_udf(name, fn, rtype, safe)
        self.job = job
        self.stage = stage
        self.instance = instance
        self.consumers = consumers
        self.coordinator = coordinator
        self.aborted = threading.Event()
        self.inbox = QueueInbox(stage.inputs, self.aborted, DEFAULT_CAPACITY)
        self._table_refs = {k: v[0] for k, v in table_refs.items()}  # wrapped so Ray does not resolve them
        self.batch_rows = batch_rows
        return True

    @ray.method(concurrency_group="data")
    def push(self, job: str, edge_id: str, producer: int, seq: int, batch: pa.RecordBatch | None) -> bool:
        if job != self.job or self.inbox is None:
            return False  # a straggler from an aborted job
        try:
            self.inbox.put(edge_id, producer, seq, batch)
        except Aborted:
            return False  # the job was aborted: the producer learns it from its own flag
        return True

    def _table(self, table_id: str) -> pa.Table:
        if table_id not in self._tables:
            self._tables[table_id] = ray.get(self._table_refs[table_id])
        return self._tables[table_id]

    @ray.method(concurrency_group="control")
    def run(self) -> dict[str, Any]:
        stage, instance, job = self.stage, self.instance, self.job
        assert self.inbox is not None and job is not None
        edge = stage.output
        assert edge is not None
        outbox: Any
        if edge.consumer == RESULT:
            outbox = CollectOutbox()
        else:
            outbox = RayOutbox(job, edge, instance, self.consumers, self.aborted)
        coord = self.coordinator
        prefetched: dict[str, deque] = {}

        def next_morsel(key: str):  # type: ignore[no-untyped-def]
            q = prefetched.setdefault(key, deque())
            if not q:
                q.extend(ray.get(coord.next_morsels.remote(job, key, 2)))
            return q.popleft() if q else None

        def rendezvous(key: str, inst: int, sample: pa.Table | None) -> pa.Table:
            return ray.get(
                coord.split_points.remote(job, key, edge.producers, edge.consumers, edge.order, inst, sample)
            )

        ctx = TaskContext(
            instance=instance, dop=stage.dop, next_morsel=next_morsel, get_table=self._table,
            batch_rows=self.batch_rows,
        )
        try:
            ms = run_task(stage, instance, ctx, self.inbox, outbox, rendezvous, self.aborted)
        except BaseException as e:
            rec = error_record(e, stage.id, instance)
            rec["aborted"] = self.aborted.is_set() or isinstance(e, Aborted)
            return rec
        records = []
        for m in ms:
            r = m.as_record()
            r.update(actor_id=self.actor_id, node_id=self.node_id)
            records.append(r)
        out: dict[str, Any] = {"ok": True, "metrics": records}
        if isinstance(outbox, CollectOutbox):
            out["batches"] = outbox.batches
        return out

    @ray.method(concurrency_group="control")
    def abort(self, job: str) -> None:
        if job == self.job:
            self.aborted.set()

    @ray.method(concurrency_group="control")
    def reset(self) -> bool:
        self.job = None
        self.inbox = None
        self.consumers = []
        self._tables.clear()
        self._table_refs = {}
        return True


class RayOutbox:
    """The sending end of an edge, from one producer instance to its consumers."""

    def __init__(self, job: str, edge: Edge, producer: int, consumers: list[Any], aborted: threading.Event) -> None:
        self.job = job
        self.edge = edge
        self.producer = producer
        self.consumers = consumers
        self.aborted = aborted
        self.inflight: list[deque] = [deque() for _ in consumers]
        self.seq = [0] * len(consumers)

    def _wait(self, ref: Any) -> None:
        while True:
            if self.aborted.is_set():
                raise Aborted("job aborted")
            ready, _ = ray.wait([ref], timeout=0.1)
            if ready:
                ray.get(ref)
                return

    def _push(self, dest: int, payload: Any) -> None:
        q = self.inflight[dest]
        seq = self.seq[dest]
        self.seq[dest] += 1
        q.append(self.consumers[dest].push.remote(self.job, self.edge.id, self.producer, seq, payload))
        while len(q) > PUSH_WINDOW:
            self._wait(q.popleft())

    def send(self, dest: int, batch: pa.RecordBatch) -> None:
        self._push(dest, batch)

    def broadcast(self, batch: pa.RecordBatch) -> None:
        ref = ray.put(batch)  # one copy in the object store, read by every consumer
        for dest in range(len(self.consumers)):
            self._push(dest, ref)

    def close(self) -> None:
        dests = [self.producer] if self.edge.mode == "forward" else range(len(self.consumers))
        for dest in dests:
            self._push(dest, None)
        for q in self.inflight:
            while q:
                self._wait(q.popleft())


class ActorPool:
    """Warm workers per node, leased to jobs and returned after."""

    def __init__(self, idle_seconds: float = 300.0) -> None:
        self.idle_seconds = idle_seconds
        self._idle: dict[str, list[tuple[Any, float]]] = {}
        self._lock = threading.Lock()
        self.created = 0

    def _nodes(self) -> list[str]:
        return [n["NodeID"] for n in cluster.alive_nodes()] or [ray.get_runtime_context().get_node_id()]

    def warm(self, n: int) -> None:
        """Start ``n`` workers spread over the nodes, without waiting for them."""
        nodes = self._nodes()
        with self._lock:
            for i in range(n):
                node = nodes[i % len(nodes)]
                self._idle.setdefault(node, []).append((self._create(node), time.monotonic()))

    def _create(self, node: str) -> Any:
        self.created += 1
        return Worker.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=True)
        ).remote()

    def lease(self, placement: list[int]) -> list[Any]:
        """One worker per entry of ``placement`` (an index into the alive nodes)."""
        nodes = self._nodes()
        out: list[Any] = []
        fresh: list[Any] = []
        with self._lock:
            for p in placement:
                node = nodes[p % len(nodes)]
                idle = self._idle.get(node)
                if idle:
                    out.append(idle.pop()[0])
                else:
                    a = self._create(node)
                    fresh.append(a)
                    out.append(a)
        if fresh:
            ray.get([a.ping.remote() for a in fresh])
        return out

    def release(self, actors: list[Any]) -> None:
        ray.get([a.reset.remote() for a in actors])
        now = time.monotonic()
        info = ray.get([a.ping.remote() for a in actors])
        with self._lock:
            for a, (_, node) in zip(actors, info, strict=True):
                self._idle.setdefault(node, []).append((a, now))
        self.shrink()

    def discard(self, actor: Any) -> None:
        try:
            ray.kill(actor)
        except Exception:
            pass

    def shrink(self, keep: int = 0) -> int:
        """Kill workers idle longer than ``idle_seconds``; return how many."""
        now = time.monotonic()
        killed = 0
        with self._lock:
            for node, idle in self._idle.items():
                keep_list = [(a, t) for a, t in idle if now - t < self.idle_seconds]
                for a, t in idle:
                    if now - t >= self.idle_seconds:
                        self.discard(a)
                        killed += 1
                self._idle[node] = keep_list
        return killed

    def size(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    def close(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for a, _ in idle:
                    self.discard(a)
            self._idle.clear()


class RayRuntime:
    """Ray for one Session: the cluster connection, the pool and the coordinator."""

    def __init__(self, address: str | None, num_cpus: int | None, warm: int = 0, max_actors: int | None = None) -> None:
        self.info = cluster.connect(address, num_cpus)
        self.max_actors = max_actors
        self.leased = 0
        self.coordinator = (
            ray.remote(Coordinator).options(num_cpus=0, max_concurrency=256).remote()  # type: ignore[attr-defined]
        )
        self.pool = ActorPool()
        if warm:
            self.pool.warm(warm)
        self._table_refs: dict[str, Any] = {}

    @property
    def dashboard_url(self) -> str | None:
        return self.info.dashboard_url

    def total_cpus(self) -> int:
        return cluster.total_cpus()

    def table_ref(self, table_id: str, table: pa.Table) -> Any:
        if table_id not in self._table_refs:
            self._table_refs[table_id] = ray.put(table)
        return self._table_refs[table_id]

    def forget_table(self, table_id: str) -> None:
        self._table_refs.pop(table_id, None)

    def available_actors(self) -> int | None:
        """How many more actors jobs may lease now (``None``: no limit)."""
        if self.max_actors is None:
            return None
        return max(0, self.max_actors - self.leased)

    def submit(
        self, graph: StageGraph, plan: PhysicalPlan, tables: dict[str, pa.Table], batch_rows: int,
        udfs: dict[str, tuple[Any, str, bool]] | None = None,
    ) -> RayJob:
        refs = {tid: [self.table_ref(tid, t)] for tid, t in tables.items()}
        return RayJob(self, graph, plan, refs, batch_rows, udfs or {})

    def close(self) -> None:
        self.pool.close()
        try:
            ray.kill(self.coordinator)
        except Exception:
            pass
        self._table_refs.clear()
        if self.info.owns:
            cluster.shutdown()


class RayJob(Job):
    def __init__(
        self, runtime: RayRuntime, graph: StageGraph, plan: PhysicalPlan, table_refs: dict[str, list[Any]],
        batch_rows: int, udfs: dict[str, tuple[Any, str, bool]],
    ) -> None:
        super().__init__(new_job_id(), graph, plan)
        self.runtime = runtime
        coord = runtime.coordinator
        slots = [(s, i) for s in graph.stages for i in range(s.dop)]
        # spread instances over the nodes round-robin, across stages too, so that
        # single-instance stages do not all land on the first node
        actors = runtime.pool.lease(list(range(len(slots))))
        runtime.leased += len(actors)
        self.actors = {(s.id, i): a for (s, i), a in zip(slots, actors, strict=True)}
        self.planned_instances = len(slots)
        try:
            ray.get(
                [coord.register.remote(self.job_id, k, m) for k, m in job_morsels(graph, batch_rows).items()]
            )
            setups = []
            for s, i in slots:
                edge = s.output
                assert edge is not None
                consumers = (
                    [] if edge.consumer == RESULT
                    else [self.actors[(edge.consumer, j)] for j in range(graph.stages[edge.consumer].dop)]
                )
                setups.append(
                    self.actors[(s.id, i)].setup.remote(
                        self.job_id, s, i, consumers, coord, table_refs, batch_rows, udfs
                    )
                )
            ray.get(setups)
        except BaseException:
            runtime.pool.release(list(self.actors.values()))
            runtime.leased -= len(self.actors)
            raise
        self.runs = {self.actors[(s.id, i)].run.remote(): (s.id, i) for s, i in slots}
        self._cancelled = False
        self._timed_out: float | None = None

    def _abort_all(self) -> None:
        for a in self.actors.values():
            a.abort.remote(self.job_id)

    def _wait(self, timeout: float | None) -> None:
        pending = list(self.runs)
        results: dict[tuple[int, int], dict[str, Any]] = {}
        errors: list[dict[str, Any]] = []
        deadline: float | None = None
        give_up = None if timeout is None else time.monotonic() + timeout
        dead: list[Any] = []
        while pending:
            if give_up is not None and deadline is None and time.monotonic() > give_up:
                # result(timeout=...) ran out: stop the job like a cancel
                self._timed_out = timeout
                self._abort_all()
                deadline = time.monotonic() + ABORT_GRACE_SECONDS
            wait_for = 0.5
            ready, pending = ray.wait(pending, num_returns=1, timeout=wait_for)
            for r in ready:
                key = self.runs[r]
                try:
                    rec = ray.get(r)
                except Exception as e:  # the actor died
                    rec = error_record(e, key[0], key[1])
                    dead.append(self.actors[key])
                results[key] = rec
                if not rec.get("ok"):
                    errors.append(rec)
                    if deadline is None:
                        self._abort_all()
                        deadline = time.monotonic() + ABORT_GRACE_SECONDS
            if deadline is not None and time.monotonic() > deadline and pending:
                # tasks that ignore the abort: their actors are killed, not reused
                for r in pending:
                    dead.append(self.actors[self.runs[r]])
                break
        self.runtime.coordinator.finish.remote(self.job_id)
        alive = [a for a in self.actors.values() if a not in dead]
        for a in dead:
            self.runtime.pool.discard(a)
        self.runtime.pool.release(alive)
        self.runtime.leased -= len(self.actors)
        for rec in results.values():
            if rec.get("ok"):
                self._metrics.extend(rec["metrics"])
        if self._timed_out is not None:
            self._error = JobCancelled(f"job {self.job_id} did not finish within {self._timed_out:g} s and was stopped")
        elif self._cancelled:
            self._error = JobCancelled(f"job {self.job_id} was cancelled")
        elif errors:
            real = [e for e in errors if not e.get("aborted")] or errors
            self._error = to_execution_error(real[0])
        else:
            root = self.graph.stages[0]
            per_instance = [results[(root.id, i)].get("batches", []) for i in range(root.dop)]
            self._result = assemble(self.graph, self.plan, per_instance)

    def cancel(self) -> None:
        if self._done:
            return
        self._cancelled = True
        self._abort_all()
        self._wait(None)
        self._done = True
