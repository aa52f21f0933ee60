"""The actors of the Ray runtime: the ``Worker`` that runs stage instances, and the
``CoordinatorActor`` that hands out morsels and split points.

Both are *async* actors. A ``Worker`` runs its task (a stage instance: plain blocking
Python over Arrow) on one executor thread, while the event loop serves ``push`` calls
from its producers. A push whose channel is full awaits room as a coroutine, so the
worker's thread count does not grow with its fan-in (measured: 25–27 threads with 600
pushes waiting, against 540 for the threaded actor this replaced, whose 512-thread
concurrency group parked one OS thread per waiting push).

A worker runs one task at a time. ``run`` sets the task up and runs it in one call; a
push that arrives before its task has been set up waits for it (bounded), and a push
for a job this worker no longer serves is refused (a straggler of an aborted job).

Failures are reported, never raised, by ``run``: an error record names the stage,
instance and operator, and says whether the cause was a lost actor (``lost``: the job
may be retried) or the query itself (the error goes to the user).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import ray
import ray.exceptions as rex

from dataflow.limits import allow_deep_plans
from dataflow.operators.base import TaskContext
from dataflow.types import conform_batch

from . import ray_metrics
from .channels import DEFAULT_CAPACITY, Aborted, CollectOutbox, ConsumerDone, Inbox
from .coordinator import Coordinator, UnknownJob
from .job import error_record
from .stages import RESULT, Edge, Stage
from .task import EdgeOutbox, OperatorMetrics, run_task

PUSH_WINDOW = 4  # pushes in flight per consumer channel
STREAM_WINDOW = 4  # result batches a root instance holds before the driver takes them
SETUP_WAIT_SECONDS = 120.0  # how long an early push waits for its task to be set up
CONTROL_TIMEOUT = 60.0  # a coordinator call that takes longer is a lost coordinator
REGISTER_WAIT = 10.0  # how long a task's first call waits for its job's registration
_POLL = 0.1


class ChannelLost(RuntimeError):
    """A consumer refused a batch because it no longer serves the job (it was reset or
    replaced): the batch cannot be delivered, so the attempt must be retried."""


# Exceptions that mean an actor, an object or a node was lost, not that the query is
# wrong: the attempt is retried on fresh actors.
LOST = (
    rex.RayActorError,
    rex.WorkerCrashedError,
    rex.ObjectLostError,
    rex.NodeDiedError,
    rex.LocalRayletDiedError,
    rex.OutOfMemoryError,
    rex.GetTimeoutError,
    UnknownJob,
    ChannelLost,
)


def is_lost(e: BaseException) -> bool:
    return isinstance(e, LOST)


def thread_count() -> int:
    """This process's OS threads (Linux counts each against ``pid_max``)."""
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


@dataclass
class TaskSpec:
    """Everything one stage instance needs, sent with ``Worker.run``."""

    job: str  # the attempt's id: "<job>.<attempt>"
    query: str  # a name for people (dashboard, logs)
    attempt: int
    stage: Stage
    instance: int
    consumers: list[Any]
    coordinator: Any
    table_refs: dict[str, list[Any]]  # wrapped in lists so Ray does not resolve them
    batch_rows: int
    udfs: dict[str, tuple[Any, str, bool]] = field(default_factory=dict)
    capacity: int = DEFAULT_CAPACITY
    session: str = ""
    result_schema: pa.Schema | None = None  # a root instance's batches are cast to it
    morsels: dict[str, list[Any]] = field(default_factory=dict)  # scans dealt in advance (job.deal_morsels)


def _wait_ref(ref: Any, aborted: threading.Event, timeout: float | None = None) -> Any:
    """``ray.get`` that gives up when the job is aborted (and after ``timeout``)."""
    give_up = None if timeout is None else time.monotonic() + timeout
    while True:
        if aborted.is_set():
            raise Aborted("job aborted")
        ready, _ = ray.wait([ref], timeout=_POLL)
        if ready:
            return ray.get(ref)
        if give_up is not None and time.monotonic() > give_up:
            raise rex.GetTimeoutError(f"no answer within {timeout:g} s")


