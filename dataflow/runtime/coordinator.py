"""The job coordinator: hands out scan morsels and agrees range split points.

Morsel-driven scheduling (HyPer, DuckDB): each scan's units of work sit in one
queue per job attempt, and scan instances take the next one when they are ready, so a
slow instance takes fewer morsels instead of holding the others back.

:class:`Coordinator` is plain Python and never blocks: a range exchange's producers
``offer`` their samples, and whoever hosts the coordinator waits for ``splits`` its
own way (a condition variable in the local runtime, an ``asyncio`` event in the Ray
actor, so that waiting producers cost no thread there).

A job the coordinator does not know raises :class:`UnknownJob`, never an empty
answer: after a coordinator restart its queues are gone, and answering "no more
morsels" would silently drop rows. The runtime treats it as a lost actor and retries
the job, which registers its morsels again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import pyarrow as pa

from dataflow.exchange import split_points
from dataflow.operators.base import Morsel

GUIDED_MAX = 16  # morsels handed out at most per call


class UnknownJob(RuntimeError):
    """The coordinator has no state for this job (it was restarted, or the job ended)."""


class Coordinator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._morsels: dict[tuple[str, str], deque[Morsel]] = {}
        self._total: dict[tuple[str, str], int] = {}
        self._jobs: set[str] = set()
        self._samples: dict[tuple[str, str], dict[int, pa.Table | None]] = {}
        self._splits: dict[tuple[str, str], pa.Table] = {}

    def register(self, job: str, key: str, morsels: list[Morsel]) -> None:
        with self._lock:
            self._jobs.add(job)
            self._morsels[(job, key)] = deque(morsels)
            self._total[(job, key)] = len(morsels)

    def open(self, job: str) -> None:
        """Know ``job`` even if it has no scans (so range exchanges can meet here)."""
        with self._lock:
            self._jobs.add(job)

    def knows(self, job: str) -> bool:
        with self._lock:
            return job in self._jobs

    def _check(self, job: str) -> None:
        if job not in self._jobs:
            raise UnknownJob(f"the coordinator has no state for job {job} (was it restarted?)")

    def next_morsels(self, job: str, key: str, n: int, share: int = 0) -> list[Morsel | None]:
        """Up to ``n`` morsels at once (fewer round trips for small morsels), followed by
        ``None`` once the scan has none left, so the caller need not ask again. With
        ``share`` (the scan's number of instances), guided self-scheduling: each call
        takes a share of what is left, ``ceil(left / (2 * share))`` and at most
        ``GUIDED_MAX``, so a scan of many morsels costs a few round trips while the
        last morsels still go one or two at a time to whoever is free."""
        with self._lock:
            self._check(job)
            q = self._morsels.get((job, key))
            if q is None:
                raise UnknownJob(f"job {job} registered no morsels for scan {key}")
            if share > 0:
                n = max(n, min(GUIDED_MAX, -(-len(q) // (2 * share))))
            out: list[Morsel | None] = []
            while q and len(out) < n:
                out.append(q.popleft())
            if not q:
                out.append(None)
            return out

    def next_morsel(self, job: str, key: str) -> Morsel | None:
        got = self.next_morsels(job, key, 1)
        return got[0] if got else None

    def progress(self, job: str) -> dict[str, tuple[int, int]]:
        """Per scan: (morsels left, morsels in all)."""
        with self._lock:
            return {k: (len(q), self._total[(j, k)]) for (j, k), q in self._morsels.items() if j == job}

    def offer(
        self, job: str, key: str, producers: int, consumers: int, order: Any, instance: int, sample: pa.Table | None
    ) -> bool:
        """Record one producer's range sample; ``True`` once every producer's is in
        (the split points are then ready)."""
        with self._lock:
            self._check(job)
            samples = self._samples.setdefault((job, key), {})
            samples[instance] = sample
            if len(samples) == producers and (job, key) not in self._splits:
                got = [s for s in samples.values() if s is not None and s.num_rows]
                self._splits[(job, key)] = split_points(got, order, consumers)
            return (job, key) in self._splits

    def splits(self, job: str, key: str) -> pa.Table | None:
        with self._lock:
            self._check(job)
            return self._splits.get((job, key))

    def finish(self, job: str) -> None:
        with self._lock:
            self._jobs.discard(job)
            for d in (self._morsels, self._total, self._samples, self._splits):
                for k in [k for k in d if k[0] == job]:
                    del d[k]


class BlockingRendezvous:
    """Split points for threads of one process (the local runtime)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self._cv = threading.Condition()

    def split_points(
        self, job: str, key: str, producers: int, consumers: int, order: Any, instance: int, sample: pa.Table | None,
        aborted: threading.Event | None = None, timeout: float = 3600.0,
    ) -> pa.Table:
        from .channels import Aborted

        deadline = time.monotonic() + timeout
        with self._cv:
            if self.coordinator.offer(job, key, producers, consumers, order, instance, sample):
                self._cv.notify_all()
            while (splits := self.coordinator.splits(job, key)) is None:
                if aborted is not None and aborted.is_set():
                    raise Aborted("job aborted")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"range exchange {key}: not every producer sent a sample")
                self._cv.wait(0.05)
            return splits
