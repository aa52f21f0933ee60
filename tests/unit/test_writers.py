"""The writers on the local runtime: round trips (write, read back, compare with the
source and with DuckDB reading the same files), Hive partitioning, single files,
write modes, atomicity when the job fails, and batch iteration."""

from __future__ import annotations

import datetime as dt
import inspect
import os

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import dataflow
from dataflow import col
from dataflow import functions as F
from dataflow.errors import ExecutionError, PlanError, UnknownColumnError
from dataflow.physical import PWrite, walk
from tests.oracle import assert_same

N = 2_000


def table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(N), pa.int64()),
            "grp": pa.array([i % 4 for i in range(N)], pa.int64()),
            "cat": pa.array([["x", "y", "z w"][i % 3] for i in range(N)]),
            "amount": pa.array([None if i % 11 == 0 else i * 0.25 for i in range(N)]),
            "day": pa.array([dt.date(2023, 1, 1) + dt.timedelta(days=i % 90) for i in range(N)], pa.date32()),
        }
    )


@pytest.fixture(scope="module")
def s():
    # small batches: the source splits into several morsels, so several instances write
    with dataflow.Session(runtime="local", parallelism=2, batch_rows=256) as session:
        session.register("src", table())
        yield session


def files_under(path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


def test_parquet_round_trip(s, tmp_path):
    out = tmp_path / "out"
    written = s.table("src").write_parquet(str(out), parallelism=2)
    names = files_under(out)
    assert len(names) == written.num_rows and sum(written.column("rows").to_pylist()) == N
    assert_same(s.read_parquet(str(out)).to_arrow(), table())
    # after a hash exchange on 100 groups, both instances have rows: both write files
    agg = s.table("src").group_by((col("id") % 100).alias("g")).agg(F.sum("amount").alias("total"))
    out2 = tmp_path / "agg"
    agg.write_parquet(str(out2), parallelism=2)
    assert {n.split("-")[1] for n in files_under(out2)} == {"00000", "00001"}
    assert_same(s.read_parquet(str(out2)).to_arrow(), agg.to_arrow())
    assert_same(duckdb.sql(f"select * from read_parquet('{out}/*.parquet')").to_arrow_table(), table())
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary left


def test_write_is_planned_as_parallel_write(s, tmp_path):
    from dataflow import logical as L

    plan = L.Write(input=s.table("src").plan, path=str(tmp_path), format="parquet")
    (w,) = [n for n in walk(s.optimize(plan, parallelism=2).physical) if isinstance(n, PWrite)]
    assert w.dop == 2
    ordered = L.Write(input=s.table("src").sort("id").plan, path=str(tmp_path), format="parquet")
    (w,) = [n for n in walk(s.optimize(ordered, parallelism=2).physical) if isinstance(n, PWrite)]
    assert w.dop == 1  # an ordered result is written by one instance, in order


def test_partitioned_round_trip_against_duckdb(s, tmp_path):
    out = tmp_path / "hive"
    q = s.table("src").filter(col("id") < 1500)
    q.write_parquet(str(out), partition_by=["grp", "cat"], parallelism=2)
    dirs = sorted({os.path.dirname(n) for n in files_under(out)})
    assert dirs == [f"grp={g}/cat={c}" for g in range(4) for c in ("x", "y", "z%20w")]
    for n in files_under(out):
        assert pq.read_schema(out / n).names == ["id", "amount", "day"]
    back = s.read_parquet(str(out))
    assert back.columns == ["id", "amount", "day", "grp", "cat"]
    expected = q.to_arrow().select(back.columns)
    assert_same(back.to_arrow(), expected)
    duck = duckdb.sql(
        f"select id, amount, day, grp, cat from read_parquet('{out}/**/*.parquet', hive_partitioning=true)"
    ).to_arrow_table()
    assert_same(duck, expected)


def test_partition_with_nulls(s, tmp_path):
    t = pa.table({"k": pa.array(["a", None, "a", None]), "v": [1, 2, 3, 4]})
    s.register("nulls", t)
    s.table("nulls").write_parquet(str(tmp_path / "o"), partition_by="k")
    assert sorted({os.path.dirname(n) for n in files_under(tmp_path / "o")}) == ["k=__HIVE_DEFAULT_PARTITION__", "k=a"]
    back = s.read_parquet(str(tmp_path / "o")).to_arrow()
    assert_same(back, t.select(["v", "k"]))


def test_csv_round_trip(s, tmp_path):
    out = tmp_path / "csv"
    s.table("src").write_csv(str(out), parallelism=2)
    assert files_under(out) and all(n.endswith(".csv") for n in files_under(out))
    assert_same(s.read_csv(str(out)).to_arrow(), table())
    duck = duckdb.sql(f"select * from read_csv('{out}/*.csv')").to_arrow_table()
    assert_same(duck, table())


def test_json_round_trip(s, tmp_path):
    out = tmp_path / "json"
    s.table("src").write_json(str(out), parallelism=2)
    schema = table().schema
    assert_same(s.read_json(str(out), schema=schema).to_arrow(), table())
    duck = duckdb.sql(
        f"select id, grp, cat, amount, cast(day as date) as day from read_json('{out}/*.json')"
    ).to_arrow_table()
    assert_same(duck, table())


def test_writers_share_keywords(s, tmp_path):
    # write_csv and write_json take write_parquet's keywords: they show its signature
    # and are called with its defaults (mode="error") and its argument checks
    df = s.table("src")
    want = inspect.signature(dataflow.DataFrame.write_parquet)
    for name in ("write_csv", "write_json"):
        assert inspect.signature(getattr(dataflow.DataFrame, name)) == want
        with pytest.raises(TypeError, match=f"DataFrame.{name}.. got an unexpected keyword argument 'single_fle'"):
            getattr(df, name)(str(tmp_path / name), single_fle=True)
        with pytest.raises(TypeError, match="too many positional arguments"):
            getattr(df, name)(str(tmp_path / name), "grp")
    out = tmp_path / "one.json"
    df.filter(col("id") < 3).write_json(str(out), single_file=True)
    with pytest.raises(dataflow.DataflowError, match="already exists"):
        df.write_json(str(out), single_file=True)
    assert duckdb.sql(f"select id from read_json('{out}') order by id").fetchall() == [(0,), (1,), (2,)]


def test_single_file_keeps_order(s, tmp_path):
    out = tmp_path / "one.parquet"
    q = s.table("src").filter(col("grp") == 1).sort(col("amount").desc(), "id")
    q.write_parquet(str(out), single_file=True)
    assert out.is_file()
    assert_same(pq.read_table(out), q.to_arrow(), ordered=True)
    duck = duckdb.sql(
        f"select * from read_parquet('{out}')"
    ).to_arrow_table()
    assert_same(duck, q.to_arrow(), ordered=True)
    csv = tmp_path / "one.csv"
    q.write_csv(str(csv), single_file=True)
    assert_same(duckdb.sql(f"select * from read_csv('{csv}')").to_arrow_table(), q.to_arrow(), ordered=True)


def test_modes(s, tmp_path):
    out = tmp_path / "m"
    s.table("src").limit(10).write_parquet(str(out))
    with pytest.raises(dataflow.DataflowError, match="already exists; pass mode='overwrite'"):
        s.table("src").write_parquet(str(out))
    s.table("src").limit(3).write_parquet(str(out), mode="overwrite")
    assert s.read_parquet(str(out)).count() == 3
    assert sorted(os.listdir(tmp_path)) == ["m"]
    with pytest.raises(PlanError, match="unknown write mode"):
        s.table("src").write_parquet(str(out), mode="append")


def test_bad_arguments(s, tmp_path):
    with pytest.raises(UnknownColumnError, match="partition_by"):
        s.table("src").write_parquet(str(tmp_path / "a"), partition_by="nope")
    with pytest.raises(PlanError, match="no columns left"):
        s.table("src").select("grp").write_parquet(str(tmp_path / "a"), partition_by="grp")
    with pytest.raises(PlanError, match="single_file and partition_by"):
        s.table("src").write_parquet(str(tmp_path / "a"), partition_by="grp", single_file=True)
    assert os.listdir(tmp_path) == []


def test_empty_result_writes_a_file_with_the_columns(s, tmp_path):
    out = tmp_path / "empty"
    s.table("src").filter(col("id") < 0).write_parquet(str(out))
    back = s.read_parquet(str(out))
    assert back.columns == table().column_names and back.count() == 0


def test_failed_job_leaves_no_output(s, tmp_path):
    def boom(x: pa.Array) -> pa.Array:
        if pc.max(x).as_py() >= 1800:
            raise ValueError("boom at 1800")
        return x

    f = s.register_udf("boom_late", boom, "int64")
    out = tmp_path / "never"
    q = s.table("src").select("id", f(col("id")).alias("y"))
    with pytest.raises(ExecutionError, match="boom at 1800"):
        q.write_parquet(str(out), parallelism=2)
    assert not out.exists()
    assert os.listdir(tmp_path) == []  # the temporary directory is gone too
    # an existing destination survives a failed overwrite untouched
    s.table("src").limit(5).write_parquet(str(out))
    before = files_under(out)
    with pytest.raises(ExecutionError):
        q.write_parquet(str(out), mode="overwrite", parallelism=2)
    assert files_under(out) == before and s.read_parquet(str(out)).count() == 5
    assert os.listdir(tmp_path) == ["never"]


def test_uri_destination(s, tmp_path):
    s.table("src").write_parquet(f"file://{tmp_path}/u", partition_by="grp")
    assert s.read_parquet(f"file://{tmp_path}/u").count() == N


def test_iteration_and_polars(s):
    q = s.table("src").filter(col("grp") == 2).select("id", "amount")
    batches = list(q.iter_batches())
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    expected = q.to_arrow()
    assert_same(pa.Table.from_batches(batches), expected)
    assert sum(b.num_rows for b in q) == expected.num_rows  # for b in df
    frame = q.to_polars()
    assert isinstance(frame, pl.DataFrame) and frame.height == expected.num_rows
    assert frame["amount"].sum() == pc.sum(expected.column("amount")).as_py()
    agg = s.table("src").group_by("grp").agg(F.count().alias("n")).sort("grp").to_polars()
    assert agg.to_dicts() == [{"grp": g, "n": N // 4} for g in range(4)]


def test_write_operator_alone(tmp_path):
    """The operator over plain batches: part files named by instance, split by the
    partition column, and one output row per file."""
    from dataflow.logical import MemorySource
    from dataflow.operators import TaskContext, build_operator
    from dataflow.physical import PScan
    from dataflow.types import schema_from_arrow

    t = pa.table({"k": [1, 2, 1, 2, 1], "v": ["a", "b", "c", "d", "e"]})
    scan = PScan(table="m", source=MemorySource(table_id="m", num_rows=5), table_schema=schema_from_arrow(t.schema),
                 columns=("k", "v"))
    node = PWrite(input=scan, path=str(tmp_path), format="parquet", partition_by=("k",))
    op = build_operator(node, TaskContext(instance=3, dop=4, batch_rows=2))
    out = pa.Table.from_batches(list(op.execute([iter(t.to_batches(max_chunksize=2))])))
    by_dir = {os.path.dirname(p): n for p, n in zip(out.column("path").to_pylist(), out.column("rows").to_pylist(), strict=True)}
    assert by_dir == {"k=1": 3, "k=2": 2}
    for p in out.column("path").to_pylist():
        assert os.path.basename(p).startswith("part-00003-")
        back = pq.read_table(tmp_path / p)
        assert back.column_names == ["v"]
    assert sorted(pq.read_table(tmp_path / "k=1").column("v").to_pylist()) == ["a", "c", "e"]


def test_json_text_escaping_and_special_values(s, tmp_path):
    t = pa.table(
        {
            "s": ['quote " and \\ backslash', "new\nline\ttab", "bell\x07", None, "ünïcødé ✓"],
            "f": [0.1, float("nan"), float("inf"), None, -2.5],
            "b": [True, False, None, True, False],
        }
    )
    s.register("tricky", t)
    for i, part in enumerate([t.slice(0, 2), t]):  # without, then with, a control character
        s.register("tricky", part)
        out = tmp_path / f"j{i}"
        s.table("tricky").write_json(str(out))
        got = duckdb.sql(f"select s, f, b from read_json('{out}/*.json')").to_arrow_table()
        # NaN and infinities are not JSON numbers: they are written as null
        f = [None if v is not None and (v != v or v in (float("inf"), float("-inf"))) else v for v in part.column("f").to_pylist()]
        assert got.to_pylist() == [{"s": a, "f": b, "b": c} for a, b, c in zip(part.column("s").to_pylist(), f, part.column("b").to_pylist(), strict=True)]


def test_many_partitions_keep_few_files_open(s, tmp_path, monkeypatch):
    from dataflow.operators import write as W

    monkeypatch.setattr(W, "MAX_OPEN_FILES", 3)
    q = s.table("src").select("id", (col("id") % 10).alias("p"))
    q.write_parquet(str(tmp_path / "o"), partition_by="p", parallelism=1)
    assert sorted(os.listdir(tmp_path / "o")) == [f"p={i}" for i in range(10)]
    back = s.read_parquet(str(tmp_path / "o"))
    assert_same(back.to_arrow(), q.to_arrow())


def test_to_ray_dataset_on_the_local_runtime_says_what_to_do(s):
    df = s.sql("select 1 as a")
    with pytest.raises(dataflow.DataflowError, match=r"needs the Ray runtime.*ray.data.from_arrow"):
        df.to_ray_dataset()
    assert df.to_pylist() == [{"a": 1}]  # the Session still answers
