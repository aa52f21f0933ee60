"""Expression evaluation over Arrow, checked against DuckDB (the oracle) or by hand."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from decimal import Decimal as D

import duckdb
import pyarrow as pa
import pytest

from dataflow.compute import (
    aggregate_result_type,
    aggregate_state_fields,
    evaluate,
    evaluate_predicate,
    infer_aggregate_field,
    infer_field,
    infer_window_field,
    window_fields,
)
from dataflow.errors import ArithmeticOverflowError, PlanError, UnknownColumnError, UnsupportedError
from dataflow.expr import (
    SCALAR_FUNCTIONS,
    AggCall,
    Call,
    Case,
    Cast,
    ColumnRef,
    Expr,
    InList,
    Literal,
    WindowCall,
    coalesce,
    col,
    concat,
    interval,
    lit,
    when,
)
from dataflow.kernels.udf import register_udf
from dataflow.specs import AggSpec, WindowSpec
from dataflow.types import Field, normalize_type, schema_from_arrow

DEC = pa.decimal128(15, 2)

TABLE = pa.table(
    {
        "k": pa.array(range(7), pa.int64()),
        "i": pa.array([1, 2, None, -7, 0, 5, 12], pa.int32()),
        "b": pa.array([10, None, 3, 4, -5, 6, 7], pa.int64()),
        "f": pa.array([1.5, None, 0.0, 2.5, -3.25, 3.5, 0.7]),
        "p": pa.array([D("10.50"), D("3.25"), None, D("0.00"), D("-2.55"), D("99.99"), D("1.05")], DEC),
        "d": pa.array([D("0.05"), D("0.10"), D("0.00"), None, D("0.07"), D("0.04"), D("-0.03")], DEC),
        "s": pa.array(["abc", None, "Hello", "x_y", "", "hello world", "ABC"], pa.string()),
        "sv": pa.array(["abc", "b", None, "x_y", "zz", "hello world", "abd"], pa.string_view()),
        "ls": pa.array(["  pad  ", "x", None, " a", "b ", "", "c"], pa.large_string()),
        "ds": pa.array(["2020-01-31", "1994-01-01", None, "2021-12-31", "2000-02-29", "1999-12-31", "2024-03-31"]),
        "ns": pa.array(["1.25", " 42 ", None, "-3.5", "0", "7.125", "100"]),
        "dt": pa.array(
            [dt.date(2020, 1, 31), dt.date(1994, 1, 1), None, dt.date(2021, 12, 31), dt.date(2000, 2, 29),
             dt.date(1999, 12, 31), dt.date(2024, 3, 31)],
            pa.date32(),
        ),
        "ts": pa.array(
            [dt.datetime(2020, 1, 31, 12, 30), None, dt.datetime(1995, 6, 15, 0, 0, 1), dt.datetime(2021, 12, 31, 23, 59),
             dt.datetime(2000, 2, 29), dt.datetime(1970, 1, 1), dt.datetime(2024, 3, 31, 1, 2, 3)],
            pa.timestamp("us"),
        ),
        "bo": pa.array([True, False, None, True, None, False, True]),
    }
)
BATCH = TABLE.to_batches()[0]
SCHEMA = schema_from_arrow(TABLE.schema)


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("t", TABLE)
    # DuckDB 2.0 raises on x % 0 by default; the engine's contract is NULL (DuckDB's old default)
    con.execute("SET error_on_division_by_zero = false")
    return con


def duck_eval(con: duckdb.DuckDBPyConnection, sql: str) -> pa.ChunkedArray:
    return con.sql(f"SELECT {sql} AS r FROM t ORDER BY k").to_arrow_table().column("r")


def same_values(got: list, want: list) -> bool:
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if g is None or w is None:
            if g is not w:
                return False
        elif isinstance(g, float) or isinstance(w, float):
            if not (math.isclose(float(g), float(w), rel_tol=1e-12, abs_tol=1e-12)
                    or (math.isnan(float(g)) and math.isnan(float(w)))):
                return False
        elif g != w:
            return False
    return True


# (our expression, DuckDB SQL, expected type): "duck" means DuckDB's type, a string a
# type name (where we deliberately differ: ints widen to int64, decimal * keeps p1+p2),
# None means the type is not checked.
CASES: list[tuple[Expr, str, str | None]] = [
    # arithmetic
    (col("i") + 1, "i + 1", "int64"),
    (col("i") - col("b"), "i - b", "int64"),
    (col("i") * col("b"), "i * b", "int64"),
    (col("i") * col("f"), "i * f", "duck"),
    (col("f") - col("i"), "f - i", "duck"),
    (col("p") + col("d"), "p + d", "duck"),
    (col("p") - col("i"), "p - i", "duck"),
    (col("b") + col("p"), "b + p", "duck"),
    (col("p") + 1, "p + 1", "duck"),
    (1 - col("d"), "1 - d", "duck"),
    (col("p") * col("d"), "p * d", "duck"),  # DECIMAL(18, 4): DuckDB multiplies in 64 bits
    (col("p") * 2, "p * 2", "decimal128(16, 2)"),
    (col("p") * col("f"), "p * f", "duck"),
    (col("p") + col("f"), "p + f", "duck"),
    (col("i") / 2, "i / 2", "duck"),
    (col("b") / col("i"), "b / nullif(i, 0)", "duck"),
    (col("p") / col("d"), "p / nullif(d, 0)", "duck"),
    (col("f") / col("f"), "f / nullif(f, 0)", "duck"),
    (col("i") % 3, "i % 3", "int64"),
    (col("b") % col("i"), "b % i", "int64"),
    (-col("i") % 4, "-i % 4", "int64"),
    (col("f") % 0.7, "f % 0.7::double", "duck"),
    (col("p") % col("d"), "p % d", "duck"),
    (col("p") % 2, "p % 2", "duck"),
    (-col("p"), "-p", "duck"),
    (-col("f"), "-f", "duck"),
    (Expr(Call(fn="abs", args=(col("i").node,))), "abs(i)", "duck"),
    (Expr(Call(fn="abs", args=(col("p").node,))), "abs(p)", "duck"),
    (Expr(Call(fn="round", args=(col("f").node, lit(0).node))), "round(f, 0)", "duck"),
    (Expr(Call(fn="round", args=(col("f").node,))), "round(f)", "duck"),
    (Expr(Call(fn="round", args=(col("p").node, lit(1).node))), "round(p, 1)", "duck"),
    (Expr(Call(fn="round", args=(col("p").node,))), "round(p)", "duck"),
    (Expr(Call(fn="round", args=(col("p").node, lit(3).node))), "round(p, 3)", "duck"),
    (Expr(Call(fn="round", args=(col("b").node, lit(-1).node))), "round(b, -1)", "duck"),
    (col("i") + lit(None), "i + NULL", None),
    # comparisons
    (col("p") > col("d"), "p > d", "duck"),
    (col("p") == col("i"), "p = i", "duck"),
    (col("p") >= 3, "p >= 3", "duck"),
    (col("p") < 3.3, "p < 3.3::double", "duck"),
    (col("i") <= col("f"), "i <= f", "duck"),
    (col("i") != col("b"), "i <> b", "duck"),
    (col("p") == lit(D("3.250")), "p = 3.250", "duck"),
    (col("dt") < "1995-01-01", "dt < '1995-01-01'", "duck"),
    (col("dt") >= lit(dt.date(2020, 1, 31)), "dt >= DATE '2020-01-31'", "duck"),
    (col("ts") > col("dt"), "ts > dt", "duck"),
    (col("s") == col("sv"), "s = sv", "duck"),
    (col("sv") < "b", "sv < 'b'", "duck"),
    (col("ls") == col("s"), "ls = s", "duck"),
    (col("i").between(0, 5), "i BETWEEN 0 AND 5", "duck"),
    (col("p").between(col("d"), 50), "p BETWEEN d AND 50", "duck"),
    # boolean logic
    ((col("i") > 1) & (col("f") > 0), "i > 1 AND f > 0", "duck"),
    ((col("i") > 1) | (col("f") > 0), "i > 1 OR f > 0", "duck"),
    (~(col("i") > 1), "NOT (i > 1)", "duck"),
    (col("bo") & lit(None), "bo AND NULL", "duck"),
    (col("bo") | lit(None), "bo OR NULL", "duck"),
    # nulls
    (col("i").is_null(), "i IS NULL", "duck"),
    (col("p").is_not_null(), "p IS NOT NULL", "duck"),
    (coalesce("i", "p"), "coalesce(i, p)", "duck"),
    (coalesce("f", 0), "coalesce(f, 0)", "duck"),
    (coalesce(lit(None), "b", "i"), "coalesce(NULL, b, i)", "duck"),
    (Expr(Call(fn="nullif", args=(col("i").node, lit(2).node))), "nullif(i, 2)", "int32"),
    (Expr(Call(fn="nullif", args=(col("s").node, col("sv").node))), "nullif(s, sv)", "duck"),
    # IN lists
    (col("i").isin([1, 2]), "i IN (1, 2)", "duck"),
    (col("i").isin([1, None]), "i IN (1, NULL)", "duck"),
    (col("i").isin([1, None], negated=True), "i NOT IN (1, NULL)", "duck"),
    (col("i").isin([1, 5], negated=True), "i NOT IN (1, 5)", "duck"),
    (col("i").isin([col("b"), 5]), "i IN (b, 5)", "duck"),
    (col("i").isin([col("b"), None], negated=True), "i NOT IN (b, NULL)", "duck"),
    (col("p").isin([lit(D("3.25")), 0]), "p IN (3.25, 0)", "duck"),
    (col("sv").isin(["abc", "zz"]), "sv IN ('abc', 'zz')", "duck"),
    (col("dt").isin(["1994-01-01", "2000-02-29"]), "dt IN ('1994-01-01', '2000-02-29')", "duck"),
    # strings
    (col("s").like("%l%"), "s LIKE '%l%'", "duck"),
    (col("s").like("x_y"), "s LIKE 'x_y'", "duck"),
    (col("sv").like("a%"), "sv LIKE 'a%'", "duck"),
    (Expr(Call(fn="ilike", args=(col("s").node, lit("h%").node))), "s ILIKE 'h%'", "duck"),
    (col("s").substring(2, 2), "substring(s, 2, 2)", "duck"),
    (col("s").substring(2), "substring(s, 2)", "duck"),
    (col("s").substring(-2), "substring(s, -2)", "duck"),
    (col("s").substring(0, 2), "substring(s, 0, 2)", "duck"),
    (col("s").substring(-3, 2), "substring(s, -3, 2)", "duck"),
    (col("sv").substring(1, 1), "substring(sv, 1, 1)", "duck"),
    (col("s").upper(), "upper(s)", "duck"),
    (col("sv").lower(), "lower(sv)", "duck"),
    (col("s").length(), "length(s)", "duck"),
    (col("ls").length(), "length(ls)", "duck"),
    (concat("s", lit("!")), "s || '!'", "duck"),
    (concat("s", "sv", "ls"), "s || sv || ls", "duck"),
    (concat("s", "i"), "s || i", "duck"),
    (col("s").starts_with("H"), "starts_with(s, 'H')", "duck"),
    (col("sv").ends_with("c"), "ends_with(sv, 'c')", "duck"),
    (col("s").contains("l"), "contains(s, 'l')", "duck"),
    (Expr(Call(fn="trim", args=(col("ls").node,))), "trim(ls)", "duck"),
    (Expr(Call(fn="ltrim", args=(col("ls").node,))), "ltrim(ls)", "duck"),
    (Expr(Call(fn="rtrim", args=(col("ls").node,))), "rtrim(ls)", "duck"),
    (Expr(Call(fn="trim", args=(col("s").node, lit("ac").node))), "trim(s, 'ac')", "duck"),
    (Expr(Call(fn="replace", args=(col("s").node, lit("l").node, lit("L").node))), "replace(s, 'l', 'L')", "duck"),
    # dates
    (col("dt").year(), "year(dt)", "duck"),
    (col("dt").month(), "month(dt)", "duck"),
    (col("dt").day(), "day(dt)", "duck"),
    (Expr(Call(fn="quarter", args=(col("dt").node,))), "quarter(dt)", "duck"),
    (col("ts").year(), "year(ts)", "duck"),
    (Expr(Call(fn="quarter", args=(col("ts").node,))), "quarter(ts)", "duck"),
    (col("dt") + interval(days=1), "dt + 1", "duck"),
    (col("dt") - interval(days=40), "dt - 40", "duck"),
    (Expr(Call(fn="add_days", args=(col("dt").node, col("i").node))), "dt + i", "duck"),
    (col("dt") + interval(months=1), "(dt + INTERVAL 1 MONTH)::DATE", "date32[day]"),
    (col("dt") - interval(months=1), "(dt - INTERVAL 1 MONTH)::DATE", "date32[day]"),
    (col("dt") + interval(years=1), "(dt + INTERVAL 1 YEAR)::DATE", "date32[day]"),
    (Expr(Call(fn="add_months", args=(col("dt").node, col("i").node))), "(dt + to_months(i))::DATE", "date32[day]"),
    (col("ts") + interval(months=1), "ts + INTERVAL 1 MONTH", "duck"),
    (col("ts") + interval(days=2), "ts + INTERVAL 2 DAY", "duck"),
    (col("dt") - col("dt").cast("date32[day]") + 3, "dt - dt + 3", "int64"),
    # CASE
    (when(col("i") > 1).then(col("p")).otherwise(col("i")), "CASE WHEN i > 1 THEN p ELSE i END", "duck"),
    (when(col("bo")).then(lit("yes")).end(), "CASE WHEN bo THEN 'yes' END", "duck"),
    (
        when(col("f") > 1).then(lit("big")).when(col("f").is_null()).then(lit("none")).otherwise(col("sv")),
        "CASE WHEN f > 1 THEN 'big' WHEN f IS NULL THEN 'none' ELSE sv END",
        "duck",
    ),
    (when(col("i") > 0).then(col("f")).otherwise(col("b")), "CASE WHEN i > 0 THEN f ELSE b END", "duck"),
    (when(col("i") > 0).then(lit(None)).otherwise(col("p")), "CASE WHEN i > 0 THEN NULL ELSE p END", "duck"),
    # CAST
    (col("p").cast("double"), "CAST(p AS DOUBLE)", "duck"),
    (col("i").cast("decimal128(10, 2)"), "CAST(i AS DECIMAL(10, 2))", "duck"),
    (col("ds").cast("date32[day]"), "CAST(ds AS DATE)", "duck"),
    (col("ns").cast("decimal128(10, 2)"), "CAST(ns AS DECIMAL(10, 2))", "duck"),
    (col("ns").cast("double"), "CAST(ns AS DOUBLE)", "duck"),
    (col("f").cast("int32"), "CAST(f AS INTEGER)", "duck"),
    (col("p").cast("int64"), "CAST(p AS BIGINT)", "duck"),
    (col("p").cast("decimal128(15, 1)"), "CAST(p AS DECIMAL(15, 1))", "duck"),
    (col("f").cast("decimal128(10, 1)"), "CAST(f AS DECIMAL(10, 1))", "duck"),
    (col("i").cast("string"), "CAST(i AS VARCHAR)", "duck"),
    (col("dt").cast("string"), "CAST(dt AS VARCHAR)", "duck"),
    (col("ts").cast("date32[day]"), "CAST(ts AS DATE)", "duck"),
    (col("b").cast("int16"), "CAST(b AS SMALLINT)", "duck"),
    (lit("2020-01-01").cast("date32[day]"), "CAST('2020-01-01' AS DATE)", "duck"),
]


def _ids() -> list[str]:
    return [sql for _, sql, _ in CASES]


@pytest.mark.parametrize(("expr", "sql", "want_type"), CASES, ids=_ids())
def test_matches_duckdb(duck: duckdb.DuckDBPyConnection, expr: Expr, sql: str, want_type: str | None) -> None:
    got = evaluate(expr.node, BATCH)
    want = duck_eval(duck, sql)
    assert len(got) == BATCH.num_rows
    assert same_values(got.to_pylist(), want.to_pylist()), (got.to_pylist(), want.to_pylist())
    if want_type == "duck":
        assert got.type == normalize_type(want.type)
    elif want_type is not None:
        assert str(got.type) == want_type
    # typing on an empty batch agrees with evaluation
    assert infer_field(expr.node, SCHEMA, "x").type == str(got.type)


def test_every_scalar_function_is_in_the_registry() -> None:
    from dataflow import kernels

    assert kernels.names() == SCALAR_FUNCTIONS
    for f in kernels.functions():
        assert callable(f.impl) and f.arity[0] >= 0 and f.family
        for name in f.sql_names:
            assert kernels.by_sql_name(name) is f


def test_string_view_inputs_are_normalized() -> None:
    out = evaluate(col("sv").node, BATCH)
    assert out.type == pa.string()
    assert infer_field(col("sv").node, SCHEMA, "sv").type == "string"
    # a schema still carrying a view type types the same way
    raw = (Field(name="sv", type="string_view"),)
    assert infer_field(col("sv").upper().node, raw, "u").type == "string"


# ---------------------------------------------------------------------------------------
# decimals


def test_tpch_charge_product(duck: duckdb.DuckDBPyConnection) -> None:
    charge = col("p") * (1 - col("d")) * (1 + col("d"))
    got = evaluate(charge.node, BATCH)
    want = duck_eval(duck, "p * (1 - d) * (1 + d)")
    assert got.type == want.type == pa.decimal128(18, 6)
    assert got.to_pylist() == want.to_pylist()
    # its sum types as DuckDB's
    agg = infer_aggregate_field(AggCall(fn="sum", arg=charge.node), SCHEMA, "sum_charge")
    assert agg.type == "decimal128(38, 6)"
    assert duck_eval(duck, "sum(p * (1 - d) * (1 + d)) OVER ()").type == pa.decimal128(38, 6)


def test_decimal_product_beyond_38_digits() -> None:
    # Arrow alone raises "Decimal precision out of range" here
    b = pa.record_batch({
        "x": pa.array([D("12345678901234567890.1234"), None], pa.decimal128(31, 4)),
        "y": pa.array([D("1234567890.12"), D("1")], pa.decimal128(16, 2)),
    })
    out = evaluate((col("x") * col("y")).node, b)
    assert out.type == pa.decimal128(38, 6)
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        assert out.to_pylist() == [D("12345678901234567890.1234") * D("1234567890.12"), None]


def test_decimal_product_through_decimal256() -> None:
    # the values use 28 + 10 digits: too many for decimal128 intermediates, but the
    # product (37 digits at scale 6) fits decimal128(38, 6)
    b = pa.record_batch({
        "x": pa.array([D("100000000000000000000000.0000"), D("-1.5")], pa.decimal128(31, 4)),
        "y": pa.array([D("10000000.00"), D("2.00")], pa.decimal128(16, 2)),
    })
    out = evaluate((col("x") * col("y")).node, b)
    assert out.type == pa.decimal128(38, 6)
    assert out.to_pylist() == [D("1" + "0" * 30), D("-3")]


def test_decimal_overflow_is_an_error_not_garbage() -> None:
    big = D("9" * 30)
    b = pa.record_batch({"x": pa.array([big], pa.decimal128(30, 0)), "y": pa.array([big], pa.decimal128(30, 0))})
    with pytest.raises(ArithmeticOverflowError, match="Overflow in multiplication of DECIMAL"):
        evaluate((col("x") * col("y")).node, b)
    with pytest.raises(duckdb.OutOfRangeException, match="Overflow in multiplication of DECIMAL"):
        duckdb.sql(f"select {big}::decimal(30, 0) * {big}::decimal(30, 0)").fetchall()


def test_int_literal_takes_smallest_decimal() -> None:
    assert infer_field((col("p") * 2).node, SCHEMA, "x").type == "decimal128(16, 2)"
    # 15 + 4 digits, but both operands fit 18 digits: DECIMAL(18, 2), as DuckDB's
    assert infer_field((col("p") * 1000).node, SCHEMA, "x").type == "decimal128(18, 2)"
    # an int64 column is decimal(19, 0)
    assert infer_field((col("p") * col("b")).node, SCHEMA, "x").type == "decimal128(34, 2)"


def test_division_by_zero_is_null() -> None:
    b = pa.record_batch({"x": [1, 0, None], "y": [0, 0, 1], "f": [1.5, 0.0, 2.0], "q": pa.array([D("0")] * 3, DEC)})
    assert evaluate((col("x") / col("y")).node, b).to_pylist() == [None, None, None]
    assert evaluate((col("f") / 0).node, b).to_pylist() == [None, None, None]
    assert evaluate((col("f") / col("q")).node, b).to_pylist() == [None, None, None]
    assert evaluate((col("x") % col("y")).node, b).to_pylist() == [None, None, None]
    assert evaluate((col("f") % 0).node, b).to_pylist() == [None, None, None]
    assert infer_field((col("x") / col("y")).node, schema_from_arrow(b.schema), "r").nullable


# ---------------------------------------------------------------------------------------
# three-valued logic

T, F, N = True, False, None
TRUTH = pa.record_batch({"a": [T, T, T, F, F, F, N, N, N], "b": [T, F, N, T, F, N, T, F, N]})


def test_and_or_not_three_valued() -> None:
    assert evaluate((col("a") & col("b")).node, TRUTH).to_pylist() == [T, F, N, F, F, F, N, F, N]
    assert evaluate((col("a") | col("b")).node, TRUTH).to_pylist() == [T, T, T, T, F, N, T, N, N]
    assert evaluate((~col("a")).node, TRUTH).to_pylist() == [F, F, F, T, T, T, N, N, N]
    assert evaluate(Call(fn="and", args=(col("a").node, col("b").node, lit(True).node)), TRUTH).to_pylist() == [
        T, F, N, F, F, F, N, F, N,
    ]


def test_in_and_not_in_with_nulls() -> None:
    b = pa.record_batch({"x": pa.array([1, 2, None], pa.int64())})
    assert evaluate(col("x").isin([1, 3]).node, b).to_pylist() == [T, F, N]
    assert evaluate(col("x").isin([1, 3], negated=True).node, b).to_pylist() == [F, T, N]
    assert evaluate(col("x").isin([1, None]).node, b).to_pylist() == [T, N, N]
    assert evaluate(col("x").isin([1, None], negated=True).node, b).to_pylist() == [F, N, N]
    assert evaluate(col("x").isin([None]).node, b).to_pylist() == [N, N, N]
    # the same through the non-constant path
    assert evaluate(col("x").isin([col("x"), None], negated=True).node, b).to_pylist() == [F, F, N]
    assert evaluate(InList(expr=col("x").node, values=(), negated=False), b).to_pylist() == [F, F, F]


def test_predicate_treats_null_as_false() -> None:
    out = evaluate_predicate(((col("a") & col("b")) | col("b")).node, TRUTH)
    assert out.type == pa.bool_() and out.null_count == 0
    assert out.to_pylist() == [T, F, F, T, F, F, T, F, F]
    assert evaluate_predicate(lit(None).node, TRUTH).to_pylist() == [F] * 9
    assert evaluate_predicate(lit(True).node, TRUTH).to_pylist() == [T] * 9
    with pytest.raises(PlanError, match="boolean"):
        evaluate_predicate(col("a").cast("int64").node, TRUTH)


# ---------------------------------------------------------------------------------------
# dates, CASE, casts, literals


def test_add_months_clamps_to_month_end() -> None:
    b = pa.record_batch({"d": pa.array([dt.date(2020, 1, 31), dt.date(2019, 1, 31), dt.date(2020, 3, 31),
                                        dt.date(2020, 5, 15), None], pa.date32())})
    out = evaluate(Call(fn="add_months", args=(col("d").node, lit(1).node)), b)
    assert out.type == pa.date32()
    assert out.to_pylist() == [dt.date(2020, 2, 29), dt.date(2019, 2, 28), dt.date(2020, 4, 30),
                               dt.date(2020, 6, 15), None]
    back = evaluate(Call(fn="add_months", args=(col("d").node, lit(-13).node)), b)
    assert back.to_pylist() == [dt.date(2018, 12, 31), dt.date(2017, 12, 31), dt.date(2019, 2, 28),
                                dt.date(2019, 4, 15), None]


def test_case_null_condition_is_not_taken() -> None:
    e = when(col("a")).then(lit(1)).when(lit(True)).then(lit(2)).end()
    assert evaluate(e.node, TRUTH).to_pylist() == [1, 1, 1, 2, 2, 2, 2, 2, 2]
    e2 = Case(whens=((col("a").node, lit(1).node),))
    assert evaluate(e2, TRUTH).to_pylist() == [1, 1, 1, N, N, N, N, N, N]
    assert infer_field(e2, schema_from_arrow(TRUTH.schema), "c").nullable


def test_literals_broadcast() -> None:
    out = evaluate(lit(D("1.50")).node, BATCH)
    assert out.type == pa.decimal128(3, 2) and out.to_pylist() == [D("1.50")] * 7
    assert evaluate(lit(None).node, BATCH).to_pylist() == [None] * 7
    assert evaluate((lit(2) * 3 + 1).node, BATCH).to_pylist() == [7] * 7
    assert evaluate(lit("x", "string_view").node, BATCH).type == pa.string()
    empty = BATCH.slice(0, 0)
    assert len(evaluate((col("i") + 1).node, empty)) == 0
    assert len(evaluate(lit(1).node, empty)) == 0


def test_failed_cast_raises_plan_error() -> None:
    with pytest.raises(PlanError, match="cannot cast"):
        evaluate(col("s").cast("int64").node, BATCH)
    with pytest.raises(PlanError, match="cannot cast"):
        infer_field(lit("not a date").cast("date32[day]").node, SCHEMA, "x")
    with pytest.raises(PlanError):
        infer_field((col("dt") < "yesterday").node, SCHEMA, "x")
    with pytest.raises(PlanError, match="cannot cast i: unknown type 'nosuch'"):
        col("i").cast("nosuch")
    with pytest.raises(PlanError, match="cannot cast to 'nosuch'"):
        infer_field(Cast(expr=col("i").node, to="nosuch"), SCHEMA, "x")


# ---------------------------------------------------------------------------------------
# typing and errors


@pytest.mark.parametrize(
    ("expr", "type_", "nullable"),
    [
        (col("k"), "int64", True),
        (col("k").is_null(), "bool", False),
        (lit(1), "int64", False),
        (lit(None), "null", True),
        (col("i") + 1, "int64", True),
        (col("f") * col("i"), "double", True),
        (col("p") - col("d"), "decimal128(16, 2)", True),
        (col("p") / col("d"), "double", True),
        (col("dt") + interval(months=3), "date32[day]", True),
        (col("s").upper(), "string", True),
        (coalesce("i", 0), "int64", False),
        (coalesce("i", "b"), "int64", True),
        (when(col("i") > 0).then(col("p")).otherwise(lit(0)), "decimal128(15, 2)", True),
        (when(col("i") > 0).then(lit(1)).otherwise(lit(2.5)), "double", False),
        (col("ds").cast("date32[day]"), "date32[day]", True),
        (col("dt").year(), "int64", True),
        (lit(1).isin([1, 2]), "bool", False),
    ],
)
def test_infer_field(expr: Expr, type_: str, nullable: bool) -> None:
    f = infer_field(expr.node, SCHEMA, "out")
    assert (f.name, f.type, f.nullable) == ("out", type_, nullable)


def test_infer_field_type_errors() -> None:
    with pytest.raises(PlanError, match="string and date32"):
        infer_field((col("s") + col("dt")).node, SCHEMA, "x")
    with pytest.raises(PlanError, match=r"cannot compare int32 with date32\[day\].*in \(i = dt\)"):
        infer_field((col("i") == col("dt")).node, SCHEMA, "x")
    with pytest.raises(PlanError, match="boolean"):
        infer_field((col("i") & col("bo")).node, SCHEMA, "x")
    with pytest.raises(PlanError, match="expects a string"):
        infer_field(col("i").upper().node, SCHEMA, "x")
    with pytest.raises(PlanError, match="takes"):
        infer_field(Call(fn="add", args=(col("i").node,)), SCHEMA, "x")
    with pytest.raises(PlanError, match="unknown function"):
        infer_field(Call(fn="frobnicate", args=()), SCHEMA, "x")


def test_unknown_column_suggests_near_matches() -> None:
    with pytest.raises(UnknownColumnError, match="did you mean 'ds'") as info:
        infer_field((col("dss") + 1).node, SCHEMA, "x")
    assert info.value.suggestions[0] == "ds"
    with pytest.raises(UnknownColumnError):
        evaluate(col("nope").node, BATCH)


def test_aggregates_and_windows_are_rejected_in_scalar_context() -> None:
    with pytest.raises(PlanError, match="not allowed"):
        evaluate(AggCall(fn="sum", arg=col("i").node), BATCH)
    with pytest.raises(PlanError, match="not allowed"):
        infer_field(Call(fn="add", args=(WindowCall(fn="row_number"), lit(1).node)), SCHEMA, "x")


def test_non_constant_pattern_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="constant"):
        evaluate(Call(fn="like", args=(col("s").node, col("sv").node)), BATCH)
    with pytest.raises(UnsupportedError):
        evaluate(Call(fn="substring", args=(col("s").node, col("i").node)), BATCH)


def test_like_has_no_escape_character(duck: duckdb.DuckDBPyConnection) -> None:
    b = pa.record_batch({"s": ["a\\b", "a_b", "ab"]})
    got = evaluate(col("s").like("a\\b").node, b).to_pylist()
    want = duckdb.sql("SELECT s LIKE 'a\\b' FROM (VALUES ('a\\b'), ('a_b'), ('ab')) v(s)").fetchall()
    assert got == [r[0] for r in want] == [True, False, False]


# ---------------------------------------------------------------------------------------
# aggregate and window typing


def test_aggregate_result_type() -> None:
    assert aggregate_result_type("count", pa.string()) == pa.int64()
    assert aggregate_result_type("count_star", None) == pa.int64()
    for t in (pa.int8(), pa.int32(), pa.uint16(), pa.int64()):
        assert aggregate_result_type("sum", t) == pa.decimal128(38, 0)  # DuckDB: HUGEINT
    assert aggregate_result_type("sum", pa.float32()) == pa.float64()
    assert aggregate_result_type("sum", pa.decimal128(15, 2)) == pa.decimal128(38, 2)
    assert aggregate_result_type("avg", pa.decimal128(15, 2)) == pa.float64()
    assert aggregate_result_type("avg", pa.int32()) == pa.float64()
    assert aggregate_result_type("min", pa.date32()) == pa.date32()
    assert aggregate_result_type("max", pa.string_view()) == pa.string()
    with pytest.raises(PlanError):
        aggregate_result_type("sum", pa.string())
    with pytest.raises(PlanError):
        aggregate_result_type("frobnicate", pa.int64())


def test_infer_aggregate_field() -> None:
    f = infer_aggregate_field(AggCall(fn="avg", arg=(col("p") * 2).node), SCHEMA, "a")
    assert (f.type, f.nullable) == ("double", True)
    f = infer_aggregate_field(AggCall(fn="count", arg=col("s").node, distinct=True), SCHEMA, "c")
    assert (f.type, f.nullable) == ("int64", False)
    f = infer_aggregate_field(AggCall(fn="count_star"), SCHEMA, "n")
    assert (f.type, f.nullable) == ("int64", False)
    assert infer_aggregate_field(AggCall(fn="max", arg=col("sv").node), SCHEMA, "m").type == "string"
    with pytest.raises(UnknownColumnError):
        infer_aggregate_field(AggCall(fn="sum", arg=col("zz").node), SCHEMA, "s")


AGGS = (
    AggSpec(name="n", fn="count_star"),
    AggSpec(name="c", fn="count", arg="s"),
    AggSpec(name="total", fn="sum", arg="p"),
    AggSpec(name="si", fn="sum", arg="i"),
    AggSpec(name="mean", fn="avg", arg="p"),
    AggSpec(name="lo", fn="min", arg="dt"),
    AggSpec(name="hi", fn="max", arg="sv"),
)


def _fields(schema: tuple[Field, ...]) -> list[tuple[str, str, bool]]:
    return [(f.name, f.type, f.nullable) for f in schema]


def test_aggregate_state_fields_single() -> None:
    assert _fields(aggregate_state_fields(AGGS, SCHEMA, "single")) == [
        ("n", "int64", False),
        ("c", "int64", False),
        ("total", "decimal128(38, 2)", True),
        ("si", "decimal128(38, 0)", True),
        ("mean", "double", True),
        ("lo", "date32[day]", True),
        ("hi", "string", True),
    ]


def test_aggregate_state_fields_partial_then_final() -> None:
    partial = aggregate_state_fields(AGGS, SCHEMA, "partial")
    assert _fields(partial) == [
        ("n", "int64", False),
        ("c", "int64", False),
        ("total", "decimal128(38, 2)", True),
        ("si", "decimal128(38, 0)", True),
        ("mean__sum", "decimal128(38, 2)", True),
        ("mean__count", "int64", False),
        ("lo", "date32[day]", True),
        ("hi", "string", True),
    ]
    # final reads the partial output: the AggSpec args are not there any more
    final = aggregate_state_fields(AGGS, partial, "final")
    assert final == aggregate_state_fields(AGGS, SCHEMA, "single")


def test_aggregate_state_fields_errors() -> None:
    with pytest.raises(UnknownColumnError):
        aggregate_state_fields((AggSpec(name="x", fn="sum", arg="nope"),), SCHEMA, "single")
    with pytest.raises(UnknownColumnError):
        aggregate_state_fields((AggSpec(name="x", fn="sum", arg="p"),), SCHEMA, "final")


def test_window_typing() -> None:
    specs = (
        WindowSpec(name="rn", fn="row_number"),
        WindowSpec(name="r", fn="rank"),
        WindowSpec(name="dr", fn="dense_rank"),
        WindowSpec(name="s", fn="sum", arg="p"),
        WindowSpec(name="a", fn="avg", arg="i"),
        WindowSpec(name="c", fn="count", arg="s"),
        WindowSpec(name="m", fn="min", arg="ds"),
    )
    assert _fields(window_fields(specs, SCHEMA)) == [
        ("rn", "int64", False),
        ("r", "int64", False),
        ("dr", "int64", False),
        ("s", "decimal128(38, 2)", True),
        ("a", "double", True),
        ("c", "int64", False),
        ("m", "string", True),
    ]
    w = WindowCall(fn="sum", arg=col("i").node, partition_by=(col("s").node,))
    assert infer_window_field(w, SCHEMA, "w").type == "decimal128(38, 0)"
    assert infer_window_field(WindowCall(fn="rank"), SCHEMA, "w").nullable is False
    with pytest.raises(UnknownColumnError):
        infer_window_field(WindowCall(fn="rank", partition_by=(ColumnRef(name="nope"),)), SCHEMA, "w")


# ---------------------------------------------------------------------------------------
# UDFs


def test_udf() -> None:
    import pyarrow.compute as pc

    register_udf("twice_plus", lambda x, y: pc.add(pc.multiply(x, 2), y), "int64")
    e = Call(fn="udf:twice_plus", args=(ColumnRef(name="b"), Literal(value=1, type="int64")))
    assert evaluate(e, BATCH).to_pylist() == [21, None, 7, 9, -9, 13, 15]
    f = infer_field(e, SCHEMA, "u")
    assert (f.type, f.nullable) == ("int64", True)
    with pytest.raises(PlanError, match="unknown UDF"):
        evaluate(Call(fn="udf:nope", args=()), BATCH)
    register_udf("bad", lambda x: x[:1], "int64")
    with pytest.raises(PlanError, match="returned 1 values"):
        evaluate(Call(fn="udf:bad", args=(ColumnRef(name="b"),)), BATCH)


def test_cast_node_roundtrip_type_names() -> None:
    # every Cast target is an Arrow type name; decimal256 works too
    e = Cast(expr=col("p").node, to="decimal256(40, 2)")
    assert evaluate(e, BATCH).type == pa.decimal256(40, 2)
