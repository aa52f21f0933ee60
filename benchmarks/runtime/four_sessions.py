"""4 Sessions in 4 processes, each starting its own local cluster and checking 5 TPC-H
answers against DuckDB.

    python benchmarks/runtime/four_sessions.py data/tpch-sf0.1
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

ONE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import dataflow
    from dataflow import tpch
    from tests.oracle import assert_same, duckdb_answer, duckdb_tpch
    data, me = Path(sys.argv[1]), int(sys.argv[2])
    con = duckdb_tpch(data)
    ok, t0 = 0, time.time()
    with dataflow.Session(parallelism=1, name=f"p{me}", leader_rows=0) as s:  # on the actors
        for name, path in tpch.table_paths(data).items():
            s.register_parquet(name, str(path))
        for q in (1, 3, 5, 6, 10):
            assert_same(s.sql(tpch.query_text(q)).to_arrow(), duckdb_answer(con, tpch.query_text(q)), ordered=True)
            ok += 1
    print("RESULT " + json.dumps({"process": me, "correct": ok, "seconds": round(time.time() - t0, 1)}))
    """
)


def main(data: str) -> None:
    t0 = time.time()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", ONE, data, str(i)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=1200)
        got = [x for x in out.splitlines() if x.startswith("RESULT ")]
        print(p.returncode, json.loads(got[0][7:]) if got else err[-800:])
    print(f"all done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1])
