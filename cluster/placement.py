"""Which node runs each stage instance of a job: a pure function, tested without Ray.

>>> nodes = [NodeCapacity("a", 2), NodeCapacity("b", 2)]
>>> place(nodes, [StageInstance((0, 0)), StageInstance((0, 1)), StageInstance((1, 0), prefers="a")])
['b', 'a', 'a']

The rule: every node gets a share of the job's instances in proportion to its free
CPUs (largest remainder, so shares are whole numbers); an instance that prefers a node
(a scan whose file is on that node's local disk) goes there while that node has not
passed its share by more than ``slack`` instances; every other instance goes to the node
with the most share left, so consecutive instances of one stage land on different
nodes. Ties go to the node listed first, so the answer is repeatable.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from dataflow.errors import DataflowError


@dataclass(frozen=True)
class NodeCapacity:
    """An alive node and the CPUs it has free for this job (``ray.nodes()`` resources
    minus what is in use; 0 is allowed: such a node gets instances only when every
    node has 0)."""

    node_id: str
    free_cpus: float


@dataclass(frozen=True)
class StageInstance:
    """One instance of a stage: ``key`` names it (e.g. ``(stage_id, instance)``),
    ``prefers`` is the node it would rather run on (or ``None``), ``cpus`` its weight."""

    key: Hashable
    prefers: str | None = None
    cpus: float = 1.0


def shares(nodes: Sequence[NodeCapacity], demand: float) -> list[float]:
    """Each node's fair share of ``demand`` CPUs, in proportion to its free CPUs, as
    whole numbers that sum to ``ceil(demand)`` (largest remainder method)."""
    weights = [max(0.0, n.free_cpus) for n in nodes]
    if sum(weights) <= 0:
        weights = [1.0] * len(nodes)  # nothing free anywhere: spread evenly
    total = sum(weights)
    whole = -(-int(demand * 1000) // 1000)  # ceil, robust to float noise
    exact = [whole * w / total for w in weights]
    out = [float(int(x)) for x in exact]
    left = whole - int(sum(out))
    order = sorted(range(len(nodes)), key=lambda i: (-(exact[i] - out[i]), -weights[i], i))
    for i in order[:left]:
        out[i] += 1
    return out


def place(
    nodes: Sequence[NodeCapacity], instances: Sequence[StageInstance], *, slack: float = 1.0
) -> list[str]:
    """The node id for each instance, in the order of ``instances``.

    Spreads instances over ``nodes`` in proportion to their free CPUs, and puts an
    instance on the node it ``prefers`` when that costs at most ``slack`` instances of
    imbalance (a preferred node that is not in ``nodes`` is ignored). Raises
    :class:`DataflowError` when there is no node.
    """
    if not nodes:
        raise DataflowError("no alive Ray node to place the job's instances on")
    ids = [n.node_id for n in nodes]
    if len(set(ids)) != len(ids):
        raise DataflowError(f"node ids must be distinct, got {ids}")
    index = {nid: i for i, nid in enumerate(ids)}
    target = shares(nodes, sum(max(0.0, s.cpus) for s in instances))
    load = [0.0] * len(nodes)
    out: list[str | None] = [None] * len(instances)
    # first the instances with a preference, so that the rest can fill around them
    for k, inst in enumerate(instances):
        i = index.get(inst.prefers) if inst.prefers is not None else None
        if i is not None and load[i] + inst.cpus <= target[i] + slack:
            load[i] += inst.cpus
            out[k] = ids[i]
    for k, inst in enumerate(instances):
        if out[k] is not None:
            continue
        i = min(range(len(nodes)), key=lambda j: (load[j] - target[j], load[j], j))
        load[i] += inst.cpus
        out[k] = ids[i]
    return [o for o in out if o is not None]
