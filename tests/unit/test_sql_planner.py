"""The SQL planner without Ray or data: the plan each construct becomes."""

from __future__ import annotations

import pytest

from dataflow import logical as L
from dataflow import tpch
from dataflow.expr import AggCall, Call, Case, ColumnRef, InList, Literal, WindowCall, walk
from dataflow.sql import plan_sql
from tests.sql.catalog import catalog

CAT = catalog()


def plan(sql: str) -> L.LogicalPlan:
    return plan_sql(sql, CAT)


def nodes(p: L.LogicalPlan, kind: type | None = None) -> list[L.LogicalPlan]:
    out = [p] if kind is None or isinstance(p, kind) else []
    for c in p.children():
        out += nodes(c, kind)
    return out


def joins(p: L.LogicalPlan) -> list[L.Join]:
    return nodes(p, L.Join)  # type: ignore[return-value]


def exprs_of(p: L.LogicalPlan):
    for n in nodes(p):
        for e in getattr(n, "exprs", ()) or ():
            yield from walk(e.expr)
        if isinstance(n, L.Filter):
            yield from walk(n.predicate)
        if isinstance(n, L.Join) and n.condition is not None:
            yield from walk(n.condition)


# -- names and the select list ---------------------------------------------------------------


def test_output_names_follow_duckdb():
    p = plan("select a, a + 1, sum(c), count(*), count(distinct b), b as bee from t group by a, b")
    assert p.column_names() == ["a", "(a + 1)", "sum(c)", "count_star()", "count(DISTINCT b)", "bee"]


def test_a_qualified_column_keeps_its_bare_name():
    assert plan("select t.a, u.e from t, u where t.a = u.a").column_names() == ["a", "e"]


def test_select_star_and_qualified_star():
    assert plan("select * from t").column_names() == ["a", "b", "c", "d", "m"]
    assert plan("select u.*, t.b from t, u where t.a = u.a").column_names() == ["a", "e", "f", "b"]


def test_identifiers_are_case_insensitive_and_keep_the_declared_case():
    assert plan("select A, T.B from T").column_names() == ["a", "b"]


def test_decimal_and_date_literals():
    p = plan("select a from t where m > 0.06 and d <= date '1998-12-01' - interval '90' day")
    lits = {(x.value, x.type) for x in exprs_of(p) if isinstance(x, Literal)}
    assert ("0.06", "decimal128(3, 2)") in lits
    # date minus interval folds into one date literal
    assert ("1998-09-02", "date32[day]") in lits


def test_date_plus_interval_on_a_column():
    p = plan("select d + interval '3' month, d - interval 1 year, d + interval '2 days' from t")
    calls = [(x.fn, x.args[1].value) for x in exprs_of(p) if isinstance(x, Call) and x.fn.startswith("add_")]
    assert calls == [("add_months", 3), ("add_months", -12), ("add_days", 2)]


def test_extract_substring_like_case_cast():
    p = plan(
        "select extract(year from d), substring(b from 1 for 2), b like 'x%', b not like 'y%', "
        "case when a > 1 then 'big' else 'small' end, cast(a as double), a in (1, 2), a not in (3) from t"
    )
    fns = [x.fn for x in exprs_of(p) if isinstance(x, Call)]
    assert {"year", "substring", "like", "not"} <= set(fns)
    assert any(isinstance(x, Case) for x in exprs_of(p))
    ins = [x for x in exprs_of(p) if isinstance(x, InList)]
    assert [i.negated for i in ins] == [False, True]


# -- FROM and joins ------------------------------------------------------------------------


def test_comma_join_becomes_equi_join_with_filters_below():
    p = plan("select b, e from t, u where t.a = u.a and t.c > 1 and u.e = 'x'")
    (j,) = joins(p)
    assert (
        j.how == "inner"
        and j.left_keys == (ColumnRef(name="a"),)
        and j.right_keys == (ColumnRef(name="u.a"),)
    )
    assert isinstance(j.left, L.Filter) and isinstance(j.left.input, L.Scan)


def test_join_order_follows_equalities_not_from_order():
    # t and v share nothing; u connects them: no cross join
    p = plan("select * from t, v, u where t.a = u.a and u.f = v.f")
    assert [j.how for j in joins(p)] == ["inner", "inner"]


def test_tables_without_a_predicate_cross_join():
    assert [j.how for j in joins(plan("select * from t, v"))] == ["cross"]
    assert [j.how for j in joins(plan("select * from t cross join v"))] == ["cross"]


def test_or_with_a_common_conjunct_gives_a_join_key():
    p = plan(
        "select count(*) from t, u where (t.a = u.a and t.c > 1 and u.e = 'x') or (t.a = u.a and t.c < 0 and u.e = 'y')"
    )
    (j,) = joins(p)
    assert j.how == "inner" and len(j.left_keys) == 1
    # each side is filtered by what the OR implies for it
    assert isinstance(j.left, L.Filter) and isinstance(j.right, L.Filter)


