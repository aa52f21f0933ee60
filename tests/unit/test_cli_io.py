"""``dataflow sql``: ``--out`` writes the format its suffix names, a bad suffix or a
missing ``--data`` directory is a one-line error (run with ``--local``, no Ray)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from dataflow.cli import main
from tests.oracle import assert_same

QUERY = "select k, sum(v) as total from t join names using (k) where v > 1 group by k order by k"


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    pq.write_table(pa.table({"k": [1, 2, 1, 3, 2], "v": [1.5, 2.0, 3.0, 4.0, 0.5]}), d / "t.parquet")
    pacsv.write_csv(pa.table({"k": [1, 2, 3], "name": ["a", "b", "c"]}), d / "names.csv")
    return d


def expected(data) -> pa.Table:
    con = duckdb.connect()
    con.execute(f"create view t as select * from read_parquet('{data}/t.parquet')")
    con.execute(f"create view names as select * from read_csv('{data}/names.csv')")
    return con.sql(QUERY).to_arrow_table()


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json"])
def test_out_writes_the_format_of_its_suffix(data, tmp_path, capsys, suffix):
    out = tmp_path / f"r{suffix}"
    assert main(["sql", "--local", "--data", str(data), "--out", str(out), QUERY]) == 0
    assert out.is_file()
    reader = {".parquet": "read_parquet", ".csv": "read_csv", ".json": "read_json"}[suffix]
    got = duckdb.sql(f"select * from {reader}('{out}')").to_arrow_table()
    assert_same(got, expected(data), ordered=True)
    assert f"wrote 3 rows to {out}" in capsys.readouterr().out
    # running again replaces the file
    assert main(["sql", "--local", "--data", str(data), "--out", str(out), QUERY + " limit 1"]) == 0
    assert duckdb.sql(f"select count(*) from {reader}('{out}')").fetchall() == [(1,)]


def test_out_with_an_unknown_suffix(data, tmp_path, capsys):
    assert main(["sql", "--local", "--data", str(data), "--out", str(tmp_path / "r.txt"), QUERY]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: --out {tmp_path / 'r.txt'}: the suffix must be .parquet, .csv or .json"
    assert not (tmp_path / "r.txt").exists()


def test_missing_data_directory(tmp_path, capsys):
    assert main(["sql", "--local", "--data", str(tmp_path / "nope"), "select 1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: --data {tmp_path / 'nope'}: no such directory"


def test_prints_the_result(data, capsys):
    assert main(["sql", "--local", "--data", str(data), QUERY]) == 0
    out = capsys.readouterr().out
    assert "| k | total |" in out and "3 rows" in out


def test_sql_error_is_one_line(data, capsys):
    assert main(["sql", "--local", "--data", str(data), "select nope from t"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown column 'nope'") and "Traceback" not in err
