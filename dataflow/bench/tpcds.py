"""``dataflow bench tpcds``: the 99 TPC-DS queries on dataflow and DuckDB, answers
checked against DuckDB's, shaped like ``dataflow bench tpch`` (same options, table and
JSON; no cold start and no peers).

Data comes from ``tpcgen-cli`` (``data/tpcds-sf<N>``, generated if missing), the query
texts are DuckDB's (``benchmarks/tpcds/queries``).

The example is not run as a doctest: it generates data and starts a Ray cluster.

>>> opts = TpcdsOptions(sf=0.01, queries=[3], runs=1)  # doctest: +SKIP
>>> print(format_table(run_tpcds(opts)))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .memory import MemorySampler
from .report import BenchResult
from .tpch import BenchOptions, cluster_pids, finish, prepare_data, run_on_dataflow_and_duckdb, start


@dataclass
class TpcdsOptions(BenchOptions):
    """What ``dataflow bench tpcds`` runs (its command-line flags)."""

    queries: list[int] = field(default_factory=lambda: list(range(1, 100)))
    cold_start: bool = False

    @property
    def data_dir(self) -> Path:
        return Path(self.data_root) / f"tpcds-sf{self.sf:g}"


def run_tpcds(opts: TpcdsOptions) -> BenchResult:
    """Run the TPC-DS benchmark described by ``opts``; never raises for a failing query."""
    from dataflow import tpcds

    log = opts.log or (lambda s: None)
    t_start = time.perf_counter()
    prepare_data(tpcds, opts, log)
    result = BenchResult(
        sf=opts.sf, parallelism=0, runs=opts.runs, duckdb_threads=0, benchmark="TPC-DS", warmup=opts.warmup,
        address=opts.address,
    )
    start(result)
    sampler = MemorySampler(roots=cluster_pids() if opts.address else ()).start()
    try:
        sampler.phase = "dataflow+DuckDB"
        run_on_dataflow_and_duckdb(opts, result, tpcds, log)
    finally:
        sampler.stop()
    return finish(result, sampler, t_start)


__all__ = ["TpcdsOptions", "run_tpcds"]
