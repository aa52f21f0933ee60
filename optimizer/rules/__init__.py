"""Optimizer rules, one per module; ``LOGICAL_RULES`` lists the logical ones in order.

Modules are imported as modules (not their functions), so that
``dataflow.optimizer.rules.<rule>`` stays the module of that name.
"""

from __future__ import annotations

from collections.abc import Callable

from dataflow.logical import LogicalPlan

from . import fold_constants as _fold_constants
from . import push_down_filter as _push_down_filter
from . import push_down_limit as _push_down_limit
from . import push_down_projection as _push_down_projection
from . import reorder_joins as _reorder_joins

LOGICAL_RULES: list[tuple[str, Callable[[LogicalPlan], LogicalPlan]]] = [
    ("fold_constants", _fold_constants.fold_constants),
    ("push_down_filter", _push_down_filter.push_down_filter),
    ("reorder_joins", _reorder_joins.reorder_joins),
    ("push_down_limit", _push_down_limit.push_down_limit),
    ("push_down_projection", _push_down_projection.push_down_projection),
]
