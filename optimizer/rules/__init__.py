"""Optimizer rules, one per module; ``LOGICAL_RULES`` lists the logical ones in order."""

from __future__ import annotations

from collections.abc import Callable

from dataflow.logical import LogicalPlan

LOGICAL_RULES: list[tuple[str, Callable[[LogicalPlan], LogicalPlan]]] = []
