"""The peak memory of a benchmark run: a background thread that samples the resident
memory of this process and all its descendants (the local Ray cluster this process
starts, its workers, DuckDB inside this process, Spark's JVM, the cold-start child).

RSS counts a shared page (Ray's object store in ``/dev/shm``) once in every process
that maps it, so the sum of RSS over-counts; the sampler also records the sum of PSS
(shared pages divided among the processes sharing them), the fairer figure."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any


class MemorySampler:
    """Samples every ``interval`` seconds until :meth:`stop`; keeps the peaks.

    The example is not run as a doctest: it needs psutil, of the ``bench`` extra only.

    >>> with MemorySampler(interval=0.05) as m:  # doctest: +SKIP
    ...     pass
    >>> m.peak_rss > 0  # doctest: +SKIP
    True
    """

    def __init__(self, interval: float = 0.25, pss: bool = True, roots: Sequence[int] = ()) -> None:
        self.interval = interval
        self.roots = list(roots)  # other processes whose trees count (a cluster started apart)
        self.pss = pss
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_processes = 0
        self.samples = 0
        self.phase = "start"
        # phase -> (peak RSS, peak PSS): which part of the run needed the memory
        self.phases: dict[str, tuple[int, int]] = {}
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> tuple[int, int, int]:
        """One sample now: (sum of RSS, sum of PSS, number of processes)."""
        import psutil

        procs = []
        for pid in [os.getpid(), *self.roots]:
            try:
                root = psutil.Process(pid)
                procs += [root, *root.children(recursive=True)]
            except psutil.Error:
                pass
        rss = pss = 0
        for p in procs:
            try:
                if self.pss:
                    info: Any = p.memory_full_info()
                    rss += info.rss
                    pss += getattr(info, "pss", 0)
                else:
                    rss += p.memory_info().rss
            except psutil.Error:
                continue  # the process ended meanwhile, or is not ours to read
        return rss, pss, len(procs)

    def _record(self) -> None:
        rss, pss, n = self.sample()
        self.samples += 1
        if rss > self.peak_rss:
            self.peak_rss = rss
            self.peak_processes = n
        self.peak_pss = max(self.peak_pss, pss)
        old = self.phases.get(self.phase, (0, 0))
        self.phases[self.phase] = (max(old[0], rss), max(old[1], pss))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._record()
            except Exception as e:  # noqa: BLE001 - a sampler must not kill the benchmark
                self.error = f"{type(e).__name__}: {e}"
                return
            self._stop.wait(self.interval)

    def start(self) -> MemorySampler:
        try:
            import psutil  # noqa: F401
        except ImportError:
            self.error = "psutil is not installed (pip install psutil)"
            return self
        self._thread = threading.Thread(target=self._loop, name="bench-memory", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            try:
                self._record()
            except Exception:  # noqa: BLE001
                pass

    def __enter__(self) -> MemorySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["MemorySampler"]
