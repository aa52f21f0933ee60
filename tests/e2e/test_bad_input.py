"""Bad input on a local Ray cluster (started once for this module): every case gets
a clear dataflow error (or a Python ``TypeError`` for a Python mistake) whose message
names the problem, and costs nothing else: after each case the Session still answers
a query correctly, and at the end no actor has leaked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pytest
from ray.util.state import list_actors

import dataflow
from dataflow import col, lit
from dataflow import functions as F
from dataflow.errors import ConfigError, DataflowError, PlanError

N = 1_000


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    with dataflow.Session(parallelism=2, name="bad") as s:
        s.register("t", pa.table({"k": pa.array([i % 4 for i in range(N)]), "v": pa.array(range(N)),
                                  "s": pa.array([f"x{i}" for i in range(N)])}))
        d = tmp_path_factory.mktemp("mixed")
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"a": [1, 2]}), d / "1.parquet")
        pq.write_table(pa.table({"a": ["x", "y"]}), d / "2.parquet")
        s.mixed_dir = str(d)  # type: ignore[attr-defined]
        yield s


def still_answers(s: dataflow.Session) -> None:
    got = s.table("t").group_by("k").agg(F.sum("v").alias("sv")).sort("k").to_arrow()
    assert got.column("sv").to_pylist() == [sum(range(k, N, 4)) for k in range(4)]


@dataclass
class Case:
    name: str
    run: Callable[[dataflow.Session], object]
    error: type[BaseException]
    says: str  # a fragment the message must contain (case-insensitive)


def _locked_udf() -> Callable[[pa.Array], pa.Array]:
    lock = threading.Lock()

    def f(a: pa.Array) -> pa.Array:
        with lock:
            return a

    return f


def _stale_after_deregister(s: dataflow.Session) -> object:
    s.register("tmp_d", pa.table({"x": [1, 2]}))
    df = s.table("tmp_d")
    s.deregister("tmp_d")
    return df.to_arrow()


def _stale_after_reregister(s: dataflow.Session) -> object:
    s.register("tmp_r", pa.table({"x": [1, 2]}))
    df = s.table("tmp_r")
    s.register("tmp_r", pa.table({"y": ["a"]}))
    return df.to_arrow()


def _wrong_length_udf(s: dataflow.Session) -> object:
    f = s.register_udf("short", lambda a: a.slice(0, 1), "int64")
    return s.table("t").select(f(col("v")).alias("x")).to_arrow()


def _raising_udf(s: dataflow.Session) -> object:
    def boom(a: pa.Array) -> pa.Array:
        raise ZeroDivisionError("udf went boom")

    f = s.register_udf("boom", boom, "int64")
    return s.table("t").select(f(col("v")).alias("x")).to_arrow()


def _deep_or(n: int) -> str:
    return "select count(*) as c from t where " + " or ".join(f"v = {i}" for i in range(n))


def _bad_cast_at_run_time(s: dataflow.Session) -> object:
    return s.table("t").select(col("s").cast("int64").alias("i")).to_arrow()


def _timeout(s: dataflow.Session) -> object:
    slow = s.register_udf("sleepy", lambda a: (time.sleep(0.5), a)[1], "int64")
    return s.table("t").select(slow(col("v")).alias("x")).submit().result(timeout=0.05)


SESSION_ARGS = [
    ("parallelism str", {"parallelism": "x"}, "parallelism"),
    ("parallelism zero", {"parallelism": 0}, "parallelism"),
    ("parallelism negative", {"parallelism": -1}, "parallelism"),
    ("parallelism float", {"parallelism": 2.5}, "parallelism"),
    ("max_actors zero", {"max_actors": 0}, "max_actors"),
    ("batch_rows zero", {"batch_rows": 0}, "batch_rows"),
    ("unknown runtime", {"runtime": "gpu"}, "runtime"),
    ("max_retries negative", {"max_retries": -1}, "max_retries"),
    ("bad name", {"name": "my session!"}, "name"),
    ("num_cpus zero", {"num_cpus": 0}, "num_cpus"),
    ("warm_actors negative", {"warm_actors": -2}, "warm_actors"),
    ("empty address", {"address": " "}, "address"),
    ("chain not bool", {"chain_operators": "yes"}, "chain_operators"),
    ("disabled_rules not strings", {"disabled_rules": (1, 2)}, "disabled_rules"),
    ("broadcast_rows negative", {"broadcast_rows": -5}, "broadcast_rows"),
    ("leader_rows negative", {"leader_rows": -1}, "leader_rows"),
    ("leader_rows not a number", {"leader_rows": "many"}, "leader_rows"),
]

CASES = [
    # -- the catalog
    Case("register a list", lambda s: s.register("l", [1, 2]), TypeError, "pyarrow table"),
    Case("register None", lambda s: s.register("n", None), TypeError, "pyarrow table"),
    Case("register a dict", lambda s: s.register("d", {"a": [1]}), TypeError, "pyarrow table"),
    Case("unknown table", lambda s: s.table("nope"), DataflowError, "unknown table 'nope'"),
    Case("near table name", lambda s: s.table("tt"), DataflowError, "did you mean 't'"),
    Case("parquet path missing", lambda s: s.register_parquet("p", "/no/such/file.parquet"), DataflowError, "no such"),
    Case("parquet path an int", lambda s: s.register_parquet("p", 3), DataflowError, "a path must be a string, a path or a list"),
    Case("parquet path list of ints", lambda s: s.register_parquet("p", [1, 2]), DataflowError, "got list"),
    Case("parquet schemas differ", lambda s: s.register_parquet("m", s.mixed_dir), DataflowError, "'a'"),  # type: ignore[attr-defined]
    Case("csv path missing", lambda s: s.read_csv("/no/such/dir/x.csv"), DataflowError, "no such"),
    Case("stale after deregister", _stale_after_deregister, DataflowError, "tmp_d"),
    Case("stale after re-register", _stale_after_reregister, DataflowError, "tmp_r"),
    # -- SQL text
    Case("sql not a string", lambda s: s.sql(3), TypeError, "str"),  # type: ignore[arg-type]
    Case("sql syntax", lambda s: s.sql("selec * from t"), DataflowError, "syntax"),
    Case("sql unterminated string", lambda s: s.sql("select 'abc from t"), DataflowError, "syntax"),
    Case("sql unknown column", lambda s: s.sql("select vv from t"), DataflowError, "'vv'"),
    Case("sql unknown table", lambda s: s.sql("select * from nope"), DataflowError, "'nope'"),
    Case("sql unknown function", lambda s: s.sql("select frobnicate(v) from t"), DataflowError, "frobnicate"),
    Case("sql aggregate in where", lambda s: s.sql("select k from t where sum(v) > 1"), DataflowError, "where"),
    Case("sql not grouped", lambda s: s.sql("select k, v from t group by k"), DataflowError, "v"),
    Case("sql string = number", lambda s: s.sql("select * from t where s = 3"), DataflowError, "string"),
    Case("sql union of mismatched types", lambda s: s.sql("select s from t union all select v from t"), DataflowError, "union"),
    Case("sql missing parameter", lambda s: s.sql("select * from t where v = $1"), DataflowError, "parameter"),
    Case("sql extra parameter", lambda s: s.sql("select * from t", [1]), DataflowError, "parameter"),
    Case("sql empty", lambda s: s.sql(""), DataflowError, "empty"),
    Case("sql two statements", lambda s: s.sql("select 1; select 2"), DataflowError, "statement"),
    Case("sql drop missing view", lambda s: s.sql("drop view nope"), DataflowError, "nope"),
    Case("sql ambiguous column", lambda s: s.sql("select k from t a join t b on a.v = b.v"), DataflowError, "ambiguous"),
    Case("sql wrong arity", lambda s: s.sql("select abs(v, 2) from t"), DataflowError, "arguments"),
    # -- the DataFrame API
    Case("df unknown column", lambda s: s.table("t").select(col("vv")), DataflowError, "'vv'"),
    Case("df filter unknown", lambda s: s.table("t").filter(col("q") > 1), DataflowError, "'q'"),
    Case("df sort unknown", lambda s: s.table("t").sort("zz"), DataflowError, "'zz'"),
    Case("df join unknown key", lambda s: s.table("t").join(s.table("t"), left_on="nope", right_on="k"), DataflowError, "nope"),
    Case("df group by unknown", lambda s: s.table("t").group_by("g").agg(F.count()), DataflowError, "'g'"),
    Case("df cast to nonsense", lambda s: s.table("t").select(col("v").cast("notatype")), DataflowError, "notatype"),
    Case("df string plus number", lambda s: s.table("t").select((col("s") + 1).alias("x")), DataflowError, "string"),
    Case("df limit negative", lambda s: s.table("t").limit(-1), DataflowError, "limit"),
    Case("df union column count", lambda s: s.table("t").union(s.table("t").select("k")), DataflowError, "column"),
    Case("df filter not boolean", lambda s: s.table("t").filter(col("v") + 1).to_arrow(), DataflowError, "bool"),
    # -- UDFs
    Case("udf not callable", lambda s: s.register_udf("nc", 3, "int64"), TypeError, "callable"),
    Case("udf cannot be pickled", lambda s: s.register_udf("locked", _locked_udf(), "int64"), DataflowError, "locked"),
    Case("udf bad return type", lambda s: s.register_udf("rt", lambda a: a, "nosuchtype"), DataflowError, "nosuchtype"),
    Case("udf wrong length", _wrong_length_udf, DataflowError, "short"),
    Case("udf raises", _raising_udf, dataflow.ExecutionError, "udf went boom"),
    # -- the runtime
    Case("cast fails at run time", _bad_cast_at_run_time, dataflow.ExecutionError, "x"),
    Case("result timeout", _timeout, dataflow.JobCancelled, "within"),
    Case("write to existing path", lambda s: s.table("t").write_parquet(s.mixed_dir), DataflowError, "exist"),  # type: ignore[attr-defined]
    Case("write unknown partition column", lambda s: s.table("t").write_parquet("/tmp/x-df", partition_by=["nope"]), DataflowError, "nope"),
    # -- deep queries: planned, or refused with a clear limit
    Case("20,000 nested parentheses", lambda s: s.sql("select " + "(" * 20_000 + "v" + ")" * 20_000 + " from t"), DataflowError, "nested too deeply"),
]


@pytest.mark.parametrize("name,kwargs,says", SESSION_ARGS, ids=[c[0] for c in SESSION_ARGS])
def test_bad_session_arguments_start_nothing(session, name, kwargs, says):
    before = len(list_actors(address=session.dashboard_url, filters=[("state", "=", "ALIVE")], limit=10_000))
    with pytest.raises(ConfigError) as info:
        dataflow.Session(**kwargs)
    assert says in str(info.value)
    after = len(list_actors(address=session.dashboard_url, filters=[("state", "=", "ALIVE")], limit=10_000))
    assert after == before


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_a_clear_error(session, case):
    with pytest.raises(case.error) as info:
        case.run(session)
    msg = str(info.value)
    assert case.says.lower() in msg.lower(), msg
    assert len(msg) < 1_500 or isinstance(info.value, dataflow.ExecutionError), msg
    still_answers(session)


@pytest.mark.parametrize(
    "name,sql,expected",
    [
        ("45 nested parentheses", "select " + "(" * 45 + "v" + ")" * 45 + " as x from t where v = 7", [7]),
        ("500 chained + 1", "select v" + " + 1" * 500 + " as x from t where v = 7", [507]),
        ("1,000 ORs", _deep_or(1_000).replace("count(*) as c", "sum(v) as x"), [sum(range(1_000))]),
    ],
)
def test_deep_queries_are_planned(session, name, sql, expected):
    assert session.sql(sql).to_arrow().column("x").to_pylist() == expected


def test_no_actor_leaked(session):
    still_answers(session)
    live = len(list_actors(address=session.dashboard_url, filters=[("state", "=", "ALIVE")], limit=10_000))
    give_up = time.monotonic() + 30
    while live != session._runtime.pool.size() + 1 and time.monotonic() < give_up:
        time.sleep(0.5)
        live = len(list_actors(address=session.dashboard_url, filters=[("state", "=", "ALIVE")], limit=10_000))
    assert live == session._runtime.pool.size() + 1
    assert session._runtime.pool.leased == 0


def test_plan_error_is_a_dataflow_error():
    assert issubclass(PlanError, DataflowError) and issubclass(ConfigError, DataflowError)
    assert lit(1) is not None
