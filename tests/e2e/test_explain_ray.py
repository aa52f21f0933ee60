"""EXPLAIN ANALYZE on a local Ray cluster (one Session for this module, parallelism
2): per-instance rows sum to the totals, a broadcast is counted once, self times
stay within the wall time, Send reports its backpressure wait, instances name
their node, and SQL EXPLAIN ANALYZE runs on Ray."""

from __future__ import annotations

import time

import duckdb
import pyarrow as pa
import pytest

import dataflow
from dataflow.explain import render_analysis, summarize
from tests.unit.test_explain import JOIN_SQL, N_BIG, N_SMALL, parse_rows


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return {
        "big": pa.table({"k": [i % N_SMALL for i in range(N_BIG)], "v": list(range(N_BIG))}),
        "small": pa.table({"k": list(range(N_SMALL)), "name": [f"n{i:02d}" for i in range(N_SMALL)]}),
    }


@pytest.fixture(scope="module")
def session(tables):
    with dataflow.Session(parallelism=2, adaptive_parallelism=False) as s:
        for name, t in tables.items():
            s.register(name, t)
        yield s


@pytest.fixture(scope="module")
def duck(tables):
    con = duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
    return con


@pytest.fixture(scope="module")
def analysis(session, duck):
    t0 = time.perf_counter()
    job = session.sql(JOIN_SQL).submit(2)
    result = job.result()
    wall = time.perf_counter() - t0
    assert result.to_pylist() == duck.sql(JOIN_SQL).arrow().read_all().to_pylist()
    return summarize(job.metrics(), job.graph, job.optimized.physical, wall, job.attempts, job.notes)


def test_broadcast_counted_once_on_ray(analysis):
    (recv,) = [o for o in analysis.operators if o.operator == "Receive(broadcast)"]
    assert recv.broadcast_to == 2
    assert recv.rows_out == N_SMALL and [i.rows_out for i in recv.instances] == [N_SMALL, N_SMALL]
    (edge,) = [e for e in analysis.edges if e.edge.mode == "broadcast"]
    assert edge.rows == N_SMALL and edge.bytes > 0


def test_instances_sum_and_self_times_on_ray(analysis, duck):
    for op in analysis.operators:
        assert len(op.instances) == 2, op.operator
        assert all(i.node_id for i in op.instances)  # each instance ran on a named Ray node
        for i in op.instances:
            assert 0 <= i.self_seconds <= analysis.wall_seconds
        if op.broadcast_to:
            continue
        assert op.rows_out == sum(i.rows_out for i in op.instances)
    (join,) = [o for o in analysis.operators if o.operator == "HashJoin"]
    expected = duck.execute(
        "select count(*) from big join small on big.k = small.k where v % 3 <> 0"
    ).fetchone()[0]
    assert join.rows_out == expected
    # Ray's outboxes report how long each Send waited for its consumers
    between_stages = {"send:" + e.edge.id for e in analysis.edges if e.edge.consumer >= 0}
    sends = [o for o in analysis.operators if o.path in between_stages]
    assert sends and all(i.wait_seconds is not None for o in sends for i in o.instances)
    assert analysis.attempts and analysis.attempts[-1]["ok"]
    text = render_analysis(analysis)
    assert "attempts: 1 (0 retries): attempt 1 ok in" in text
    assert " node " in text


def test_sql_explain_analyze_on_ray(session):
    lines = session.sql("EXPLAIN ANALYZE " + JOIN_SQL).to_arrow().column("plan").to_pylist()
    ops = parse_rows("\n".join(lines))
    (recv,) = [o for o in ops if o["name"] == "Receive(broadcast)"]
    assert recv["rows out"] == N_SMALL
    for op in ops:
        if op["name"] != "Receive(broadcast)":
            assert sum(i["rows out"] for i in op["instances"]) == op["rows out"], op["line"]
    dot = session.sql(JOIN_SQL).explain(analyze=True, format="dot")
    assert f"{N_SMALL:,} rows" in dot and "broadcast to 2 instances" in dot
