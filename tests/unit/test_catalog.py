"""What ``Session.register`` accepts, views (DataFrame and SQL, over views), and SQL
parameters, on the local runtime; answers checked against DuckDB."""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import dataflow
from dataflow import col
from dataflow.errors import PlanError, SqlSyntaxError, UnknownTableError, UnsupportedError
from dataflow.sql.statements import ParameterError
from tests.oracle import assert_same

T = pa.table(
    {
        "k": pa.array([1, 2, 1, 3, 2, None], pa.int64()),
        "v": pa.array([10.0, 20.5, 30.0, None, 5.5, 1.0]),
        "s": pa.array(["a", "b'c", "a", "d", None, "e"]),
        "d": pa.array([dt.date(2024, 1, i) for i in range(1, 7)], pa.date32()),
    }
)


@pytest.fixture(scope="module")
def s():
    with dataflow.Session(runtime="local", parallelism=2) as session:
        session.register("t", T)
        yield session


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect()
    con.register("t_arrow", T)
    con.execute("create table t as select * from t_arrow")
    return con


@pytest.mark.parametrize(
    "make",
    [
        lambda: T,
        lambda: T.to_batches()[0],
        lambda: pa.RecordBatchReader.from_batches(T.schema, T.to_batches()),
        lambda: T.to_batches(max_chunksize=2),
        lambda: T.to_pandas(),
        lambda: pl.from_arrow(T),
        lambda: pl.from_arrow(T).lazy(),
        lambda: duckdb.connect().from_arrow(T),
    ],
    ids=["table", "batch", "reader", "batches", "pandas", "polars", "polars-lazy", "arrow-stream"],
)
def test_register_accepts(s, make):
    data = make()
    df = s.register("reg", data)
    got = df.to_arrow()
    assert got.column_names == T.column_names
    expected = T
    if isinstance(data, pd.DataFrame):
        expected = T.set_column(3, "d", pa.array(T.column("d").to_pylist(), pa.date32()))
    assert_same(got, expected)
    assert s.sql("select count(*) c, sum(v) sv from reg").to_pylist() == [{"c": 6, "sv": 67.0}]


@pytest.mark.parametrize("bad", [[1, 2], 3, {"a": [1]}, "t", None, []])
def test_register_rejects_with_the_accepted_kinds(s, bad):
    with pytest.raises(TypeError, match=r"register\(\) takes a pyarrow Table.*polars.*Ray Dataset.*__arrow_c_stream__.*dataflow DataFrame"):
        s.register("bad", bad)
    assert "bad" not in s.table_names()


def test_register_dataframe_is_a_view(s, duck):
    view = s.table("t").filter(col("v") > 6).select("k", (col("v") * 2).alias("w"))
    s.register("big", view)
    assert "big" in s.view_names()
    # a view over the view, from SQL and from the DataFrame API
    s.sql("create view big_k as select k, sum(w) sw from big group by k")
    expected = duck.sql("select k, sum(v * 2) sw from t where v > 6 group by k").to_arrow_table()
    assert_same(s.sql("select * from big_k").to_arrow(), expected)
    assert_same(s.table("big_k").to_arrow(), expected)
    other = dataflow.Session(runtime="local")
    with pytest.raises(PlanError, match="another Session"):
        other.register("x", view)
    other.close()


def test_sql_views(s, duck):
    df = s.sql("create temp view v1 as select k, v from t where k is not null")
    assert isinstance(df, dataflow.DataFrame) and df.columns == ["k", "v"]
    s.sql("create view v2 as select k, count(*) n from v1 group by k")
    q = "select v2.k, n, sum(v1.v) sv from v2 join v1 on v1.k = v2.k group by v2.k, n"
    con = duck.cursor()
    con.execute("create temp view v1 as select k, v from t where k is not null")
    con.execute("create temp view v2 as select k, count(*) n from v1 group by k")
    expected = con.sql(q).to_arrow_table()
    assert_same(s.sql(q).to_arrow(), expected)
    with pytest.raises(PlanError, match="already exists"):
        s.sql("create view v1 as select 1 as one from t")
    s.sql("create view if not exists v1 as select 1 as one from t")  # kept as it was
    assert s.table("v1").columns == ["k", "v"]
    s.sql("create or replace view v1 as select k from t where k = 2")
    assert s.sql("select count(*) c from v1").to_pylist() == [{"c": 2}]
    # v2 was planned over the old v1 and keeps it
    assert s.sql("select sum(n) n from v2").to_pylist() == [{"n": 5}]
    dropped = s.sql("drop view v1")
    assert dropped.columns == ["dropped"] and dropped.to_arrow().num_rows == 0
    assert "v1" not in s.table_names()
    s.sql("drop view if exists v1")
    with pytest.raises(UnknownTableError):
        s.sql("drop view v1")
    with pytest.raises(PlanError, match="is a table, not a view"):
        s.sql("drop view t")
    with pytest.raises(UnsupportedError, match="only CREATE VIEW"):
        s.sql("create table x as select * from t")
    with pytest.raises(UnknownTableError):
        s.sql("select * from v1")


