"""The builder a user writes expressions with: ``col("a") + 1 > lit(3)``.

``Expr`` wraps a node of :mod:`dataflow.expr.nodes` and keeps an optional output name.
Nodes compare by value, so ``==`` on them is structural; ``==`` on an ``Expr`` builds a
comparison, as in every DataFrame library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import nodes


class Interval:
    """A calendar interval for date arithmetic: ``col("d") + interval(months=3)``."""

    def __init__(self, days: int = 0, months: int = 0, years: int = 0) -> None:
        self.days = days
        self.months = months + 12 * years


def interval(days: int = 0, months: int = 0, years: int = 0) -> Interval:
    """An interval to add to or subtract from a date column."""
    return Interval(days=days, months=months, years=years)


def _node(x: Any) -> nodes.ExprNode:
    if isinstance(x, Expr):
        return x.node
    if isinstance(x, nodes.Node):
        return x  # type: ignore[return-value]
    return nodes.literal(x)


def _function(fn: str) -> Callable[..., Expr]:
    """A method of :class:`Expr` that applies the scalar function ``fn`` to the
    expression and the method's arguments (``col("a").upper()``, ``col("a") * 2``)."""

    def method(self: Expr, *others: Any) -> Expr:
        return self._call(fn, *others)

    method.__name__ = method.__qualname__ = fn
    return method


def _reflected(fn: str) -> Callable[[Expr, Any], Expr]:
    """A reflected operator (``1 - col("a")``): the other operand is the left one."""

    def method(self: Expr, o: Any) -> Expr:
        return Expr(nodes.Call(fn=fn, args=(_node(o), self.node)))

    method.__name__ = method.__qualname__ = fn
    return method


class Expr:
    """A column expression in the DataFrame API.

    >>> from dataflow import col
    >>> (col("price") * (1 - col("discount"))).alias("revenue").name
    'revenue'
    """

    __slots__ = ("node", "_name")

    def __init__(self, node: nodes.ExprNode, name: str | None = None) -> None:
        self.node = node
        self._name = name

    # naming
    @property
    def name(self) -> str:
        """The output column name: the alias, or a rendering of the expression."""
        return self._name if self._name is not None else nodes.display(self.node)

    def alias(self, name: str) -> Expr:
        return Expr(self.node, name)

    def named(self) -> nodes.NamedExpr:
        return nodes.NamedExpr(name=self.name, expr=self.node)

    def __repr__(self) -> str:
        return f"Expr({self.name})" if self._name else f"Expr({nodes.display(self.node)})"

    def __bool__(self) -> bool:
        raise TypeError("an expression has no truth value; use & | ~ instead of and/or/not")

    __hash__ = None  # type: ignore[assignment]

    def _call(self, fn: str, *others: Any) -> Expr:
        return Expr(nodes.Call(fn=fn, args=(self.node, *(_node(o) for o in others))))

    # arithmetic
    def __add__(self, o: Any) -> Expr:
        if isinstance(o, Interval):
            return self._add_interval(o, 1)
        return self._call("add", o)

    __radd__ = _reflected("add")

    def __sub__(self, o: Any) -> Expr:
        if isinstance(o, Interval):
            return self._add_interval(o, -1)
        return self._call("subtract", o)

    __rsub__ = _reflected("subtract")
    __mul__ = _function("multiply")
    __rmul__ = _reflected("multiply")
    __truediv__ = _function("divide")
    __rtruediv__ = _reflected("divide")
    __mod__ = _function("modulo")
    __neg__ = _function("negate")

    def _add_interval(self, iv: Interval, sign: int) -> Expr:
        node = self.node
        if iv.months:
            node = nodes.Call(fn="add_months", args=(node, nodes.literal(sign * iv.months)))
        if iv.days:
            node = nodes.Call(fn="add_days", args=(node, nodes.literal(sign * iv.days)))
        return Expr(node)

    # comparison
    __eq__ = _function("eq")  # type: ignore[assignment]
    __ne__ = _function("ne")  # type: ignore[assignment]
    __lt__ = _function("lt")
    __le__ = _function("le")
    __gt__ = _function("gt")
    __ge__ = _function("ge")

    # boolean
    __and__ = _function("and")
    __rand__ = _reflected("and")
    __or__ = _function("or")
    __ror__ = _reflected("or")
    __invert__ = _function("not")

    # predicates
    is_null = _function("is_null")
    is_not_null = _function("is_not_null")

    def isin(self, values: Any, negated: bool = False) -> Expr:
        return Expr(nodes.InList(expr=self.node, values=tuple(_node(v) for v in values), negated=negated))

    def between(self, low: Any, high: Any) -> Expr:
        return self._call("between", low, high)

    like = _function("like")

    def cast(self, to: str | Any) -> Expr:
        """``CAST(x AS to)``: ``to`` is an Arrow type, or its name in Arrow's or SQL's
        spelling (``"float64"``, ``"double"``, ``"int"``, ``"varchar"``, ``"decimal(10,2)"``)."""
        from ..errors import PlanError
        from ..types import resolve_type_name, type_name

        try:
            name = resolve_type_name(to) if isinstance(to, str) else type_name(to)
        except ValueError as e:
            raise PlanError(f"cannot cast {nodes.display(self.node)}: {e}") from None
        return Expr(nodes.Cast(expr=self.node, to=name))

    # strings
    def substring(self, start: int, length: int | None = None) -> Expr:
        """SQL ``SUBSTRING(x FROM start FOR length)``; ``start`` counts from 1."""
        return self._call("substring", start) if length is None else self._call("substring", start, length)

    upper = _function("upper")
    lower = _function("lower")
    length = _function("length")
    starts_with = _function("starts_with")
    ends_with = _function("ends_with")
    contains = _function("contains")

    # dates
    year = _function("year")
    month = _function("month")
    day = _function("day")

    # sorting helpers
    def asc(self, nulls_first: bool = False) -> nodes.SortKey:
        return nodes.SortKey(expr=self.node, ascending=True, nulls_first=nulls_first)

    def desc(self, nulls_first: bool = False) -> nodes.SortKey:
        return nodes.SortKey(expr=self.node, ascending=False, nulls_first=nulls_first)

    # windows
    def over(self, partition_by: Any = (), order_by: Any = ()) -> Expr:
        """Turn an aggregate or ranking expression into a window function."""
        if not isinstance(self.node, (nodes.AggCall, nodes.WindowCall)):
            raise TypeError("over() applies to aggregates and ranking functions")
        parts = tuple(_node(col(p) if isinstance(p, str) else p) for p in _as_tuple(partition_by))
        keys = tuple(_sort_key(k) for k in _as_tuple(order_by))
        fn = self.node.fn
        arg = self.node.arg
        return Expr(nodes.WindowCall(fn=fn, arg=arg, partition_by=parts, order_by=keys), self._name)


