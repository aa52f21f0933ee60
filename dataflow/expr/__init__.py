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

from .builder import Expr, Interval, coalesce, col, concat, interval, lit, to_expr, to_sort_key, when
from .nodes import (
    AGGREGATE_FUNCTIONS,
    SCALAR_FUNCTIONS,
    AggCall,
    Call,
    Case,
    Cast,
    ColumnRef,
    ExprNode,
    InList,
    Literal,
    NamedExpr,
    SortKey,
    WindowCall,
    columns_used,
    conjoin,
    conjuncts,
    contains_aggregate,
    contains_window,
    display,
    display_sort_key,
    equi_key_pair,
    literal,
    split_equi_keys,
    transform,
    walk,
)

__all__ = [
    "AGGREGATE_FUNCTIONS", "SCALAR_FUNCTIONS", "AggCall", "Call", "Case", "Cast", "ColumnRef",
    "Expr", "ExprNode", "InList", "Interval", "Literal", "NamedExpr", "SortKey", "WindowCall",
    "col", "coalesce", "columns_used", "concat", "conjoin", "conjuncts", "contains_aggregate",
    "contains_window", "display", "display_sort_key", "equi_key_pair", "split_equi_keys", "interval", "lit", "literal", "to_expr",
    "to_sort_key", "transform", "walk", "when",
]
