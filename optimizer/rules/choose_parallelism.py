"""choose_parallelism: give each pipeline its own degree of parallelism from the
cost model, before exchanges are placed.

A pipeline (a future stage) is a maximal set of operators joined by edges that need
no redistribution. Its work is the sum of its operators' estimated work; its degree
is ``sqrt(work / setup cost per instance)``, capped by ``max_dop`` (see
``optimizer/cost.py``). Operators that must run on one instance keep one. A tiny
dimension-table scan runs one instance; a large fact-table scan runs many.
"""

from __future__ import annotations

from dataflow.physical import PhysicalPlan, PUnion

from ..cost import annotate, best_dop, work
from ..statistics import Estimator


def choose_parallelism(plan: PhysicalPlan, max_dop: int, est: Estimator | None = None) -> PhysicalPlan:
    """Set every node's ``dop`` per pipeline, at most ``max_dop``."""
    plan = annotate(plan, est if est is not None else Estimator())
    segment_of: dict[int, int] = {}
    members: list[list[PhysicalPlan]] = []

    def visit(node: PhysicalPlan, seg: int | None) -> None:
        if seg is None:
            seg = len(members)
            members.append([])
        segment_of[id(node)] = seg
        members[seg].append(node)
        for i, child in enumerate(node.children()):
            # a union's inputs are pipelines of their own (they may differ in size)
            same = node.required_distribution(i).kind == "any" and not isinstance(node, PUnion)
            visit(child, seg if same else None)

    visit(plan, None)
    dops = [0] * len(members)
    # children's segments come after their parents': settle them first
    for seg in reversed(range(len(members))):
        nodes = members[seg]
        fixed = any(n.dop == 1 for n in nodes) or max_dop == 1
        dops[seg] = 1 if fixed else best_dop(sum(work(n) for n in nodes), max_dop)
        for n in nodes:
            if isinstance(n, PUnion) and not fixed:
                # as wide as its widest input, so no input is funnelled through fewer
                dops[seg] = max(dops[seg], *(dops[segment_of[id(c)]] for c in n.children()))

    def rebuild(node: PhysicalPlan) -> PhysicalPlan:
        kids = tuple(rebuild(c) for c in node.children())
        new = node.with_children(kids) if kids else node
        return new.replace(dop=dops[segment_of[id(node)]])

    return rebuild(plan)
