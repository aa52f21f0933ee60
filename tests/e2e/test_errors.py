"""Failures on a local Ray cluster: an exception inside an operator instance reaches
the caller naming the operator and instance, with the original traceback; the
Session stays usable and no actor leaks. Cancellation likewise."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest
import ray
from ray.util.state import list_actors

import dataflow
from dataflow import col
from dataflow import functions as F

_SESSION: list[dataflow.Session] = []


def alive_actors() -> int:
    # name this cluster's dashboard: other Ray clusters may run on the machine
    address = _SESSION[0].dashboard_url
    return len(list_actors(address=address, filters=[("state", "=", "ALIVE")], limit=10_000))


def assert_no_leak(session: dataflow.Session) -> None:
    """Every live actor is the coordinator or an idle worker of the pool (workers the
    pool started may take a few seconds to come alive on a busy machine)."""
    give_up = time.monotonic() + 30
    while alive_actors() != session._runtime.pool.size() + 1 and time.monotonic() < give_up:
        time.sleep(0.5)
    assert alive_actors() == session._runtime.pool.size() + 1
    assert session._runtime.pool.leased == 0


@pytest.fixture(scope="module")
def session():
    with dataflow.Session(parallelism=2) as s:
        _SESSION[:] = [s]
        n = 20_000
        s.register(
            "t",
            pa.table({
                "k": pa.array([i % 7 for i in range(n)], pa.int64()),
                "s": pa.array([str(i) if i != 12_345 else "oops" for i in range(n)]),
            }),
        )
        yield s


def count_by_k(s: dataflow.Session) -> pa.Table:
    return s.table("t").group_by("k").agg(F.count().alias("n")).sort("k").to_arrow()


def test_error_in_an_operator_names_it_and_session_survives(session):
    assert count_by_k(session).column("n").to_pylist() == [2858, 2857, 2857, 2857, 2857, 2857, 2857]
    bad = session.table("t").select(col("k"), col("s").cast("int64").alias("i")).group_by("k").agg(F.sum("i"))
    with pytest.raises(dataflow.ExecutionError) as info:
        bad.to_arrow()
    err = info.value
    assert err.operator == "Project"
    assert err.instance in (0, 1)
    assert "oops" in str(err)  # the original message
    assert "Traceback" in err.remote_traceback
    # the Session still answers, and every live actor is the pool's or the coordinator
    assert count_by_k(session).num_rows == 7
    assert_no_leak(session)


def test_unknown_column_is_named_with_near_matches(session):
    with pytest.raises(dataflow.UnknownColumnError) as info:
        session.table("t").select(col("kk"))
    assert "'kk'" in str(info.value) and "'k'" in str(info.value)


def test_cancel_returns_actors(session):
    big = session.table("t").join(session.table("t").select(col("k").alias("k2")), how="cross")
    job = big.agg(F.count().alias("n")).submit()
    job.cancel()
    with pytest.raises(dataflow.JobCancelled):
        job.result()
    assert count_by_k(session).num_rows == 7
    # every actor of the job is back in the pool, or was killed if its task did not stop
    # within the abort's grace (a loaded machine): none is leased or left running
    assert_no_leak(session)
    assert ray.is_initialized()


def test_result_timeout_stops_the_job(session):
    big = session.table("t").join(session.table("t").select(col("k").alias("k2")), how="cross")
    job = big.agg(F.count().alias("n")).submit()
    with pytest.raises(dataflow.JobCancelled, match="did not finish within"):
        job.result(timeout=1.0)
    assert count_by_k(session).num_rows == 7
    assert_no_leak(session)
