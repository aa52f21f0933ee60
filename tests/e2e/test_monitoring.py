"""What a person watching the Ray dashboard sees, on a local Ray cluster (started once
for this module): actors and tasks named after their Session, query, stage, operators
and instance; dataflow's metrics on the node's Prometheus endpoint; ``progress()``
advancing while a query runs."""

from __future__ import annotations

import time
import urllib.request

import pyarrow as pa
import pytest
import ray
from ray.util.state import list_actors, list_tasks

import dataflow
from dataflow import col
from dataflow import functions as F

N = 60_000


def slow(a: pa.Array) -> pa.Array:
    time.sleep(0.06)  # 60 morsels on 2 instances: about 2 s, long enough to watch
    return a


@pytest.fixture(scope="module")
def session():
    with dataflow.Session(parallelism=2, batch_rows=1_000, name="watch") as s:
        s.register("t", pa.table({"k": pa.array([i % 7 for i in range(N)]), "v": pa.array(range(N))}))
        s.slow = s.register_udf("slow", slow, "int64")  # type: ignore[attr-defined]
        s.table("t").count()  # the pool is warm
        yield s


def slow_query(s: dataflow.Session) -> dataflow.DataFrame:
    return s.table("t").select(col("k"), s.slow(col("v")).alias("v")).group_by("k").agg(F.sum("v").alias("s"))  # type: ignore[attr-defined]


def wait_running(job, timeout: float = 120.0) -> None:
    give_up = time.monotonic() + timeout
    while job.status() != "running":
        assert time.monotonic() < give_up, job.status()
        time.sleep(0.02)


def test_actors_and_tasks_are_named(session):
    job = slow_query(session).submit()
    wait_running(job)
    time.sleep(0.5)
    actors = list_actors(address=session.dashboard_url, filters=[("state", "=", "ALIVE")], limit=10_000)
    names = sorted(a.name for a in actors if a.name)
    assert "dataflow:watch:coordinator" in names
    assert sum(n.startswith("dataflow:watch:worker-") for n in names) >= 3
    job.result()
    give_up = time.monotonic() + 30  # task events reach the state API in batches
    while True:
        every = [t.name for t in list_tasks(address=session.dashboard_url, limit=10_000,
                                            filters=[("func_or_class_name", "=", "Worker.run")])
                 if t.name.startswith(f"{job.name} ")]
        if sum(n.startswith(f"{job.name} stage ") for n in every) >= 3 or time.monotonic() > give_up:
            break
        time.sleep(1)
    # only the stage instances' tasks are asked for: every batch pushed is a task too
    assert any(n.startswith(f"{job.name} stage 0 ") and n.endswith(" 1/1") for n in every), every
    assert any(n.startswith(f"{job.name} stage 1 Scan→") and n.endswith(" 1/2") for n in every), every
    assert any(n.startswith(f"{job.name} stage 1 Scan→") and n.endswith(" 2/2") for n in every), every


def test_progress_advances(session):
    job = slow_query(session).submit()
    wait_running(job)
    seen = []
    while job.status() == "running":
        p = job.progress()
        seen.append((p["morsels"] - p["morsels_left"], sum(s["rows"] for s in p["stages"][1:])))
        time.sleep(0.2)
    got = job.result()
    assert dict(zip(got.column("k").to_pylist(), got.column("s").to_pylist(), strict=True)) == {
        k: sum(range(k, N, 7)) for k in range(7)
    }
    assert len(seen) >= 3
    handed = [m for m, _ in seen]
    assert handed == sorted(handed) and handed[-1] > handed[0], seen
    final = job.progress()
    assert final["status"] == "finished"
    assert all(s["done"] == s["instances"] for s in final["stages"])


def test_metrics_on_the_prometheus_endpoint(session):
    slow_query(session).to_arrow()
    node = ray._private.worker.global_worker.node
    url = f"http://{node.node_ip_address}:{node.metrics_export_port}/metrics"
    wanted = ("dataflow_operator_rows_out", "dataflow_operator_bytes_out", "dataflow_morsels_handed_out",
              "dataflow_queries_finished")
    give_up = time.monotonic() + 60
    while True:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        found = {w for w in wanted if any(w in line and not line.startswith("#") for line in text.splitlines())}
        if found == set(wanted) or time.monotonic() > give_up:
            break
        time.sleep(2)
    assert found == set(wanted), sorted(set(wanted) - found)
    rows = [line for line in text.splitlines() if "dataflow_operator_rows_out" in line and 'operator="Scan"' in line
            and 'session="watch"' in line]
    assert rows and all('stage="' in r and 'stage_instance="' in r and 'query="' in r for r in rows)
