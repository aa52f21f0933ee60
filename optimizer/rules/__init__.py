"""Optimizer rules, one per module; ``LOGICAL_RULES`` lists the logical ones in order."""

from __future__ import annotations

from collections.abc import Callable

from dataflow.logical import LogicalPlan

from .push_down_filter import push_down_filter
from .push_down_projection import push_down_projection

LOGICAL_RULES: list[tuple[str, Callable[[LogicalPlan], LogicalPlan]]] = [
    ("push_down_filter", push_down_filter),
    ("push_down_projection", push_down_projection),
]