def test_self_join_renames_only_the_second_copy():
    p = plan("select n1.n_name, n2.n_name from nation n1, nation n2 where n1.n_regionkey = n2.n_regionkey")
    (j,) = joins(p)
    assert "n_name" in j.left.column_names() and "n2.n_name" in j.right.column_names()
    assert p.column_names() == ["n_name", "n_name"]


def test_explicit_joins():
    p = plan("select * from t join u on t.a = u.a and t.c > u.f")
    (j,) = joins(p)
    assert j.how == "inner" and j.left_keys
    assert isinstance(p, L.Project)
    left = plan("select * from t left join u on t.a = u.a and u.e = 'x' and t.c > 1")
    (j,) = joins(left)
    # the right-side condition filters the right input; the left-side one stays in the join
    assert j.how == "left" and isinstance(j.right, L.Filter) and j.condition is not None
    assert [x.how for x in joins(plan("select * from t right join u on t.a = u.a"))] == ["right"]
    assert [x.how for x in joins(plan("select * from t full outer join u on t.a = u.a"))] == ["full"]


def test_non_equi_join_keeps_its_condition():
    p = plan("select * from t join u on t.a < u.f")
    assert any(isinstance(n, L.Filter) or (isinstance(n, L.Join) and n.condition) for n in nodes(p))


def test_using_merges_the_column():
    p = plan("select * from t join u using (a)")
    assert p.column_names() == ["a", "b", "c", "d", "m", "e", "f"]
    p = plan("select a from t full join u using (a)")
    assert any(isinstance(x, Call) and x.fn == "coalesce" for x in exprs_of(p))


def test_derived_table_and_cte_with_column_aliases():
    p = plan("select k, n from (select a, count(*) from t group by a) as x (k, n) where n > 1")
    assert p.column_names() == ["k", "n"]
    p = plan("with x (k) as (select a from t) select k from x, u where x.k = u.a")
    assert p.column_names() == ["k"] and joins(p)[0].how == "inner"


# -- subqueries: decorrelated into joins ---------------------------------------------------


def test_exists_and_not_exists_become_semi_and_anti_joins():
    p = plan("select a from t where exists (select * from u where u.a = t.a and u.f <> t.a)")
    (j,) = joins(p)
    assert j.how == "semi" and j.left_keys == (ColumnRef(name="a"),) and j.condition is not None
    (j,) = joins(plan("select a from t where not exists (select * from u where u.a = t.a)"))
    assert j.how == "anti" and not j.null_aware


def test_in_and_not_in():
    (j,) = joins(plan("select a from t where a in (select f from u)"))
    assert j.how == "semi" and j.right_keys == (ColumnRef(name="f"),)
    (j,) = joins(plan("select a from t where a not in (select f from u)"))
    assert j.how == "anti" and j.null_aware


def test_uncorrelated_scalar_subquery_is_a_join_with_one_row():
    p = plan("select a from t where c > (select avg(f) from u)")
    (j,) = joins(p)
    assert j.how == "cross" and isinstance(nodes(j.right, L.Aggregate)[0], L.Aggregate)
    # an equality becomes the join key
    (j,) = joins(plan("select a from t where a = (select max(f) from u)"))
    assert j.how == "inner" and j.left_keys == (ColumnRef(name="a"),)


def test_correlated_scalar_subquery_groups_by_the_correlation():
    p = plan("select a from t where c < (select 0.2 * avg(f) from u where u.a = t.a)")
    (j,) = joins(p)
    agg = nodes(j.right, L.Aggregate)[0]
    assert isinstance(agg, L.Aggregate) and [k.expr for k in agg.keys] == [ColumnRef(name="u.a")]
    assert j.how == "inner" and j.left_keys == (ColumnRef(name="a"),)


def test_correlated_count_gives_zero_not_null():
    p = plan("select a, (select count(*) from u where u.a = t.a) as n from t")
    (j,) = joins(p)
    assert j.how == "left"
    # no match: the count over no rows
    (case,) = [x for x in exprs_of(p) if isinstance(x, Case)]
    assert case.whens[0][1] == Literal(value=0, type="int64")
    # an expression over COUNT too: count(*) + 1 is 1 over no rows
    p = plan("select a from t where (select count(*) + 1 from u where u.a = t.a) > 1")
    (case,) = [x for x in exprs_of(p) if isinstance(x, Case)]
    assert case.whens[0][1].fn == "add"  # type: ignore[union-attr]
    # other aggregates are NULL over no rows: an inner join is enough under a comparison
    (j,) = joins(plan("select a from t where c > (select 2 * max(f) + 1 from u where u.a = t.a)"))
    assert j.how == "inner"


def test_exists_under_or_becomes_a_mark_join():
    p = plan("select a from t where a > 5 or exists (select * from u where u.a = t.a)")
    (j,) = joins(p)
    assert j.how == "left" and isinstance(j.right, L.Distinct)


