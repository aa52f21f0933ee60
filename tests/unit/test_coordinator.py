"""The coordinator's morsel queue: guided self-scheduling and the end-of-scan mark."""

from __future__ import annotations

from dataflow.operators.base import Morsel
from dataflow.runtime.coordinator import GUIDED_MAX, Coordinator


def _coordinator(n: int) -> Coordinator:
    c = Coordinator()
    c.register("j", "scan", [Morsel(source="f", row_group=i, rows=1) for i in range(n)])
    return c


def test_guided_chunks_shrink_and_every_morsel_is_handed_out_once() -> None:
    c = _coordinator(100)
    sizes, seen = [], []
    while True:
        got = c.next_morsels("j", "scan", 2, share=2)
        ms = [m for m in got if m is not None]
        sizes.append(len(ms))
        seen += [m.row_group for m in ms]
        if got and got[-1] is None:
            break
    assert sorted(seen) == list(range(100))  # each once
    assert sizes[0] == GUIDED_MAX  # ceil(100 / 4) = 25, capped
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] <= 2  # shrinking to the tail
    assert len(sizes) < 100 // 2  # fewer calls than two at a time
    assert c.next_morsels("j", "scan", 2, share=2) == [None]  # asked again: still none


def test_without_share_two_at_a_time_then_the_end_mark() -> None:
    c = _coordinator(3)
    assert [m.row_group for m in c.next_morsels("j", "scan", 2)] == [0, 1]
    last = c.next_morsels("j", "scan", 2)
    assert [m.row_group for m in last[:-1]] == [2] and last[-1] is None


class _Stage:
    def __init__(self, dop: int, path: str) -> None:
        self.dop, self.path = dop, path

    def scans(self) -> list[tuple[str, object]]:
        return [(self.path, None)]


class _Graph:
    def __init__(self, *stages: _Stage) -> None:
        self.stages = list(stages)


def _morsels(rows: list[int]) -> list[Morsel]:
    return [Morsel(source="f", row_group=i, rows=r) for i, r in enumerate(rows)]


def test_small_scans_are_dealt_in_advance_and_large_ones_handed_out() -> None:
    from dataflow.runtime.job import STATIC_PER_INSTANCE, deal_morsels

    one = _morsels([10, 20, 30])
    few = _morsels([100, 10, 90, 20, 50, 50])
    many = _morsels([1] * (STATIC_PER_INSTANCE * 2 + 1))
    graph = _Graph(_Stage(1, "one"), _Stage(2, "few"), _Stage(2, "many"))
    dynamic, static = deal_morsels(graph, {"one": one, "few": few, "many": many})  # type: ignore[arg-type]
    assert dynamic == {"many": many}  # more than 4 a piece: the coordinator balances them
    assert static[("one", 0)] == one  # one instance reads them all, in file order
    # a few morsels on 2 instances: each morsel exactly once, rows balanced, file order kept
    a, b = static[("few", 0)], static[("few", 1)]
    assert sorted(m.row_group for m in a + b) == list(range(6))
    assert sum(m.rows for m in a) == sum(m.rows for m in b) == 160
    assert [m.row_group for m in a] == sorted(m.row_group for m in a)
    # an empty scan still gives each instance its (empty) share: it needs no coordinator
    dynamic, static = deal_morsels(_Graph(_Stage(2, "none")), {"none": []})  # type: ignore[arg-type]
    assert dynamic == {} and static == {("none", 0): [], ("none", 1): []}
