"""Functions for the DataFrame API: aggregates, window ranking, and scalar functions.

Scalar functions build a :class:`~dataflow.expr.Call` of the function of that name in
the registry (:mod:`dataflow.kernels`); :func:`call` reaches any of them by name. A
string argument names a column, except where the function takes text (a pattern, a
date part), which is a literal.

>>> import dataflow.functions as F
>>> F.sum("l_quantity").alias("qty").name
'qty'
>>> F.date_trunc("month", "o_orderdate").name
"date_trunc('month', o_orderdate)"
"""

from __future__ import annotations

from typing import Any

from .errors import PlanError
from .expr import AggCall, Call, Expr, WindowCall, coalesce, concat, lit, to_expr, when
from .expr.builder import _node

__all__ = [
    "avg", "call", "coalesce", "concat", "count", "count_distinct", "date_diff", "date_trunc", "dense_rank",
    "exp", "greatest", "least", "ln", "log", "log2", "log10", "max", "mean", "min", "pow", "power", "rank",
    "regexp_extract", "regexp_matches", "regexp_replace", "row_number", "sqrt", "strpos", "sum", "when",
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


# -- scalar functions ------------------------------------------------------------------------


def call(fn: str, *args: Any) -> Expr:
    """A call of the registered scalar function ``fn`` (strings name columns)."""
    from .kernels import lookup

    if lookup(fn) is None:
        raise PlanError(f"unknown scalar function {fn!r}")
    return Expr(Call(fn=fn, args=tuple(_node(to_expr(a)) for a in args)))


def sqrt(x: Any) -> Expr:
    """The square root, as a double (NaN below zero, as in DuckDB)."""
    return call("sqrt", x)


def exp(x: Any) -> Expr:
    """e to the ``x``."""
    return call("exp", x)


def ln(x: Any) -> Expr:
    """The natural logarithm."""
    return call("ln", x)


def log(x: Any, base: Any = None) -> Expr:
    """The logarithm base 10, or base ``base``."""
    return call("log", x) if base is None else call("log", base, x)


def log10(x: Any) -> Expr:
    return call("log10", x)


def log2(x: Any) -> Expr:
    return call("log2", x)


def power(x: Any, y: Any) -> Expr:
    """``x`` to the ``y``, as doubles."""
    return call("power", x, y)


pow = power  # noqa: A001


def greatest(*args: Any) -> Expr:
    """The largest argument that is not NULL."""
    return call("greatest", *args)


def least(*args: Any) -> Expr:
    """The smallest argument that is not NULL."""
    return call("least", *args)


def strpos(x: Any, sub: str) -> Expr:
    """The 1-based position of ``sub`` in ``x`` (0 if absent)."""
    return call("strpos", x, lit(sub))


def date_trunc(part: str, x: Any) -> Expr:
    """``x`` truncated to the start of its ``part`` (year, quarter, month, week, day ...)."""
    return call("date_trunc", lit(part), x)


def date_diff(part: str, start: Any, end: Any) -> Expr:
    """The number of ``part`` boundaries from ``start`` to ``end``."""
    return call("date_diff", lit(part), start, end)


def regexp_matches(x: Any, pattern: str, options: str | None = None) -> Expr:
    """Whether the regular expression ``pattern`` matches anywhere in ``x``."""
    extra = () if options is None else (lit(options),)
    return call("regexp_matches", x, lit(pattern), *extra)


def regexp_replace(x: Any, pattern: str, replacement: str, options: str | None = None) -> Expr:
    """``x`` with the first match of ``pattern`` replaced (every match with ``options="g"``)."""
    extra = () if options is None else (lit(options),)
    return call("regexp_replace", x, lit(pattern), lit(replacement), *extra)


def regexp_extract(x: Any, pattern: str, group: int = 0, options: str | None = None) -> Expr:
    """The text of ``group`` in the first match of ``pattern`` (``''`` if none)."""
    extra = () if options is None else (lit(options),)
    return call("regexp_extract", x, lit(pattern), lit(group), *extra)