class RayOutbox(EdgeOutbox):
    """An edge between actors. At most ``PUSH_WINDOW`` pushes are in flight per
    consumer: the producer waits for the oldest before sending more, so a slow
    consumer slows its producers down."""

    def __init__(self, job: str, edge: Edge, producer: int, consumers: list[Any], aborted: threading.Event) -> None:
        super().__init__(edge, producer, len(consumers))
        self.job = job
        self.consumers = consumers
        self.aborted = aborted
        self.inflight: list[deque] = [deque() for _ in consumers]
        self.blocked_seconds = 0.0  # time spent waiting for consumers (backpressure)

    def _wait(self, dest: int, ref: Any) -> None:
        t0 = time.perf_counter()
        status = _wait_ref(ref, self.aborted)
        self.blocked_seconds += time.perf_counter() - t0
        if status == "done":
            self.done[dest] = True
        elif status == "aborted":
            raise Aborted("job aborted")
        elif status != "ok":
            raise ChannelLost(f"consumer of edge {self.edge.id} no longer serves job {self.job} ({status})")

    def _deliver(self, dest: int, seq: int, payload: Any) -> None:
        q = self.inflight[dest]
        q.append(self.consumers[dest].push.remote(self.job, self.edge.id, self.producer, seq, payload))
        while len(q) > PUSH_WINDOW:
            self._wait(dest, q.popleft())

    def _shared(self, batch: pa.RecordBatch) -> Any:
        return ray.put(batch)  # one copy in the object store, read by every consumer

    def _drain(self) -> None:
        for dest, q in enumerate(self.inflight):
            while q:
                self._wait(dest, q.popleft())


