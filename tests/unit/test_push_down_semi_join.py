"""push_down_semi_join: a semi or anti join moves into the join input that has its
columns, where that input has fewer rows, and never into the NULL-padded side of a left
join; every answer is checked against DuckDB, with the rule on and off."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from dataflow import Session
from dataflow import logical as L
from dataflow.plan_node import walk
from tests.oracle import assert_same


def tables() -> dict[str, pa.Table]:
    rng = np.random.default_rng(7)
    n = 4_000
    a = pa.table({"ak": rng.integers(0, 500, n), "ax": rng.integers(0, 100, n)})
    b = pa.table({"bk": np.arange(500), "bv": rng.integers(0, 50, 500)})
    # a few keys, one NULL (NOT IN then keeps nothing)
    r = pa.table({"rk": pa.array([3, 17, 42, 99, 250, None], pa.int64()), "rv": pa.array([5, 50, 95, 0, 60, 1])})
    return {"a": a, "b": b, "r": r}


@pytest.fixture(scope="module")
def sessions():
    on = Session(runtime="local", parallelism=2)
    off = Session(runtime="local", parallelism=2, disabled_rules=("push_down_semi_join",))
    con = duckdb.connect()
    for name, t in tables().items():
        on.register(name, t)
        off.register(name, t)
        con.register(name, t)
    yield on, off, con
    on.close()
    off.close()


def semi_joins(s: Session, sql: str) -> list[L.Join]:
    plan = s.optimize(s.sql(sql).plan).logical
    return [n for n in walk(plan) if isinstance(n, L.Join) and n.how in ("semi", "anti")]


def scan_table(plan: L.LogicalPlan) -> str | None:
    while isinstance(plan, L.Project | L.Filter):
        plan = plan.input
    return plan.table if isinstance(plan, L.Scan) else None


QUERIES = {
    "in over an inner join": "select ak, ax, bv from a join b on ak = bk where ak in (select rk from r)",
    "exists with a residual": (
        "select ak, ax, bv from a join b on ak = bk "
        "where exists (select 1 from r where rk = ak and rv > ax)"
    ),
    "not exists": "select count(*) as n, sum(ax) as s from a join b on ak = bk "
                  "where not exists (select 1 from r where rk = ak)",
    "not in with a NULL": "select count(*) as n from a join b on ak = bk where ak not in (select rk from r)",
    "in on the padded side of a left join": (
        "select ak, bv from a left join b on ak = bk and bv < 10 where bv in (select rv from r)"
    ),
    "in through a projection": (
        "select k2, bv from (select ak + 0 as k1, ak as k2, ax from a) t join b on k2 = bk "
        "where k2 in (select rk from r)"
    ),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_answers_match_duckdb_with_the_rule_on_and_off(sessions, name):
    on, off, con = sessions
    sql = QUERIES[name]
    expected = con.sql(sql).arrow()
    expected = expected.read_all() if hasattr(expected, "read_all") else expected
    assert_same(on.sql(sql).to_arrow(), expected)
    assert_same(off.sql(sql).to_arrow(), expected)


def test_the_semi_join_moves_onto_the_table_with_its_keys(sessions):
    on, off, _ = sessions
    sql = QUERIES["in over an inner join"]
    [moved] = semi_joins(on, sql)
    assert scan_table(moved.left) == "a"
    [stayed] = semi_joins(off, sql)
    assert isinstance(stayed.left, L.Project | L.Join) and scan_table(stayed.left) is None


def test_a_residual_condition_moves_with_it(sessions):
    on, _, _ = sessions
    [moved] = semi_joins(on, QUERIES["exists with a residual"])
    assert scan_table(moved.left) == "a" and moved.condition is not None


def test_anti_and_null_aware_joins_move_too(sessions):
    on, _, _ = sessions
    for q in ("not exists", "not in with a NULL"):
        [moved] = semi_joins(on, QUERIES[q])
        assert moved.how == "anti" and scan_table(moved.left) == "a", q


def test_never_into_the_padded_side_of_a_left_join(sessions):
    on, _, _ = sessions
    [kept] = semi_joins(on, QUERIES["in on the padded side of a left join"])
    assert scan_table(kept.left) != "b"
    assert any(isinstance(n, L.Join) and n.how == "left" for n in walk(kept.left))


def test_through_a_projection_that_renames(sessions):
    on, _, _ = sessions
    [moved] = semi_joins(on, QUERIES["in through a projection"])
    assert scan_table(moved.left) == "a"
    assert [k.name for k in moved.left_keys] == ["ak"]  # renamed back to the scan's column
