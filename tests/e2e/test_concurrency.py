"""Many queries at once on a local Ray cluster: Python threads sharing one Session,
many submitted jobs in flight, jobs queueing at the actor cap, and Sessions in
separate processes side by side. Every answer is checked against DuckDB."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dataflow
from dataflow import col, tpch
from dataflow import functions as F
from tests.oracle import REPO, assert_same, duckdb_answer, duckdb_tpch, tpch_data

QUERIES = (1, 3, 5, 6, 10)


@pytest.fixture(scope="module")
def data():
    return tpch_data(0.01)


@pytest.fixture(scope="module")
def expected(data):
    con = duckdb_tpch(data)
    return {q: duckdb_answer(con, tpch.query_text(q)) for q in QUERIES}


@pytest.fixture(scope="module")
def session(data):
    with dataflow.Session(parallelism=2, name="busy") as s:
        for t in tpch.TABLES:
            s.register_parquet(t, str(data / f"{t}.parquet"))
        yield s


def test_eight_threads_share_one_session(session, expected):
    results: list[tuple[int, pa.Table | BaseException]] = []
    lock = threading.Lock()

    def client() -> None:
        for q in QUERIES:
            try:
                got: pa.Table | BaseException = session.sql(tpch.query_text(q)).to_arrow()
            except BaseException as e:
                got = e
            with lock:
                results.append((q, got))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(results) == 40
    errors = [r for _, r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    for q, got in results:
        assert_same(got, expected[q], ordered=True)  # type: ignore[arg-type]
    assert session._runtime.pool.leased == 0


def test_many_submitted_jobs_in_flight(session, expected):
    jobs = [(q, session.sql(tpch.query_text(q)).submit()) for q in QUERIES * 3]
    for q, job in jobs:
        assert_same(job.result(timeout=300), expected[q], ordered=True)


def test_jobs_beyond_the_cap_queue(data, expected):
    with dataflow.Session(parallelism=2, max_actors=6, name="capped") as s:
        for t in tpch.TABLES:
            s.register_parquet(t, str(data / f"{t}.parquet"))
        peak = 0
        stop = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, s._runtime.pool.leased)
                stop.wait(0.005)

        w = threading.Thread(target=watch)
        w.start()
        jobs = [(q, s.sql(tpch.query_text(q)).submit()) for q in QUERIES * 2]
        try:
            for q, job in jobs:
                assert_same(job.result(timeout=300), expected[q], ordered=True)
        finally:
            stop.set()
            w.join()
        # a job that fits the cap never ran beside others beyond it
        assert peak <= 6 or max(len(j.slots) for _, j in jobs) > 6, peak


def test_slow_job_does_not_block_small_ones_forever(session):
    t = pa.table({"k": pa.array([i % 5 for i in range(50_000)]), "v": pa.array(range(50_000))})
    session.register("small_t", t)
    jobs = [session.table("small_t").filter(col("k") == k).agg(F.sum("v").alias("s")).submit() for k in range(5)]
    got = [j.result(timeout=120).column("s")[0].as_py() for j in jobs]
    assert got == [sum(range(k, 50_000, 5)) for k in range(5)]


SCRIPT = textwrap.dedent(
    """
    import sys
    import pyarrow.parquet as pq
    import dataflow
    from dataflow import tpch
    data, q, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with dataflow.Session(parallelism=1, name=f"proc{q}") as s:
        for name, path in tpch.table_paths(data).items():
            s.register_parquet(name, str(path))
        pq.write_table(s.sql(tpch.query_text(q)).to_arrow(), out)
    """
)


def test_sessions_in_separate_processes(data, expected, tmp_path):
    script = tmp_path / "one_session.py"
    script.write_text(SCRIPT)
    qs = (1, 6)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(data), str(q), str(tmp_path / f"q{q}.parquet")], cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for q in qs
    ]
    for q, p in zip(qs, procs, strict=True):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        assert_same(pq.read_table(tmp_path / f"q{q}.parquet"), expected[q], ordered=True)
