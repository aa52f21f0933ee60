"""Queries run in steps: a repeated subplan first, then the rest over its result.

A common table expression read twice is planned twice (see
:mod:`dataflow.optimizer.shared`). When the cost model says computing it once is
cheaper, the Session runs it as a job of its own, keeps the result as an in-memory
table for the query's lifetime, and plans the rest of the query over that table, with
its true row count: the rest's joins and degrees of parallelism are chosen from real
counts, as Spark's adaptive execution does after a query stage. The steps run on a
thread of their own, so ``submit()`` returns at once, and a :class:`StagedJob` behaves
like any job: ``result(timeout=)``, ``cancel()``, ``status()``, ``progress()``,
streaming, and EXPLAIN ANALYZE (of the last step, with a note per shared subplan).

The choice (:func:`choose`) compares the estimated cost of the plan as written with
the cost of the shared subplan, plus the rest over a stand-in of its estimated size,
plus a job's fixed cost and the moving of its result through the driver.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import logical as L
from .errors import JobCancelled
from .limits import refuse_too_deep
from .optimizer.shared import repeated_subplans, substitute
from .runtime.job import Job

if TYPE_CHECKING:
    from .session import Session

# the fixed cost of one more job: planning, leasing, the result's trip to the driver
STEP_SECONDS = 0.02
# moving one value (a row's column) of a shared result to the driver and back out
MOVE_PER_VALUE = 3e-8
# the most subplans one query computes first, and candidates priced per step
MAX_STEPS = 8
CANDIDATES = 3
TABLE_PREFIX = "__shared-"  # in-memory tables the Session's clean-up leaves alone


def choose(session: Session, plan: L.LogicalPlan, parallelism: int | None) -> L.LogicalPlan | None:
    """The repeated subplan of ``plan`` worth computing first, or ``None``."""
    candidates = repeated_subplans(plan)[:CANDIDATES]
    if not candidates:
        return None
    whole = session.optimize(plan, parallelism).physical.est_cost or 0.0
    for sub, _n in candidates:
        first = session.optimize(sub, parallelism).physical
        rows = max(1, int(first.est_rows or 1))
        stand_in = placeholder(sub, "__estimate", rows)
        rest = session.optimize(substitute(plan, sub, stand_in), parallelism).physical.est_cost or 0.0
        move = rows * max(1, len(sub.schema)) * MOVE_PER_VALUE
        if (first.est_cost or 0.0) + rest + STEP_SECONDS + move < whole:
            return sub
    return None


def placeholder(sub: L.LogicalPlan, table_id: str, rows: int) -> L.Scan:
    """A scan of an in-memory table standing for ``sub``'s result."""
    return L.Scan(
        table=table_id, source=L.MemorySource(table_id=table_id, num_rows=rows), table_schema=sub.schema
    )


