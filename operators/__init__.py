"""The runtime operators: one module per physical operator, plain Python over Arrow.

:func:`build_operator` makes the runtime operator for one instance of a physical
plan node. Exchanges are not operators: the runtime wires them between stages.
"""

from __future__ import annotations

import importlib
from typing import Any

from dataflow.errors import UnsupportedError

from .base import Morsel, Operator, TaskContext

# node.kind -> (module, class)
OPERATORS: dict[str, tuple[str, str]] = {
    "scan": ("scan", "Scan"),
    "filter": ("filter", "Filter"),
    "project": ("project", "Project"),
    "hash_aggregate": ("hash_aggregate", "HashAggregate"),
    "hash_join": ("hash_join", "HashJoin"),
    "nested_loop_join": ("nested_loop_join", "NestedLoopJoin"),
    "sort": ("sort", "Sort"),
    "topk": ("topk", "TopK"),
    "limit": ("limit", "Limit"),
    "union": ("union", "Union"),
    "window": ("window", "Window"),
    "write": ("write", "Write"),
    "expand": ("expand", "Expand"),
    "values": ("values", "Values"),
}


def build_operator(node: Any, ctx: TaskContext, node_id: str = "0") -> Operator:
    """The runtime operator for one instance of physical plan node ``node``."""
    kind = getattr(node, "kind", None)
    if kind == "exchange":
        raise UnsupportedError(
            "an Exchange is not an operator: the runtime connects stages through it "
            "(split the plan at exchanges before building operators)"
        )
    if kind not in OPERATORS:
        raise UnsupportedError(f"no runtime operator for plan node kind {kind!r}")
    module, cls = OPERATORS[kind]
    mod = importlib.import_module(f"{__name__}.{module}")
    return getattr(mod, cls)(node, ctx, node_id)


__all__ = ["OPERATORS", "Morsel", "Operator", "TaskContext", "build_operator"]
