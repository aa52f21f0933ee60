"""The builder a user writes expressions with: ``col("a") + 1 > lit(3)``.

``Expr`` wraps a node of :mod:`dataflow.expr.nodes` and keeps an optional output name.
Nodes compare by value, so ``==`` on them is structural; ``==`` on an ``Expr`` builds a
comparison, as in every DataFrame library.
"""

from __future__ import annotations

from typing import Any

from .nodes import (
    AggCall,
    Call,
    Case,
    Cast,
    ColumnRef,
    ExprNode,
    InList,
    NamedExpr,
    Node,
    SortKey,
    WindowCall,
    display,
    literal,
)


class Interval:
    """A calendar interval for date arithmetic: ``col("d") + interval(months=3)``."""

    def __init__(self, days: int = 0, months: int = 0, years: int = 0) -> None:
        self.days = days
        self.months = months + 12 * years


def interval(days: int = 0, months: int = 0, years: int = 0) -> Interval:
    """An interval to add to or subtract from a date column."""
    return Interval(days=days, months=months, years=years)


def _node(x: Any) -> ExprNode:
    if isinstance(x, Expr):
        return x.node
    if isinstance(x, Node):
        return x  # type: ignore[return-value]
    return literal(x)


class Expr:
    """A column expression in the DataFrame API.

    >>> from dataflow import col
    >>> (col("price") * (1 - col("discount"))).alias("revenue").name
    'revenue'
    """

    __slots__ = ("node", "_name")

    def __init__(self, node: ExprNode, name: str | None = None) -> None:
        self.node = node
        self._name = name

    # naming
    @property
    def name(self) -> str:
        """The output column name: the alias, or a rendering of the expression."""
        return self._name if self._name is not None else display(self.node)

    def alias(self, name: str) -> Expr:
        return Expr(self.node, name)

    def named(self) -> NamedExpr:
        return NamedExpr(name=self.name, expr=self.node)

    def __repr__(self) -> str:
        return f"Expr({self.name})" if self._name else f"Expr({display(self.node)})"

    def __bool__(self) -> bool:
        raise TypeError("an expression has no truth value; use & | ~ instead of and/or/not")

    __hash__ = None  # type: ignore[assignment]

    def _call(self, fn: str, *others: Any) -> Expr:
        return Expr(Call(fn=fn, args=(self.node, *(_node(o) for o in others))))

    def _rcall(self, fn: str, o: Any) -> Expr:
        # the reflected operators (``1 - col("a")``): ``o`` is the left operand
        return Expr(Call(fn=fn, args=(_node(o), self.node)))

    # arithmetic
    def __add__(self, o: Any) -> Expr:
        if isinstance(o, Interval):
            return self._add_interval(o, 1)
        return self._call("add", o)

    def __radd__(self, o: Any) -> Expr:
        return self._rcall("add", o)

    def __sub__(self, o: Any) -> Expr:
        if isinstance(o, Interval):
            return self._add_interval(o, -1)
        return self._call("subtract", o)

    def __rsub__(self, o: Any) -> Expr:
        return self._rcall("subtract", o)

    def __mul__(self, o: Any) -> Expr:
        return self._call("multiply", o)

    def __rmul__(self, o: Any) -> Expr:
        return self._rcall("multiply", o)

    def __truediv__(self, o: Any) -> Expr:
        return self._call("divide", o)

    def __rtruediv__(self, o: Any) -> Expr:
        return self._rcall("divide", o)

    def __mod__(self, o: Any) -> Expr:
        return self._call("modulo", o)

    def __neg__(self) -> Expr:
        return self._call("negate")

    def _add_interval(self, iv: Interval, sign: int) -> Expr:
        node = self.node
        if iv.months:
            node = Call(fn="add_months", args=(node, literal(sign * iv.months)))
        if iv.days:
            node = Call(fn="add_days", args=(node, literal(sign * iv.days)))
        return Expr(node)

    # comparison
    def __eq__(self, o: Any) -> Expr:  # type: ignore[override]
        return self._call("eq", o)

    def __ne__(self, o: Any) -> Expr:  # type: ignore[override]
        return self._call("ne", o)

    def __lt__(self, o: Any) -> Expr:
        return self._call("lt", o)

    def __le__(self, o: Any) -> Expr:
        return self._call("le", o)

    def __gt__(self, o: Any) -> Expr:
        return self._call("gt", o)

    def __ge__(self, o: Any) -> Expr:
        return self._call("ge", o)

    # boolean
    def __and__(self, o: Any) -> Expr:
        return self._call("and", o)

    def __rand__(self, o: Any) -> Expr:
        return self._rcall("and", o)

    def __or__(self, o: Any) -> Expr:
        return self._call("or", o)

    def __ror__(self, o: Any) -> Expr:
        return self._rcall("or", o)

    def __invert__(self) -> Expr:
        return self._call("not")

    # predicates
    def is_null(self) -> Expr:
        return self._call("is_null")

    def is_not_null(self) -> Expr:
        return self._call("is_not_null")

    def isin(self, values: Any, negated: bool = False) -> Expr:
        return Expr(InList(expr=self.node, values=tuple(_node(v) for v in values), negated=negated))

    def between(self, low: Any, high: Any) -> Expr:
        return self._call("between", low, high)

    def like(self, pattern: str) -> Expr:
        return self._call("like", pattern)

    def cast(self, to: str | Any) -> Expr:
        """``CAST(x AS to)``: ``to`` is an Arrow type, or its name in Arrow's or SQL's
        spelling (``"float64"``, ``"double"``, ``"int"``, ``"varchar"``, ``"decimal(10,2)"``)."""
        from ..errors import PlanError
        from ..types import resolve_type_name, type_name

        try:
            name = resolve_type_name(to) if isinstance(to, str) else type_name(to)
        except ValueError as e:
            raise PlanError(f"cannot cast {display(self.node)}: {e}") from None
        return Expr(Cast(expr=self.node, to=name))

    # strings
    def substring(self, start: int, length: int | None = None) -> Expr:
        """SQL ``SUBSTRING(x FROM start FOR length)``; ``start`` counts from 1."""
        return self._call("substring", start) if length is None else self._call("substring", start, length)

    def upper(self) -> Expr:
        return self._call("upper")

    def lower(self) -> Expr:
        return self._call("lower")

    def length(self) -> Expr:
        return self._call("length")

    def starts_with(self, prefix: str) -> Expr:
        return self._call("starts_with", prefix)

    def ends_with(self, suffix: str) -> Expr:
        return self._call("ends_with", suffix)

    def contains(self, sub: str) -> Expr:
        return self._call("contains", sub)

    # dates
    def year(self) -> Expr:
        return self._call("year")

    def month(self) -> Expr:
        return self._call("month")

    def day(self) -> Expr:
        return self._call("day")

    # sorting helpers
    def asc(self, nulls_first: bool = False) -> SortKey:
        return SortKey(expr=self.node, ascending=True, nulls_first=nulls_first)

    def desc(self, nulls_first: bool = False) -> SortKey:
        return SortKey(expr=self.node, ascending=False, nulls_first=nulls_first)

    # windows
    def over(self, partition_by: Any = (), order_by: Any = ()) -> Expr:
        """Turn an aggregate or ranking expression into a window function."""
        if not isinstance(self.node, (AggCall, WindowCall)):
            raise TypeError("over() applies to aggregates and ranking functions")
        parts = tuple(_node(col(p) if isinstance(p, str) else p) for p in _as_tuple(partition_by))
        keys = tuple(_sort_key(k) for k in _as_tuple(order_by))
        fn = self.node.fn
        arg = self.node.arg
        return Expr(WindowCall(fn=fn, arg=arg, partition_by=parts, order_by=keys), self._name)


