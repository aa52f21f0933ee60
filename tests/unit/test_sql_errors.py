"""Errors a person can act on, from the SQL front end: each kind, and what its message says."""

from __future__ import annotations

import pytest

from dataflow.errors import (
    AmbiguousColumnError,
    DataflowError,
    PlanError,
    SqlSyntaxError,
    UnknownColumnError,
    UnknownTableError,
    UnsupportedError,
)
from dataflow.sql import plan_sql
from tests.sql.catalog import catalog

CAT = catalog()


def plan(sql: str):
    return plan_sql(sql, CAT)


# -- syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "line", "column", "words"),
    [
        ("select a from t where", 1, 17, "incomplete WHERE clause"),
        ("select a\nfrom t\nwhere (a = 1", 3, 12, "expected )"),
        ("select a\nfrom t\nwhere a = = 1", 3, 11, "'='"),
        ("select (a from t", 1, 11, "expected )"),
        ("select a from t where b = 'abc", 1, 27, "unterminated string"),
        ("select a /* never closed", 1, 10, "unterminated comment"),
        ("selec a from t", 1, 9, "unexpected 'from'"),
    ],
)
def test_syntax_errors_give_line_and_column(sql: str, line: int, column: int, words: str):
    with pytest.raises(SqlSyntaxError) as info:
        plan(sql)
    e = info.value
    assert (e.line, e.column) == (line, column), str(e)
    assert f"line {line}, column {column}" in str(e)
    assert words in str(e)


def test_empty_query_is_a_syntax_error():
    with pytest.raises(SqlSyntaxError, match="empty query"):
        plan("  ")


# -- unknown and ambiguous names -----------------------------------------------------------------


def test_unknown_table_suggests_the_nearest_names():
    with pytest.raises(UnknownTableError) as info:
        plan("select * from lineitems")
    assert info.value.name == "lineitems"
    assert info.value.suggestions[0] == "lineitem"
    assert "did you mean 'lineitem'" in str(info.value)


def test_unknown_table_lists_tables_when_nothing_is_near():
    with pytest.raises(UnknownTableError) as info:
        plan("select * from zzz")
    assert "available:" in str(info.value) and "lineitem" in str(info.value)


def test_unknown_column_suggests_the_nearest_names():
    with pytest.raises(UnknownColumnError) as info:
        plan("select l_quantiy from lineitem")
    assert info.value.name == "l_quantiy"
    assert info.value.suggestions[0] == "l_quantity"


def test_unknown_qualified_column_suggests_columns_of_that_table():
    with pytest.raises(UnknownColumnError) as info:
        plan("select n1.n_nme from nation n1, nation n2")
    assert "'n1.n_nme'" in str(info.value) and info.value.suggestions[0] == "n1.n_name"


def test_unknown_qualifier_names_the_aliases_in_scope():
    with pytest.raises(UnknownTableError) as info:
        plan("select x.a from t")
    assert "'x'" in str(info.value) and "t" in str(info.value)


def test_unknown_column_in_a_subquery_and_in_order_by():
    with pytest.raises(UnknownColumnError, match="'u.zz'"):
        plan("select a from t where exists (select * from u where u.zz = t.a)")
    with pytest.raises(UnknownColumnError, match="'bb'"):
        plan("select a from t order by bb")


def test_ambiguous_column_names_the_candidates():
    with pytest.raises(AmbiguousColumnError) as info:
        plan("select a from t, u where f = 1")
    assert info.value.candidates == ["t.a", "u.a"]
    assert "t.a or u.a" in str(info.value)
    with pytest.raises(AmbiguousColumnError, match="n1.n_name or n2.n_name"):
        plan("select n_name from nation n1, nation n2")


# -- unsupported constructs, named in words --------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("with recursive r as (select a from t) select * from r", "WITH RECURSIVE is not supported"),
        ("select percentile(a) over (order by a) from t", "window function percentile() is not supported"),
        ("select sum(a) over (order by a range between 1 preceding and current row) from t", "RANGE frames with offsets"),
        ("select foo(a) from t", "function foo() is not supported"),
        ("select strftime(d, '%Y') from t", "function strftime() is not supported"),
        ("insert into t values (1)", "INSERT statements"),
        ("select a from t; select a from u", "more than one statement"),
        ("select a // 2 from t", "integer division"),
        ("select extract(century from d) from t", "EXTRACT(CENTURY"),
        ("select a from t natural join u", "NATURAL JOIN"),
        (
            "select a from t where a in (select f from u where u.a = (select max(a) from v where v.f = t.a))",
            "two or more levels",
        ),
        (
            "select a, (select sum(f) from u where u.a < t.a) from t",
            "only equalities between a column of the subquery and one of the enclosing query",
        ),
        (
            "select a from t where exists (select * from u where u.a = t.a limit 1)",
            "LIMIT or OFFSET in a correlated subquery",
        ),
        ("select (select t.b from u limit 1) from t", "correlated reference 't.b'"),
        ("select a from t tablesample (10 rows)", "TABLESAMPLE of a number of rows is not supported"),
        (
            "select a from t where exists (select * from (select * from u where u.a = t.a) x)",
            "a derived table may not",
        ),
        ("select * from t join (u join v on u.f = v.f) on t.a = u.a", "parenthesized joins"),
        ("select a from t order by b collate nocase", "COLLATE is not supported"),
        ("select a from t qualify a > 1", "QUALIFY is not supported"),
        ("select a from t where a = any (select f from u)", "ANY (SELECT f FROM u)"),
    ],
)
def test_unsupported_constructs_are_named(sql: str, words: str):
    with pytest.raises(UnsupportedError) as info:
        plan(sql)
    assert words in str(info.value)


# -- invalid queries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("select a, b, count(*) from t group by a", "column 'b' in the select list must appear in GROUP BY"),
        ("select a from t group by b", "column 'a' in the select list must appear in GROUP BY"),
        ("select a from t where sum(c) > 1", "aggregate functions are not allowed in WHERE"),
        ("select sum(sum(c)) from t", "aggregate calls cannot be nested"),
        ("select a from t group by 3", "GROUP BY position 3 is not in the select list"),
        ("select a from t order by 2", "ORDER BY position 2 is not in the select list"),
        ("select a from t where a = (select a, f from u)", "scalar subquery must return one column"),
        ("select a, b from t union all select f from u", "UNION have 2 and 1 columns"),
        ("select distinct a from t order by c", "for SELECT DISTINCT, ORDER BY expressions must appear"),
        ("select a from t where d = date '2024-13-01'", "invalid date"),
        ("select a from t where (a, b) in (select f from u)", "IN compares 2 value(s)"),
        ("select row_number() from t", "row_number() needs an OVER (...) clause"),
        ("with x as (select a from t), x as (select f from u) select * from x", "defined more than once"),
    ],
)
def test_invalid_queries_say_what_is_wrong(sql: str, words: str):
    with pytest.raises(PlanError) as info:
        plan(sql)
    assert words in str(info.value)


def test_every_error_is_a_dataflow_error_not_an_internal_one():
    bad = [
        "select a from t where",
        "select nosuch from t",
        "select a from nosuch",
        "select a from t, u",
        "select a from t intersect select a, b from t",
        "select a, b, count(*) from t group by a",
        "select a from t where a = (select a, f from u)",
        "select row_number() from t",
        "select count(*) from t group by count(*)",
        "select cast(a as blob) from t",
        "select a from t order by sum(a) over (), 1 limit -1",
    ]
    for sql in bad:
        with pytest.raises(DataflowError):
            plan(sql)
