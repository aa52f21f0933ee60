"""Shared subplans (dataflow.optimizer.shared, dataflow.staged): a CTE read several
times is found, computed once when that is cheaper, and the answers match DuckDB's
with sharing on and off, on the local runtime."""

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import dataflow
from dataflow.optimizer.shared import repeated_subplans, substitute
from dataflow.staged import placeholder

N = 300_000
CTE = """
with t as (select k, sum(v) as s, count(*) as c from facts group by k)
select a.k, a.s, b.c from t a join t b on a.k = b.k + 1 where a.s > 0 order by a.k
"""
NESTED = """
with t as (select k, sum(v) as s from facts group by k),
     u as (select x.k, x.s + y.s as s2 from t x join t y on x.k = y.k)
select u1.k, u1.s2, u2.s2 as other from u u1 join u u2 on u1.k = u2.k order by u1.k
"""


@pytest.fixture(scope="module")
def facts() -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table({"k": rng.integers(0, 1000, N), "v": rng.integers(-5, 100, N)})


@pytest.fixture(scope="module", params=[False, True], ids=["inline", "shared"])
def session(request, facts):
    s = dataflow.Session(runtime="local", parallelism=2, progress=False, share_subplans=request.param)
    s.register("facts", facts)
    yield s
    s.close()


def test_repeated_subplans_finds_the_cte_and_substitute_replaces_every_reference(facts):
    with dataflow.Session(runtime="local", parallelism=1, progress=False) as s:
        s.register("facts", facts)
        plan = s.sql(CTE).plan
        found = repeated_subplans(plan)
        assert found and found[0][1] == 2
        sub = found[0][0]
        stand_in = placeholder(sub, "x", 10)
        out = substitute(plan, sub, stand_in)
        assert not repeated_subplans(out)
        assert out.schema == plan.schema
        single = s.sql("select k, sum(v) from facts group by k").plan
        assert repeated_subplans(single) == []


@pytest.mark.parametrize("query", [CTE, NESTED], ids=["cte", "nested"])
def test_answers_match_duckdb(session, facts, query):
    want = duckdb.sql(query.replace("facts", "facts_t"), connection=_con(facts)).to_arrow_table()
    job = session.sql(query).submit()
    got = job.result()
    assert got.column_names == want.column_names
    assert got.to_pylist() == want.to_pylist()
    shared = [n for n in job.notes if "shared subplan" in n]
    if session.optimizer_settings.share_subplans:
        assert shared, job.notes
        assert not [t for t in session._tables if t.startswith("__shared-")], "shared results freed"
    else:
        assert not shared


def test_a_failing_shared_step_raises_and_the_session_answers(session, facts):
    bad = "with t as (select k, sum(v) / (min(k) - min(k)) as s from facts group by k) select * from t a join t b using (k)"
    with pytest.raises(dataflow.DataflowError):
        session.sql(bad.replace("/ (min(k) - min(k))", "+ cast('x' as int)")).to_arrow()
    assert session.sql("select count(*) as n from facts").to_arrow().column("n")[0].as_py() == N


def _con(facts):
    con = duckdb.connect()
    con.register("facts_t", facts)
    return con


def test_a_staged_job_stops_on_timeout_and_on_cancel_and_frees_its_tables(facts):
    import threading

    from dataflow.errors import JobCancelled

    with dataflow.Session(runtime="local", parallelism=2, progress=False, share_subplans=True) as s:
        s.register("facts", facts)
        before = {t.name for t in threading.enumerate()}
        with pytest.raises(JobCancelled, match="did not finish within"):
            s.sql(NESTED).submit().result(timeout=0.001)
        job = s.sql(NESTED).submit()
        job.cancel()
        with pytest.raises(JobCancelled):
            job.result()
        assert job.status() in ("failed", "finished")
        want = duckdb.sql(CTE.replace("facts", "facts_t"), connection=_con(facts)).to_arrow_table()
        assert s.sql(CTE).to_arrow().to_pylist() == want.to_pylist()
        assert not [t for t in s._tables if t.startswith("__shared-")]
        left = {t.name for t in threading.enumerate() if t.is_alive()} - before
        assert not [n for n in left if n.startswith("dataflow-staged")], left
