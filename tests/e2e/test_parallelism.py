"""Degrees of parallelism on a local Ray cluster: UDFs that are not parallel safe run
on one instance, a job planned for more actors than available runs with fewer, and
small and large stages get different degrees."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dataflow
import dataflow.physical
from dataflow import col
from dataflow import functions as F


@pytest.fixture(scope="module")
def session():
    with dataflow.Session(parallelism=4, max_actors=8) as s:
        n = 50_000
        s.register("t", pa.table({"k": pa.array([i % 10 for i in range(n)]), "v": pa.array(range(n))}))
        yield s


def instances(job, operator: str, containing: str = "") -> int:
    """How many instances ran the operator (whose plan line contains ``containing``)."""
    paths = set()

    def visit(node, path):
        if node.name == operator and containing in node.describe():
            paths.add(path)
        for i, c in enumerate(node.children()):
            visit(c, f"{path}.{i}")

    visit(job.optimized.physical, "0")
    return len({(m["stage"], m["instance"]) for m in job.metrics() if m["operator"] == operator and m["path"] in paths})


def test_unsafe_udf_runs_on_one_instance(session):
    safe = session.register_udf("plus_one", lambda a: pc.add(a, 1), "int64")
    unsafe = session.register_udf("plus_two", lambda a: pc.add(a, 2), "int64", parallel_safe=False)
    q_safe = session.table("t").select(safe(col("v")).alias("w")).agg(F.sum("w").alias("s"))
    q_unsafe = session.table("t").select(unsafe(col("v")).alias("w")).agg(F.sum("w").alias("s"))
    n = 50_000
    job = q_safe.submit(parallelism=2)
    assert job.result().column("s")[0].as_py() == n * (n - 1) // 2 + n
    assert instances(job, "Project", "udf:plus_one") == 2
    job = q_unsafe.submit(parallelism=2)
    assert job.result().column("s")[0].as_py() == n * (n - 1) // 2 + 2 * n
    assert instances(job, "Project", "udf:plus_two") == 1


def test_job_planned_for_4_completes_with_2_available(session):
    # scan + partial aggregate | final aggregate: 2 stages, 8 actors at parallelism 4;
    # only 8 may exist, and 4 are taken by a job still running
    q = session.table("t").group_by("k").agg(F.sum("v").alias("s")).sort("k")
    held = session.table("t").join(session.table("t").select(col("k").alias("k2")), how="cross").agg(F.count())
    blocker = held.submit(parallelism=2)  # leases 4 actors... or fewer if it finishes at once
    job = q.submit(parallelism=4)
    got = job.result()
    blocker.cancel()
    assert got.column("s").to_pylist() == [sum(range(k, 50_000, 10)) for k in range(10)]
    ran = instances(job, "HashAggregate")
    assert ran < 8, job.notes  # fewer instances than the 4 + 4 planned
    assert job.notes and "only" in job.notes[0] and "available" in job.notes[0]


def test_small_stage_one_instance_large_several(session, tmp_path):
    import pyarrow.parquet as pq

    big = pa.table({"k": pa.array(range(3_000_000)) , "v": pa.array(range(3_000_000))})
    pq.write_table(big, tmp_path / "big.parquet", row_group_size=200_000)
    session.register_parquet("big", str(tmp_path / "big.parquet"))
    small = pa.table({"k": pa.array(range(10)), "name": pa.array([f"n{i}" for i in range(10)])})
    session.register("small", small)
    q = session.table("big").join(session.table("small"), on="k").agg(F.count().alias("n"))
    job = q.submit()  # the cost model chooses
    assert job.result().column("n")[0].as_py() == 10
    scans = {}
    for m in job.metrics():
        if m["operator"] == "Scan":
            scans.setdefault(m["stage"], set()).add(m["instance"])
    widths = sorted(len(v) for v in scans.values())
    assert widths[0] == 1 and widths[-1] > 1, scans


def test_range_exchange_sort(session):
    # force the range strategy: split points agreed through the coordinator, local
    # sorts, and partitions concatenated in order
    settings = session.optimizer_settings
    session.optimizer_settings = settings.model_copy(update={"range_sort_rows": 0})
    try:
        q = session.table("t").sort(col("k").desc(), "v")
        job = q.submit(parallelism=2)
        got = job.result()
    finally:
        session.optimizer_settings = settings
    modes = [n.mode for n in dataflow.physical.walk(job.optimized.physical) if n.kind == "exchange"]
    assert "range" in modes
    expected = sorted(range(50_000), key=lambda i: (-(i % 10), i))
    assert got.column("v").to_pylist() == expected
    assert got.column("k").to_pylist() == [i % 10 for i in expected]
