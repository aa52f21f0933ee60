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


__all__ = ["ANY", "SINGLE", "Distribution", "Partitioning", "single_or_unknown"]