def test_view_keeps_its_tables_after_reregistration(s):
    s.register("base", pa.table({"a": [1, 2, 3]}))
    s.sql("create view over_base as select sum(a) s from base")
    s.register("base", pa.table({"a": [100]}))
    assert s.sql("select * from over_base").to_pylist() == [{"s": 6}]
    assert s.sql("select sum(a) s from base").to_pylist() == [{"s": 100}]


@pytest.mark.parametrize(
    ("sql", "params", "duck_sql"),
    [
        ("select * from t where k = $1", [2], "select * from t where k = 2"),
        ("select * from t where k = ? and v > ?", [1, 15.0], "select * from t where k = 1 and v > 15.0"),
        ("select * from t where s = $1", ["b'c"], "select * from t where s = 'b''c'"),
        ("select * from t where s = $name or k = $k", {"name": "a", "k": 3}, "select * from t where s = 'a' or k = 3"),
        ("select * from t where d >= $1", [dt.date(2024, 1, 4)], "select * from t where d >= date '2024-01-04'"),
        ("select * from t where v > $1", [decimal.Decimal("20.25")], "select * from t where v > 20.25"),
        ("select k, $1 as x from t", [-7], "select k, -7 as x from t"),
        ("select * from t where (k = $1) is null", [None], "select * from t where (k = null) is null"),
        ("select '?' as q, k from t where k = ?", [1], "select '?' as q, k from t where k = 1"),
        ("select * from t where $1 and k = $2", [True, 1], "select * from t where k = 1"),
    ],
)
def test_parameters(s, duck, sql, params, duck_sql):
    assert_same(s.sql(sql, params).to_arrow(), duck.sql(duck_sql).to_arrow_table(), check_names=False)


def test_parameter_strings_are_literals_not_sql(s):
    assert s.sql("select count(*) c from t where s = ?", ["a' or '1'='1"]).to_pylist() == [{"c": 0}]


def test_parameter_errors(s):
    with pytest.raises(ParameterError, match=r"no parameter for \$2: 1 parameter"):
        s.sql("select * from t where k = $1 and v = $2", [1])
    with pytest.raises(ParameterError, match=r"\$2 given but not used"):
        s.sql("select * from t where k = $1", [1, 2])
    with pytest.raises(ParameterError, match="no parameters were given"):
        s.sql("select * from t where k = ?")
    with pytest.raises(ParameterError, match="mixes"):
        s.sql("select * from t where k = ? and v = $1", [1])
    with pytest.raises(ParameterError, match=r"\$x given but not used"):
        s.sql("select * from t where k = $k", {"k": 1, "x": 2})
    with pytest.raises(ParameterError, match="unsupported parameter type list"):
        s.sql("select * from t where k = $1", [[1]])
    with pytest.raises(ParameterError, match="params must be a list"):
        s.sql("select * from t where k = $1", "1")
    with pytest.raises(ParameterError, match="given but not used"):
        s.sql("select * from t", [1])
    with pytest.raises(SqlSyntaxError):
        s.sql("select * from t where k = ? and", [1])


def test_sql_text_type_error(s):
    with pytest.raises(TypeError, match="takes the SQL text as a str, got int"):
        s.sql(3)  # type: ignore[arg-type]


def test_view_with_parameters(s):
    s.sql("create or replace view pv as select k from t where v > $1", [10.0])
    assert sorted(r["k"] for r in s.table("pv").to_pylist()) == [1, 2]
