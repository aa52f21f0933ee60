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
