"""Every optimizer rule: golden physical plans with the rule on and off (parallelism 2,
so plans are deterministic), and the same results either way on TPC-H (local runtime).

Regenerate the golden files with ``DATAFLOW_UPDATE_GOLDEN=1 pytest tests/unit/test_rules.py``.
"""

from __future__ import annotations

import pytest

import dataflow
from dataflow import tpch
from dataflow.optimizer import RULES
from dataflow.physical import render
from tests.golden import GOLDEN as GOLDEN_DIR
from tests.golden import check_golden, tpch_session
from tests.oracle import assert_same

GOLDEN = GOLDEN_DIR / "rules"

# each rule, and the TPC-H query whose plan shows its effect best
RULE_QUERIES = {
    "fold_constants": 6,
    "push_down_filter": 3,
    "reorder_joins": 5,
    "push_down_semi_join": 18,
    "reduce_aggregate_input": 2,
    "push_down_projection": 1,
    "push_down_limit": 0,
    "choose_parallelism": 9,
    "annotate_costs": 12,
}


# queries that are not TPC-H, by number 0 and below
EXTRA = {
    0: "select count(*) from (select o_orderkey as k from orders union all select l_orderkey from lineitem limit 5)",
}


def query(n: int) -> str:
    return EXTRA[n] if n in EXTRA else tpch.query_text(n)


def session(disabled: tuple[str, ...] = ()) -> dataflow.Session:
    return tpch_session(disabled)


def test_every_rule_is_covered():
    # every rule that may be switched off has a golden query (read from the one list)
    assert {r.name for r in RULES if not r.always_on} == set(RULE_QUERIES)


def _check_golden(name: str, text: str) -> None:
    check_golden(GOLDEN / name, text)


@pytest.mark.parametrize("rule", list(RULE_QUERIES))
def test_golden_plans_with_rule_on_and_off(rule):
    q = query(RULE_QUERIES[rule])
    for state, disabled in (("on", ()), ("off", (rule,))):
        with session(disabled) as s:
            plan = s.sql(q).session.optimize(s.sql(q).plan).physical
            title = f"TPC-H Q{RULE_QUERIES[rule]}" if RULE_QUERIES[rule] > 0 else query(RULE_QUERIES[rule])
            # the cost rule's effect is its estimates: printed for it alone (they move
            # with the statistics, so the other files leave them out)
            text = render(plan, estimates=rule == "annotate_costs")
            _check_golden(f"{rule}.{state}.txt", f"-- {title}, parallelism 2, {rule} {state}\n" + text + "\n")
    on = (GOLDEN / f"{rule}.on.txt").read_text().splitlines()[1:]
    off = (GOLDEN / f"{rule}.off.txt").read_text().splitlines()[1:]
    assert on != off, f"{rule} changes nothing on Q{RULE_QUERIES[rule]}"


@pytest.mark.parametrize("rule", list(RULE_QUERIES))
def test_results_equal_with_rule_on_and_off(rule):
    queries = sorted({1, 3, 5, 6, 9, 10, 13, 18, RULE_QUERIES[rule]})
    with session() as on, session((rule,)) as off:
        for n in queries:
            text = query(n)
            assert_same(off.sql(text).to_arrow(), on.sql(text).to_arrow(), ordered="order by" in text.lower())


def test_disabling_a_required_rule_is_an_error():
    with pytest.raises(dataflow.PlanError, match="cannot be disabled"), session(("enforce_distribution",)) as s:
        s.sql("select 1 from region").to_arrow()