class StagedJob(Job):
    """A query whose shared subplans run first (see the module docstring). Until its
    last step has started, ``status()`` is ``running`` and ``progress()`` is the
    current step's; afterwards both, and the attributes EXPLAIN ANALYZE reads
    (``optimized``, ``graph``, ``attempts``), are the last step's."""

    def __init__(self, session: Session, plan: L.LogicalPlan, parallelism: int | None, stream: bool) -> None:
        # not Job.__init__: graph, plan and the rest are the last step's (__getattr__)
        self.job_id = f"staged-{uuid.uuid4().hex[:8]}"
        self._metrics: list[dict[str, Any]] = []
        self._result: pa.Table | None = None
        self._error: BaseException | None = None
        self._done = False
        self.show_progress = False
        self._session = session
        self._parallelism = parallelism
        self._stream = stream
        self._current: Job | None = None
        self._main: Job | None = None
        self._cancelled: str | None = None
        self._ready = threading.Event()  # the last step started, or the job failed
        self._lock = threading.Lock()
        self._table_ids: list[str] = []
        self.steps: list[dict[str, Any]] = []
        # the shared results live as long as this job (or until the Session closes)
        self._finalizer = weakref.finalize(self, _forget, session, self._table_ids)
        self._thread = threading.Thread(
            target=self._run, args=(plan,), name=f"dataflow-{self.job_id}", daemon=True
        )
        self._thread.start()

    # -- the steps ---------------------------------------------------------------------

    def _run(self, plan: L.LogicalPlan) -> None:
        try:
            with refuse_too_deep("the query"):
                plan = self._share(plan)
                self._start(lambda: self._session._execute(plan, self._parallelism, self._stream), main=True)
        except BaseException as e:
            self._error = e
        finally:
            self._ready.set()

    def _share(self, plan: L.LogicalPlan) -> L.LogicalPlan:
        """``plan`` with its shared subplans computed and replaced by their results."""
        for _ in range(MAX_STEPS):
            sub = choose(self._session, plan, self._parallelism)
            if sub is None:
                break
            inner = self._share(sub)  # a CTE that reads another one twice
            t0 = time.perf_counter()
            job = self._start(lambda inner=inner: self._session._execute(inner, self._parallelism))
            job.show_progress = False
            table = job.result()
            table_id = f"{TABLE_PREFIX}{uuid.uuid4().hex[:12]}"
            self._session._tables[table_id] = table
            self._table_ids.append(table_id)
            plan = substitute(plan, sub, placeholder(sub, table_id, table.num_rows))
            self.steps.append({
                "rows": table.num_rows, "bytes": table.nbytes, "seconds": time.perf_counter() - t0,
                "columns": len(table.schema),
            })
        return plan

    def _start(self, submit: Any, main: bool = False) -> Job:
        with self._lock:
            if self._cancelled is not None:
                raise JobCancelled(f"the job {self._cancelled}")
            job = submit()
            self._current = job
            if main:
                self._main = job
            return job

    def _wait_main(self, timeout: float | None) -> Job:
        if not self._ready.wait(timeout):
            self.cancel(f"did not finish within {timeout:g} s and was stopped")
            self._ready.wait()
            raise JobCancelled(f"the job did not finish within {timeout:g} s and was stopped")
        if self._error is not None:
            raise self._error
        assert self._main is not None
        return self._main

    # -- the Job interface -------------------------------------------------------------

    def _wait(self, timeout: float | None) -> None:
        give_up = None if timeout is None else time.monotonic() + timeout
        try:
            main = self._wait_main(timeout)
            left = None if give_up is None else max(0.0, give_up - time.monotonic())
            main.show_progress = False
            self._result = main.result(left)
            self._metrics = main.metrics()
        except BaseException as e:
            self._error = e
        finally:
            self._finalizer()

    def cancel(self, reason: str = "was cancelled") -> None:
        with self._lock:
            self._cancelled = reason
            current = self._current
        if current is not None:
            current.cancel(reason)

    def status(self) -> str:
        if self._main is not None:
            return self._main.status()
        if self._ready.is_set():
            return "failed" if self._error is not None else "finished"
        return "running"

    def progress(self) -> dict[str, Any]:
        current = self._current
        out: dict[str, Any] = (
            current.progress() if current is not None
            else {"status": "running", "attempt": 1, "stages": [], "morsels": 0, "morsels_left": 0}
        )
        out["step"] = len(self.steps) + 1
        out["steps_done"] = len(self.steps)
        if self._main is None:
            out["status"] = self.status()
        return out

    def iter_batches(self, timeout: float | None = None) -> Iterator[pa.RecordBatch]:
        main = self._wait_main(timeout)
        try:
            yield from main.iter_batches(timeout)
        finally:
            self._finalizer()

    def to_ray_dataset(self, timeout: float | None = None) -> Any:
        return self._wait_main(timeout).to_ray_dataset(timeout)

    def __getattr__(self, name: str) -> Any:
        # optimized, graph, plan, attempts, notes...: the last step's, once it started
        if name.startswith("_") or name in ("steps",):
            raise AttributeError(name)
        return getattr(self._wait_main(None), name)

    @property
    def notes(self) -> list[str]:  # type: ignore[override]
        own = [
            f"computed a shared subplan first, read at every reference: {s['rows']:,} rows, "
            f"{s['columns']} columns, in {s['seconds'] * 1000:.0f} ms"
            for s in self.steps
        ]
        return own + (list(self._main.notes) if self._main is not None else [])


def _forget(session: Session, table_ids: list[str]) -> None:
    """Free the shared results (in the Session and the runtime's object store)."""
    for table_id in table_ids:
        session._tables.pop(table_id, None)
        try:
            session._runtime.forget_table(table_id)
        except Exception:
            pass
    table_ids.clear()


__all__ = ["StagedJob", "choose", "placeholder"]
