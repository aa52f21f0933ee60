"""``dataflow bench tpcds``: the 99 TPC-DS queries on dataflow and DuckDB, answers
checked against DuckDB's, shaped like ``dataflow bench tpch`` (same options, table and
JSON; no cold start and no peers).

Data comes from ``tpcgen-cli`` (``data/tpcds-sf<N>``, generated if missing), the query
texts are DuckDB's (``dataflow/tpcds_queries``).

The example is not run as a doctest: it generates data and starts a Ray cluster.

>>> opts = TpcdsOptions(sf=0.01, queries=[3], runs=1)  # doctest: +SKIP
>>> print(format_table(run_tpcds(opts)))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from .memory import MemorySampler
from .report import BenchResult, QueryRun
from .tpch import (
    BenchOptions,
    _compare,
    _duckdb,
    _duckdb_query,
    _progress,
    _run_dataflow_once,
    first_line,
    load_average,
    machine_info,
    timed_runs,
)


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
    import dataflow
    from dataflow import tpcds

    log = opts.log or (lambda s: None)
    t_start = time.perf_counter()
    data = opts.data_dir
    if not tpcds.is_generated(data):
        log(f"generating TPC-DS scale factor {opts.sf:g} into {data} ...")
    tpcds.generate(opts.sf, data)

    result = BenchResult(sf=opts.sf, parallelism=0, runs=opts.runs, duckdb_threads=0, benchmark="TPC-DS")
    result.started_at = dt.datetime.now().isoformat(timespec="seconds")
    result.machine = machine_info()
    result.load["before"] = load_average()
    sampler = MemorySampler().start()
    try:
        sampler.phase = "dataflow+DuckDB"
        with dataflow.Session(parallelism=opts.parallelism) as session:
            result.parallelism = session.parallelism
            result.duckdb_threads = session.parallelism
            for name, path in tpcds.table_paths(data).items():
                session.register_parquet(name, str(path))
            con = _duckdb(data, result.duckdb_threads, tpcds)
            try:
                for n in opts.queries:
                    q = QueryRun(query=n)
                    result.queries.append(q)
                    text = tpcds.query_text(n)
                    want: pa.Table | None = None
                    try:
                        q.duckdb_s, q.duckdb_runs_s, want = timed_runs(
                            functools.partial(_duckdb_query, con, text), opts.runs
                        )
                    except Exception as e:  # noqa: BLE001
                        q.duckdb_error = first_line(e)
                    try:
                        q.dataflow_s, q.runs_s, got = timed_runs(
                            functools.partial(_run_dataflow_once, session, text, opts.timeout), opts.runs
                        )
                        q.rows = got.num_rows
                        q.agree, q.diff = _compare(got, want, text)
                    except Exception as e:  # noqa: BLE001 - reported in the table
                        q.error = first_line(e)
                    log(_progress(q))
            finally:
                con.close()
    finally:
        sampler.stop()
    result.peak_rss_bytes = sampler.peak_rss or None
    result.peak_pss_bytes = sampler.peak_pss or None
    result.peak_processes = sampler.peak_processes or None
    result.peak_by_phase = {k: [r, p] for k, (r, p) in sampler.phases.items() if k != "start"}
    result.load["after"] = load_average()
    result.wall_s = time.perf_counter() - t_start
    return result


__all__ = ["TpcdsOptions", "run_tpcds"]
