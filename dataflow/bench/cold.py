"""The cold start, as a child process: ``python -m dataflow.bench.cold --data DIR``.

Imports dataflow, starts a Session (and so a local Ray cluster), registers the TPC-H
tables, runs Q6, and prints one line ``RESULT <rows> <phases as JSON>`` as soon as
the answer is there; the parent times launch-to-that-line. Then it closes the Session
(not timed)."""

from __future__ import annotations

import argparse
import json
import sys
import time

T0 = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--parallelism", type=int, default=None)
    ap.add_argument("--query", type=int, default=6)
    args = ap.parse_args(argv)

    phases: dict[str, float] = {}
    t = T0
    import dataflow
    from dataflow import tpch

    now = time.perf_counter()
    phases["import"], t = now - t, now
    session = dataflow.Session(parallelism=args.parallelism)
    try:
        now = time.perf_counter()
        phases["session"], t = now - t, now
        for name, path in tpch.table_paths(args.data).items():
            session.register_parquet(name, str(path))
        table = session.sql(tpch.query_text(args.query)).to_arrow()
        now = time.perf_counter()
        phases["query"], t = now - t, now
        print(f"RESULT {table.num_rows} {json.dumps(phases)}", flush=True)
    finally:
        session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
