"""``dataflow bench tpch``: TPC-H on dataflow side by side with DuckDB (and, on
request, Ray Data and Spark), answers checked against DuckDB's.

One run, in this order: generate the data if missing; measure the cold start (a new
Python process, from launch to the first result of Q6); start one Session and one
DuckDB connection (``SET threads`` to the Session's parallelism, views over the same
Parquet files); for each query, one warm-up then the median of ``runs`` timed runs on
each engine, and compare the answers; close the Session; run the peers the same way.
A background thread samples the memory of all processes throughout.

The example is not run as a doctest: it generates data and starts a Ray cluster.

>>> opts = BenchOptions(sf=0.01, queries=[6], runs=1, cold_start=False)  # doctest: +SKIP
>>> print(format_table(run_tpch(opts)))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from .compare import ABS_TOL, REL_TOL, compare_tables, order_spec
from .memory import MemorySampler
from .report import BenchResult, PeerRun, QueryRun

REPO = Path(__file__).resolve().parent.parent.parent
PEERS = ("ray-data", "spark")

# Spark rounds decimal quotients and averages to 6 decimal places (decimal(38, 6)),
# so its answers are checked to that many places; dataflow's to 1e-9 relative.
PEER_ABS_TOL = {"spark": 1e-6}


@dataclass
class BenchOptions:
    """What ``dataflow bench tpch`` runs (its command-line flags)."""

    sf: float = 1.0
    queries: list[int] = field(default_factory=lambda: list(range(1, 23)))
    runs: int = 3
    parallelism: int | None = None
    against: list[str] = field(default_factory=list)
    data_root: Path = Path("data")
    timeout: float = 600.0  # seconds for one run of one query on one engine
    cold_start: bool = True
    log: Callable[[str], None] | None = None
    address: str | None = None  # join this Ray cluster ("auto": the one `dataflow cluster up` started)
    warmup: bool = True  # one untimed run of each query first
    share_subplans: bool = False  # Session(share_subplans=...): repeated subplans computed once

    @property
    def data_dir(self) -> Path:
        return Path(self.data_root) / f"tpch-sf{self.sf:g}"


def first_line(e: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0][:300]}" if msg else type(e).__name__


class _Timeout(Exception):
    pass


def timed_runs(fn: Callable[[], Any], runs: int, warmup: bool = True) -> tuple[float, list[float], Any]:
    """One warm-up call, then ``runs`` timed calls: (median seconds, all seconds, last answer).
    An exception in any call propagates."""
    answer = fn() if warmup else None
    times = []
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        answer = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, answer


def cluster_pids() -> list[int]:
    """The processes of the cluster ``dataflow cluster up`` started (its raylets and
    GCS, whose descendants are the workers), so their memory counts too."""
    from dataflow.cluster import local

    state = local.running_state()
    return [n.pid for n in state.nodes] if state is not None else []


def machine_info() -> dict[str, Any]:
    """Cores, memory, kernel, Python and the versions of the engines, for the record."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "uname": " ".join(platform.uname()),
        "python": platform.python_version(),
    }
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        info["memory_gb"] = round(kb / 1024**2, 1)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("dataflow", "ray", "pyarrow", "duckdb", "pyspark", "polars"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    try:
        info["commit"] = (
            subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def measure_cold_start(
    data_dir: Path, parallelism: int | None, timeout: float = 300.0
) -> tuple[float | None, dict[str, float], str | None]:
    """A fresh Python process, from launch to the first result of Q6 (importing
    dataflow, starting the Session and Ray included): (seconds, the child's own
    phases, error)."""
    cmd = [sys.executable, "-m", "dataflow.bench.cold", "--data", str(data_dir)]
    if parallelism:
        cmd += ["--parallelism", str(parallelism)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    elapsed: float | None = None
    phases: dict[str, float] = {}
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("RESULT "):
                elapsed = time.perf_counter() - t0
                parts = line.split(" ", 2)
                if len(parts) == 3:
                    phases = {k: float(v) for k, v in json.loads(parts[2]).items()}
                break
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    finally:
        timer.cancel()
    if elapsed is None:
        lines = [x for x in (err or "").strip().splitlines() if x.strip()]
        return None, {}, (lines[-1][:300] if lines else f"exit code {proc.returncode}")
    return elapsed, phases, None


def _load_peer_module(name: str) -> ModuleType:
    """``benchmarks/<name>/tpch.py`` of the source checkout (benchmarks/ is no package)."""
    path = REPO / "benchmarks" / name.replace("-", "_") / "tpch.py"
    if not path.is_file():
        raise ImportError(f"{path} is missing (the peers live in the source checkout)")
    spec = importlib.util.spec_from_file_location(f"dataflow_bench_peer_{name.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peer_available(name: str) -> str | None:
    """``None`` if peer ``name`` can run here, else why not."""
    mods = {"ray-data": ["ray.data", "polars"], "spark": ["pyspark"]}[name]
    for m in mods:
        try:
            found = importlib.util.find_spec(m) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{m.split('.')[0]} is not installed: pip install -e '.[bench]'"
    return None


def _run_dataflow_once(session: Any, text: str, timeout: float) -> pa.Table:
    """Plan and run one query; a run longer than ``timeout`` is stopped."""
    from dataflow.errors import JobCancelled

    job = session.sql(text).submit()
    try:
        return job.result(timeout=timeout)
    except JobCancelled:
        raise _Timeout(f"timed out after {timeout:g} s") from None


def _duckdb(data_dir: Path, threads: int, tables: Any = None) -> Any:
    """A DuckDB connection with a view per table (``tables``: a module with
    ``table_paths``, TPC-H's by default) over the same Parquet files."""
    import duckdb

    from dataflow import tpch

    con = duckdb.connect()
    con.execute(f"SET threads TO {int(threads)}")
    for name, path in (tables or tpch).table_paths(data_dir).items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def _duckdb_query(con: Any, text: str) -> pa.Table:
    return con.sql(text).to_arrow_table()


def _compare(
    got: pa.Table, want: pa.Table | None, text: str, abs_tol: float = ABS_TOL
) -> tuple[bool | None, str | None]:
    if want is None:
        return None, None
    try:
        diff = compare_tables(got, want, order_spec(text, want.column_names), REL_TOL, abs_tol)
    except Exception as e:  # noqa: BLE001 - a comparison that breaks is a disagreement
        diff = f"comparison failed: {first_line(e)}"
    return diff is None, diff


def run_tpch(opts: BenchOptions) -> BenchResult:
    """Run the benchmark described by ``opts``; never raises for a failing query."""
    from dataflow import tpch

    log = opts.log or (lambda s: None)
    t_start = time.perf_counter()
    for p in opts.against:
        if p not in PEERS:
            raise ValueError(f"unknown peer {p!r}: choose from {', '.join(PEERS)}")
    data = prepare_data(tpch, opts, log)
    result = BenchResult(
        sf=opts.sf, parallelism=0, runs=opts.runs, duckdb_threads=0, warmup=opts.warmup, address=opts.address
    )
    start(result)
    for p in opts.against:
        why = peer_available(p)
        if why is None:
            result.peers.append(p)
        else:
            result.peers_skipped[p] = why
            log(f"{p}: skipped ({why})")

    sampler = MemorySampler(roots=cluster_pids() if opts.address else ()).start()
    try:
        if opts.cold_start:
            sampler.phase = "cold start"
            log("cold start: a new process to the first result of Q6 ...")
            result.cold_start_s, result.cold_start_phases, result.cold_start_error = measure_cold_start(
                data, opts.parallelism
            )
            log(
                f"cold start: {result.cold_start_s:.1f} s"
                if result.cold_start_s is not None
                else f"cold start FAILED: {result.cold_start_error}"
            )

        sampler.phase = "dataflow+DuckDB"
        answers = run_on_dataflow_and_duckdb(opts, result, tpch, log)
        if "ray-data" in result.peers:
            sampler.phase = "ray-data"
            _run_ray_data(opts, result, answers, log)
        if "spark" in result.peers:
            sampler.phase = "spark"
            _run_spark(opts, result, answers, log)
    finally:
        sampler.stop()
    return finish(result, sampler, t_start)


def prepare_data(suite: Any, opts: BenchOptions, log: Callable[[str], None]) -> Path:
    """Generate the data ``opts`` names with ``suite`` (``dataflow.tpch`` or ``dataflow.tpcds``) if missing."""
    data = opts.data_dir
    if not suite.is_generated(data):
        log(f"generating {suite.SUITE.name} scale factor {opts.sf:g} into {data} ...")
    suite.generate(opts.sf, data)
    return data


def start(result: BenchResult) -> None:
    """Note when and where the run starts, and the machine's load."""
    result.started_at = dt.datetime.now().isoformat(timespec="seconds")
    result.machine = machine_info()
    result.load["before"] = load_average()


def run_on_dataflow_and_duckdb(
    opts: BenchOptions, result: BenchResult, suite: Any, log: Callable[[str], None]
) -> dict[int, pa.Table]:
    """Run ``opts.queries`` of ``suite`` on one Session and one DuckDB connection over the
    same files, each warmed up then timed ``opts.runs`` times, the answers compared;
    return DuckDB's answers (to check the peers' against)."""
    import dataflow

    answers: dict[int, pa.Table] = {}
    with dataflow.Session(
        parallelism=opts.parallelism, address=opts.address, share_subplans=opts.share_subplans
    ) as session:
        result.parallelism = session.parallelism
        result.duckdb_threads = session.parallelism
        for name, path in suite.table_paths(opts.data_dir).items():
            session.register_parquet(name, str(path))
        con = _duckdb(opts.data_dir, result.duckdb_threads, suite)
        try:
            for n in opts.queries:
                q = QueryRun(query=n)
                result.queries.append(q)
                text = suite.query_text(n)
                want: pa.Table | None = None
                try:
                    q.duckdb_s, q.duckdb_runs_s, want = timed_runs(
                        functools.partial(_duckdb_query, con, text), opts.runs, opts.warmup
                    )
                    answers[n] = want
                except Exception as e:  # noqa: BLE001
                    q.duckdb_error = first_line(e)
                try:
                    q.dataflow_s, q.runs_s, got = timed_runs(
                        functools.partial(_run_dataflow_once, session, text, opts.timeout), opts.runs, opts.warmup
                    )
                    q.rows = got.num_rows
                    q.agree, q.diff = _compare(got, want, text)
                except Exception as e:  # noqa: BLE001 - reported in the table
                    q.error = first_line(e)
                log(_progress(q))
        finally:
            con.close()
    return answers


def finish(result: BenchResult, sampler: MemorySampler, t_start: float) -> BenchResult:
    """Record the memory peaks, the load and the wall time of a finished run."""
    result.peak_rss_bytes = sampler.peak_rss or None
    result.peak_pss_bytes = sampler.peak_pss or None
    result.peak_processes = sampler.peak_processes or None
    result.peak_by_phase = {k: [r, p] for k, (r, p) in sampler.phases.items() if k != "start"}
    result.load["after"] = load_average()
    result.wall_s = time.perf_counter() - t_start
    return result


def _progress(q: QueryRun, peer: str | None = None) -> str:
    if peer is not None:
        p = q.peers[peer]
        if p.error:
            return f"Q{q.query:02d} {peer}: FAILED {p.error}"
        return f"Q{q.query:02d} {peer}: {p.seconds:.3f} s" + (
            "" if p.agree is not False else f", differs: {p.diff}"
        )
    if q.error:
        return f"Q{q.query:02d} dataflow FAILED: {q.error}"
    duck = "-" if q.duckdb_s is None else f"{q.duckdb_s:.3f} s"
    agree = {True: "agree", False: f"DIFFER: {q.diff}", None: "not compared"}[q.agree]
    return f"Q{q.query:02d} dataflow {q.dataflow_s:.3f} s, DuckDB {duck}, {agree}"


def _run_peer_query(
    q: QueryRun, peer: str, fn: Callable[[], pa.Table], runs: int, want: pa.Table | None, text: str
) -> None:
    p = PeerRun()
    q.peers[peer] = p
    try:
        p.seconds, _, got = timed_runs(fn, runs)
        p.agree, p.diff = _compare(got, want, text, PEER_ABS_TOL.get(peer, ABS_TOL))
    except Exception as e:  # noqa: BLE001
        p.error = first_line(e)


def _peer_failed_to_start(result: BenchResult, peer: str, e: BaseException) -> None:
    result.peers.remove(peer)
    result.peers_skipped[peer] = f"could not start: {first_line(e)}"


def _run_peer_queries(
    opts: BenchOptions,
    result: BenchResult,
    answers: dict[int, pa.Table],
    log: Callable[[str], None],
    peer: str,
    run_one: Callable[[int], Any],
    only: Any = None,
) -> None:
    """Time ``run_one(n)`` for each query of the run (those in ``only``, if given) and check
    its answer against DuckDB's."""
    from dataflow import tpch

    for q in result.queries:
        if only is not None and q.query not in only:
            continue
        _run_peer_query(
            q, peer, functools.partial(run_one, q.query), opts.runs, answers.get(q.query), tpch.query_text(q.query)
        )
        log(_progress(q, peer))


def _run_ray_data(
    opts: BenchOptions, result: BenchResult, answers: dict[int, pa.Table], log: Callable[[str], None]
) -> None:
    try:
        mod = _load_peer_module("ray-data")
        mod.setup(result.parallelism)
    except Exception as e:  # noqa: BLE001
        _peer_failed_to_start(result, "ray-data", e)
        return
    try:
        run = lambda n: mod.run(n, opts.data_dir, result.parallelism)  # noqa: E731
        _run_peer_queries(opts, result, answers, log, "ray-data", run, only=mod.QUERIES)
    finally:
        import ray

        ray.shutdown()


def _run_spark(
    opts: BenchOptions, result: BenchResult, answers: dict[int, pa.Table], log: Callable[[str], None]
) -> None:
    try:
        mod = _load_peer_module("spark")
        spark = mod.SparkTpch(opts.data_dir, parallelism=result.parallelism)
    except Exception as e:  # noqa: BLE001
        _peer_failed_to_start(result, "spark", e)
        return
    try:
        _run_peer_queries(opts, result, answers, log, "spark", spark.run)
    finally:
        spark.stop()


__all__ = ["BenchOptions", "machine_info", "measure_cold_start", "run_tpch", "timed_runs"]
