"""Where a query's time goes (issue 13), query by query, on a warm Session at
parallelism 2 against DuckDB with 2 threads on the same Parquet files:

- ``plan``: parse, optimize and cut into stages, in the driver;
- ``lease`` / ``start``: waiting for the pool's actors, then until the first task runs
  (dispatch and the call's trip);
- ``run``: from the first task's start to the last one's end, split by where the
  instances spent it (CPU seconds summed over instances, so they may add up to more than
  ``run`` on two cores): ``scan`` (Parquet reads), ``join``, ``agg``, ``sort``
  (Sort/TopK/Window), ``expr`` (Filter/Project/Limit and the rest), ``send`` (partitioning
  and serializing batches for an exchange, blocked time left out), and ``blocked``
  (a Send waiting for its consumers: backpressure) and ``wait`` (a Receive waiting for
  its producers);
- ``finish``: from the last task's end until the driver holds the result.

    python benchmarks/runtime/breakdown.py tpch [DATA_DIR] [QUERIES] [RUNS]
    python benchmarks/runtime/breakdown.py tpcds [DATA_DIR] [QUERIES] [RUNS]

defaults: data/tpch-sf1 (data/tpcds-sf1), the worst queries of the last run, 3 runs
(the median run, by wall time, is shown). Answers are checked against DuckDB's.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import dataflow
from dataflow import tpcds, tpch
from dataflow.bench.compare import compare_tables, order_spec
from dataflow.bench.tpch import _duckdb

WORST = {"tpch": [18, 21, 4, 13, 17, 9, 10, 1], "tpcds": [58, 31, 4, 95, 11, 1, 6, 9]}
KINDS = {
    "Scan": "scan", "HashJoin": "join", "NestedLoopJoin": "join", "HashAggregate": "agg",
    "Sort": "sort", "TopK": "sort", "Window": "sort",
}


def kind(m: dict[str, Any]) -> str:
    if m["path"].startswith("send:"):
        return "send"
    if m["operator"].startswith("Receive("):
        return "wait"
    return KINDS.get(m["operator"].split("(")[0], "expr")


def split(metrics: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for m in metrics:
        k = kind(m)
        if k == "wait":
            out["wait"] += m["seconds"]
        elif k == "send":
            blocked = m.get("blocked_seconds", 0.0)
            out["blocked"] += blocked
            out["send"] += max(0.0, m["self_seconds"] - blocked)
        else:
            out[k] += m["self_seconds"]
    return out


def one_run(s: dataflow.Session, text: str) -> tuple[float, dict[str, float], Any]:
    t0 = time.perf_counter()
    df = s.sql(text)
    opt = s.optimize(df.plan)
    s.stages(opt.physical)
    plan = time.perf_counter() - t0
    t1 = time.perf_counter()
    job = df.submit()
    table = job.result()
    wall = time.perf_counter() - t1 + plan
    row: dict[str, float] = {"wall": wall, "plan": plan}
    att = job.attempts[-1] if getattr(job, "attempts", None) else {}
    for k in ("lease", "start", "run", "finish"):
        row[k] = att.get(f"{k}_seconds", float("nan"))
    row.update(split(job.metrics()))
    return wall, row, table


def main() -> None:
    suite_name = sys.argv[1] if len(sys.argv) > 1 else "tpch"
    suite = {"tpch": tpch, "tpcds": tpcds}[suite_name]
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(f"data/{suite_name}-sf1")
    queries = [int(q) for q in sys.argv[3].split(",")] if len(sys.argv) > 3 else WORST[suite_name]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    con = _duckdb(data, 2, suite)
    cols = ["wall", "duckdb", "plan", "lease", "start", "run", "finish",
            "scan", "join", "agg", "sort", "expr", "send", "blocked", "wait"]
    print(f"{'query':<6}" + "".join(f"{c:>9}" for c in cols) + "  answer", flush=True)
    with dataflow.Session(parallelism=2, progress=False) as s:
        for name, path in suite.table_paths(data).items():
            s.register_parquet(name, str(path))
        for q in queries:
            text = suite.query_text(q)
            one_run(s, text)  # warm: actors, footers
            got = sorted((one_run(s, text) for _ in range(runs)), key=lambda r: r[0])
            _, row, table = got[len(got) // 2]
            duck = []
            for _ in range(runs):
                t0 = time.perf_counter()
                expected = con.sql(text).to_arrow_table()
                duck.append(time.perf_counter() - t0)
            row["duckdb"] = statistics.median(duck)
            diff = compare_tables(table, expected, order_spec(text, expected.column_names))
            ok = "same" if diff is None else f"DIFFERS: {diff}"
            print(f"Q{q:02d}   " + "".join(f"{row.get(c, 0.0):>9.3f}" for c in cols) + f"  {ok}", flush=True)


if __name__ == "__main__":
    main()
