"""What a physical node produces (:class:`Partitioning`) and what it requires of an
input (:class:`Distribution`), kept apart as DataFusion keeps ``Partitioning`` and
``Distribution``; ``enforce_distribution`` compares the two on every edge.

>>> Partitioning(kind="hash", n=2, keys=("k",)).kind
'hash'
"""

from __future__ import annotations

from typing import Literal as _L

from .specs import Frozen, OrderSpec


class Partitioning(Frozen):
    """How a node's output rows are spread over its ``n`` instances.

    ``unknown``: any row may be anywhere; ``single``: one instance; ``hash``: rows
    with equal ``keys`` share an instance; ``range``: instance i holds rows ordered
    before instance i+1's by ``order``; ``broadcast``: every instance has all rows.
    """

    kind: _L["unknown", "single", "hash", "range", "broadcast"]
    n: int
    keys: tuple[str, ...] = ()
    order: tuple[OrderSpec, ...] = ()


class Route(Frozen):
    """How an exchange moves rows, shared by the plan's ``PExchange`` and the stage
    graph's edges: ``mode`` (``hash``, ``range``, ``broadcast``, ``round_robin``,
    ``gather``, ``gather_merge``; in the stage graph also ``forward``, instance i to
    instance i), the hash ``keys``, and the ``order`` of a range split or a merge."""

    mode: str
    keys: tuple[str, ...] = ()
    order: tuple[OrderSpec, ...] = ()


class Distribution(Frozen):
    """What a node requires of an input: ``any``, ``single``, ``hash`` on ``keys``,
    ``broadcast`` (every instance sees all rows), or ``range`` on ``order``."""

    kind: _L["any", "single", "hash", "broadcast", "range"]
    keys: tuple[str, ...] = ()
    order: tuple[OrderSpec, ...] = ()
    # hash on exactly these keys (a join's two sides must be hashed alike); otherwise
    # rows hashed on a subset of the keys also qualify
    exact: bool = False


ANY = Distribution(kind="any")
SINGLE = Distribution(kind="single")


def single_or_unknown(n: int) -> Partitioning:
    """One instance's output is ``single``; several instances' is ``unknown``."""
    return Partitioning(kind="single" if n == 1 else "unknown", n=n)


def renamed_order(order: tuple[OrderSpec, ...], names: dict[str, str]) -> tuple[OrderSpec, ...]:
    """``order`` after a projection that passes input column ``c`` on as ``names[c]``:
    its longest prefix of keys that survive, renamed."""
    out = []
    for o in order:
        if o.column not in names:
            break
        out.append(o.replace(column=names[o.column]))
    return tuple(out)


def renamed_partitioning(p: Partitioning, names: dict[str, str]) -> Partitioning:
    """``p`` after a projection that passes input column ``c`` on as ``names[c]``: hash
    keys and range orders are renamed; one lost makes the partitioning unknown."""
    if p.kind == "hash":
        if all(k in names for k in p.keys):
            return p.replace(keys=tuple(names[k] for k in p.keys))
        return single_or_unknown(p.n)
    if p.kind == "range":
        order = renamed_order(p.order, names)
        return p.replace(order=order) if order else single_or_unknown(p.n)
    return p


__all__ = ["Route",
    "ANY", "SINGLE", "Distribution", "Partitioning", "renamed_order", "renamed_partitioning", "single_or_unknown",
]