def _as_tuple(x: Any) -> tuple:
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


def _sort_key(k: Any) -> nodes.SortKey:
    if isinstance(k, nodes.SortKey):
        return k
    if isinstance(k, str):
        return nodes.SortKey(expr=nodes.ColumnRef(name=k))
    return nodes.SortKey(expr=_node(k))


def col(name: str) -> Expr:
    """A reference to the column ``name``."""
    return Expr(nodes.ColumnRef(name=name))


def lit(value: Any, type: str | None = None) -> Expr:
    """A literal value; ``type`` (an Arrow type name) overrides the inferred type."""
    return Expr(nodes.literal(value, type))


def to_expr(x: Any) -> Expr:
    """A column name, an ``Expr`` or a Python value, as an ``Expr``."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, str):
        return col(x)
    return Expr(_node(x))


def to_sort_key(x: Any) -> nodes.SortKey:
    return _sort_key(x)


class _When:
    def __init__(self, whens: tuple[tuple[nodes.ExprNode, nodes.ExprNode], ...]) -> None:
        self._whens = whens

    def when(self, cond: Any) -> _Then:
        return _Then(self._whens, _node(cond))

    def otherwise(self, value: Any) -> Expr:
        return Expr(nodes.Case(whens=self._whens, otherwise=_node(value)))

    def end(self) -> Expr:
        return Expr(nodes.Case(whens=self._whens))


class _Then:
    def __init__(self, whens: tuple[tuple[nodes.ExprNode, nodes.ExprNode], ...], cond: nodes.ExprNode) -> None:
        self._whens = whens
        self._cond = cond

    def then(self, value: Any) -> _When:
        return _When((*self._whens, (self._cond, _node(value))))


def when(cond: Any) -> _Then:
    """``when(c).then(v).when(c2).then(v2).otherwise(e)``: SQL CASE."""
    return _Then((), _node(cond))


def coalesce(*args: Any) -> Expr:
    return Expr(nodes.Call(fn="coalesce", args=tuple(_node(to_expr(a)) for a in args)))


def concat(*args: Any) -> Expr:
    return Expr(nodes.Call(fn="concat", args=tuple(_node(to_expr(a)) for a in args)))


__all__ = ["Expr", "Interval", "coalesce", "col", "concat", "interval", "lit", "to_expr", "to_sort_key", "when"]
