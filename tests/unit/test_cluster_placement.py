"""Placement of stage instances on nodes (``cluster/placement.py``), without Ray."""

from __future__ import annotations

from collections import Counter

import pytest

from dataflow import DataflowError
from dataflow.cluster.placement import NodeCapacity, StageInstance, place, shares


def _instances(n: int, stage: int = 0, prefers: str | None = None) -> list[StageInstance]:
    return [StageInstance((stage, i), prefers=prefers) for i in range(n)]


def test_shares_follow_free_cpus_and_sum_to_the_demand():
    nodes = [NodeCapacity("a", 4), NodeCapacity("b", 2), NodeCapacity("c", 2)]
    assert shares(nodes, 8) == [4, 2, 2]
    assert shares(nodes, 5) == [3, 1, 1]
    assert sum(shares(nodes, 7)) == 7
    assert shares([NodeCapacity("a", 0), NodeCapacity("b", 0)], 4) == [2, 2]  # nothing free: even


def test_one_stage_alternates_over_equal_nodes():
    nodes = [NodeCapacity("a", 2), NodeCapacity("b", 2)]
    assert place(nodes, _instances(4)) == ["a", "b", "a", "b"]


def test_spread_follows_free_cpus():
    nodes = [NodeCapacity("big", 6), NodeCapacity("small", 2)]
    got = Counter(place(nodes, _instances(8)))
    assert got == {"big": 6, "small": 2}


def test_a_busy_node_gets_nothing_while_others_have_room():
    nodes = [NodeCapacity("busy", 0), NodeCapacity("free", 4)]
    assert place(nodes, _instances(3)) == ["free"] * 3


def test_stages_together_spread_over_nodes():
    nodes = [NodeCapacity("a", 1), NodeCapacity("b", 1)]
    inst = [StageInstance((s, 0)) for s in range(4)]  # four single-instance stages
    assert Counter(place(nodes, inst)) == {"a": 2, "b": 2}


def test_preferences_are_honoured_when_cheap():
    nodes = [NodeCapacity("a", 2), NodeCapacity("b", 2)]
    inst = [StageInstance(("scan", 0), prefers="b"), StageInstance(("scan", 1), prefers="a"),
            StageInstance(("agg", 0)), StageInstance(("agg", 1))]
    got = place(nodes, inst)
    assert got[:2] == ["b", "a"]
    assert Counter(got) == {"a": 2, "b": 2}


def test_preferences_give_way_to_balance():
    nodes = [NodeCapacity("a", 2), NodeCapacity("b", 2)]
    inst = _instances(6, prefers="a")  # every scan file lives on a
    got = Counter(place(nodes, inst))
    assert got["a"] == 4 and got["b"] == 2  # its share (3) plus slack 1
    assert Counter(place(nodes, inst, slack=0)) == {"a": 3, "b": 3}


def test_unknown_preferred_node_is_ignored():
    nodes = [NodeCapacity("a", 1), NodeCapacity("b", 1)]
    assert Counter(place(nodes, _instances(2, prefers="gone"))) == {"a": 1, "b": 1}


def test_weights_count():
    nodes = [NodeCapacity("a", 4), NodeCapacity("b", 4)]
    inst = [StageInstance("heavy", cpus=3), StageInstance("x"), StageInstance("y"), StageInstance("z")]
    got = dict(zip(["heavy", "x", "y", "z"], place(nodes, inst), strict=True))
    assert Counter(got[k] for k in "xyz")[got["heavy"]] == 0  # the light ones balance the heavy one


def test_placement_is_repeatable_and_total():
    nodes = [NodeCapacity(f"n{i}", c) for i, c in enumerate([3, 1, 2])]
    inst = [StageInstance((s, i), prefers=f"n{(s + i) % 4}") for s in range(3) for i in range(5)]
    first = place(nodes, inst)
    assert first == place(nodes, inst)
    assert len(first) == len(inst) and set(first) <= {"n0", "n1", "n2"}


def test_no_nodes_is_a_clear_error():
    with pytest.raises(DataflowError, match="no alive Ray node"):
        place([], _instances(1))
    with pytest.raises(DataflowError, match="distinct"):
        place([NodeCapacity("a", 1), NodeCapacity("a", 2)], _instances(1))


def test_no_instances():
    assert place([NodeCapacity("a", 1)], []) == []
