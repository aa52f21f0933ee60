"""Optimizer rules, one per module; their order is the list of rule records,
``dataflow.optimizer.RULES``.

Modules are imported as modules (not their functions), so that
``dataflow.optimizer.rules.<rule>`` stays the module of that name.
"""

from __future__ import annotations
