"""8 Python threads x 5 TPC-H queries on one Session, each answer checked against
DuckDB; prints the count of correct answers and the machine's peak thread count.

    python benchmarks/runtime/eight_threads.py data/tpch-sf0.1
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import dataflow  # noqa: E402
from dataflow import tpch  # noqa: E402
from tests.oracle import assert_same, duckdb_answer, duckdb_tpch  # noqa: E402

QUERIES = (1, 3, 5, 6, 10)


def machine_threads() -> int:
    """Threads of every process (Linux counts each against pid_max)."""
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/status") as f:
                    n += next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
            except (OSError, StopIteration):
                pass
    return n


def main(data: Path) -> None:
    want = {q: duckdb_answer(duckdb_tpch(data), tpch.query_text(q)) for q in QUERIES}
    results: list[str] = []
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, machine_threads())
            stop.wait(1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    t0 = time.time()
    with dataflow.Session(parallelism=2, name="eight", leader_rows=0) as s:  # on the actors
        for name, path in tpch.table_paths(data).items():
            s.register_parquet(name, str(path))

        def client() -> None:
            for q in QUERIES:
                try:
                    assert_same(s.sql(tpch.query_text(q)).to_arrow(), want[q], ordered=True)
                    results.append("ok")
                except Exception as e:
                    results.append(f"Q{q}: {type(e).__name__}: {e}"[:200])

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stop.set()
    watcher.join()
    print(f"{results.count('ok')} of {len(results)} correct in {time.time() - t0:.1f} s; "
          f"peak threads on the machine {peak}")
    for r in [r for r in results if r != "ok"][:5]:
        print(r)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
