"""Old plans against new, in one Session, query by query (issue 13): right semi/anti
joins (a semi or anti join built on its smaller, kept side) and ``reduce_aggregate_input``
(an aggregate joined on its keys with a much smaller side is cut down to those keys
first). Each pair of runs alternates the two settings, so machine noise hits both.

    python benchmarks/optimizer/semi_joins.py [DATA_DIR] [QUERIES] [RUNS] [RULE]

defaults: data/tpch-sf1, TPC-H 2,4,20,21,22, 5 pairs. Prints the medians, their ratio
and whether both plans gave the same rows. With RULE (a logical rule's name, e.g.
``push_down_semi_join``), "old" is the plan without that rule alone.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import dataflow
from dataflow import tpch


def _sorted(t):  # type: ignore[no-untyped-def]
    return t.sort_by([(c, "ascending") for c in t.column_names])


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data/tpch-sf1")
    queries = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "2,4,20,21,22").split(",")]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with dataflow.Session(parallelism=2) as s:
        for name, path in tpch.table_paths(data).items():
            s.register_parquet(name, str(path))
        new = s.optimizer_settings
        if len(sys.argv) > 4:
            old = new.model_copy(update={"disabled_rules": (*new.disabled_rules, sys.argv[4])})
        else:
            old = new.model_copy(update={"right_semi_ratio": float("inf"), "disabled_rules": ("reduce_aggregate_input",)})
        for q in queries:
            times: dict[str, list[float]] = {"new": [], "old": []}
            answers = {}
            for i in range(runs + 1):  # the first pair warms up
                for label, settings in (("new", new), ("old", old)):
                    s.optimizer_settings = settings
                    t0 = time.perf_counter()
                    answers[label] = s.sql(tpch.query_text(q)).to_arrow()
                    if i:
                        times[label].append(time.perf_counter() - t0)
            s.optimizer_settings = new
            same = _sorted(answers["new"]).equals(_sorted(answers["old"]))
            mn, mo = statistics.median(times["new"]), statistics.median(times["old"])
            print(f"Q{q:02d} old {mo:.3f} s  new {mn:.3f} s  new/old {mn / mo:.2f}  "
                  f"(median of {runs} pairs; same rows: {same})", flush=True)


if __name__ == "__main__":
    main()
