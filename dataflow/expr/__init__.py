"""Expressions: immutable pydantic nodes (:mod:`.nodes`), and the user-facing builder
around them (:mod:`.builder`).

The nodes (``ColumnRef``, ``Literal``, ``Call``, ``Case``, ``Cast``, ``InList``, ``AggCall``,
``WindowCall``) are what plans hold and what serializes to JSON. ``Expr`` is the
builder a user writes with (``col("a") + 1 > lit(3)``); it wraps a node and keeps
an optional output name. Nodes compare by value, so ``==`` on them is structural;
``==`` on an ``Expr`` builds a comparison, as in every DataFrame library.

Evaluation over Arrow lives in :mod:`dataflow.compute`.
"""

from __future__ import annotations

# The package's names are its two modules' (each lists them in its __all__).
from .builder import *  # noqa: F403
from .builder import __all__ as _builder_names
from .nodes import *  # noqa: F403
from .nodes import __all__ as _node_names

__all__ = [*_node_names, *_builder_names]
