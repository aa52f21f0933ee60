"""Warm workers, leased to jobs, up to a cap.

Starting an actor costs about 0.3 s here, so a Session keeps idle workers warm and
leases them to jobs. A job leases all of its actors at once (all or nothing, so two
jobs can never each hold half of what the other needs), in the order jobs asked:
beyond the cap (``Session(max_actors=N)``) jobs queue instead of failing. A job that
needs more actors than the cap allows at all runs once nothing else holds actors.

Leasing and returning make no remote calls. Dead workers leave the pool in two ways:
a job whose actor died discards it, and a reaper thread pings idle workers every few
seconds (with a timeout) and drops those that do not answer, so a worker killed while
idle costs the next job nothing.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from dataflow import cluster
from dataflow.errors import JobCancelled

from .ray_worker import Worker

log = logging.getLogger("dataflow.runtime")

PING_TIMEOUT = 10.0
REAP_EVERY = 3.0
NODES_TTL = 2.0  # how long the list of nodes is trusted (placement re-checks new workers)


class Leased:
    """A worker on lease: the actor handle and the node it was placed on."""

    __slots__ = ("actor", "node", "name", "started")

    def __init__(self, actor: Any, node: str, name: str) -> None:
        self.actor, self.node, self.name = actor, node, name
        self.started = False  # has answered once (a worker still starting may be slow to)


class ActorPool:
    def __init__(
        self, session: str, namespace: str | None, cap: int | None, idle_seconds: float = 300.0,
    ) -> None:
        self.session = session
        self.namespace = namespace
        self.cap = cap
        self.idle_seconds = idle_seconds
        self._idle: dict[str, list[tuple[Leased, float]]] = {}
        self._cv = threading.Condition()
        self._leased = 0
        self._tickets = itertools.count()
        self._queue: deque[int] = deque()
        self._serial = itertools.count(1)
        self._closed = False
        self._caps: tuple[float, list[cluster.NodeCapacity]] | None = None
        self._reaper = threading.Thread(target=self._reap_loop, name="dataflow-pool-reaper", daemon=True)
        self._reaper.start()

    # -- creation ---------------------------------------------------------------------

    def _nodes(self) -> list[str]:
        return [c.node_id for c in self.capacities()]

    def capacities(self) -> list[cluster.NodeCapacity]:
        """The alive nodes and their CPUs (workers hold none: ``num_cpus=0``), asked of
        the GCS at most every ``NODES_TTL`` seconds (two calls; a query needs them once)."""
        now = time.monotonic()
        cached = self._caps
        if cached is not None and now - cached[0] < NODES_TTL:
            return cached[1]
        caps = self._ask_capacities()
        self._caps = (now, caps)
        return caps

    def _ask_capacities(self) -> list[cluster.NodeCapacity]:
        nodes = cluster.alive_nodes()
        if not nodes:
            return [cluster.NodeCapacity(ray.get_runtime_context().get_node_id(), 1.0)]
        return [cluster.NodeCapacity(n["NodeID"], float(n.get("Resources", {}).get("CPU", 0))) for n in nodes]

    def _create(self, node: str) -> Leased:
        name = f"dataflow:{self.session}:worker-{next(self._serial):02d}"
        opts: dict[str, Any] = {
            "name": name,
            "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=True),
        }
        if self.namespace:
            opts["namespace"] = self.namespace
        return Leased(Worker.options(**opts).remote(name), node, name)

    def warm(self, n: int) -> None:
        """Start ``n`` workers spread over the nodes, without waiting for them."""
        nodes = self._nodes()
        now = time.monotonic()
        with self._cv:
            for i in range(n):
                node = nodes[i % len(nodes)]
                self._idle.setdefault(node, []).append((self._create(node), now))

    # -- leasing ----------------------------------------------------------------------

    @property
    def leased(self) -> int:
        with self._cv:
            return self._leased

    def _fits(self, n: int) -> bool:
        return self.cap is None or self._leased + n <= self.cap or self._leased == 0

    def try_lease(self, placement: list[str]) -> list[Leased] | None:
        """Lease at once if nobody queues and the cap allows; else ``None``."""
        with self._cv:
            if self._queue or not self._fits(len(placement)):
                return None
            return self._take(placement)

    def _take(self, placement: list[str]) -> list[Leased]:
        self._leased += len(placement)
        out = []
        for node in placement:
            idle = self._idle.get(node)
            out.append(idle.pop()[0] if idle else self._create(node))
        return out

    def lease(self, placement: list[str], cancelled: threading.Event | None = None) -> list[Leased]:
        """One worker on each node of ``placement``; waits (in order of asking) while
        the cap is reached. Raises :class:`JobCancelled` if ``cancelled`` is set while
        waiting."""
        n = len(placement)
        ticket = next(self._tickets)
        with self._cv:
            self._queue.append(ticket)
            try:
                while self._queue[0] != ticket or not self._fits(n):
                    if self._closed:
                        raise JobCancelled("the Session was closed while the job waited for actors")
                    if cancelled is not None and cancelled.is_set():
                        raise JobCancelled("the job was cancelled while it waited for actors")
                    self._cv.wait(0.1)
            finally:
                self._queue.remove(ticket)
                self._cv.notify_all()
            return self._take(placement)

    def _locate(self, workers: list[Leased], timeout: float) -> tuple[list[tuple[Leased, str]], set[int], list[Leased]]:
        """Ping ``workers``: those that answer are marked started and their ``node`` set
        to where they really run. Returns (the moved ones with the node they were
        filed under, the ids of those that failed, those that did not answer in time)."""
        refs = {w.actor.ping.remote(): w for w in workers}
        ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=timeout) if refs else ([], [])
        moved: list[tuple[Leased, str]] = []
        failed: set[int] = set()
        for r in ready:
            w = refs[r]
            try:
                _, node = ray.get(r)
            except Exception:
                failed.add(id(w))
                continue
            w.started = True
            if node != w.node:  # soft affinity put it elsewhere (its node was not ready yet)
                moved.append((w, w.node))
                w.node = node
        return moved, failed, [refs[r] for r in late]

    def settle(self, workers: list[Leased], timeout: float = 30.0) -> list[Leased]:
        """Check that new workers run where they were placed, and replace those that do
        not (once). On a cluster whose node just joined, Ray's soft affinity may start
        an actor elsewhere while the scheduler has not seen the node yet; the worker is
        then kept idle under its real node. Workers that have answered before are
        trusted, so a warm job makes no call here."""
        fresh = [w for w in workers if not w.started]
        if not fresh:
            return workers
        moved, _, _ = self._locate(fresh, timeout)  # dead or slow ones: the job finds out
        if not moved:
            return workers
        planned = {id(w): node for w, node in moved}
        now = time.monotonic()
        with self._cv:  # the misplaced worker stays warm, filed under its real node
            for w, _ in moved:
                self._idle.setdefault(w.node, []).append((w, now))
        log.info("dataflow: %d new worker(s) started on another node than planned; replaced", len(moved))
        # by now the scheduler has had time to see the planned node
        return [self._create(planned[id(w)]) if id(w) in planned else w for w in workers]

    def release(self, workers: list[Leased], dead: list[Leased] = ()) -> None:  # type: ignore[assignment]
        """Return a job's workers; ``dead`` ones are killed and forgotten."""
        for w in dead:
            self._kill(w)
        now = time.monotonic()
        dead_ids = {id(w) for w in dead}
        with self._cv:
            for w in workers:
                if id(w) not in dead_ids:
                    self._idle.setdefault(w.node, []).append((w, now))
            self._leased -= len(workers)
            self._cv.notify_all()

    def _kill(self, w: Leased) -> None:
        try:
            ray.kill(w.actor)
        except Exception:
            pass

    # -- upkeep -----------------------------------------------------------------------

    def _reap_loop(self) -> None:
        while not self._closed:
            time.sleep(REAP_EVERY)
            try:
                self.reap()
            except Exception:  # the cluster is going away
                if self._closed:
                    return
                log.debug("pool reaper failed", exc_info=True)

    def reap(self) -> int:
        """Drop idle workers that are dead or idle too long; return how many."""
        with self._cv:
            idle = [(w, t) for ws in self._idle.values() for w, t in ws]
        if not idle:
            return 0
        now = time.monotonic()
        gone = {id(w) for w, t in idle if now - t >= self.idle_seconds}
        moved, failed, late = self._locate([w for w, _ in idle if id(w) not in gone], PING_TIMEOUT)
        if moved:
            self._refile(len(moved))
        # a started idle worker that cannot answer a ping is stuck (one still starting
        # is only slow: the machine may be busy starting many)
        gone |= failed | {id(w) for w in late if w.started}
        if not gone:
            return 0
        removed: list[Leased] = []
        with self._cv:  # only those still idle: a worker leased meanwhile is the job's
            for node, ws in self._idle.items():
                removed += [w for w, _ in ws if id(w) in gone]
                self._idle[node] = [(w, t) for w, t in ws if id(w) not in gone]
        for w in removed:
            self._kill(w)
            if now - next(t for x, t in idle if x is w) < self.idle_seconds:
                log.warning("dataflow: idle worker %s did not answer and was replaced", w.name)
                with self._cv:
                    if not self._closed:
                        self._idle.setdefault(w.node, []).append((self._create(w.node), time.monotonic()))
        return len(removed)

    def _refile(self, moved: int) -> None:
        """File idle workers under the node they really run on, so placement gets what
        it asked for (a worker leased meanwhile is returned under its new node)."""
        with self._cv:
            idle = [(w, t) for ws in self._idle.values() for w, t in ws]
            self._idle = {}
            for w, t in idle:
                self._idle.setdefault(w.node, []).append((w, t))
        log.info("dataflow: %d worker(s) run on another node than planned", moved)

    def size(self) -> int:
        with self._cv:
            return sum(len(v) for v in self._idle.values())

    def close(self) -> None:
        with self._cv:
            self._closed = True
            idle = [w for ws in self._idle.values() for w, _ in ws]
            self._idle.clear()
            self._cv.notify_all()
        for w in idle:
            self._kill(w)