def _as_tuple(x: Any) -> tuple:
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


def _sort_key(k: Any) -> SortKey:
    if isinstance(k, SortKey):
        return k
    if isinstance(k, str):
        return SortKey(expr=ColumnRef(name=k))
    return SortKey(expr=_node(k))


def col(name: str) -> Expr:
    """A reference to the column ``name``."""
    return Expr(ColumnRef(name=name))


def lit(value: Any, type: str | None = None) -> Expr:
    """A literal value; ``type`` (an Arrow type name) overrides the inferred type."""
    return Expr(literal(value, type))


def to_expr(x: Any) -> Expr:
    """A column name, an ``Expr`` or a Python value, as an ``Expr``."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, str):
        return col(x)
    return Expr(_node(x))


def to_sort_key(x: Any) -> SortKey:
    return _sort_key(x)


class _When:
    def __init__(self, whens: tuple[tuple[ExprNode, ExprNode], ...]) -> None:
        self._whens = whens

    def when(self, cond: Any) -> _Then:
        return _Then(self._whens, _node(cond))

    def otherwise(self, value: Any) -> Expr:
        return Expr(Case(whens=self._whens, otherwise=_node(value)))

    def end(self) -> Expr:
        return Expr(Case(whens=self._whens))


class _Then:
    def __init__(self, whens: tuple[tuple[ExprNode, ExprNode], ...], cond: ExprNode) -> None:
        self._whens = whens
        self._cond = cond

    def then(self, value: Any) -> _When:
        return _When((*self._whens, (self._cond, _node(value))))


def when(cond: Any) -> _Then:
    """``when(c).then(v).when(c2).then(v2).otherwise(e)``: SQL CASE."""
    return _Then((), _node(cond))


def coalesce(*args: Any) -> Expr:
    return Expr(Call(fn="coalesce", args=tuple(_node(to_expr(a)) for a in args)))


def concat(*args: Any) -> Expr:
    return Expr(Call(fn="concat", args=tuple(_node(to_expr(a)) for a in args)))


__all__ = ["Expr", "Interval", "coalesce", "col", "concat", "interval", "lit", "to_expr", "to_sort_key", "when"]
