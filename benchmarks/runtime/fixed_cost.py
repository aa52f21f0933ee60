"""The fixed cost of a query on a warm Session (issue 13): the median of many warm runs
of `select count(*) from nation`, a join of two tiny tables, and TPC-H Q6 at sf 0.1,
on the Ray runtime at parallelism 2. Prints one line per query.

    python benchmarks/runtime/fixed_cost.py [DATA_DIR] [RUNS]

DATA_DIR holds tpch-sf0.1/ (default data/, generated if missing).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import dataflow
from dataflow import tpch

QUERIES = {
    "count(*) nation": "select count(*) from nation",
    "tiny join": "select n_name, r_name from nation join region on n_regionkey = r_regionkey",
    "Q6 sf 0.1": tpch.query_text(6),
}


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    data = tpch.generate(0.1, root / "tpch-sf0.1")
    with dataflow.Session(parallelism=2) as s:
        for name, path in tpch.table_paths(data).items():
            s.register_parquet(name, str(path))
        time.sleep(3)  # let the pool's warm actors finish starting: "warm" is after that
        for label, text in QUERIES.items():
            for _ in range(5):  # warm: actors, footers, plans' caches
                s.sql(text).to_arrow()
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                s.sql(text).to_arrow()
                times.append(time.perf_counter() - t0)
            print(f"{label}: median {statistics.median(times) * 1000:.1f} ms over {runs} runs", flush=True)


if __name__ == "__main__":
    main()
