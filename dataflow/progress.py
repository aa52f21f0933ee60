"""A terminal (or Jupyter) progress bar for queries that run longer than a second.

It draws with ``tqdm`` from ``Job.progress()``: scan morsels handed out when the
query scans files, else stage instances finished, with the rows sent so far. It is
on when stderr is a terminal or the code runs in Jupyter, and off otherwise or with
``Session(progress=False)``; it never changes what a query returns.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

DELAY_SECONDS = 1.0
EVERY_SECONDS = 0.25


def wanted(enabled: bool) -> bool:
    """Whether to draw: asked for, and somewhere a person is looking."""
    if not enabled:
        return False
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except Exception:
        return False


class ProgressBar:
    """Draws one job's progress from a thread of its own until :meth:`stop`."""

    def __init__(self, job: Any, delay: float = DELAY_SECONDS, every: float = EVERY_SECONDS) -> None:
        self.job = job
        self.delay, self.every = delay, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"dataflow-progress-{job.job_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return  # done within the delay: draw nothing
        from tqdm.auto import tqdm

        bar = None
        try:
            while not self._stop.is_set():
                p = self.job.progress()
                if p["morsels"]:
                    total, n, unit = p["morsels"], p["morsels"] - p["morsels_left"], "morsel"
                else:
                    total = sum(s["instances"] for s in p["stages"])
                    n, unit = sum(s["done"] for s in p["stages"]), "task"
                if bar is None:
                    bar = tqdm(total=total, unit=unit, desc=getattr(self.job, "name", "query"), leave=False)
                if bar.total != total:
                    bar.total = total
                bar.n = n
                rows = p["stages"][0]["rows"] if p["stages"] else 0
                bar.set_postfix_str(f"{p['status']}, attempt {p['attempt']}, {rows:,} result rows", refresh=False)
                bar.refresh()
                self._stop.wait(self.every)
        except Exception:  # a progress bar must never break a query
            pass
        finally:
            if bar is not None:
                bar.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
