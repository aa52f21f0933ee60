"""``dataflow bench chaos``: random worker kills during TPC-H queries.

For each of ``--kills`` trials: pick a query, start it, wait a random part of its
normal running time, kill one of its workers at random (``ray.kill``, or ``SIGKILL``
of the process), and check the answer against DuckDB's. Counts correct answers,
wrong answers, errors and hangs (no answer within ``--timeout``), and what a retry
costs: the time of a killed run against the same query's time undisturbed.

    dataflow bench chaos --sf 1 --kills 30 [--queries 3,9,5,18] [--parallelism 2]
                         [--unchained] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_QUERIES = [3, 5, 9, 10, 18, 21]


@dataclass
class Trial:
    query: int
    how: str
    after_s: float
    seconds: float
    baseline_s: float
    attempts: int
    outcome: str  # correct | wrong | error | hang
    detail: str = ""


@dataclass
class ChaosResult:
    sf: float
    parallelism: int
    chained: bool
    trials: list[Trial] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(t.outcome == outcome for t in self.trials)


def run_chaos(
    sf: float, kills: int, queries: list[int], parallelism: int, chained: bool, data_root: Path,
    timeout: float, seed: int, log: Any = None,
) -> ChaosResult:
    import ray

    import dataflow
    from dataflow import tpch

    from .tpch import _compare, _duckdb, _duckdb_query

    data = tpch.generate(sf, data_root / f"tpch-sf{sf:g}")
    con = _duckdb(data, parallelism)
    want = {q: _duckdb_query(con, tpch.query_text(q)) for q in queries}
    rng = random.Random(seed)
    result = ChaosResult(sf=sf, parallelism=parallelism, chained=chained)
    # leader_rows=0: every query on the actors, which are what the kills hit
    with dataflow.Session(parallelism=parallelism, chain_operators=chained, name="chaos", leader_rows=0) as s:
        for name, path in tpch.table_paths(data).items():
            s.register_parquet(name, str(path))
        baseline = {}
        for q in queries:  # one warm-up, one timed run
            s.sql(tpch.query_text(q)).to_arrow()
            t0 = time.perf_counter()
            s.sql(tpch.query_text(q)).to_arrow()
            baseline[q] = time.perf_counter() - t0
            if log:
                log(f"Q{q:02d} undisturbed {baseline[q]:.2f} s")
        for k in range(kills):
            q = rng.choice(queries)
            how = "SIGKILL" if k % 2 else "ray.kill"
            after = rng.uniform(0.1, 0.9) * baseline[q]
            text = tpch.query_text(q)
            t0 = time.perf_counter()
            job = s.sql(text).submit()
            while not job._live and not job._finished.is_set():
                time.sleep(0.005)
            time.sleep(after)
            workers = list(job._workers.values())
            victim = rng.choice(workers)
            try:
                if how == "SIGKILL":
                    os.kill(ray.get(victim.actor.info.remote(), timeout=10)["pid"], signal.SIGKILL)
                else:
                    ray.kill(victim.actor)
            except Exception as e:  # the victim was already gone
                how += f" (failed: {type(e).__name__})"
            try:
                got = job.result(timeout=timeout)
                ok, diff = _compare(got, want[q], text)
                outcome, detail = ("correct", "") if ok else ("wrong", diff or "")
            except dataflow.JobCancelled:
                outcome, detail = "hang", f"no answer within {timeout:g} s"
            except Exception as e:
                outcome, detail = "error", f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            trial = Trial(
                query=q, how=how, after_s=round(after, 3), seconds=round(time.perf_counter() - t0, 3),
                baseline_s=round(baseline[q], 3), attempts=len(job.attempts), outcome=outcome, detail=detail,
            )
            result.trials.append(trial)
            if log:
                log(f"kill {k + 1:2d}/{kills}: Q{q:02d} {how} after {after:.2f} s -> {outcome} "
                    f"in {trial.seconds:.2f} s ({trial.attempts} attempts) {detail}")
    return result


def format_chaos(r: ChaosResult) -> str:
    retried = [t for t in r.trials if t.attempts > 1 and t.outcome == "correct"]
    extra = [t.seconds - t.baseline_s for t in retried]
    lines = [
        f"TPC-H sf {r.sf:g}, parallelism {r.parallelism}, {'chained' if r.chained else 'unchained'}: "
        f"{len(r.trials)} kills",
        f"  correct {r.count('correct')}, wrong {r.count('wrong')}, errors {r.count('error')}, "
        f"hangs {r.count('hang')}",
        f"  retried {len(retried)} (the others finished before the kill reached them)",
    ]
    if extra:
        lines.append(
            f"  a retry cost: median {statistics.median(extra):.2f} s, max {max(extra):.2f} s over the undisturbed run"
        )
    for t in r.trials:
        if t.outcome != "correct":
            lines.append(f"  Q{t.query:02d} {t.how}: {t.outcome}: {t.detail}")
    return "\n".join(lines)


def cmd_bench_chaos(args: argparse.Namespace) -> int:
    r = run_chaos(
        args.sf, args.kills, args.queries, args.parallelism, not args.unchained, Path(args.data), args.timeout,
        args.seed, log=(lambda s: print(s, file=sys.stderr, flush=True)),
    )
    print(format_chaos(r))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(r), indent=2) + "\n")
    return 0 if r.count("correct") == len(r.trials) else 1


def add_chaos_parser(bsub: Any, query_list: Callable[[str], list[int]]) -> None:
    """Add ``bench chaos`` to the bench subcommands; ``query_list`` parses ``--queries``
    (the bench CLI's, passed in so that this module need not import it)."""
    c = bsub.add_parser(
        "chaos", help="kill random workers during TPC-H queries; count correct answers, errors and hangs",
        description="Random worker kills during TPC-H queries, each answer checked against DuckDB.",
    )
    c.add_argument("--sf", type=float, default=1.0)
    c.add_argument("--kills", type=int, default=30)
    c.add_argument("--queries", type=query_list, default=DEFAULT_QUERIES, help="default 3,5,9,10,18,21")
    c.add_argument("--parallelism", type=int, default=2)
    c.add_argument("--unchained", action="store_true", help="one actor per operator instance")
    c.add_argument("--data", default="data")
    c.add_argument("--timeout", type=float, default=300.0, help="seconds before a killed query counts as a hang")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--json", default=None, metavar="FILE")
    c.set_defaults(fn=cmd_bench_chaos)
