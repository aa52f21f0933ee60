"""Two Ray nodes on this machine: instances are placed on both, and the answer is the
same as DuckDB's."""

from __future__ import annotations

import pytest

import dataflow
from dataflow import col
from dataflow import functions as F
from dataflow.cluster import LocalCluster
from tests.oracle import assert_same, duckdb_tpch, tpch_data


@pytest.fixture(scope="module")
def two_nodes():
    import ray

    if ray.is_initialized():
        ray.shutdown()
    c = LocalCluster(nodes=2, cpus_per_node=1)
    yield c
    import ray as _ray

    _ray.shutdown()
    c.shutdown()


def test_instances_on_both_nodes(two_nodes):
    data = tpch_data(0.01)
    with dataflow.Session(address=two_nodes.address, parallelism=2) as s:
        for t in ("lineitem", "orders"):
            s.register_parquet(t, str(data / f"{t}.parquet"))
        q = (
            s.table("lineitem")
            .join(s.table("orders"), left_on="l_orderkey", right_on="o_orderkey")
            .group_by("o_orderpriority")
            .agg(F.count().alias("n"), F.sum(col("l_quantity")).alias("qty"))
        )
        job = q.submit(parallelism=2)  # two instances of every stage, one per node
        got = job.result()
        nodes = {m["node_id"] for m in job.metrics()}
    assert len(nodes) == 2
    expected = duckdb_tpch(data).sql(
        "select o_orderpriority, count(*) as n, sum(l_quantity) as qty from lineitem join orders "
        "on l_orderkey = o_orderkey group by o_orderpriority"
    ).arrow()
    if hasattr(expected, "read_all"):
        expected = expected.read_all()
    assert_same(got, expected)
