"""The job coordinator: hands out scan morsels and range split points.

Morsel-driven scheduling (HyPer, DuckDB): each scan's units of work sit in one
queue per job, and scan instances take the next one when they are ready, so a slow
instance takes fewer morsels instead of holding the others back. Plain Python and
thread-safe; the Ray runtime hosts one instance in an actor per Session.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import pyarrow as pa

from dataflow.operators.base import Morsel

from .task import Rendezvous


class Coordinator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._morsels: dict[tuple[str, str], deque[Morsel]] = {}
        self._handed: dict[tuple[str, str], int] = {}
        self._rendezvous: dict[str, Rendezvous] = {}

    def ping(self) -> bool:
        return True

    def register(self, job: str, key: str, morsels: list[Morsel]) -> None:
        with self._lock:
            self._morsels[(job, key)] = deque(morsels)
            self._handed[(job, key)] = 0
            self._rendezvous.setdefault(job, Rendezvous())

    def next_morsel(self, job: str, key: str) -> Morsel | None:
        with self._lock:
            q = self._morsels.get((job, key))
            if not q:
                return None
            self._handed[(job, key)] += 1
            return q.popleft()

    def next_morsels(self, job: str, key: str, n: int) -> list[Morsel]:
        """Up to ``n`` morsels at once (fewer round trips for small morsels)."""
        with self._lock:
            q = self._morsels.get((job, key))
            out = []
            while q and len(out) < n:
                out.append(q.popleft())
            self._handed[(job, key)] = self._handed.get((job, key), 0) + len(out)
            return out

    def split_points(
        self, job: str, key: str, producers: int, consumers: int, order: Any, instance: int, sample: pa.Table | None
    ) -> pa.Table:
        with self._lock:
            rv = self._rendezvous.setdefault(job, Rendezvous())
        return rv.exchange(key, producers, consumers, order, instance, sample)

    def finish(self, job: str) -> None:
        with self._lock:
            for k in [k for k in self._morsels if k[0] == job]:
                del self._morsels[k]
                self._handed.pop(k, None)
            self._rendezvous.pop(job, None)
