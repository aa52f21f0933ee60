"""Functions for the DataFrame API: aggregates, window ranking, and helpers.

>>> import dataflow.functions as F
>>> F.sum("l_quantity").alias("qty").name
'qty'
"""

from __future__ import annotations

from typing import Any

from .expr import AggCall, Expr, WindowCall, _node, coalesce, concat, to_expr, when

__all__ = [
    "avg", "coalesce", "concat", "count", "count_distinct", "dense_rank", "max", "mean",
    "min", "rank", "row_number", "sum", "when",
]


def _agg(fn: str, x: Any = None, distinct: bool = False) -> Expr:
    arg = None if x is None else _node(to_expr(x))
    return Expr(AggCall(fn=fn, arg=arg, distinct=distinct))


def sum(x: Any) -> Expr:  # noqa: A001
    return _agg("sum", x)


def avg(x: Any) -> Expr:
    return _agg("avg", x)


mean = avg


def min(x: Any) -> Expr:  # noqa: A001
    return _agg("min", x)


def max(x: Any) -> Expr:  # noqa: A001
    return _agg("max", x)


def count(x: Any = None, distinct: bool = False) -> Expr:
    """``count(x)`` counts non-NULL values; ``count()`` counts rows."""
    if x is None:
        return Expr(AggCall(fn="count_star"))
    return _agg("count", x, distinct)


def count_distinct(x: Any) -> Expr:
    return _agg("count", x, True)


def row_number() -> Expr:
    return Expr(WindowCall(fn="row_number"))


def rank() -> Expr:
    return Expr(WindowCall(fn="rank"))


def dense_rank() -> Expr:
    return Expr(WindowCall(fn="dense_rank"))
