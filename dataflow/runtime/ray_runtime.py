"""The Ray runtime: one actor per stage instance, batches pushed actor to actor.

* ``Worker`` (``ray_worker.py``) is an async actor that runs one task (a stage
  instance) at a time on one executor thread; its producers push batches into bounded
  channels, and a push that finds its channel full waits as a coroutine.
* ``ActorPool`` (``ray_pool.py``) keeps warm workers and leases them to jobs, all of
  a job's at once, queueing jobs beyond ``max_actors``.
* ``RayJob`` drives one query from a thread of its own: lease, start every task at
  once (pipeline and bushy parallelism come from that), watch them, and on the first
  failure abort the others. A failure caused by a lost actor (a killed process, a lost
  node, a restarted coordinator) is retried on fresh actors, up to ``max_retries``
  times; sources are files and registered tables, so reading them again is safe, and
  only a complete attempt's output is ever returned. A failure of the query itself
  (an operator error) is raised in the caller at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pyarrow as pa
import ray

from dataflow import cluster
from dataflow.errors import DataflowError, JobCancelled
from dataflow.physical import PhysicalPlan
from dataflow.types import schema_to_arrow

from . import ray_metrics
from .job import Job, assemble, deal_morsels, error_record, job_morsels, new_job_id, to_execution_error
from .ray_pool import ActorPool, Leased
from .ray_stream import ResultStream
from .ray_worker import CONTROL_TIMEOUT, CoordinatorActor, TaskSpec
from .stages import RESULT, StageGraph

log = logging.getLogger("dataflow.runtime")

ABORT_GRACE_SECONDS = 10.0  # after an abort, tasks that have not stopped by then are killed
WATCH_POLL = 0.25


class RayRuntime:
    """Ray for one Session: the cluster connection, the pool and the coordinator."""

    def __init__(
        self,
        address: str | None,
        num_cpus: int | None,
        *,
        session: str = "s",
        max_actors: int | None = None,
        max_retries: int = 2,
        namespace: str | None = None,
    ) -> None:
        from dataflow._version import __version__

        self.info = cluster.connect(
            address, num_cpus, metadata={"job_name": f"dataflow session {session}", "dataflow_version": __version__,
                                         "dataflow_session": session},
        )
        self.session = session
        self.namespace = namespace
        self.max_actors = max_actors
        self.max_retries = max_retries
        self._lock = threading.Lock()
        self._coordinator: Any = None
        self._coordinators = 0
        self.pool = ActorPool(session, namespace, max_actors)
        self._table_refs: dict[str, Any] = {}
        self.jobs: dict[str, RayJob] = {}  # running
        self.finished = 0
        self._queries = 0

    @property
    def dashboard_url(self) -> str | None:
        return self.info.dashboard_url

    def total_cpus(self) -> int:
        return cluster.total_cpus()

    # -- the coordinator --------------------------------------------------------------

    def coordinator(self) -> Any:
        with self._lock:
            if self._coordinator is None:
                self._coordinators += 1
                name = f"dataflow:{self.session}:coordinator"
                if self._coordinators > 1:
                    name += f"-{self._coordinators}"
                opts: dict[str, Any] = {"name": name}
                if self.namespace:
                    opts["namespace"] = self.namespace
                self._coordinator = CoordinatorActor.options(**opts).remote(name, self.session)
            return self._coordinator

    def replace_coordinator(self, dead: Any) -> None:
        """Forget ``dead`` if it is still the coordinator and does not answer; the
        next job creates a new one."""
        with self._lock:
            if self._coordinator is not dead:
                return
        try:
            ray.get(dead.ping.remote(), timeout=CONTROL_TIMEOUT / 6)
            return  # it answers (Ray restarted it): keep it
        except Exception:
            pass
        with self._lock:
            if self._coordinator is dead:
                self._coordinator = None
        try:
            ray.kill(dead)
        except Exception:
            pass
        log.warning("dataflow: the coordinator did not answer and was replaced")

    # -- tables, UDFs -----------------------------------------------------------------

    def table_ref(self, table_id: str, table: pa.Table) -> Any:
        with self._lock:
            if table_id not in self._table_refs:
                self._table_refs[table_id] = ray.put(table)
            return self._table_refs[table_id]

    def forget_table(self, table_id: str) -> None:
        with self._lock:
            self._table_refs.pop(table_id, None)

    def check_udf(self, name: str, fn: Any) -> None:
        """Fail at registration, not at every query, if ``fn`` cannot be shipped."""
        try:
            ray.cloudpickle.dumps(fn)
        except Exception as e:
            raise DataflowError(
                f"UDF {name!r} cannot be sent to the workers: pickling it failed ({type(e).__name__}: {e}); "
                "a UDF must not capture locks, open files, connections or other process-bound state"
            ) from None

    def available_actors(self) -> int | None:
        """How many more actors jobs may lease now (``None``: no limit)."""
        if self.max_actors is None:
            return None
        return max(0, self.max_actors - self.pool.leased)

    # -- jobs -------------------------------------------------------------------------

    def submit(
        self, graph: StageGraph, plan: PhysicalPlan, tables: dict[str, pa.Table], batch_rows: int,
        udfs: dict[str, tuple[Any, str, bool]] | None = None, name: str | None = None, stream: bool = False,
    ) -> RayJob:
        refs = {tid: [self.table_ref(tid, t)] for tid, t in tables.items()}
        with self._lock:
            self._queries += 1
            qname = name or f"q{self._queries}"
        job = RayJob(self, graph, plan, refs, batch_rows, udfs or {}, qname, stream)
        with self._lock:
            self.jobs[job.job_id] = job
            running = len(self.jobs)
        ray_metrics.queries(self.session, running)
        job.start()
        return job

    def _job_done(self, job: RayJob) -> None:
        with self._lock:
            self.jobs.pop(job.job_id, None)
            self.finished += 1
            running = len(self.jobs)
        try:
            ray_metrics.queries(self.session, running)
            outcome = "ok" if job._error is None else type(job._error).__name__
            ray_metrics.query_finished(self.session, outcome)
            for _ in job.attempts[1:]:
                ray_metrics.retried(self.session)
        except Exception:  # metrics are best effort: never fail a query for them
            log.debug("metrics failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            running = list(self.jobs.values())
        for job in running:
            job.cancel(reason="the Session was closed")
        self.pool.close()
        with self._lock:
            coord, self._coordinator = self._coordinator, None
            self._table_refs.clear()
        if coord is not None:
            try:
                ray.kill(coord)
            except Exception:
                pass
        if self.info.owns:
            cluster.shutdown()


def timeline(marks: dict[str, float], results: dict[tuple[int, int], dict[str, Any]]) -> dict[str, float]:
    """Where an attempt's time went, from the driver's marks (``began``, ``leased``,
    ``dispatched``, ``ended``: wall clock) and the tasks' own ``began``/``ended``:
    ``lease_seconds`` waiting for the pool's actors (starting new ones included),
    ``dispatch_seconds`` sending every task (its spec and the call), ``start_seconds``
    from the lease until the first task ran (dispatch and the call's trip: tasks may
    start before the last is sent),
    ``run_seconds`` from the first task's start to the last one's end,
    ``finish_seconds`` from then until the driver had every task's answer."""
    began = [r["began"] for r in results.values() if "began" in r]
    ended = [r["ended"] for r in results.values() if "ended" in r]
    if not {"leased", "dispatched", "ended"} <= marks.keys() or not began:
        return {}
    first, last = min(began), max(ended)
    return {
        "lease_seconds": round(marks["leased"] - marks["began"], 4),
        "dispatch_seconds": round(marks["dispatched"] - marks["leased"], 4),
        "start_seconds": round(max(0.0, first - marks["leased"]), 4),
        "run_seconds": round(max(0.0, last - first), 4),
        "finish_seconds": round(max(0.0, marks["ended"] - last), 4),
    }


