"""Writing and reading on a local Ray cluster (one Session for the module, parallelism
2): the part files of a write come from more than one instance (each actor writes
its own), the output round-trips and matches DuckDB, and a Ray Dataset registers."""

from __future__ import annotations

import os

import duckdb
import pyarrow as pa
import pytest

import dataflow
from dataflow import col
from dataflow import functions as F
from tests.oracle import assert_same

N = 5_000


@pytest.fixture(scope="module")
def s():
    with dataflow.Session(parallelism=2, batch_rows=500) as session:
        session.register(
            "t",
            pa.table({"id": pa.array(range(N), pa.int64()), "g": [i % 50 for i in range(N)], "v": [i * 0.5 for i in range(N)]}),
        )
        yield session


def test_write_by_several_instances(s, tmp_path):
    # after the hash exchange of the aggregate, both instances hold groups
    q = s.table("t").group_by("g").agg(F.sum("v").alias("total"), F.count().alias("n"))
    out = tmp_path / "agg"
    written = q.write_parquet(str(out), parallelism=2)
    names = sorted(os.listdir(out))
    assert len(names) == written.num_rows >= 2
    assert {n.split("-")[1] for n in names} == {"00000", "00001"}  # written by instances 0 and 1
    expected = duckdb.sql(
        "select id % 50 as g, sum(id * 0.5) as total, count(*) as n from range(5000) t(id) group by 1"
    ).to_arrow_table()
    assert_same(s.read_parquet(str(out)).to_arrow(), expected)
    assert_same(duckdb.sql(f"select * from read_parquet('{out}/*.parquet')").to_arrow_table(), expected)


def test_partitioned_csv_on_ray(s, tmp_path):
    out = tmp_path / "csv"
    q = s.table("t").filter(col("g") < 4)
    q.write_csv(str(out), partition_by="g", parallelism=2)
    assert sorted(os.listdir(out)) == ["g=0", "g=1", "g=2", "g=3"]
    back = s.read_csv(str(out))
    assert_same(back.to_arrow(), q.to_arrow().select(back.columns))


def test_iter_batches_on_ray(s):
    q = s.table("t").filter(col("id") % 3 == 0)
    assert sum(b.num_rows for b in q) == len(range(0, N, 3))


def test_register_ray_dataset(s):
    import ray

    ds = ray.data.from_arrow(pa.table({"a": [1, 2, 3, 4], "b": ["w", "x", "y", "z"]})).repartition(2)
    s.register("from_ray", ds)
    assert s.sql("select sum(a) as s, max(b) as m from from_ray").to_pylist() == [{"s": 10, "m": "z"}]
