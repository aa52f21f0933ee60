"""enforce_distribution: the only rule that inserts exchanges.

For every edge of the physical plan it compares what the parent requires of that
input (``required_distribution``) with what the input produces
(``output_partitioning``, ``output_ordering``, ``dop``) and inserts an exchange
only where they differ: a hash-partitioned input with the right keys and width is
not shuffled again, and a single-instance input already satisfies ``single``.
The plan's root must end in one instance (results go to one caller).
"""

from __future__ import annotations

from typing import Literal

from dataflow.distribution import SINGLE, Distribution, Partitioning
from dataflow.physical import PExchange, PhysicalPlan, PProject


def satisfies_hash(produced: Partitioning, keys: tuple[str, ...], dop: int, exact: bool = False) -> bool:
    """Rows hashed on a subset of ``keys`` are also grouped right for ``keys``; a
    join's inputs must be hashed on exactly its keys, so both sides agree."""
    if produced.kind != "hash" or produced.n != dop or not produced.keys:
        return False
    return produced.keys == keys if exact else set(produced.keys) <= set(keys)


def exchange_for(child: PhysicalPlan, req: Distribution, dop: int) -> PhysicalPlan:
    """``child``, behind an exchange if ``req`` at width ``dop`` is not already met."""
    produced = child.output_partitioning()
    if dop == 1 or req.kind == "single":
        if child.dop == 1:
            return child
        if isinstance(child, PProject) and len(child.input.output_ordering()) > len(child.output_ordering()):
            # the projection drops sort keys (ORDER BY a column not selected): merge the
            # sorted streams first, then project on one instance
            return child.replace(input=exchange_for(child.input, req, dop), dop=1)
        mode: Literal["gather_merge", "gather"] = "gather_merge" if child.output_ordering() else "gather"
        return PExchange(input=child, mode=mode, order=child.output_ordering(), dop=1)
    if req.kind == "any":
        if child.dop == dop:
            return child
        return PExchange(input=child, mode="round_robin", dop=dop)
    if req.kind == "hash":
        if satisfies_hash(produced, req.keys, dop, req.exact):
            return child
        return PExchange(input=child, mode="hash", keys=req.keys, dop=dop)
    if req.kind == "broadcast":
        return PExchange(input=child, mode="broadcast", dop=dop)
    if req.kind == "range":
        if produced.kind == "range" and produced.order == req.order and produced.n == dop:
            return child
        return PExchange(input=child, mode="range", order=req.order, dop=dop)
    raise ValueError(f"unknown distribution {req.kind}")


def enforce_distribution(plan: PhysicalPlan) -> PhysicalPlan:
    """Insert the exchanges ``plan`` needs, bottom-up; the root ends single.

    >>> from dataflow.physical import PScan  # doctest: +SKIP
    """
    root = _enforce(plan)
    return exchange_for(root, SINGLE, 1)


def _enforce(node: PhysicalPlan) -> PhysicalPlan:
    kids = node.children()
    if not kids:
        return node
    new = tuple(exchange_for(_enforce(k), node.required_distribution(i), node.dop) for i, k in enumerate(kids))
    return node.with_children(new)