class _Outcome:
    def __init__(
        self, ok: bool, results: dict[tuple[int, int], dict[str, Any]], error: BaseException | None = None,
        lost: str = "",
    ) -> None:
        self.ok, self.results, self.error, self.lost = ok, results, error, lost


class RayJob(Job):
    def __init__(
        self, runtime: RayRuntime, graph: StageGraph, plan: PhysicalPlan, table_refs: dict[str, list[Any]],
        batch_rows: int, udfs: dict[str, tuple[Any, str, bool]], name: str, stream: bool = False,
    ) -> None:
        super().__init__(new_job_id(), graph, plan)
        self.runtime = runtime
        self.name = name
        self.table_refs = table_refs
        self.batch_rows = batch_rows
        self.udfs = udfs
        self.slots = [(s, i) for s in graph.stages for i in range(s.dop)]
        # a scan named for people: its table, and its plan path when a table is read twice
        self.scan_names = {p: f"{n.table}@{p}" for s in graph.stages for p, n in s.scans()}
        self.attempts: list[dict[str, Any]] = []  # one record per attempt: number, outcome, seconds
        self._marks: dict[str, float] = {}  # wall-clock marks of the running attempt (see timeline)
        self._stop = threading.Event()
        self._stop_reason = ""
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._drive, name=f"dataflow-job-{self.job_id}", daemon=True)
        self._live: dict[Any, tuple[int, int]] = {}
        self._phase = "queued"  # queued (for actors) | starting | running
        self._attempt_id = ""
        self._done_slots: dict[tuple[int, int], dict[str, Any]] = {}  # this attempt's finished tasks
        self._workers: dict[tuple[int, int], Leased] = {}  # (stage, instance) -> worker
        self._first_lease: list[Leased] | None = None
        self._coord: Any = None  # the coordinator of the latest attempt
        self.max_threads = 0
        self.schema = schema_to_arrow(plan.schema)
        root_edge = graph.stages[0].output
        assert root_edge is not None
        # the result streamed into the object store by the root instances (stream=True)
        self._stream = ResultStream(self.schema, root_edge, name) if stream else None

    def start(self) -> None:
        # lease in the caller's thread when actors are free, so jobs submitted one after
        # another lease in that order; otherwise the driver thread queues for them
        self._first_lease = self.runtime.pool.try_lease(self._placement())
        self._thread.start()

    def _placement(self) -> list[str]:
        """A node per stage instance: shares in proportion to each node's CPUs, and
        one stage's instances alternating over the nodes (``cluster.place``)."""
        caps = self.runtime.pool.capacities()
        if len(caps) == 1:
            return [caps[0].node_id] * len(self.slots)
        return cluster.place(caps, [cluster.StageInstance((s.id, i)) for s, i in self.slots])

    # -- the driver thread ------------------------------------------------------------

    def _drive(self) -> None:
        try:
            for attempt in range(1, self.runtime.max_retries + 2):
                t0 = time.perf_counter()
                self._marks = {"began": time.time()}
                out = self._attempt(attempt)
                # void a failed attempt's stream before anyone learns of the failure
                delivered = not out.ok and self._stream is not None and self._stream.end_failed_attempt()
                rec = {"attempt": attempt, "ok": out.ok, "seconds": round(time.perf_counter() - t0, 3)}
                rec.update(timeline(self._marks, out.results))
                if out.lost:
                    rec["lost"] = out.lost
                self.attempts.append(rec)
                if out.ok:
                    self._finish_ok(out.results, attempt)
                    return
                if self._stop.is_set():
                    self._error = JobCancelled(f"job {self.name} ({self.job_id}) {self._stop_reason}")
                    return
                if out.lost and delivered:
                    self._error = DataflowError(
                        f"job {self.name} lost {out.lost} after iter_batches() had returned part of its "
                        "result; that part cannot be taken back, so the job was not retried: run it again"
                    )
                    return
                if out.lost and attempt <= self.runtime.max_retries:
                    log.warning(
                        "dataflow: %s attempt %d lost %s; retrying on fresh actors", self.name, attempt, out.lost
                    )
                    self.notes.append(f"attempt {attempt} failed ({out.lost}); retried")
                    try:
                        self.runtime.pool.reap()  # other dead workers leave before the retry leases
                        if self._coord is not None:  # a dead coordinator (its death shows in the
                            self.runtime.replace_coordinator(self._coord)  # tasks' calls) goes too
                    except Exception:
                        pass
                    continue
                if out.lost:
                    self._error = DataflowError(
                        f"job {self.name} failed after {attempt} attempts; the last lost {out.lost}"
                    )
                else:
                    self._error = out.error
                return
        except BaseException as e:  # a bug in the driver: still report it, never hang
            self._error = e if isinstance(e, DataflowError) else DataflowError(f"job {self.name} failed: {e!r}")
        finally:
            self._finished.set()
            self.runtime._job_done(self)

    def _attempt(self, attempt: int) -> _Outcome:
        rt = self.runtime
        workers, self._first_lease = self._first_lease, None
        self._phase = "queued"
        if workers is None:
            try:
                workers = rt.pool.lease(self._placement(), self._stop)
            except JobCancelled:
                return _Outcome(False, {})
        self._marks["leased"] = time.time()
        self._phase = "starting"
        if len({w.node for w in workers}) > 1:
            workers = rt.pool.settle(workers)
        self._workers = {(s.id, i): w for (s, i), w in zip(self.slots, workers, strict=True)}
        aid = f"{self.job_id}.{attempt}"
        self._attempt_id = aid
        dead: list[Leased] = []
        coord = self._coord = rt.coordinator()
        try:
            # not waited for: the tasks' first calls wait for it in the coordinator, and a
            # lost coordinator shows in them (UnknownJob, ActorDiedError) and is retried
            dynamic, dealt = deal_morsels(self.graph, job_morsels(self.graph, self.batch_rows))
            coord.register.remote(aid, dynamic, self.name, self.scan_names)
            refs = {}
            root = self.graph.stages[0]
            if self._stream is not None:
                self._stream.start_attempt(root.dop)
            for s, i in self.slots:
                edge = s.output
                assert edge is not None
                consumers = (
                    [] if edge.consumer == RESULT
                    else [self._workers[(edge.consumer, j)].actor for j in range(self.graph.stages[edge.consumer].dop)]
                )
                spec = TaskSpec(
                    job=aid, query=self.name, attempt=attempt, stage=s, instance=i, consumers=consumers,
                    coordinator=coord, table_refs=self.table_refs, batch_rows=self.batch_rows,
                    udfs=self.udfs, session=rt.session,
                    result_schema=self.schema if s is root and self._stream is not None else None,
                    morsels={path: dealt[(path, i)] for path, _ in s.scans() if (path, i) in dealt},
                )
                ops = "→".join(n.name for _, n in reversed(s.operators))
                task_name = f"{self.name} stage {s.id} {ops} {i + 1}/{s.dop}"
                actor = self._workers[(s.id, i)].actor
                if s is root and self._stream is not None:
                    gen = actor.run_root.options(name=task_name, num_returns="streaming").remote(spec)
                    self._stream.add(i, gen)
                    refs[gen.completed()] = (s.id, i)
                else:
                    refs[actor.run.options(name=task_name).remote(spec)] = (s.id, i)
            self._live = refs
            self._phase = "running"
            self._marks["dispatched"] = time.time()
            out = self._watch(refs, dead, coord)
            self._marks["ended"] = time.time()
            return out
        finally:
            try:
                coord.finish.remote(aid)
            except Exception:
                pass
            self._live = {}
            rt.pool.release(workers, dead)

    def _watch(self, refs: dict[Any, tuple[int, int]], dead: list[Leased], coord: Any) -> _Outcome:
        by_id = self._workers
        root_id = self.graph.stages[0].id
        pending = list(refs)
        results: dict[tuple[int, int], dict[str, Any]] = {}
        self._done_slots = results
        errors: list[dict[str, Any]] = []
        lost: list[str] = []
        deadline: float | None = None

        def abort() -> None:
            nonlocal deadline
            if deadline is None:
                deadline = time.monotonic() + ABORT_GRACE_SECONDS
                for w in self._workers.values():
                    w.actor.abort.remote(self._attempt_id)

        while pending:
            if self._stop.is_set():
                abort()
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=WATCH_POLL, fetch_local=False)
            if self._stream is not None:
                self._stream.poll()
            for r in ready:
                key = refs[r]
                by_id[key].started = True
                try:
                    rec = ray.get(r, timeout=CONTROL_TIMEOUT)
                    if self._stream is not None and key[0] == root_id and self._stream.streams(key[1]):
                        rec = self._stream.record(key[1], CONTROL_TIMEOUT)  # the stream's last object
                except Exception as e:  # the actor died (or its result was lost)
                    rec = error_record(e, key[0], key[1])
                    rec["lost"] = True
                    dead.append(by_id[key])
                    lost.append(f"{by_id[key].name} running stage {key[0]} instance {key[1]} ({type(e).__name__})")
                results[key] = rec
                if not rec.get("ok"):
                    if rec.get("lost") and by_id[key] not in dead:
                        lost.append(f"a peer of stage {key[0]} instance {key[1]} ({rec.get('type')})")
                        if rec.get("type") in ("UnknownJob", "GetTimeoutError"):
                            self.runtime.replace_coordinator(coord)
                    errors.append(rec)
                    abort()
            if deadline is not None and pending and time.monotonic() > deadline:
                # tasks that ignore the abort: their actors are killed, not reused
                dead.extend(by_id[refs[r]] for r in pending)
                break
        real = [e for e in errors if not e.get("aborted") and not e.get("lost")]
        if real:
            return _Outcome(False, results, to_execution_error(real[0]))
        if lost:
            return _Outcome(False, results, lost=lost[0])
        if errors:  # only aborted tasks: a cancel
            return _Outcome(False, results)
        return _Outcome(True, results)

    def _finish_ok(self, results: dict[tuple[int, int], dict[str, Any]], attempt: int) -> None:
        for rec in results.values():
            self._metrics.extend(rec["metrics"])
        self.max_threads = max((rec.get("threads", 0) for rec in results.values()), default=0)
        if self._stream is not None:
            self._stream.finish()
            return
        root = self.graph.stages[0]
        per_instance = [results[(root.id, i)].get("batches", []) for i in range(root.dop)]
        self._result = assemble(self.graph, self.plan, per_instance)

    def _materialize(self) -> pa.Table:
        assert self._stream is not None
        return assemble(self.graph, self.plan, self._stream.fetch())

    def iter_batches(self, timeout: float | None = None) -> Any:
        """The result's batches; for a job submitted with ``stream=True``, as the root
        instances produce them while the query runs (merged in order when the result is
        sorted). The objects are released as they are read, so ``result()`` cannot be
        called after this."""
        stream = self._stream
        if stream is None or self._done or stream.consumed:
            yield from self.result(timeout).to_batches()
            return
        deadline = None if timeout is None else time.monotonic() + timeout

        def stop() -> None:
            self.cancel(reason="did not finish within the timeout of iter_batches() and was stopped")

        yield from stream.batches(self.graph.stages[0].dop, deadline, self._finished, stop)
        self._finished.wait()
        self._done = True
        if self._error is not None:
            raise self._error

    def to_ray_dataset(self, timeout: float | None = None) -> Any:
        """The result as a Ray Dataset. For a job submitted with ``stream=True``, over the
        objects the root instances yielded: the data goes from the workers to the
        Dataset without passing through the driver."""
        import ray.data

        if self._stream is not None and self._stream.consumed:
            raise DataflowError(f"the result of job {self.name} was consumed by iter_batches()")
        self._wait(timeout)
        self._done = True
        if self._error is not None:
            raise self._error
        if self._result is not None:
            return ray.data.from_arrow(self._result)
        assert self._stream is not None
        return self._stream.dataset()

    # -- the user's handle ------------------------------------------------------------

    def _wait(self, timeout: float | None) -> None:
        if not self._finished.wait(timeout):
            self.cancel(reason=f"did not finish within {timeout:g} s and was stopped")

    def cancel(self, reason: str = "was cancelled") -> None:
        if self._finished.is_set():
            if self._done:
                return
        else:
            self._stop_reason = reason
            self._stop.set()
            self._finished.wait()
        self._done = True
        if self._result is None and self._error is None:
            self._error = JobCancelled(f"job {self.name} ({self.job_id}) {reason}")

    def status(self) -> str:
        if not self._finished.is_set():
            return self._phase
        return "failed" if self._error is not None else "finished"

    def progress(self) -> dict[str, Any]:
        """Where the job stands now: per stage, instances done out of total and rows
        so far (of the stage's last operator), and per scan, morsels left. Asks the
        running workers (async actors answer while their task runs)."""
        live = dict(self._live)
        done = dict(self._done_slots)
        rows: dict[tuple[int, int], int] = {}
        for key, rec in done.items():
            rows[key] = sum(m["rows_out"] for m in rec.get("metrics", ()) if m["path"].startswith("send:"))
        asks = {self._workers[k].actor.progress.remote(self._attempt_id): k for k in live.values() if k not in done}
        if asks:
            ready, _ = ray.wait(list(asks), num_returns=len(asks), timeout=2.0)
            for r in ready:
                try:
                    got = ray.get(r)
                except Exception:
                    continue
                if got:
                    rows[asks[r]] = sum(v["rows_out"] for p, v in got.items() if p.startswith("send:"))
        morsels: dict[str, tuple[int, int]] = {}
        if live and not self._finished.is_set():
            try:
                morsels = ray.get(self.runtime.coordinator().progress.remote(self._attempt_id), timeout=2.0)
            except Exception:
                morsels = {}
        stages = []
        for st in self.graph.stages:
            keys = [(st.id, i) for i in range(st.dop)]
            finished = st.dop if self._finished.is_set() and self._error is None else sum(k in done for k in keys)
            stages.append({
                "stage": st.id,
                "operators": "→".join(n.name for _, n in reversed(st.operators)),
                "instances": st.dop,
                "done": finished,
                "rows": sum(rows.get(k, 0) for k in keys),
            })
        return {
            "status": self.status(),
            "attempt": len(self.attempts) + (0 if self._finished.is_set() else 1),
            "stages": stages,
            "morsels_left": sum(v[0] for v in morsels.values()),
            "morsels": sum(v[1] for v in morsels.values()),
        }

