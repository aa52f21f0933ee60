"""The scalar function registry and the functions added with it, each checked against
DuckDB (the oracle) on the same Arrow data, through SQL and the DataFrame API on the
local runtime; type errors at planning; integer and decimal overflow."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal as D

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dataflow
import dataflow.functions as F
from dataflow import kernels
from dataflow.errors import ArithmeticOverflowError, ExprTypeError, PlanError, UnionTypeError
from dataflow.expr import col, lit

TABLE = pa.table(
    {
        "s": ["abc123def", None, "héllo wörld", "ABC", "", "a\nb"],
        "n": pa.array([1, 4, None, -2, 0, 9], pa.int32()),
        "b": pa.array([10, None, 3, 4, -5, 2**40], pa.int64()),
        "x": [1.5, 2.0, None, -4.0, 0.0, 1e300],
        "d": pa.array([dt.date(2024, 1, 31), dt.date(2024, 5, 17), None, dt.date(1999, 12, 31),
                       dt.date(2000, 2, 29), dt.date(1970, 1, 1)]),
        "ts": pa.array([dt.datetime(2024, 1, 31, 10, 11, 12), dt.datetime(2024, 5, 17), None,
                        dt.datetime(1999, 12, 31, 23, 59, 59), dt.datetime(2000, 2, 29, 1), dt.datetime(1969, 12, 31, 23)],
                       pa.timestamp("us")),
        "m": pa.array([D("1.25"), D("2.00"), None, D("-3.50"), D("4.00"), D("0.01")], pa.decimal128(10, 2)),
    }
)


@pytest.fixture(scope="module")
def session():
    with dataflow.Session(runtime="local", parallelism=2) as s:
        s.register("t", TABLE)
        yield s


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.register("t", TABLE)
    return c


def _duck(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    out = con.sql(sql).arrow()
    return out.read_all() if hasattr(out, "read_all") else out


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    return a == b


def _rows(t: pa.Table) -> list[tuple]:
    return list(zip(*(c.to_pylist() for c in t.columns), strict=True))


def _assert_rows_equal(got: pa.Table, want: pa.Table) -> None:
    assert got.num_columns == want.num_columns
    g, w = _rows(got), _rows(want)
    assert len(g) == len(w), (g, w)
    for rg, rw in zip(g, w, strict=True):
        assert len(rg) == len(rw) and all(_same(x, y) for x, y in zip(rg, rw, strict=True)), (rg, rw)


QUERIES = [
    # math: doubles; NaN and infinities outside the domain, as DuckDB
    "select sqrt(n), sqrt(x), sqrt(m), exp(n), ln(x), ln(n), log(x), log(2, n), log10(n), log2(x) from t",
    "select power(n, 2), pow(x, 0.5), power(m, n), power(2, 1000), power(0, -1), power(-8, 1.0 / 3) from t",
    "select sqrt(null), ln(null), power(null, 2), power(2, null) from t where n = 1",
    # greatest / least skip NULLs
    "select greatest(n, 2), least(n, x), greatest(s, 'b'), least(d, date '2001-01-01'), greatest(m, 3),"
    " greatest(n, null), least(b, n, 3) from t",
    "select greatest(null, null), least(1, null), greatest(1.5, 2) from t where n = 1",
    # strpos / position / instr: 1-based characters, 0 when absent
    "select strpos(s, 'l'), position('b' in s), instr(s, 'zz'), strpos(s, ''), strpos(s, 'wö'), strpos(s, null) from t",
    # date_trunc gives a timestamp (also for a date), date_diff a BIGINT of boundaries
    "select date_trunc('month', d), date_trunc('year', ts), date_trunc('week', d), date_trunc('quarter', ts),"
    " date_trunc('hour', ts), date_trunc('day', ts), date_trunc('decade', d), date_trunc('century', d) from t",
    "select date_trunc('minute', ts), date_trunc('second', ts), date_trunc('millennium', d), date_trunc(null, d) from t",
    "select date_diff('day', d, date '2024-03-01'), datediff('month', d, date '2024-03-01'),"
    " date_diff('year', ts, timestamp '2024-01-01'), date_diff('week', d, date '2024-12-25'),"
    " date_diff('hour', ts, timestamp '2024-01-01'), date_diff('quarter', d, date '2024-01-01'),"
    " date_diff('minute', ts, timestamp '2000-01-01'), date_diff('day', d, ts), date_diff('week', ts, timestamp '2000-01-01') from t",
    "select date_diff('decade', d, date '2031-01-01'), date_diff('second', ts, timestamp '2024-01-31 10:11:13') from t",
    # regular expressions (RE2, as DuckDB's): partial matches, options, groups
    "select regexp_matches(s, '[0-9]+'), regexp_matches(s, 'abc', 'i'), regexp_matches(s, 'a.b'),"
    " regexp_matches(s, '^a') from t",
    "select regexp_replace(s, '[a-c]', 'X'), regexp_replace(s, '[a-c]', 'X', 'g'),"
    " regexp_replace(s, '([a-z])([0-9])', '\\2\\1'), regexp_replace(s, 'B', 'y', 'gi') from t",
    "select regexp_extract(s, '[0-9]+'), regexp_extract(s, '([a-z]+)([0-9]+)', 2), regexp_extract(s, '(x)?(b)', 1),"
    " regexp_extract(s, 'L+', 0, 'i'), regexp_extract(s, '(a)', 3), regexp_extract(s, '.$') from t",
    # date parts (EXTRACT, date_part and the functions), ceil/floor/trunc/sign
    "select hour(ts), minute(ts), second(ts), millisecond(ts), microsecond(ts), dayofweek(ts), isodow(ts),"
    " dayofyear(ts), week(ts), yearweek(ts), epoch(ts), epoch(d), extract(dow from d), extract(hour from ts),"
    " date_part('doy', d), extract(epoch from ts), date_part('week', d), hour(d) from t",
    "select ceil(m), floor(m), trunc(m), ceil(x), floor(x), trunc(x), ceil(n), floor(n), trunc(n), sign(n),"
    " sign(x), sign(m), ceiling(x), ceil(null) from t",
    # existing functions through the registry's SQL names
    "select upper(s), lcase(s), len(s), abs(n), round(x, 1), nullif(n, 4), ifnull(n, 0), mod(b, 3) from t",
    # casts in every spelling
    "select cast(n as double), cast(n as real), cast(x as int), cast(b as integer),"
    " cast(n as bigint), cast(n as smallint), cast(n as tinyint), cast(n as varchar), cast(n as text),"
    " cast(n as string), cast(m as decimal(12, 4)), cast(n as boolean), cast(n as bool) from t where x < 100",
    "select cast('2024-01-02' as date), cast('2024-01-02 03:04:05' as timestamp), cast('1.5' as numeric(4, 2))"
    " from t where n = 1",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_sql_matches_duckdb(session, con, sql: str) -> None:
    _assert_rows_equal(session.sql(sql).to_arrow(), _duck(con, sql))


def test_result_types_match_duckdb(session, con) -> None:
    sql = ("select sqrt(n), date_trunc('month', d), date_diff('day', d, d), strpos(s, 'a'), regexp_matches(s, 'a'),"
           " regexp_extract(s, 'a'), greatest(m, m), m + m, m * m, m - n, x / n, ceil(m), floor(n), trunc(b),"
           " sign(x), hour(ts), epoch(d), dayofweek(d) from t")
    got = session.sql(sql).to_arrow().schema
    want = _duck(con, sql).schema
    assert [f.type for f in got] == [f.type for f in want]


def test_dataframe_functions_match_sql(session) -> None:
    df = session.table("t").select(
        F.sqrt("n").alias("a"), F.log(col("x"), 2).alias("b"), F.power("n", 3).alias("c"),
        F.greatest("n", "b").alias("d"), F.least("n", lit(0)).alias("e"), F.strpos("s", "l").alias("f"),
        F.date_trunc("month", "d").alias("g"), F.date_diff("day", "d", "ts").alias("h"),
        F.regexp_matches("s", "^a").alias("i"), F.regexp_replace("s", "[a-c]", "-", "g").alias("j"),
        F.regexp_extract("s", "([0-9])([0-9])", 2).alias("k"), F.exp("n").alias("l"), F.ln("x").alias("m"),
        col("n").cast("float64").alias("o"),
    )
    sql = session.sql(
        "select sqrt(n) a, log(2, x) b, power(n, 3) c, greatest(n, b) d, least(n, 0) e, strpos(s, 'l') f,"
        " date_trunc('month', d) g, date_diff('day', d, ts) h, regexp_matches(s, '^a') i,"
        " regexp_replace(s, '[a-c]', '-', 'g') j, regexp_extract(s, '([0-9])([0-9])', 2) k, exp(n) l, ln(x) m,"
        " cast(n as double) o from t"
    )
    _assert_rows_equal(df.to_arrow(), sql.to_arrow())


def test_function_errors_are_plan_errors(session) -> None:
    with pytest.raises(PlanError, match=r"sqrt takes 1 arguments, got 2"):
        session.table("t").select(F.call("sqrt", "n", "n")).explain()
    with pytest.raises(PlanError, match="unknown date part 'fortnight'"):
        session.sql("select date_trunc('fortnight', d) from t")
    with pytest.raises(PlanError, match="unrecognized regex option 'x'"):
        session.sql("select regexp_matches(s, 'a', 'x') from t")
    with pytest.raises(PlanError, match="invalid regular expression"):
        session.sql("select regexp_matches(s, '(') from t")
    with pytest.raises(duckdb.InvalidInputException, match="missing \\)"):
        duckdb.sql("select regexp_matches('a', '(')").fetchall()


# -- types checked at planning ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select * from t where s = 3", r"cannot compare string with int64.*in \(s = 3\)"),
        ("select * from t where s < n", r"cannot compare string with int32.*in \(s < n\)"),
        ("select s + 1 from t", r"cannot apply '\+' to string and int64: in \(s \+ 1\)"),
        ("select n * s from t", r"cannot apply '\*' to int32 and string"),
        ("select upper(n) from t", r"upper expects a string, got int32: in upper\(n\)"),
        ("select sqrt(s) from t", r"sqrt expects a number, got string: in sqrt\(s\)"),
        ("select date_trunc('month', n) from t", r"date_trunc expects a date or timestamp, got int32"),
        ("select coalesce(s, 1) from t", r"coalesce cannot mix values of types string, int64"),
        ("select case when n = 1 then s else 1 end from t", r"does not mix with int64.*in CASE"),
        ("select * from t where s in (1, 2)", r"does not mix with int64.*in s IN \(1, 2\)"),
        ("select * from t a join t b on a.s = b.n", r"cannot compare string with int32"),
    ],
)
def test_type_errors_at_planning(session, con, sql: str, message: str) -> None:
    with pytest.raises(ExprTypeError, match=message) as info:
        session.sql(sql)  # planning only: nothing runs
    assert isinstance(info.value, TypeError) and len(str(info.value)) < 200
    with pytest.raises(duckdb.Error):  # DuckDB refuses these too (some only when it runs them)
        con.sql(sql).fetchall()


def test_a_condition_must_be_boolean(session) -> None:
    # (DuckDB casts an integer condition to boolean; the engine asks for a comparison)
    with pytest.raises(ExprTypeError, match="a condition must be boolean, but this is int32: in n"):
        session.sql("select * from t where n")


def test_string_constants_still_parse_as_the_other_side(session, con) -> None:
    sql = "select n from t where n = '4' or d = '2000-02-29' or m > '3.9'"
    _assert_rows_equal(session.sql(sql).to_arrow(), _duck(con, sql))


def test_union_of_incompatible_types_fails_at_planning(session) -> None:
    t = session.table("t")
    with pytest.raises(UnionTypeError, match=r"UNION column 'n' has type int32 in the first input and string in input 2"):
        t.select("n").union(t.select("s")).explain()
    # numbers of different widths mix (cast to the first input's type)
    assert t.select("b").union(t.select("n")).to_arrow().num_rows == 12


@pytest.mark.parametrize(
    ("spelling", "arrow"),
    [("float64", "double"), ("double", "double"), ("float", "float"), ("real", "float"), ("int", "int32"),
     ("integer", "int32"), ("bigint", "int64"), ("int64", "int64"), ("smallint", "int16"), ("tinyint", "int8"),
     ("varchar", "string"), ("string", "string"), ("text", "string"), ("date", "date32[day]"),
     ("timestamp", "timestamp[us]"), ("decimal(10,2)", "decimal128(10, 2)"), ("boolean", "bool"), ("bool", "bool")],
)
def test_cast_spellings(session, spelling: str, arrow: str) -> None:
    src = "d" if spelling in ("date", "timestamp") else "n"
    df = session.table("t").select(col(src).cast(spelling).alias("c"))
    assert str(df.to_arrow().schema.field("c").type) == arrow
    sql = session.sql(f"select cast({src} as {spelling}) as c from t").to_arrow()
    assert str(sql.schema.field("c").type) == arrow


def test_unknown_cast_type_is_a_plan_error(session) -> None:
    with pytest.raises(PlanError, match="unknown type 'flaot64'"):
        col("n").cast("flaot64")


# -- no wrong answers in arithmetic -------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "duck"),
    [
        ("b + 9223372036854775807", "Overflow in addition of INT64"),
        ("-9223372036854775807 - b - 3", "Overflow in subtraction of INT64"),
        ("b * 9223372036854775", "Overflow in multiplication of INT64"),
    ],
)
def test_int64_overflow_raises_like_duckdb(session, con, expr: str, duck: str) -> None:
    sql = f"select {expr} from t where b > 0"
    with pytest.raises(dataflow.DataflowError, match=duck):
        session.sql(sql).to_arrow()
    with pytest.raises(duckdb.OutOfRangeException, match=duck):
        con.sql(sql).fetchall()


def test_int64_overflow_is_an_arithmetic_error() -> None:
    from dataflow.compute import evaluate

    batch = pa.record_batch({"a": pa.array([2**62, 1], pa.int64())})
    with pytest.raises(ArithmeticOverflowError, match="Overflow in multiplication of INT64"):
        evaluate((col("a") * 4).node, batch)
    with pytest.raises(ArithmeticOverflowError, match="Overflow in negation of INT64"):
        evaluate((-col("a")).node, pa.record_batch({"a": pa.array([-(2**63)], pa.int64())}))


def test_small_integers_widen_to_int64(session, con) -> None:
    # DuckDB keeps INTEGER + INTEGER an INTEGER and raises above 2^31; the engine
    # computes integers in int64, so the exact sum comes out instead: never a wrapped one
    t = pa.table({"i": pa.array([2**31 - 1], pa.int32()), "j": pa.array([1], pa.int32())})
    session.register("ints", t)
    assert session.sql("select i + j as s, i * 4 as p from ints").to_pylist() == [{"s": 2**31, "p": 4 * (2**31 - 1)}]
    c = duckdb.connect()
    c.register("ints", t)
    with pytest.raises(duckdb.OutOfRangeException, match="Overflow in addition of INT32"):
        c.sql("select i + j from ints").fetchall()
    assert c.sql("select i::bigint + j from ints").fetchall() == [(2**31,)]


DECIMALS = pa.table(
    {
        "a": pa.array([D("12.34"), D("-0.01"), D("99999999999999.99")], pa.decimal128(16, 2)),
        "b": pa.array([D("0.001"), D("7.500"), D("-1.000")], pa.decimal128(10, 3)),
        "c": pa.array([D("1" * 38), D("-" + "9" * 38), D("0")], pa.decimal128(38, 0)),
        "e": pa.array([D("0." + "1" * 20), D("0"), D("-0." + "9" * 20)], pa.decimal128(21, 20)),
        "i": pa.array([3, -4, 5], pa.int64()),
    }
)


@pytest.mark.parametrize(
    "expr",
    ["a + b", "a - b", "a * b", "a / b", "a % b", "a + i", "a * i", "b - i", "e + a", "a * e", "c - c",
     "c + 0", "c * 1", "b * b * b", "round(a * b, 2)", "a * a * b"],
)
def test_decimal_types_and_values_match_duckdb(session, expr: str) -> None:
    session.register("decs", DECIMALS)
    c = duckdb.connect()
    c.register("decs", DECIMALS)
    sql = f"select {expr} as r from decs where a < 1000"  # the third row overflows some (see below)
    got, want = session.sql(sql).to_arrow(), _duck(c, sql)
    assert got.schema.field("r").type == want.schema.field("r").type
    _assert_rows_equal(got, want)


def test_decimal_scale_above_38_is_refused_like_duckdb(session) -> None:
    session.register("decs", DECIMALS)
    c = duckdb.connect()
    c.register("decs", DECIMALS)
    with pytest.raises(duckdb.OutOfRangeException, match="Needed scale 40"):
        c.sql("select e * e from decs").fetchall()
    with pytest.raises(PlanError, match="needed scale 40"):
        session.sql("select e * e from decs")


@pytest.mark.parametrize("expr", ["c + c", "c * c", "c - (-c)", "a * c", "e * c", "a * b", "b * b * b * b * b"])
def test_decimal_overflow_raises_like_duckdb(session, expr: str) -> None:
    session.register("decs", DECIMALS)
    c = duckdb.connect()
    c.register("decs", DECIMALS)
    sql = f"select {expr} from decs"
    with pytest.raises(duckdb.OutOfRangeException, match="Overflow in"):
        c.sql(sql).fetchall()
    with pytest.raises(dataflow.DataflowError, match="Overflow in"):
        session.sql(sql).to_arrow()


# -- the registry and UDFs -------------------------------------------------------------------


def test_registry_is_the_one_table() -> None:
    f = kernels.lookup("power")
    assert f is not None and f.family == "math" and kernels.by_sql_name("pow") is f
    assert f.result_type([pa.int32(), pa.decimal128(5, 2)]) == pa.float64()
    assert kernels.lookup("date_diff").result_type([pa.scalar("day"), pa.date32(), pa.timestamp("us")]) == pa.int64()
    with pytest.raises(ExprTypeError, match="expects a number"):
        f.result_type([pa.string(), pa.int64()])
    # every function that states its result type agrees with its kernel on sample inputs
    samples = [pa.int64(), pa.float64(), pa.decimal128(10, 2), pa.string(), pa.date32(), pa.timestamp("us")]
    constants = {"dates": pa.scalar("day"), "strings": None}
    checked = 0
    for fn in kernels.functions():
        if fn.returns is None:
            continue
        for t in samples:
            args: list = [pa.array([], t) for _ in range(fn.arity[0])]
            if fn.family == "dates":
                args[0] = constants["dates"]
            elif fn.family == "strings":
                args[1:] = [pa.scalar("a")] * (len(args) - 1)
            try:
                out = fn.impl(args, 0)
            except (PlanError, dataflow.errors.UnsupportedError):
                continue
            assert str(out.type) == fn.returns, (fn.name, t)
            checked += 1
    assert checked >= 10


def test_a_new_function_is_one_registration(session) -> None:
    from dataflow.kernels.registry import scalar

    if kernels.lookup("twice_for_test") is None:
        scalar("twice_for_test", 1, "test", sql=("twice_for_test",))(lambda args, n: pc.multiply(args[0], 2))
    assert session.sql("select twice_for_test(n) as y from t where n > 0").to_pylist() == [
        {"y": 2}, {"y": 8}, {"y": 18}
    ]
    assert session.table("t").select(F.call("twice_for_test", "b").alias("y")).to_arrow().column(0)[0].as_py() == 20


def test_registered_udf_is_callable_from_sql(session) -> None:
    session.register_udf("plus_ten", lambda a: pc.add(a, 10), "bigint")
    out = session.sql("select plus_ten(b) as y, PLUS_TEN(n + 1) as z from t where n >= 0 order by n").to_pylist()
    assert out == [{"y": 5, "z": 11}, {"y": 20, "z": 12}, {"y": None, "z": 15}, {"y": 2**40 + 10, "z": 20}]
    with pytest.raises(dataflow.errors.UnsupportedError, match="did you mean plus_ten"):
        session.sql("select plus_tne(b) from t")


BIG = pa.table(
    {
        "a": pa.array([-(2**63), 2**62 + 1, -5, 2**53 + 1], pa.int64()),
        "b": pa.array([-1, 3, 3, 2], pa.int64()),
        "f": [0.5, 1e-3, -2.0, 3.0],
    }
)


@pytest.mark.parametrize(
    "expr",
    ["a % b", "a % -1", "a / b", "a * f", "a + f", "a > f", "a = 9007199254740993.0", "sqrt(abs(a / 4))", "power(a, 1)",
     "greatest(a, f)", "cast(a as double)"],
)
def test_big_integers_match_duckdb(session, expr: str) -> None:
    # -2^63 % -1 is 0 (Arrow's division would overflow); integers beyond 2^53 meet
    # doubles by rounding to the nearest double, as DuckDB's do (Arrow's safe cast refuses)
    session.register("big", BIG)
    c = duckdb.connect()
    c.register("big", BIG)
    sql = f"select {expr} as r from big"
    _assert_rows_equal(session.sql(sql).to_arrow(), _duck(c, sql))


# -- expressions compiled once per operator instance -------------------------------------------


def test_compiled_expression_rebinds_when_the_schema_changes() -> None:
    from dataflow.compute import compile_expr

    f = compile_expr((col("b") * 2 + col("a")).node)
    one = pa.record_batch({"a": [1, 2], "b": [10, 20]})
    two = pa.record_batch({"b": pa.array([5], pa.int32()), "z": ["x"], "a": [1]})  # other order and types
    assert f(one).to_pylist() == [21, 42]
    assert f(two).to_pylist() == [11]
    assert f(one).to_pylist() == [21, 42]
    with pytest.raises(dataflow.errors.UnknownColumnError, match="unknown column 'a'"):
        f(pa.record_batch({"b": [1]}))


def test_compiled_in_list_builds_its_value_set_once(monkeypatch) -> None:
    from dataflow import compute

    calls = []
    real = pa.array

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    f = compute.compile_expr(col("s").isin(["a", "c", None]).node)
    b1 = pa.record_batch({"s": ["a", "b", None]})
    b2 = pa.record_batch({"s": ["c", "d", "a"]})
    monkeypatch.setattr(compute.pa, "array", counting)
    assert f(b1).to_pylist() == [True, None, None]
    built = len(calls)
    assert f(b2).to_pylist() == [True, None, True]
    assert f(b1).to_pylist() == [True, None, None]
    assert built == 1 and len(calls) == built  # the value set, once
    # DuckDB agrees on the NULL semantics
    assert duckdb.sql("select s in ('a', 'c', null) from (values ('a'), ('b'), (null)) v(s)").fetchall() == [
        (True,), (None,), (None,)
    ]


def test_compiled_call_is_bound_at_compile_time() -> None:
    from dataflow.compute import compile_expr
    from dataflow.expr import Call

    with pytest.raises(PlanError, match="unknown function 'nosuch'"):
        compile_expr(Call(fn="nosuch", args=()))
    with pytest.raises(PlanError, match="sqrt takes 1 arguments, got 0"):
        compile_expr(Call(fn="sqrt", args=()))
    f = compile_expr(col("s").cast("varchar").node)
    with pytest.raises(ExprTypeError, match="upper expects a string, got int64: in upper"):
        compile_expr(F.call("upper", col("n")).node)(pa.record_batch({"n": [1]}))
    assert f(pa.record_batch({"s": ["x"]})).to_pylist() == ["x"]


def test_round_of_doubles_matches_duckdb(session) -> None:
    # -928.685 is really -928.68499999999994...: DuckDB rounds it to -928.68 (it
    # computes x * 10^d in long double); Arrow's double arithmetic would give -928.69
    rng = np.random.default_rng(5)
    values, digits = rng.uniform(-1000, 1000, 5000), rng.integers(0, 7, 5000)
    xs = np.array([round(float(v), int(d)) for v, d in zip(values, digits, strict=True)])
    xs = np.concatenate([xs, [2.675, 1.005, 0.5, 1.5, 2.5, -0.5, -2.5, 0.125, -928.685, 1e300, -1e-300]])
    table = pa.table({"x": xs, "f": pa.array(xs, pa.float64()).cast(pa.float32())})
    session.register("rounds", table)
    c = duckdb.connect()
    c.register("rounds", table)
    sql = "select round(x, 2), round(x), round(x, -1), round(x, 5), round(f, 1) from rounds"
    _assert_rows_equal(session.sql(sql).to_arrow(), _duck(c, sql))


def test_doubles_print_as_duckdb_prints_them(session) -> None:
    # DuckDB prints 524.0, 1000000000000000.0, 1e-05, 1e+16 (Python's repr); Arrow's
    # cast alone gives 524, 1e+15, 0.00001
    rng = np.random.default_rng(7)
    special = [0.0, -0.0, 1.0, 524.0, 1e15, 1e16, 0.1, 1e-4, 1e-5, 1e-7, 0.000123, 2.0**53, 5e-324,
               1.7976931348623157e308, 1 / 3, 999999999999999.9, float("nan"), float("inf"), -float("inf")]
    xs = np.concatenate([special, rng.uniform(-1, 1, 3000) * 10.0 ** rng.integers(-30, 30, 3000),
                         rng.integers(-(10**6), 10**6, 500).astype(np.float64)])
    table = pa.table({"x": xs})
    session.register("doubles", table)
    c = duckdb.connect()
    c.register("doubles", table)
    sql = "select cast(x as varchar), x || '!' from doubles"
    _assert_rows_equal(session.sql(sql).to_arrow(), _duck(c, sql))


def test_nan_compares_as_in_duckdb(session) -> None:
    # DuckDB: NaN = NaN, and NaN is greater than every number (IEEE: every comparison false)
    table = pa.table({"x": [float("nan"), 1.0, float("inf"), None, -0.0, -float("inf")],
                      "y": [float("nan"), float("nan"), 2.0, float("nan"), 0.0, None]})
    session.register("nans", table)
    c = duckdb.connect()
    c.register("nans", table)
    sql = ("select x = y, x <> y, x < y, x <= y, x > y, x >= y, x = 'nan'::double, x > 1e308,"
           " x in (1.0, 'nan'::double), x not in (2.0, 'nan'::double), greatest(x, y), least(x, y),"
           " greatest(x, 1.0), x between 0 and y from nans")
    _assert_rows_equal(session.sql(sql).to_arrow(), _duck(c, sql))
    got = session.sql("select x from nans where x > 100 order by x").to_arrow()
    assert [v for v in got.column(0).to_pylist() if v == v] == [float("inf")] and got.num_rows == 2
