"""Every plan node kind carries what the optimizer and the runtime need of it: a row
estimate, a runtime operator (physical kinds), and a place in the plan union (JSON
round trip). The checks read the registries, so a new kind missing one fails here;
a throwaway kind shows that it does."""

from __future__ import annotations

from typing import Literal as _L

import pyarrow as pa
import pytest

from dataflow import logical as L
from dataflow import operators as ops
from dataflow import physical as P
from dataflow.operators import operator, registered
from dataflow.operators.base import Operator
from dataflow.optimizer.physical_planner import PhysicalPlanner
from dataflow.plan_node import PlanNode
from dataflow.types import schema_from_arrow


def missing_estimates(base: type[PlanNode]) -> list[str]:
    """The kinds in ``base``'s registry that do not declare their own row estimate."""
    return sorted(k for k, cls in base.kinds.items() if not cls.overrides("estimate_rows", base))


def missing_operators() -> list[str]:
    """The physical kinds (other than those the runtime wires) without an operator."""
    ops = registered()
    return sorted(k for k, cls in P.PhysicalNode.kinds.items() if cls.runs_as_operator and k not in ops)  # type: ignore[attr-defined]


def test_every_logical_kind_has_an_estimate():
    assert len(L.LogicalNode.kinds) >= 14
    assert missing_estimates(L.LogicalNode) == []


def test_every_physical_kind_has_an_estimate_and_an_operator():
    assert len(P.PhysicalNode.kinds) >= 16
    assert missing_estimates(P.PhysicalNode) == []
    assert missing_operators() == []
    assert "exchange" not in registered()  # wired by the runtime, not run


@pytest.fixture
def throwaway_kinds():
    """Registers throwaway node kinds for one test, then removes them again."""
    registered()  # load the operator modules first
    before = (dict(L.LogicalNode.kinds), dict(P.PhysicalNode.kinds), dict(ops._OPERATORS))
    yield
    for reg, kinds in zip((L.LogicalNode.kinds, P.PhysicalNode.kinds, ops._OPERATORS), before, strict=True):
        reg.clear()
        reg.update(kinds)  # type: ignore[arg-type]


def test_a_kind_without_estimate_or_operator_is_reported(throwaway_kinds):
    class LNoEstimate(L.LogicalNode):
        kind: _L["no_estimate"] = "no_estimate"

    class PNoEstimate(P.PhysicalNode):
        kind: _L["no_estimate"] = "no_estimate"

    assert missing_estimates(L.LogicalNode) == ["no_estimate"]
    assert missing_estimates(P.PhysicalNode) == ["no_estimate"]
    assert missing_operators() == ["no_estimate"]
    with pytest.raises(NotImplementedError, match="no row estimate for logical node kind LNoEstimate"):
        LNoEstimate().estimate_rows(None)  # type: ignore[arg-type]

    @operator(PNoEstimate)
    class NoEstimate(Operator):
        def execute(self, inputs):  # type: ignore[no-untyped-def]
            return iter(())

    assert missing_operators() == []


def test_two_classes_cannot_declare_one_kind(throwaway_kinds):
    with pytest.raises(TypeError, match="'sample' is declared by both Sample and Other"):

        class Other(L.LogicalNode):
            kind: _L["sample"] = "sample"


def test_children_come_from_the_declared_fields():
    assert L.Join.child_fields == ("left", "right")
    assert L.Union.child_fields == ("inputs",)
    assert L.Filter.child_fields == ("input",)
    assert L.Scan.child_fields == ()
    t = _scan("t", 10)
    u = L.Union(inputs=(t, t, t))
    assert u.children() == (t, t, t)
    t2 = _scan("t2", 20)
    assert u.with_children((t2, t, t2)).inputs == (t2, t, t2)


def test_every_kind_is_in_the_union_and_round_trips_through_json():
    t = _scan("t", 100)
    plan = L.Limit(input=L.Sample(input=L.Distinct(input=t), fraction=0.25, seed=3), limit=5)
    assert L.load_plan(plan.model_dump_json()) == plan
    union_kinds = {a.__name__ for a in L.LogicalPlan.__origin__.__args__}  # type: ignore[attr-defined]
    assert union_kinds == {cls.__name__ for cls in L.LogicalNode.kinds.values()}
    union_kinds = {a.__name__ for a in P.PhysicalPlan.__origin__.__args__}  # type: ignore[attr-defined]
    assert union_kinds == {cls.__name__ for cls in P.PhysicalNode.kinds.values()}
    assert set(L.__all__) >= {cls.__name__ for cls in L.LogicalNode.kinds.values()}
    assert set(P.__all__) >= {cls.__name__ for cls in P.PhysicalNode.kinds.values()}


def test_one_to_one_kinds_need_no_planner_code():
    one_to_one = {cls.planned_from for cls in P.PhysicalNode.kinds.values() if cls.planned_from}  # type: ignore[attr-defined]
    assert {"sample", "expand", "values"} <= one_to_one
    for kind in one_to_one:
        assert not hasattr(PhysicalPlanner, f"_plan_{kind}"), kind


def _scan(name: str, rows: int) -> L.Scan:
    schema = schema_from_arrow(pa.schema([("k", pa.int64())]))
    return L.Scan(table=name, source=L.MemorySource(table_id=name, num_rows=rows), table_schema=schema)