class StreamOutbox:
    """The outbox of the result edge on Ray: each batch goes to the actor's event loop,
    which yields it to the driver as an object of its own (a streaming generator), so
    the caller can read the result while the query runs and the batches never pass
    through another actor. At most ``STREAM_WINDOW`` wait on the loop."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, schema: pa.Schema | None,
        aborted: threading.Event,
    ) -> None:
        self.loop, self.queue, self.schema, self.aborted = loop, queue, schema, aborted

    def send(self, dest: int, batch: pa.RecordBatch) -> None:
        if self.schema is not None and not batch.schema.equals(self.schema):
            batch = conform_batch(batch, self.schema)
        fut = asyncio.run_coroutine_threadsafe(self.queue.put(batch), self.loop)
        while True:
            try:
                fut.result(timeout=_POLL)
                return
            except concurrent.futures.TimeoutError:
                if self.aborted.is_set():
                    fut.cancel()
                    raise Aborted("job aborted") from None

    def broadcast(self, batch: pa.RecordBatch) -> None:
        self.send(0, batch)

    def close(self) -> None:
        pass


@ray.remote(num_cpus=0, max_concurrency=10_000)
class Worker:
    """A warm actor that runs one stage instance at a time."""

    def __init__(self, name: str = "worker") -> None:
        # blocking ray.get/ray.wait happen on the task thread, never on the event loop
        import ray._private.worker as _w

        _w.blocking_get_inside_async_warned = True
        _w.blocking_wait_inside_async_warned = True
        allow_deep_plans()  # deep expressions are evaluated recursively
        ctx = ray.get_runtime_context()
        self.name = name
        self.actor_id = ctx.get_actor_id()
        self.node_id = ctx.get_node_id()
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dataflow-task")
        self.job: str | None = None
        self.task: str = "idle"
        self.inbox: Inbox | None = None
        self.aborted = threading.Event()
        self._spec: TaskSpec | None = None
        self._live: dict[str, OperatorMetrics] = {}  # the running task's counters
        self._ready: dict[str, asyncio.Event] = {}
        self._ended: dict[str, str] = {}  # recent jobs -> "done" | "aborted" (what late pushes hear)

    def __repr__(self) -> str:
        return f"Worker({self.name}: {self.task})"

    async def ping(self) -> tuple[str, str]:
        return self.actor_id, self.node_id

    async def threads(self) -> int:
        return thread_count()

    async def info(self) -> dict[str, Any]:
        """What this worker is: name, process, threads, and the task it runs now."""
        return {"name": self.name, "pid": os.getpid(), "threads": thread_count(), "task": self.task,
                "node_id": self.node_id}

    async def run_root(self, spec: TaskSpec):  # type: ignore[no-untyped-def]
        """Run an instance of the root stage, yielding its result batches as tables
        while it runs, then its record (the driver calls this with
        ``num_returns="streaming"``, so each yield is an object the driver owns)."""
        queue: asyncio.Queue = asyncio.Queue(STREAM_WINDOW)
        task = asyncio.ensure_future(self.run(spec, queue))
        while True:
            get = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({get, task}, return_when=asyncio.FIRST_COMPLETED)
            if get in done:
                yield pa.Table.from_batches([get.result()])
                continue
            get.cancel()
            break
        while not queue.empty():  # the task put these before it returned
            yield pa.Table.from_batches([queue.get_nowait()])
        yield task.result()

    async def run(self, spec: TaskSpec, stream: asyncio.Queue | None = None) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        aborted = threading.Event()
        if self._ended.get(spec.job) == "aborted":
            aborted.set()  # the abort overtook the task (a cancel right after dispatch)
        inbox = Inbox(spec.stage.inputs, aborted, spec.capacity, loop)
        self.job, self.aborted, self.inbox, self._spec = spec.job, aborted, inbox, spec
        self._live = {}
        ops = "→".join(n.name for _, n in reversed(spec.stage.operators))
        self.task = f"{spec.query} stage {spec.stage.id} {ops} {spec.instance + 1}/{spec.stage.dop}"
        self._ready.setdefault(spec.job, asyncio.Event()).set()
        try:
            return await loop.run_in_executor(self.executor, self._run, spec, inbox, aborted, stream, loop)
        finally:
            self._end(spec.job, "aborted" if aborted.is_set() else "done")
            inbox.finish()  # producers still sending learn that this instance needs no more
            self._ready.pop(spec.job, None)
            self.job, self.inbox, self.task, self._spec = None, None, "idle", None

    def _end(self, job: str, how: str) -> None:
        self._ended[job] = how
        while len(self._ended) > 256:
            del self._ended[next(iter(self._ended))]

    def _run(
        self, spec: TaskSpec, inbox: Inbox, aborted: threading.Event, stream: asyncio.Queue | None,
        loop: asyncio.AbstractEventLoop,
    ) -> dict[str, Any]:
        from dataflow.kernels.udf import register_udf

        stage, instance, job = spec.stage, spec.instance, spec.job
        began = time.time()  # wall clock (the driver's timeline compares across processes)
        try:
            for name, (fn, rtype, safe) in spec.udfs.items():
                register_udf(name, fn, rtype, safe)
            edge = stage.output
            assert edge is not None
            outbox: Any
            if edge.consumer != RESULT:
                outbox = RayOutbox(job, edge, instance, spec.consumers, aborted)
            elif stream is not None:
                outbox = StreamOutbox(loop, stream, spec.result_schema, aborted)
            else:
                outbox = CollectOutbox()
            coord = spec.coordinator
            prefetched: dict[str, deque] = {}
            tables: dict[str, pa.Table] = {}

            exhausted: set[str] = set()

            for key, dealt in spec.morsels.items():  # no coordinator round trip for these
                prefetched[key] = deque(dealt)
                exhausted.add(key)

            def next_morsel(key: str):  # type: ignore[no-untyped-def]
                q = prefetched.setdefault(key, deque())
                if not q:
                    if key in exhausted:
                        return None
                    q.extend(_wait_ref(coord.next_morsels.remote(job, key, 2, stage.dop), aborted, CONTROL_TIMEOUT))
                m = q.popleft() if q else None
                if m is None:  # the coordinator said none are left: do not ask again
                    exhausted.add(key)
                return m

            def get_table(table_id: str) -> pa.Table:
                if table_id not in tables:
                    tables[table_id] = _wait_ref(spec.table_refs[table_id][0], aborted, CONTROL_TIMEOUT)
                return tables[table_id]

            def rendezvous(key: str, inst: int, sample: pa.Table | None) -> pa.Table:
                ref = coord.split_points.remote(job, key, edge.producers, edge.consumers, edge.order, inst, sample)
                return _wait_ref(ref, aborted)

            ctx = TaskContext(
                instance=instance, dop=stage.dop, next_morsel=next_morsel, get_table=get_table,
                batch_rows=spec.batch_rows,
            )
            tags: dict[str, dict[str, str]] = {}

            def tags_of(m: OperatorMetrics) -> dict[str, str]:
                t = tags.get(m.path)
                if t is None:
                    t = tags[m.path] = ray_metrics.op_tags(
                        spec.session, spec.query, stage.id, m.operator, instance, self.node_id
                    )
                return t

            def observe(m: OperatorMetrics, batch: pa.RecordBatch) -> None:
                ray_metrics.batch_out(tags_of(m), batch.num_rows, batch.nbytes)

            ms = run_task(stage, instance, ctx, inbox, outbox, rendezvous, aborted, self._live, observe)
            blocked = outbox.blocked_seconds if isinstance(outbox, RayOutbox) else 0.0
            for m in ms:
                if m.operator.startswith("Receive("):  # its time is waiting for producers
                    ray_metrics.task_done(tags_of(m), 0.0, m.seconds)
                elif m.path.startswith("send:"):
                    ray_metrics.task_done(tags_of(m), max(0.0, m.self_seconds - blocked), blocked)
                else:
                    ray_metrics.task_done(tags_of(m), max(0.0, m.self_seconds), 0.0)
        except BaseException as e:
            rec = error_record(e, stage.id, instance)
            rec["aborted"] = aborted.is_set() or isinstance(e, Aborted)
            rec["lost"] = is_lost(e)
            rec.update(actor_id=self.actor_id, node_id=self.node_id)
            return rec
        records = []
        for m in ms:
            r = m.as_record()
            r.update(actor_id=self.actor_id, node_id=self.node_id, attempt=spec.attempt)
            if isinstance(outbox, RayOutbox) and m.path.startswith("send:"):
                r["blocked_seconds"] = round(outbox.blocked_seconds, 6)
            records.append(r)
        out: dict[str, Any] = {
            "ok": True, "metrics": records, "threads": thread_count(), "began": began, "ended": time.time(),
        }
        if isinstance(outbox, CollectOutbox):
            out["batches"] = outbox.batches
        return out

    async def push(self, job: str, edge_id: str, producer: int, seq: int, batch: pa.RecordBatch | None) -> str:
        """Deliver one batch (``None``: end of stream). Returns ``"ok"``, ``"done"`` (this
        instance has finished and needs no more), ``"aborted"`` (the job was aborted
        here), or ``"gone"`` (this worker does not serve the job)."""
        if job != self.job:
            if job in self._ended:
                return self._ended[job]
            ev = self._ready.setdefault(job, asyncio.Event())
            try:
                await asyncio.wait_for(ev.wait(), SETUP_WAIT_SECONDS)
            except asyncio.TimeoutError:
                self._ready.pop(job, None)
                return "gone"
            if job != self.job:
                return "gone"
        inbox, aborted = self.inbox, self.aborted
        assert inbox is not None
        try:
            await inbox.put_async(edge_id, producer, seq, batch)
        except Aborted:
            return "aborted"
        except ConsumerDone:
            return "done"
        spec = self._spec
        if spec is not None:
            ray_metrics.queue_depth(
                spec.session, spec.query, spec.stage.id, spec.instance, edge_id, inbox.depths().get(edge_id, 0)
            )
        return "aborted" if aborted.is_set() else "ok"

    async def progress(self, job: str) -> dict[str, Any] | None:
        """The running task's counters so far (``None`` if it runs another job)."""
        if job != self.job:
            return None
        return {p: {"operator": m.operator, "rows_out": m.rows_out, "batches_out": m.batches_out,
                    "rows_in": m.rows_in} for p, m in list(self._live.items())}

    async def abort(self, job: str) -> None:
        if job == self.job:
            self.aborted.set()
            if self.inbox is not None:
                self.inbox.wake_all()
        else:
            self._end(job, "aborted")
            ev = self._ready.pop(job, None)
            if ev is not None:
                ev.set()  # early pushes of that job stop waiting (and find it gone)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0, max_concurrency=10_000)
