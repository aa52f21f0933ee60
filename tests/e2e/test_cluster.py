"""A real two-node Ray cluster of ``ray start`` raylets on loopback, started once for
this module exactly as ``dataflow cluster up`` starts it (``cluster.local.up``), on
free ports, with its own state file and Ray temp dir; torn down by the pids it
recorded. TPC-H at sf 0.01 through ``Session(address="auto")`` against DuckDB, with
instances on both nodes; the dashboard and its token; ``dataflow submit --sql``;
a Session's own cluster on loopback only; and a worker raylet killed mid-query.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import dataflow
from dataflow import cli, col, tpch
from dataflow import functions as F
from dataflow.cluster import auth, jobs, local
from dataflow.cluster.sockets import listening_sockets
from tests.oracle import assert_same, duckdb_tpch, tpch_data

SF = 0.01
QUERIES = [1, 3, 5, 10]


@pytest.fixture(scope="module")
def data() -> Path:
    return tpch_data(SF)


@pytest.fixture(scope="module")
def two_nodes():
    """``dataflow cluster up --nodes 2 --cpus-per-node 1`` with a state file of its own."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    home = Path(tempfile.mkdtemp(prefix="dfc-"))  # short: Ray's socket paths live under it
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(local.STATE_ENV, str(home / "cluster.json"))
        mp.delenv("RAY_ADDRESS", raising=False)
        state = local.up(2, cpus_per_node=1, object_store_memory="300M", temp_dir=str(home / "ray"))
        try:
            yield state
        finally:
            ray.shutdown()
            stopped = local.down()
            shutil.rmtree(home, ignore_errors=True)
    assert all(not local.process_alive(n.pid, n.start_time) for n in stopped)


@pytest.fixture(scope="module")
def session(two_nodes, data):
    with dataflow.Session(address="auto", parallelism=2) as s:
        from dataflow.cluster import alive_nodes

        give_up = time.monotonic() + 60  # a node just started may not be listed (with CPUs) yet
        while len(alive_nodes()) < 2 and time.monotonic() < give_up:
            time.sleep(0.5)
        # the pool trusts its list of nodes for NODES_TTL: one made before the second node
        # was listed would place the first query on one node
        from dataflow.runtime.ray_pool import NODES_TTL

        time.sleep(NODES_TTL)
        for name, path in tpch.table_paths(data).items():
            s.register_parquet(name, str(path))
        yield s


@pytest.fixture(scope="module")
def expected(data):
    con = duckdb_tpch(data)

    def answer(sql: str):
        result = con.sql(sql).arrow()
        return result.read_all() if hasattr(result, "read_all") else result

    return answer


def test_both_nodes_are_up_on_loopback(two_nodes, session):
    import ray

    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2
    assert {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    assert ray.get_runtime_context().gcs_address == two_nodes.gcs_address
    pids = [p for n in two_nodes.nodes for p in local.descendants(n.pid)]
    socks = listening_sockets(pids)
    names = {s.process for s in socks}
    assert {"gcs_server", "raylet"} <= names, names
    exposed = [s for s in socks if not s.loopback]
    assert exposed == [], f"listening beyond loopback: {exposed}"


@pytest.mark.parametrize("n", QUERIES, ids=[f"q{n:02d}" for n in QUERIES])
def test_tpch_on_two_nodes(session, expected, n):
    text = tpch.query_text(n)
    job = session.sql(text).submit(parallelism=2)
    got = job.result(timeout=120)
    want = expected(text)
    assert want.num_rows > 0
    assert_same(got, want, ordered="order by" in text.lower())
    nodes = {m["node_id"] for m in job.metrics()}
    assert len(nodes) == 2, f"instances ran on {len(nodes)} node(s)"


def test_status_shows_dataflow_actors_on_both_nodes(two_nodes, session):
    from dataflow.cluster.status import describe, format_status

    job = session.table("nation").select("n_name").submit(parallelism=2)
    assert job.result(timeout=60).num_rows == 25  # the job's actors are up and back in the pool
    info = describe(session.dashboard_url)
    assert info["alive"] == 2 and len(info["nodes"]) == 2
    assert [n["head"] for n in info["nodes"]] == [True, False]
    for n in info["nodes"]:
        assert n["cpus"] == 1 and n["object_store"] == 300 << 20
        assert n["actors"] is not None and n["actors"].get("Worker", 0) >= 1, n
    text = format_status(info, session.dashboard_url, session.dashboard_help)
    assert two_nodes.dashboard_url in text and "Worker x" in text


def test_dashboard_url_and_token_when_joining(two_nodes, session):
    assert session.dashboard_url == two_nodes.dashboard_url
    help_text = session.dashboard_help
    assert help_text is not None and two_nodes.token_path in help_text
    url = f"{session.dashboard_url}/api/jobs/"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=10)
    assert e.value.code == 401  # the token is required ...
    token = Path(two_nodes.token_path).read_text().strip()
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:  # ... and enough
        assert r.status == 200
        json.loads(r.read())


