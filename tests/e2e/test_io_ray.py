"""Writing and reading on a local Ray cluster (one Session for the module, parallelism
2): the part files of a write come from more than one instance (each actor writes
its own), the output round-trips and matches DuckDB, and a Ray Dataset registers."""

from __future__ import annotations

import os
import time

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
    assert sorted(v for b in q for v in b.column("id").to_pylist()) == list(range(0, N, 3))


def _slowly(a: pa.Array) -> pa.Array:
    time.sleep(0.2)  # 10 morsels of 500 rows: the query runs for about 1 s per instance
    return a


def test_iter_batches_streams_while_the_query_runs(s):
    slow = s.register_udf("slowly", _slowly, "int64")
    job = s.table("t").select(slow(col("id")).alias("id"), col("v")).submit(parallelism=2, stream=True)
    it = job.iter_batches(timeout=120)
    first = next(it)
    assert job.status() == "running"  # the first batch came before the query ended
    ids = first.column("id").to_pylist() + [v for b in it for v in b.column("id").to_pylist()]
    assert sorted(ids) == list(range(N))
    assert job.status() == "finished"
    with pytest.raises(dataflow.DataflowError, match="consumed by iter_batches"):
        job.result()


def test_iter_batches_of_a_sorted_result_merges_in_order(s):
    q = s.table("t").filter(col("g") < 10).sort(col("v").desc(), col("id"))
    job = q.submit(parallelism=2, stream=True)
    assert job.graph.stages[0].output.mode == "gather_merge" and job.graph.stages[0].dop == 2
    got = pa.Table.from_batches(list(job.iter_batches(timeout=120)))
    want = duckdb.sql(
        "select id, id % 50 as g, id * 0.5 as v from range(5000) t(id) where id % 50 < 10 order by v desc, id"
    ).to_arrow_table()
    assert got.column("id").to_pylist() == want.column("id").to_pylist()


def test_to_ray_dataset_reads_what_the_workers_left(s):
    import ray

    q = s.table("t").group_by("g").agg(F.sum("id").alias("total"))
    job = q.submit(parallelism=2, stream=True)
    ds = job.to_ray_dataset(timeout=120)
    refs = ds.to_arrow_refs()
    # every block was made by a root instance of the job (a streaming task of a worker),
    # none by the driver: the data did not pass through it
    driver = ray.put(0).task_id()
    assert refs and all(r.task_id() != driver for r in refs)
    got = pa.concat_tables(ray.get(refs))
    want = duckdb.sql("select id % 50 as g, sum(id) as total from range(5000) t(id) group by 1").to_arrow_table()
    assert_same(got, want)
    assert ds.count() == 50
    # a sorted result of two instances is merged by one Ray task, in order
    srt = s.table("t").sort(col("v").desc()).limit(7).to_ray_dataset(parallelism=2)
    assert [r["id"] for r in srt.take_all()] == list(range(N - 1, N - 8, -1))
    empty = s.table("t").filter(col("id") < 0).to_ray_dataset()
    assert empty.count() == 0 and empty.schema().names == ["id", "g", "v"]


def test_register_ray_dataset(s):
    import ray

    ds = ray.data.from_arrow(pa.table({"a": [1, 2, 3, 4], "b": ["w", "x", "y", "z"]})).repartition(2)
    s.register("from_ray", ds)
    assert s.sql("select sum(a) as s, max(b) as m from from_ray").to_pylist() == [{"s": 10, "m": "z"}]
