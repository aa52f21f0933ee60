"""fold_constants: golden plans, types kept exactly, what is left alone, and equal
results with the rule on and off.

Regenerate the golden files with ``DATAFLOW_UPDATE_GOLDEN=1 pytest tests/unit/test_fold_constants.py``.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

import dataflow
from dataflow import DataFrame, col, interval, lit, when
from dataflow import functions as F
from dataflow import logical as L
from dataflow.compute import infer_field
from dataflow.expr import Call, Case, Cast, ColumnRef, ExprNode, InList, Literal
from dataflow.kernels.udf import register_udf
from dataflow.optimizer.rules.fold_constants import fold_constants, fold_expr
from dataflow.types import Field, schema_from_arrow
from tests.golden import GOLDEN as GOLDEN_DIR
from tests.golden import check_golden as _check_golden
from tests.golden import tpch_session
from tests.oracle import assert_same, tpch_data

GOLDEN = GOLDEN_DIR / "fold_constants"
DATE = "date32[day]"
TRUE = Literal(value=True, type="bool")
FALSE = Literal(value=False, type="bool")


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with the golden file ``name`` of this rule."""
    _check_golden(GOLDEN / f"{name}.txt", text)


@pytest.fixture(scope="module")
def data():
    return tpch_data(0.01)


def _session(data: Path, disabled: tuple[str, ...] = ()) -> dataflow.Session:
    return tpch_session(disabled)


@pytest.fixture(scope="module")
def s(data):
    session = _session(data)
    yield session
    session.close()


@pytest.fixture(scope="module")
def s_off(data):
    session = _session(data, ("fold_constants",))
    yield session
    session.close()


# ---------------------------------------------------------------------------------------
# The queries

DAY = lit("1994-01-01").cast(DATE)


def dates_and_intervals(s: dataflow.Session) -> DataFrame:
    """TPC-H Q5's date range written with a cast and an interval."""
    return s.table("orders").filter(
        (col("o_orderdate") >= DAY) & (col("o_orderdate") < DAY + interval(years=1))
    )


def boolean_identities(s: dataflow.Session) -> DataFrame:
    """x AND TRUE, x OR FALSE, NOT NOT x, and a filter on TRUE."""
    return (
        s.table("nation")
        .filter(((col("n_regionkey") > 1) & lit(True)) | lit(False))
        .filter(~~(col("n_nationkey") < 20))
        .filter(lit(True))
        .filter(lit(1) < lit(2))
    )


def arithmetic_in_projections(s: dataflow.Session) -> DataFrame:
    """Constant arithmetic in output columns; a fold that would change a column's
    nullability (1 / 2 may be NULL, 0.5 may not) is not done."""
    return s.table("lineitem").select(
        "l_orderkey",
        (col("l_extendedprice") * (lit(decimal.Decimal("1.00")) - lit(decimal.Decimal("0.05")))).alias("net"),
        (lit(3) * lit(4) + col("l_linenumber")).alias("n"),
        lit("ab").upper().alias("code"),
        (col("l_quantity") + lit(1) / lit(2)).alias("q"),
        (col("l_shipdate") + interval(days=1)).alias("next_day"),
    )


def aggregates_and_sorts(s: dataflow.Session) -> DataFrame:
    """Constants inside aggregate arguments, group keys and sort keys."""
    return (
        s.table("lineitem")
        .filter(col("l_shipdate") <= lit("1998-12-01").cast(DATE) - interval(days=90))
        .group_by("l_returnflag")
        .agg(
            F.sum(col("l_quantity") * (lit(2) - lit(1))).alias("qty"),
            F.count(when(lit(1) == lit(1)).then(col("l_orderkey")).otherwise(lit(None))).alias("n"),
        )
        .sort((col("qty") * (lit(1) + lit(1))).desc())
    )


def join_condition(s: dataflow.Session) -> DataFrame:
    """A constant part of a join condition."""
    return s.table("nation").join(
        s.table("region"),
        on=(col("n_regionkey") == col("r_regionkey")) & (col("r_regionkey") < lit(2) + lit(1)) & lit(True),
    )