def test_submit_sql_job(two_nodes, data, expected, capsys):
    sql = "select count(*) as urgent from orders where o_orderpriority = '1-URGENT'"
    want = expected(sql).column(0)[0].as_py()
    assert want > 0
    code = cli.main(["submit", "--wait", "--name", "urgent orders", "--parallelism", "1", "--sql", sql, "--data", str(data)])
    out = capsys.readouterr().out
    assert code == 0, out
    sid = next(w for w in out.split() if w.startswith("dataflow-"))
    sid = sid.rstrip(":")
    log = jobs.logs(sid)
    assert f"| {want} |" in log.replace("  ", " ") or f" {want} " in log, log
    listed = {j["submission_id"]: j for j in jobs.list_jobs()}
    assert listed[sid]["status"] == "SUCCEEDED"
    assert listed[sid]["name"] == "urgent orders"
    assert listed[sid]["metadata"]["dataflow_version"] == dataflow.__version__
    assert "dataflow.cli sql" in listed[sid]["entrypoint"]
    assert cli.main(["jobs"]) == 0 and sid in capsys.readouterr().out


JOB_SCRIPT = textwrap.dedent(
    """
    import sys
    import dataflow

    with dataflow.Session(address="auto", parallelism=2) as s:  # the cluster the job runs in
        s.register_parquet("nation", sys.argv[1])
        n = s.sql("select count(*) as n from nation where n_regionkey = 1").to_arrow().column(0)[0].as_py()
        print(f"nations in region 1: {n}")
    """
)


def test_submit_script_job(two_nodes, data, expected, tmp_path, capsys):
    script = tmp_path / "job.py"
    script.write_text(JOB_SCRIPT)
    want = expected("select count(*) from nation where n_regionkey = 1").column(0)[0].as_py()
    code = cli.main(["submit", "--wait", str(script), str(tpch.table_paths(data)["nation"])])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"nations in region 1: {want}" in out


OWN_CLUSTER = textwrap.dedent(
    """
    import json, os
    import pyarrow as pa
    import dataflow
    from dataflow.cluster import local
    from dataflow.cluster.sockets import listening_sockets

    with dataflow.Session(parallelism=1, warm_actors=1) as s:
        s.register("t", pa.table({"x": [1, 2, 3]}))
        total = int(s.sql("select sum(x) as n from t").to_arrow().column(0)[0].as_py())
        import ray
        node_ip = ray.nodes()[0]["NodeManagerAddress"]
        socks = listening_sockets(local.descendants(os.getpid()))
        print("RESULT " + json.dumps({
            "n": total, "node_ip": node_ip, "dashboard": s.dashboard_url,
            "sockets": [[x.process, x.address, x.port] for x in socks],
            "token_mode": os.environ.get("RAY_AUTH_MODE"),
        }))
    """
)


def test_a_sessions_own_cluster_listens_on_loopback_only(two_nodes):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", local.STATE_ENV)}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    r = subprocess.run([sys.executable, "-c", OWN_CLUSTER], env=env, capture_output=True, text=True, timeout=120,
                       cwd=str(Path(__file__).resolve().parents[2]))
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, r.stdout + r.stderr
    got = json.loads(line[len("RESULT "):])
    assert got["n"] == 6
    assert got["node_ip"] == "127.0.0.1"
    assert got["token_mode"] == "token"  # Ray's token authentication stays on
    assert got["dashboard"].startswith("http://127.0.0.1:")
    names = {p for p, _, _ in got["sockets"]}
    assert {"gcs_server", "raylet"} <= names, names
    exposed = [s for s in got["sockets"] if s[1] not in ("127.0.0.1", "::1")]
    assert exposed == [], f"the Session's own cluster listens beyond loopback: {exposed}"
    assert auth.read_token() is not None


# -- last: it takes the worker node down -------------------------------------------------


def test_query_survives_losing_the_worker_raylet(two_nodes, session, expected):
    def slow_identity(x):  # nested, so it is shipped by value; slow, so the kill lands mid-query
        import time as _time

        _time.sleep(SLOW_SECONDS)
        return x

    slow = session.register_udf("slow_identity", slow_identity, "double")
    q = (
        session.table("lineitem")
        .group_by("l_returnflag")
        .agg(F.sum(slow(col("l_quantity").cast("double"))).alias("q"))
    )
    want = expected("select l_returnflag, sum(cast(l_quantity as double)) as q from lineitem group by l_returnflag")
    worker = two_nodes.nodes[1]
    raylets = local.node_pids(worker).get("raylet", [])
    assert len(raylets) == 1
    t0 = time.monotonic()
    job = q.submit(parallelism=2)
    os.kill(raylets[0], signal.SIGKILL)
    assert time.monotonic() - t0 < SLOW_SECONDS, "the kill must land while the query runs"
    got = job.result(timeout=120)
    assert_same(got, want)


SLOW_SECONDS = 3.0
