"""The readers (Parquet, CSV, JSON; files, directories, globs, URIs, Hive partitions
with pruning) and the schema check at registration, on the local runtime; results
are checked against the source table and against DuckDB reading the same files."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import dataflow
from dataflow import col
from dataflow import functions as F
from dataflow.io import SchemaMismatchError
from dataflow.operators.scan import plan_morsels
from dataflow.physical import PScan, walk
from tests.oracle import assert_same


@pytest.fixture(scope="module")
def s():
    with dataflow.Session(runtime="local", parallelism=2, batch_rows=100) as session:
        yield session


def sample(n: int = 300, seed: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(seed, seed + n), pa.int64()),
            "x": pa.array([i * 0.5 if i % 7 else None for i in range(n)], pa.float64()),
            "name": pa.array([f"n{i % 13}" for i in range(n)], pa.string()),
            "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i % 40) for i in range(n)], pa.date32()),
        }
    )


def scans(s: dataflow.Session, df: dataflow.DataFrame) -> list[PScan]:
    return [n for n in walk(s.optimize(df.plan).physical) if isinstance(n, PScan)]


def test_parquet_file_directory_glob_and_list(s, tmp_path):
    parts = [sample(100, 0), sample(100, 100), sample(100, 200)]
    (tmp_path / "sub").mkdir()
    for i, t in enumerate(parts):
        pq.write_table(t, tmp_path / ("sub" if i == 2 else ".") / f"f{i}.parquet", row_group_size=40)
    (tmp_path / "_SUCCESS").write_text("")  # skipped, as Spark's marker files are
    whole = pa.concat_tables(parts)
    assert_same(s.read_parquet(str(tmp_path)).to_arrow(), whole)
    assert_same(s.read_parquet(str(tmp_path / "*.parquet")).to_arrow(), pa.concat_tables(parts[:2]))
    assert_same(s.read_parquet(str(tmp_path / "**" / "*.parquet")).to_arrow(), whole)
    assert_same(s.read_parquet([str(tmp_path / "f0.parquet"), str(tmp_path / "sub")]).to_arrow(),
                pa.concat_tables([parts[0], parts[2]]))
    # one morsel per row group: 3 files of 3 row groups each
    assert sum(len(plan_morsels(n, 100)) for n in scans(s, s.read_parquet(str(tmp_path)))) == 9
    expected = duckdb.sql(f"select name, sum(x) sx, count(*) c from read_parquet('{tmp_path}/**/*.parquet') group by name")
    s.register_parquet("pq_all", str(tmp_path))
    got = s.sql("select name, sum(x) sx, count(*) c from pq_all group by name").to_arrow()
    assert_same(got, expected.to_arrow_table())
    # pathlib paths, alone and in a list, name the same files
    assert_same(s.read_parquet(tmp_path).to_arrow(), whole)
    assert_same(s.read_parquet([tmp_path / "f0.parquet", tmp_path / "sub"]).to_arrow(),
                pa.concat_tables([parts[0], parts[2]]))


def test_uri_paths(s, tmp_path):
    t = sample()
    pq.write_table(t, tmp_path / "a.parquet")
    pacsv.write_csv(t, tmp_path / "a.csv")
    assert_same(s.read_parquet(f"file://{tmp_path}/a.parquet").to_arrow(), t)
    assert_same(s.read_parquet(f"file://{tmp_path}").to_arrow(), t)
    assert_same(s.read_csv(f"file://{tmp_path}/a.csv").to_arrow(), t)


def _hive(tmp_path) -> pa.Table:
    """region=<s>/year=<int>/part.parquet; returns the whole table (partition columns last)."""
    tables = []
    for region in ("east", "west", "north side"):
        for year in (2021, 2022, 2023):
            t = sample(50, seed=year * 10)
            d = tmp_path / f"region={region.replace(' ', '%20')}" / f"year={year}"
            d.mkdir(parents=True)
            pq.write_table(t, d / "part-0.parquet")
            tables.append(
                t.append_column("region", pa.array([region] * 50)).append_column("year", pa.array([year] * 50, pa.int64()))
            )
    return pa.concat_tables(tables)


def test_hive_partitions_and_pruning(s, tmp_path):
    whole = _hive(tmp_path)
    df = s.read_parquet(str(tmp_path))
    assert df.columns == ["id", "x", "name", "day", "region", "year"]
    assert df.schema.field("year").type == pa.int64() and df.schema.field("region").type == pa.string()
    assert_same(df.to_arrow(), whole)
    q = df.filter((col("year") >= 2022) & (col("region") == "north side") & (col("id") % 2 == 0))
    got = q.to_arrow()
    duck = duckdb.sql(
        f"select * from read_parquet('{tmp_path}/**/*.parquet', hive_partitioning=true) "
        "where year >= 2022 and region = 'north side' and id % 2 = 0"
    ).to_arrow_table()
    assert got.num_rows == 50 and got.num_rows == duck.num_rows
    assert_same(got.select(["id", "year", "region"]), duck.select(["id", "year", "region"]))
    # pruned files are not opened: 2 of the 9 files (one row group each) remain
    (scan,) = scans(s, q)
    assert len(plan_morsels(scan)) == 2
    assert len(plan_morsels(scans(s, df)[0])) == 9
    # and the job reads only those rows
    job = q.submit()
    job.result()
    read = sum(m["rows_out"] for m in job.metrics() if m["operator"] == "Scan")
    assert read == 50
    # a query of the partition columns alone still counts every row
    counts = df.group_by("year").agg(F.count().alias("n")).sort("year").to_pylist()
    assert counts == [{"year": 2021, "n": 150}, {"year": 2022, "n": 150}, {"year": 2023, "n": 150}]


def test_hive_null_partition_and_dates(s, tmp_path):
    for v in ("2024-01-01", "2024-02-01", "__HIVE_DEFAULT_PARTITION__"):
        d = tmp_path / f"d={v}"
        d.mkdir()
        pq.write_table(pa.table({"a": [1, 2]}), d / "x.parquet")
    df = s.read_parquet(str(tmp_path))
    assert df.schema.field("d").type == pa.date32()
    got = df.filter(col("d").is_null()).to_arrow()
    assert got.column("a").to_pylist() == [1, 2] and got.column("d").null_count == 2
    assert s.read_parquet(str(tmp_path), hive_partitioning=False).columns == ["a"]


def test_inconsistent_hive_keys_are_an_error(s, tmp_path):
    (tmp_path / "k=1").mkdir()
    (tmp_path / "j=2").mkdir()
    pq.write_table(pa.table({"a": [1]}), tmp_path / "k=1" / "x.parquet")
    pq.write_table(pa.table({"a": [1]}), tmp_path / "j=2" / "x.parquet")
    with pytest.raises(SchemaMismatchError, match="partition keys"):
        s.read_parquet(str(tmp_path))


def test_parquet_schema_mismatch_names_file_and_column(s, tmp_path):
    pq.write_table(pa.table({"a": [1], "b": ["x"]}), tmp_path / "1.parquet")
    pq.write_table(pa.table({"a": [1.5], "b": ["y"]}), tmp_path / "2.parquet")
    with pytest.raises(SchemaMismatchError, match=r"column 'a' is double in .*2\.parquet but int64 in .*1\.parquet"):
        s.register_parquet("bad", str(tmp_path))
    assert "bad" not in s.table_names()
    pq.write_table(pa.table({"a": [1]}), tmp_path / "2.parquet")
    with pytest.raises(SchemaMismatchError, match=r"2\.parquet has no column 'b'"):
        s.read_parquet(str(tmp_path))
    pq.write_table(pa.table({"a": [1], "b": ["y"], "c": [True]}), tmp_path / "2.parquet")
    with pytest.raises(SchemaMismatchError, match=r"2\.parquet has a column 'c'"):
        s.read_parquet(str(tmp_path))


def test_missing_paths(s, tmp_path):
    with pytest.raises(dataflow.DataflowError, match="no such file or directory"):
        s.read_parquet(str(tmp_path / "nope"))
    with pytest.raises(dataflow.DataflowError, match="no files match"):
        s.read_csv(str(tmp_path / "*.csv"))
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(dataflow.DataflowError, match="no parquet files"):
        s.read_parquet(str(tmp_path))


def test_csv_files_against_duckdb(s, tmp_path):
    for i in range(3):
        pacsv.write_csv(sample(120, i * 120), tmp_path / f"p{i}.csv")
    df = s.read_csv(str(tmp_path))
    assert [str(t) for t in df.schema.types] == ["int64", "double", "string", "date32[day]"]
    # one morsel per file
    assert len(plan_morsels(scans(s, df)[0])) == 3
    assert_same(df.to_arrow(), pa.concat_tables([sample(120, i * 120) for i in range(3)]))
    s.register_csv("csv_t", str(tmp_path))
    q = "select name, count(*) c, sum(x) sx, max(day) d from csv_t where id > 50 group by name"
    expected = duckdb.sql(q.replace("csv_t", f"read_csv('{tmp_path}/*.csv')")).to_arrow_table()
    assert_same(s.sql(q).to_arrow(), expected)


def test_csv_options_and_schema(s, tmp_path):
    (tmp_path / "a.tsv").write_text("1\t2.5\tx\n2\t\ty\n")
    df = s.read_csv(str(tmp_path / "a.tsv"), delimiter="\t", header=False)
    assert df.columns == ["f0", "f1", "f2"]
    assert df.to_pylist() == [{"f0": 1, "f1": 2.5, "f2": "x"}, {"f0": 2, "f1": None, "f2": "y"}]
    (tmp_path / "b.csv").write_text("a,b\n1,2\n3,4\n")
    typed = s.read_csv(str(tmp_path / "b.csv"), schema=pa.schema([("a", pa.int32()), ("b", pa.string())]))
    assert typed.schema.types == [pa.int32(), pa.string()]
    assert typed.to_pylist() == [{"a": 1, "b": "2"}, {"a": 3, "b": "4"}]


def test_csv_schema_check(s, tmp_path):
    (tmp_path / "1.csv").write_text("a,b\n1,x\n")
    (tmp_path / "2.csv").write_text("a,b\n1.5,\n")  # int and double agree as double; b NULL
    df = s.read_csv(str(tmp_path))
    assert df.schema.types == [pa.float64(), pa.string()]
    assert sorted(df.to_pylist(), key=str) == sorted([{"a": 1.0, "b": "x"}, {"a": 1.5, "b": None}], key=str)
    (tmp_path / "3.csv").write_text("a,c\n1,x\n")
    with pytest.raises(SchemaMismatchError, match=r"3\.csv has no column 'b'"):
        s.register_csv("c3", str(tmp_path))
    (tmp_path / "3.csv").write_text("a,b\nx,y\n")
    with pytest.raises(SchemaMismatchError, match=r"column 'a' is string in .*3\.csv"):
        s.read_csv(str(tmp_path))


def test_json_lines_against_duckdb(s, tmp_path):
    rows = [{"id": i, "v": i * 1.5, "tag": None if i % 5 == 0 else f"t{i % 3}"} for i in range(200)]
    for part in range(2):
        with open(tmp_path / f"{part}.jsonl", "w") as f:
            for r in rows[part * 100 : (part + 1) * 100]:
                f.write(json.dumps(r) + "\n")
    df = s.read_json(str(tmp_path))
    assert df.columns == ["id", "v", "tag"]
    assert_same(df.to_arrow(), pa.Table.from_pylist(rows))
    s.register_json("js", str(tmp_path))
    q = "select tag, count(*) c, sum(v) sv from js where id >= 10 group by tag"
    expected = duckdb.sql(q.replace("js", f"read_json('{tmp_path}/*.jsonl')")).to_arrow_table()
    assert_same(s.sql(q).to_arrow(), expected)


def test_register_replaces_and_reregisters(s, tmp_path):
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "a.parquet")
    s.register("swap", pa.table({"z": ["x"]}))
    s.register_parquet("swap", str(tmp_path / "a.parquet"))
    assert s.sql("select sum(a) s from swap").to_pylist() == [{"s": 3}]


def test_csv_hive_pruning(s, tmp_path):
    for k in range(4):
        d = tmp_path / f"k={k}"
        d.mkdir()
        pacsv.write_csv(pa.table({"v": [k * 10 + i for i in range(5)]}), d / "a.csv")
    df = s.read_csv(str(tmp_path)).filter(col("k").isin([1, 3]))
    (scan,) = scans(s, df)
    assert len(plan_morsels(scan)) == 2
    assert sorted(df.to_pylist(), key=lambda r: r["v"]) == [{"v": k * 10 + i, "k": k} for k in (1, 3) for i in range(5)]


def test_compressed_text(s, tmp_path):
    import gzip

    with gzip.open(tmp_path / "a.csv.gz", "wt") as f:
        f.write("a,b\n1,x\n2,y\n")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write('{"a": 3, "b": "z"}\n')
    assert s.read_csv(str(tmp_path)).to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert s.read_json(str(tmp_path)).to_pylist() == [{"a": 3, "b": "z"}]


def test_parquet_footer_is_cached_until_the_file_changes(tmp_path):
    import os

    import pyarrow.parquet as pq

    from dataflow.io import read_parquet_metadata

    path = str(tmp_path / "f.parquet")
    pq.write_table(pa.table({"a": list(range(10))}), path)
    first = read_parquet_metadata(path)
    assert first.num_rows == 10
    assert read_parquet_metadata(path) is first  # read once
    pq.write_table(pa.table({"a": list(range(25))}), path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new mtime even on a coarse clock
    assert read_parquet_metadata(path).num_rows == 25