CASES: dict[str, Callable[[dataflow.Session], DataFrame]] = {
    "dates_and_intervals": dates_and_intervals,
    "boolean_identities": boolean_identities,
    "arithmetic_in_projections": arithmetic_in_projections,
    "aggregates_and_sorts": aggregates_and_sorts,
    "join_condition": join_condition,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(s, name):
    plan = CASES[name](s).plan
    after = fold_constants(plan)
    title = CASES[name].__doc__.strip().splitlines()[0]
    check_golden(
        name, f"# {title}\n-- before\n{L.render(plan)}\n-- after fold_constants\n{L.render(after)}\n"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_schema_and_json_round_trip(s, name):
    plan = CASES[name](s).plan
    after = fold_constants(plan)
    assert after.schema == plan.schema
    assert L.load_plan(after.model_dump_json()) == after
    assert fold_constants(after) == after  # idempotent


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_results_with_the_rule_on_and_off(s, s_off, name):
    plan = CASES[name](s).plan
    on, off = s.execute(plan).result(), s_off.execute(plan).result()
    assert on.schema == off.schema
    assert_same(on, off)


# ---------------------------------------------------------------------------------------
# Expressions: folded to a literal of exactly the same type

SCHEMA = schema_from_arrow(pa.schema([("x", pa.int64()), ("d", pa.date32()), ("m", pa.decimal128(15, 2))]))


def lt(v, t: str) -> Literal:
    return Literal(value=v, type=t)


def call(fn: str, *args: ExprNode) -> Call:
    return Call(fn=fn, args=args)


CONSTANTS: list[tuple[str, ExprNode]] = [
    ("cast string to date", Cast(expr=lt("1994-01-01", "string"), to=DATE)),
    ("date plus a year", call("add_months", lt("1994-01-01", DATE), lt(12, "int64"))),
    ("date minus days", call("add_days", lt("1998-12-01", DATE), lt(-90, "int64"))),
    ("integer arithmetic", call("multiply", lt(3, "int64"), call("add", lt(1, "int64"), lt(2, "int32")))),
    ("decimal arithmetic", call("subtract", lt("1.00", "decimal128(3, 2)"), lt("0.05", "decimal128(3, 2)"))),
    ("decimal times int", call("multiply", lt("2.50", "decimal128(3, 2)"), lt(4, "int64"))),
    ("division", call("divide", lt(1, "int64"), lt(4, "int64"))),
    ("division by zero", call("divide", lt(1, "int64"), lt(0, "int64"))),
    ("string functions", call("concat", call("upper", lt("ab", "string")), lt("-", "string"))),
    ("substring", call("substring", lt("hello", "string"), lt(2, "int64"), lt(3, "int64"))),
    ("comparison", call("lt", lt(1, "int64"), lt(2.5, "double"))),
    ("null arithmetic", call("add", lt(None, "int64"), lt(1, "int64"))),
    ("coalesce", call("coalesce", lt(None, "int64"), lt(7, "int64"))),
    ("extract year", call("year", lt("1995-06-17", DATE))),
    ("in list", InList(expr=lt(3, "int64"), values=(lt(1, "int64"), lt(3, "int64")))),
    ("cast to decimal", Cast(expr=lt("12.345", "string"), to="decimal128(10, 3)")),
]


@pytest.mark.parametrize("name,expr", CONSTANTS, ids=[n for n, _ in CONSTANTS])
def test_constants_fold_to_a_literal_of_the_same_type(name, expr):
    folded = fold_expr(expr)
    assert isinstance(folded, Literal), name
    assert infer_field(folded, SCHEMA, "v").type == infer_field(expr, SCHEMA, "v").type
    # and inside a larger expression over a column the type does not move either
    for outer in (call("add", ColumnRef(name="x"), expr), call("coalesce", expr, expr)):
        try:
            before = infer_field(outer, SCHEMA, "v")
        except Exception:  # noqa: BLE001 - not a valid combination for this constant
            continue
        assert infer_field(fold_expr(outer), SCHEMA, "v").type == before.type


def test_boolean_identities():
    x = call("gt", ColumnRef(name="x"), lt(1, "int64"))
    assert fold_expr(call("and", x, TRUE)) == x
    assert fold_expr(call("and", TRUE, x)) == x
    assert fold_expr(call("or", x, FALSE)) == x
    assert fold_expr(call("not", call("not", x))) == x
    assert fold_expr(call("and", x, FALSE)) == FALSE  # also when x is NULL
    assert fold_expr(call("or", TRUE, x)) == TRUE
    assert fold_expr(call("not", x)) == call("not", x)


def test_columns_aggregates_and_udfs_are_not_folded():
    register_udf("plus_one_for_fold_test", lambda a: pa.compute.add(a, 1), "int64")
    udf = Call(fn="udf:plus_one_for_fold_test", args=(lt(1, "int64"),))
    assert fold_expr(udf) == udf
    x = call("add", ColumnRef(name="x"), lt(1, "int64"))
    assert fold_expr(x) == x


def test_filter_true_disappears_and_true_conjuncts_go():
    scan = L.Scan(
        table="t",
        source=L.MemorySource(table_id="t", num_rows=5),
        table_schema=(Field(name="x", type="int64"),),
        filters=(TRUE, call("gt", ColumnRef(name="x"), lt(1, "int64"))),
    )
    assert fold_constants(L.Filter(input=scan, predicate=call("lt", lt(1, "int64"), lt(2, "int64")))) == (
        scan.replace(filters=scan.filters[1:])
    )
    j = L.Join(
        left=scan,
        right=scan.replace(table_schema=(Field(name="y", type="int64"),), filters=()),
        how="inner",
        left_keys=(ColumnRef(name="x"),),
        right_keys=(ColumnRef(name="y"),),
        condition=TRUE,
    )
    assert fold_constants(j).condition is None


def test_filter_false_stays():
    scan = L.Scan(
        table="t",
        source=L.MemorySource(table_id="t", num_rows=5),
        table_schema=(Field(name="x", type="int64"),),
    )
    f = L.Filter(input=scan, predicate=call("gt", lt(1, "int64"), lt(2, "int64")))
    assert fold_constants(f) == L.Filter(input=scan, predicate=FALSE)


def test_case_with_constant_conditions():
    x, y = ColumnRef(name="x"), ColumnRef(name="y")
    case = Case(whens=((FALSE, y), (Literal(value=None, type="bool"), y), (TRUE, x)), otherwise=y)
    assert fold_expr(case) == x
    kept = Case(whens=((FALSE, y), (call("gt", x, y), x)), otherwise=y)
    assert fold_expr(kept) == Case(whens=((call("gt", x, y), x),), otherwise=y)