def test_in_under_or_keeps_null_rules():
    p = plan("select a from t where a in (select f from u) or c > 1")
    assert sorted(j.how for j in joins(p)) == ["cross", "left"]
    assert any(isinstance(x, Case) for x in exprs_of(p))


def test_nested_subqueries_plan_as_joins():
    # TPC-H Q20's shape: IN over a table with its own IN and a correlated scalar subquery
    p = plan(
        "select s_name from supplier where s_suppkey in (select ps_suppkey from partsupp where ps_partkey in "
        "(select p_partkey from part where p_name like 'f%') and ps_availqty > (select 0.5 * sum(l_quantity) "
        "from lineitem where l_partkey = ps_partkey and l_suppkey = ps_suppkey))"
    )
    assert sorted(j.how for j in joins(p)) == ["inner", "semi", "semi"]


@pytest.mark.parametrize("n", tpch.QUERY_NUMBERS)
def test_tpch_plans_have_no_per_row_subqueries_or_big_cross_joins(n: int):
    p = plan(tpch.query_text(n))
    for j in joins(p):
        if j.how == "cross":
            # only a single-row aggregate (an uncorrelated scalar subquery) is cross-joined
            right_aggs = nodes(j.right, L.Aggregate)
            assert right_aggs and not right_aggs[0].keys, L.render(p)


def test_tpch_q21_is_semi_and_anti_join_with_conditions():
    p = plan(tpch.query_text(21))
    hows = [j.how for j in joins(p)]
    assert hows.count("semi") == 1 and hows.count("anti") == 1 and "cross" not in hows
    for j in joins(p):
        if j.how in ("semi", "anti"):
            assert j.condition is not None and len(j.left_keys) == 1


# -- aggregation, windows, ordering, set operations ------------------------------------------


def test_group_by_positions_aliases_and_expressions():
    for sql in (
        "select a % 2 as p, count(*) from t group by 1",
        "select a % 2 as p, count(*) from t group by p",
        "select a % 2 as p, count(*) from t group by a % 2",
    ):
        agg = nodes(plan(sql), L.Aggregate)[0]
        assert isinstance(agg, L.Aggregate)
        assert [k.expr for k in agg.keys] == [
            Call(fn="modulo", args=(ColumnRef(name="a"), Literal(value=2, type="int64")))
        ]


def test_having_filters_after_aggregating():
    p = plan("select b from t group by b having sum(c) > 1 and count(*) > 2")
    f = nodes(p, L.Filter)[0]
    assert isinstance(f, L.Filter) and nodes(f, L.Aggregate)
    agg = nodes(p, L.Aggregate)[0]
    assert {a.expr.fn for a in agg.aggs} == {"sum", "count_star"}  # type: ignore[union-attr]


def test_count_distinct_and_filter_clause():
    agg = nodes(plan("select count(distinct b), count(*) filter (where a > 1) from t"), L.Aggregate)[0]
    calls = [a.expr for a in agg.aggs]  # type: ignore[union-attr]
    assert AggCall(fn="count", arg=ColumnRef(name="b"), distinct=True) in calls
    assert any(isinstance(c, AggCall) and isinstance(c.arg, Case) for c in calls)


def test_window_functions_go_into_a_window_node():
    p = plan(
        "select a, row_number() over (partition by b order by c desc), sum(c) over (partition by b), "
        "rank() over (order by a nulls first) from t"
    )
    (w,) = nodes(p, L.Window)
    calls = [e.expr for e in w.exprs]  # type: ignore[attr-defined]
    assert [c.fn for c in calls] == ["row_number", "sum", "rank"]
    assert isinstance(calls[0], WindowCall) and calls[0].order_by[0].ascending is False
    assert calls[2].order_by[0].nulls_first is True


def test_order_by_limit_offset_and_nulls():
    p = plan("select a, b from t order by b desc nulls first, 1 limit 5 offset 2")
    assert isinstance(p, L.Limit) and (p.limit, p.offset) == (5, 2)
    s = p.input
    assert isinstance(s, L.Sort)
    assert [(k.ascending, k.nulls_first) for k in s.keys] == [(False, True), (True, False)]


def test_order_by_an_expression_not_selected_is_dropped_after_sorting():
    p = plan("select b from t order by c * 2")
    assert p.column_names() == ["b"] and isinstance(p, L.Project) and isinstance(p.input, L.Sort)


def test_distinct_and_unions():
    assert isinstance(plan("select distinct b from t"), L.Distinct)
    assert isinstance(plan("select a from t union all select f from u"), L.Union)
    p = plan("select a from t union select f from u union select f from v")
    assert isinstance(p, L.Distinct) and len(p.input.inputs) == 3  # type: ignore[attr-defined]
    p = plan("select a from t union all select f from u order by 1 limit 3")
    assert isinstance(p, L.Limit) and isinstance(p.input, L.Sort)