class CoordinatorActor:
    """Hosts a :class:`Coordinator`. Range producers waiting for split points are
    coroutines, not threads. Restarted by Ray if its process dies; its jobs then fail
    with :class:`UnknownJob` and are retried."""

    def __init__(self, name: str = "coordinator", session: str = "") -> None:
        self.name = name
        self.session = session
        self.c = Coordinator()
        self._events: dict[tuple[str, str], asyncio.Event] = {}
        self._registered: dict[str, asyncio.Event] = {}  # jobs whose tasks asked before the driver registered them
        self._query: dict[str, str] = {}  # job -> query name, for metrics
        self._scans: dict[str, dict[str, str]] = {}  # job -> scan path -> "table@path"

    def __repr__(self) -> str:
        return f"Coordinator({self.name})"

    async def ping(self) -> bool:
        return True

    async def threads(self) -> int:
        return thread_count()

    async def info(self) -> dict[str, Any]:
        return {"name": self.name, "pid": os.getpid(), "threads": thread_count()}

    async def register(
        self, job: str, morsels: dict[str, list[Any]], query: str = "", scans: dict[str, str] | None = None
    ) -> None:
        """``scans`` names each scan (its plan path) for metrics: the table it reads."""
        self.c.open(job)
        self._query[job] = query
        self._scans[job] = scans or {}
        for key, ms in morsels.items():
            self.c.register(job, key, ms)
            ray_metrics.morsels(self.session, query, self._scans[job].get(key, key), 0, len(ms))
        ev = self._registered.pop(job, None)
        if ev is not None:
            ev.set()

    async def _known(self, job: str) -> None:
        """The driver registers a job without waiting for the answer and starts its tasks
        at once (one round trip less per query), so a task's first call may come first:
        it waits for the registration (Ray orders calls per caller, not across callers).
        A job still unknown after ``REGISTER_WAIT`` raises :class:`UnknownJob` (a
        coordinator restarted without the job's state): the job is retried."""
        if self.c.knows(job):
            return
        ev = self._registered.setdefault(job, asyncio.Event())
        try:
            await asyncio.wait_for(ev.wait(), REGISTER_WAIT)
        except asyncio.TimeoutError:
            self._registered.pop(job, None)

    async def next_morsels(self, job: str, key: str, n: int, share: int = 0) -> list[Any]:
        await self._known(job)
        got = self.c.next_morsels(job, key, n, share)
        left = self.c.progress(job).get(key, (0, 0))[0]
        scan = self._scans.get(job, {}).get(key, key)
        ray_metrics.morsels(self.session, self._query.get(job, ""), scan, sum(m is not None for m in got), left)
        return got

    async def progress(self, job: str) -> dict[str, tuple[int, int]]:
        return self.c.progress(job)

    async def split_points(
        self, job: str, key: str, producers: int, consumers: int, order: Any, instance: int, sample: pa.Table | None
    ) -> pa.Table:
        await self._known(job)
        ev = self._events.setdefault((job, key), asyncio.Event())
        if self.c.offer(job, key, producers, consumers, order, instance, sample):
            ev.set()
        await ev.wait()
        splits = self.c.splits(job, key)
        if splits is None:
            raise UnknownJob(f"job {job} ended before range exchange {key} agreed its split points")
        return splits

    async def finish(self, job: str) -> None:
        self._registered.pop(job, None)
        for k in [k for k in self._events if k[0] == job]:
            self._events.pop(k).set()
        self.c.finish(job)
        self._query.pop(job, None)
        self._scans.pop(job, None)
