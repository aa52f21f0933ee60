"""Plan shapes of the SQL added for TPC-DS: grouping sets are an Expand under the
ordinary two-phase aggregate, INTERSECT/EXCEPT a tagged union and an aggregate,
holistic aggregates one phase after a hash exchange, and plan comparison that stays
linear in the plan's depth."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from dataflow import Session
from dataflow import logical as L
from dataflow.physical import PExchange, PExpand, PHashAggregate, walk


def session() -> Session:
    s = Session(runtime="local", parallelism=4, adaptive_parallelism=False)
    n = 50_000
    rng = np.random.default_rng(0)
    s.register(
        "t",
        pa.table({"a": rng.integers(0, 5, n), "b": rng.integers(0, 3, n), "v": rng.normal(size=n)}),
    )
    return s


def test_rollup_expands_the_partial_states_between_the_two_phases():
    s = session()
    opt = s.optimize(s.sql("select a, b, sum(v), grouping(a, b) from t group by rollup (a, b)").plan)
    nodes = list(walk(opt.physical))
    expand = next(n for n in nodes if isinstance(n, PExpand))
    assert expand.sets == ((0, 1), (0,), ()) and expand.dop == 4
    assert [n.mode for n in nodes if isinstance(n, PHashAggregate)] == ["final", "partial"]
    # partial by all keys -> Expand of the states -> hash exchange -> final
    assert isinstance(expand.input, PHashAggregate) and expand.input.mode == "partial"
    final = next(n for n in nodes if isinstance(n, PHashAggregate) and n.mode == "final")
    assert isinstance(final.input, PExchange) and final.input.mode == "hash"
    assert isinstance(final.input.input, PExpand)


def test_rollup_with_a_holistic_aggregate_expands_the_rows():
    s = session()
    opt = s.optimize(s.sql("select a, median(v) from t group by rollup (a)").plan)
    nodes = list(walk(opt.physical))
    agg = next(n for n in nodes if isinstance(n, PHashAggregate))
    assert agg.mode == "single" and any(isinstance(n, PExpand) for n in walk(agg))


def test_intersect_is_a_tagged_union_and_an_aggregate():
    s = session()
    plan = s.sql("select a from t intersect select b from t").plan
    kinds = [type(n).__name__ for n in _walk_logical(plan)]
    assert "Union" in kinds and "Aggregate" in kinds and "Filter" in kinds


def test_holistic_aggregates_run_in_one_phase_and_moments_in_two():
    s = session()
    med = s.optimize(s.sql("select a, median(v) from t group by a").plan).physical
    assert [n.mode for n in walk(med) if isinstance(n, PHashAggregate)] == ["single"]
    std = s.optimize(s.sql("select a, stddev_samp(v) from t group by a").plan).physical
    assert [n.mode for n in walk(std) if isinstance(n, PHashAggregate)] == ["final", "partial"]


def test_comparing_deep_plans_that_differ_is_fast():
    base = L.Values(names=("x",), types=("int64",), rows=())
    a, b = base, base.replace(names=("y",))
    for _ in range(40):
        a = L.Distinct(input=L.Union(inputs=(a, a)))
        b = L.Distinct(input=L.Union(inputs=(b, b)))
    a.schema, b.schema  # noqa: B018 - cached schemas made pydantic's own __eq__ exponential
    t0 = time.perf_counter()
    assert a != b
    assert a == a.replace()
    assert time.perf_counter() - t0 < 1.0


def _walk_logical(plan):
    yield plan
    for c in plan.children():
        yield from _walk_logical(c)
