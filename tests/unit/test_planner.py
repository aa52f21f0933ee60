"""Physical planning, exchange placement and stage cutting, without Ray."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dataflow import logical as L
from dataflow.builder import aggregate
from dataflow.config import OptimizerSettings
from dataflow.errors import PlanError
from dataflow.expr import AggCall, ColumnRef, NamedExpr, SortKey
from dataflow.optimizer import optimize as _optimize
from dataflow.physical import PExchange, PHashAggregate, PHashJoin, walk
from dataflow.runtime.stages import build_stages
from dataflow.types import schema_from_arrow


def scan(name: str, rows: int, **cols: pa.DataType) -> L.Scan:
    schema = schema_from_arrow(pa.schema(list(cols.items())))
    return L.Scan(table=name, source=L.MemorySource(table_id=name, num_rows=rows), table_schema=schema)


def c(name: str) -> ColumnRef:
    return ColumnRef(name=name)


def optimize(plan, config):
    """Structural tests of exchange placement keep the join sides as written."""
    rules = tuple(sorted({*config.disabled_rules, "reorder_joins"}))
    return _optimize(plan, config.model_copy(update={"disabled_rules": rules}))


FACT = scan("fact", 10_000_000, f_key=pa.int64(), f_val=pa.float64())
DIM = scan("dim", 100, d_key=pa.int64(), d_name=pa.string())


def exchanges(plan) -> list[str]:
    return [n.mode for n in walk(plan) if isinstance(n, PExchange)]


def test_inner_join_builds_on_the_smaller_side():
    j = L.Join(left=DIM, right=FACT, how="inner", left_keys=(c("d_key"),), right_keys=(c("f_key"),))
    p = optimize(j, OptimizerSettings(dop=4)).physical
    join = next(n for n in walk(p) if isinstance(n, PHashJoin))
    assert join.right_keys == ("d_key",) and join.strategy == "broadcast"
    assert [f.name for f in p.schema] == ["d_key", "d_name", "f_key", "f_val"]


def test_small_build_side_is_broadcast():
    j = L.Join(left=FACT, right=DIM, how="inner", left_keys=(c("f_key"),), right_keys=(c("d_key"),))
    p = optimize(j, OptimizerSettings(dop=4)).physical
    join = next(n for n in walk(p) if isinstance(n, PHashJoin))
    assert join.strategy == "broadcast"
    assert exchanges(p) == ["gather", "broadcast"]


def test_large_build_side_is_partitioned_on_both_sides():
    # a left join keeps its sides: the large right side is built, so both are hashed
    j = L.Join(left=DIM, right=FACT, how="left", left_keys=(c("d_key"),), right_keys=(c("f_key"),))
    p = optimize(j, OptimizerSettings(dop=4)).physical
    join = next(n for n in walk(p) if isinstance(n, PHashJoin))
    assert join.strategy == "partitioned"
    assert sorted(exchanges(p)) == ["gather", "hash", "hash"]


def test_two_phase_aggregate_shuffles_between_partial_and_final():
    agg = aggregate(FACT, [NamedExpr(name="f_key", expr=c("f_key"))],
                    [NamedExpr(name="f_key", expr=c("f_key")), NamedExpr(name="s", expr=AggCall(fn="sum", arg=c("f_val")))])
    # every stage at 3 instances: the cost model would run the final phase of the
    # ~3,000 groups it guesses (no statistics for f_key) on one instance
    p = optimize(agg, OptimizerSettings(dop=3, adaptive_parallelism=False)).physical
    modes = [n.mode for n in walk(p) if isinstance(n, PHashAggregate)]
    assert modes == ["final", "partial"]
    assert exchanges(p) == ["gather", "hash"]
    partial = next(n for n in walk(p) if isinstance(n, PHashAggregate) and n.mode == "partial")
    final = next(n for n in walk(p) if isinstance(n, PHashAggregate) and n.mode == "final")
    # each partial instance emits at most the groups of the final result
    assert partial.est_rows == pytest.approx(min(10_000_000, 3 * final.est_rows))
    adaptive = optimize(agg, OptimizerSettings(dop=3)).physical
    assert exchanges(adaptive) == ["gather"]  # a small final phase runs where the partials meet


def test_no_reshuffle_when_already_partitioned():
    # aggregate on the join key after a partitioned join: no second hash exchange
    j = L.Join(left=DIM, right=FACT, how="left", left_keys=(c("d_key"),), right_keys=(c("f_key"),))
    agg = L.Aggregate(input=j, keys=(NamedExpr(name="d_key", expr=c("d_key")),),
                      aggs=(NamedExpr(name="n", expr=AggCall(fn="count_star")),))
    p = optimize(agg, OptimizerSettings(dop=2, disabled_rules=())).physical
    assert exchanges(p).count("hash") == 2  # the two join inputs only
    assert [n.mode for n in walk(p) if isinstance(n, PHashAggregate)] == ["single"]


def test_sort_strategy_by_size():
    # a small sort: local sorts, then a gather-merge; a large one: a range exchange,
    # then local sorts whose outputs are concatenated in order
    small = L.Sort(input=scan("mid", 500_000, v=pa.float64()), keys=(SortKey(expr=c("v"), ascending=False),))
    p = optimize(small, OptimizerSettings(dop=2)).physical
    assert exchanges(p) == ["gather_merge"]
    large = L.Sort(input=FACT, keys=(SortKey(expr=c("f_val"), ascending=False),))
    p = optimize(large, OptimizerSettings(dop=2)).physical
    assert exchanges(p) == ["gather_merge", "range"]


def test_small_table_gets_one_instance_and_large_several():
    q = L.Union(inputs=(
        L.Project(input=DIM, exprs=(NamedExpr(name="k", expr=c("d_key")),)),
        L.Project(input=FACT, exprs=(NamedExpr(name="k", expr=c("f_key")),)),
    ))
    p = optimize(q, OptimizerSettings(dop=4)).physical
    dops = {n.table: n.dop for n in walk(p) if n.kind == "scan"}
    assert dops == {"dim": 1, "fact": 4}
    forced = optimize(q, OptimizerSettings(dop=4, adaptive_parallelism=False)).physical
    assert {n.table: n.dop for n in walk(forced) if n.kind == "scan"} == {"dim": 4, "fact": 4}


def test_dop_one_has_no_exchanges():
    j = L.Join(left=FACT, right=DIM, how="left", left_keys=(c("f_key"),), right_keys=(c("d_key"),))
    p = optimize(j, OptimizerSettings(dop=1)).physical
    assert exchanges(p) == []


def test_stages_chained_and_unchained():
    from dataflow.expr import Call, literal

    dim = L.Filter(input=DIM, predicate=Call(fn="gt", args=(c("d_key"), literal(3))))
    j = L.Join(left=dim, right=FACT, how="left", left_keys=(c("d_key"),), right_keys=(c("f_key"),))
    p = optimize(j, OptimizerSettings(dop=2, disabled_rules=("push_down_filter",), adaptive_parallelism=False)).physical
    chained = build_stages(p, chain=True)
    # the join with its gather in the caller, and one stage per hashed input
    assert len(chained.stages) == 3
    assert chained.instances() == 6
    assert [len(s.operators) for s in chained.stages] == [1, 2, 1]
    unchained = build_stages(p, chain=False)
    ops = sum(len(s.operators) for s in unchained.stages)
    assert all(len(s.operators) == 1 for s in unchained.stages)
    assert unchained.instances() == 2 * ops
    assert {e.mode for e in unchained.edges} >= {"forward", "hash"}


def test_plans_round_trip_through_json():
    j = L.Join(left=FACT, right=DIM, how="inner", left_keys=(c("f_key"),), right_keys=(c("d_key"),))
    assert L.load_plan(j.model_dump_json()) == j
    from dataflow.physical import load_physical

    p = optimize(j, OptimizerSettings(dop=2)).physical
    assert load_physical(p.model_dump_json()) == p


def test_unknown_rule_is_an_error():
    with pytest.raises(PlanError, match="unknown optimizer rule"):
        optimize(FACT, OptimizerSettings(disabled_rules=("no_such_rule",)))


def test_filters_reach_scans_and_only_used_columns_are_read():
    from dataflow.expr import Call, literal

    j = L.Join(left=FACT, right=DIM, how="cross")
    pred = Call(fn="and", args=(
        Call(fn="eq", args=(c("f_key"), c("d_key"))),
        Call(fn="gt", args=(c("d_key"), literal(3))),
    ))
    q = L.Project(input=L.Filter(input=j, predicate=pred), exprs=(NamedExpr(name="d_name", expr=c("d_name")),))
    opt = optimize(q, OptimizerSettings(dop=2))
    text = L.render(opt.logical)
    # the cross join became an equi-join, the one-sided predicate reached the dim scan
    assert "Join inner on f_key = d_key" in text
    assert "Scan dim columns=[d_key, d_name] filters=[(d_key > 3)]" in text
    assert "Scan fact columns=[f_key]" in text


def test_not_in_sees_the_whole_build_side():
    # a NULL anywhere in the build side empties NOT IN: never hash-partition it
    j = L.Join(left=DIM, right=FACT, how="anti", left_keys=(c("d_key"),), right_keys=(c("f_key"),), null_aware=True)
    p = optimize(j, OptimizerSettings(dop=4)).physical
    join = next(n for n in walk(p) if isinstance(n, PHashJoin))
    assert join.strategy == "broadcast"
    plain = optimize(j.replace(null_aware=False), OptimizerSettings(dop=4)).physical
    assert next(n for n in walk(plain) if isinstance(n, PHashJoin)).strategy == "partitioned"
