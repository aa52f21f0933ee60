"""Expression nodes: immutable pydantic models, compared and hashed by value.

The nodes (``ColumnRef``, ``Literal``, ``Call``, ``Case``, ``Cast``, ``InList``, ``AggCall``,
``WindowCall``) are what plans hold and what serializes to JSON; with them, the walks and
rewrites over them and their display. The builder a user writes with is in
:mod:`dataflow.expr.builder`; evaluation over Arrow lives in :mod:`dataflow.compute`.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
from typing import Annotated, Any, Union
from typing import Literal as _L

from pydantic import BaseModel, ConfigDict, Field

from ..kernels import names as _scalar_names

# The scalar functions that ``Call.fn`` may name: every function of the registry in
# :mod:`dataflow.kernels` (one entry per function: kernel, arity, type, SQL names).
SCALAR_FUNCTIONS: frozenset[str] = _scalar_names()

AGGREGATE_FUNCTIONS: frozenset[str] = frozenset(
    {
        "count", "count_star", "sum", "avg", "min", "max",
        "stddev_samp", "stddev_pop", "var_samp", "var_pop", "covar_samp", "covar_pop", "corr",
        "bool_and", "bool_or", "median", "quantile_cont", "quantile_disc", "string_agg", "single_value",
    }
)

JSONScalar = Union[bool, int, float, str, None]


class Node(BaseModel):
    """Base of every expression node: frozen, compared and hashed by value."""

    model_config = ConfigDict(frozen=True)

    def children(self) -> tuple[ExprNode, ...]:
        return ()

    def with_children(self, children: tuple[ExprNode, ...]) -> ExprNode:
        assert not children
        return self  # type: ignore[return-value]


class ColumnRef(Node):
    """A reference to a column of the input by name."""

    kind: _L["column"] = "column"
    name: str


class Literal(Node):
    """A constant. ``value`` holds a JSON scalar: dates as ISO strings and decimals as
    strings, so plans round-trip through JSON; ``type`` is an Arrow type name."""

    kind: _L["literal"] = "literal"
    value: JSONScalar
    type: str

    def py_value(self) -> Any:
        """The value as the Python object pyarrow expects for ``type``."""
        if self.value is None:
            return None
        if self.type.startswith("date32"):
            return _dt.date.fromisoformat(str(self.value))
        if self.type.startswith("decimal"):
            return _decimal.Decimal(str(self.value))
        if self.type.startswith("timestamp"):
            return _dt.datetime.fromisoformat(str(self.value))
        return self.value


class Call(Node):
    """A scalar function call; ``fn`` is one of :data:`SCALAR_FUNCTIONS` or ``udf:<name>``."""

    kind: _L["call"] = "call"
    fn: str
    args: tuple[ExprNode, ...] = ()

    def children(self) -> tuple[ExprNode, ...]:
        return self.args

    def with_children(self, children: tuple[ExprNode, ...]) -> ExprNode:
        return self.model_copy(update={"args": tuple(children)})


class Case(Node):
    """``CASE WHEN c1 THEN v1 ... ELSE e END``; a missing ELSE gives NULL."""

    kind: _L["case"] = "case"
    whens: tuple[tuple[ExprNode, ExprNode], ...]
    otherwise: ExprNode | None = None

    def children(self) -> tuple[ExprNode, ...]:
        flat: list[ExprNode] = [x for pair in self.whens for x in pair]
        if self.otherwise is not None:
            flat.append(self.otherwise)
        return tuple(flat)

    def with_children(self, children: tuple[ExprNode, ...]) -> ExprNode:
        n = len(self.whens)
        whens = tuple((children[2 * i], children[2 * i + 1]) for i in range(n))
        otherwise = children[2 * n] if self.otherwise is not None else None
        return self.model_copy(update={"whens": whens, "otherwise": otherwise})


class Cast(Node):
    """``CAST(expr AS to)``; ``to`` is an Arrow type name."""

    kind: _L["cast"] = "cast"
    expr: ExprNode
    to: str

    def children(self) -> tuple[ExprNode, ...]:
        return (self.expr,)

    def with_children(self, children: tuple[ExprNode, ...]) -> ExprNode:
        return self.model_copy(update={"expr": children[0]})


class InList(Node):
    """``expr [NOT] IN (v1, v2, ...)`` with SQL's NULL rules."""

    kind: _L["in_list"] = "in_list"
    expr: ExprNode
    values: tuple[ExprNode, ...]
    negated: bool = False

    def children(self) -> tuple[ExprNode, ...]:
        return (self.expr, *self.values)

    def with_children(self, children: tuple[ExprNode, ...]) -> ExprNode:
        return self.model_copy(update={"expr": children[0], "values": tuple(children[1:])})


class AggCall(Node):
    """An aggregate: ``count``, ``count_star``, ``sum``, ``avg``, ``min`` or ``max``,
    optionally over distinct values. Only valid inside an aggregation."""

    kind: _L["agg"] = "agg"
    fn: str
    arg: ExprNode | None = None
    distinct: bool = False
    # the second argument of corr/covar_* (``corr(arg, arg2)``)
    arg2: ExprNode | None = None
    # a constant: the fraction of quantile_cont/quantile_disc, the separator of string_agg
    param: float | str | None = None

    def children(self) -> tuple[ExprNode, ...]:
        return tuple(a for a in (self.arg, self.arg2) if a is not None)

    def with_children(self, children: tuple[ExprNode, ...]) -> ExprNode:
        arg = children[0] if self.arg is not None and children else None
        arg2 = children[-1] if self.arg2 is not None else None
        return self.model_copy(update={"arg": arg, "arg2": arg2})


class SortKey(BaseModel):
    """One key of an ordering. NULLs sort last unless ``nulls_first`` (DuckDB's default)."""

    model_config = ConfigDict(frozen=True)

    expr: ExprNode
    ascending: bool = True
    nulls_first: bool = False


class WindowCall(Node):
    """A window function: ``row_number``, ``rank``, ``dense_rank``, or an aggregate
    (``sum``, ``avg``, ``min``, ``max``, ``count``, ``count_star``) ``OVER (PARTITION BY
    ... ORDER BY ...)``. With an ORDER BY, aggregates use the SQL default frame (from the
    partition start to the current row's last peer); without, the whole partition."""

    kind: _L["window"] = "window"
    fn: str
    arg: ExprNode | None = None
    partition_by: tuple[ExprNode, ...] = ()
    order_by: tuple[SortKey, ...] = ()
    # ("rows" | "range", start, end): offsets from the current row (negative: preceding),
    # None: unbounded; a range bound of 0 is the current row's peers. None: the default.
    frame: tuple[str, int | None, int | None] | None = None
    # lag/lead offset, ntile buckets, nth_value position
    param: int | None = None
    # lag/lead default value
    arg2: ExprNode | None = None

    def children(self) -> tuple[ExprNode, ...]:
        arg = tuple(a for a in (self.arg, self.arg2) if a is not None)
        return (*arg, *self.partition_by, *(k.expr for k in self.order_by))

    def with_children(self, children: tuple[ExprNode, ...]) -> ExprNode:
        i = (self.arg is not None) + (self.arg2 is not None)
        arg = children[0] if self.arg is not None else None
        arg2 = children[i - 1] if self.arg2 is not None else None
        np_ = len(self.partition_by)
        parts = tuple(children[i : i + np_])
        keys = tuple(
            k.model_copy(update={"expr": e}) for k, e in zip(self.order_by, children[i + np_ :], strict=True)
        )
        return self.model_copy(update={"arg": arg, "arg2": arg2, "partition_by": parts, "order_by": keys})


ExprNode = Annotated[
    Union[ColumnRef, Literal, Call, Case, Cast, InList, AggCall, WindowCall],
    Field(discriminator="kind"),
]

for _model in (Call, Case, Cast, InList, AggCall, SortKey, WindowCall):
    _model.model_rebuild()


class NamedExpr(BaseModel):
    """An expression and the name of the column it produces."""

    model_config = ConfigDict(frozen=True)

    name: str
    expr: ExprNode


# ---------------------------------------------------------------------------------------
# Walking and rewriting nodes


def walk(node: ExprNode):
    """Yield ``node`` and every node below it, parents first."""
    yield node
    for child in node.children():
        yield from walk(child)


def transform(node: ExprNode, fn) -> ExprNode:
    """Rebuild ``node`` bottom-up, replacing each node ``n`` by ``fn(n)``."""
    children = node.children()
    if children:
        node = node.with_children(tuple(transform(c, fn) for c in children))
    return fn(node)


def columns_used(node: ExprNode) -> set[str]:
    """The names of all columns an expression reads."""
    return {n.name for n in walk(node) if isinstance(n, ColumnRef)}


def contains_aggregate(node: ExprNode) -> bool:
    return any(isinstance(n, AggCall) for n in walk(node))


def contains_window(node: ExprNode) -> bool:
    return any(isinstance(n, WindowCall) for n in walk(node))


def conjuncts(node: ExprNode | None) -> list[ExprNode]:
    """Split a predicate on AND."""
    if node is None:
        return []
    if isinstance(node, Call) and node.fn == "and":
        return [c for a in node.args for c in conjuncts(a)]
    return [node]


def conjoin(preds: list[ExprNode]) -> ExprNode | None:
    """AND a list of predicates together (``None`` for an empty list)."""
    out: ExprNode | None = None
    for p in preds:
        out = p if out is None else Call(fn="and", args=(out, p))
    return out


def equi_key_pair(
    pred: ExprNode, left: frozenset[str] | set[str], right: frozenset[str] | set[str]
) -> tuple[ExprNode, ExprNode] | None:
    """``(left_key, right_key)`` if ``pred`` is ``a = b`` with ``a`` reading only
    ``left`` columns and ``b`` only ``right`` columns (or the other way round)."""
    if not (isinstance(pred, Call) and pred.fn == "eq" and len(pred.args) == 2):
        return None
    a, b = pred.args
    ca, cb = columns_used(a), columns_used(b)
    if not ca or not cb:
        return None
    if ca <= left and cb <= right:
        return a, b
    if ca <= right and cb <= left:
        return b, a
    return None


def split_equi_keys(
    preds: list[ExprNode], left: frozenset[str] | set[str], right: frozenset[str] | set[str]
) -> tuple[list[ExprNode], list[ExprNode], list[ExprNode]]:
    """Split join predicates into equi-join keys (see :func:`equi_key_pair`) and the
    rest. Returns ``(left_keys, right_keys, rest)``."""
    lkeys: list[ExprNode] = []
    rkeys: list[ExprNode] = []
    rest: list[ExprNode] = []
    for p in preds:
        pair = equi_key_pair(p, left, right)
        if pair is None:
            rest.append(p)
        else:
            lkeys.append(pair[0])
            rkeys.append(pair[1])
    return lkeys, rkeys, rest


_INFIX = {
    "add": "+", "subtract": "-", "multiply": "*", "divide": "/", "modulo": "%",
    "eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "and": "AND", "or": "OR",
}


def display(node: ExprNode) -> str:
    """A short SQL-like rendering, used for default column names and in ``explain``."""
    if isinstance(node, ColumnRef):
        return node.name
    if isinstance(node, Literal):
        if node.value is None:
            return "NULL"
        if isinstance(node.value, str):
            if node.type.startswith("date"):
                return f"DATE '{node.value}'"
            if node.type.startswith("decimal"):
                return node.value
            return "'" + node.value.replace("'", "''") + "'"
        return str(node.value)
    if isinstance(node, Call):
        if node.fn in _INFIX and len(node.args) == 2:
            return f"({display(node.args[0])} {_INFIX[node.fn]} {display(node.args[1])})"
        if node.fn == "not":
            return f"NOT {display(node.args[0])}"
        if node.fn in ("is_null", "is_not_null"):
            return f"{display(node.args[0])} IS {'NOT ' if node.fn == 'is_not_null' else ''}NULL"
        if node.fn == "between":
            a, lo, hi = (display(x) for x in node.args)
            return f"{a} BETWEEN {lo} AND {hi}"
        return f"{node.fn}({', '.join(display(a) for a in node.args)})"
    if isinstance(node, Case):
        body = " ".join(f"WHEN {display(c)} THEN {display(v)}" for c, v in node.whens)
        tail = f" ELSE {display(node.otherwise)}" if node.otherwise is not None else ""
        return f"CASE {body}{tail} END"
    if isinstance(node, Cast):
        return f"CAST({display(node.expr)} AS {node.to})"
    if isinstance(node, InList):
        vals = ", ".join(display(v) for v in node.values)
        return f"{display(node.expr)} {'NOT ' if node.negated else ''}IN ({vals})"
    if isinstance(node, AggCall):
        if node.fn == "count_star":
            return "count(*)"
        inner = "" if node.arg is None else display(node.arg)
        if node.arg2 is not None:
            inner += f", {display(node.arg2)}"
        if node.param is not None:
            inner += f", {node.param!r}"
        return f"{node.fn}({'DISTINCT ' if node.distinct else ''}{inner})"
    if isinstance(node, WindowCall):
        inner = "" if node.arg is None else display(node.arg)
        parts = []
        if node.partition_by:
            parts.append("PARTITION BY " + ", ".join(display(p) for p in node.partition_by))
        if node.order_by:
            parts.append("ORDER BY " + ", ".join(display_sort_key(k) for k in node.order_by))
        return f"{node.fn}({inner}) OVER ({' '.join(parts)})"
    raise TypeError(f"unknown expression node {node!r}")


def display_sort_key(k: SortKey) -> str:
    s = display(k.expr) + ("" if k.ascending else " DESC")
    if k.nulls_first:
        s += " NULLS FIRST"
    return s


# ---------------------------------------------------------------------------------------
# Literals from Python values


def literal(value: Any, type: str | None = None) -> Literal:
    """A :class:`Literal` node from a Python value, inferring its Arrow type."""
    if isinstance(value, Literal):
        return value
    if type is not None:
        if isinstance(value, (_dt.date, _decimal.Decimal)):
            value = str(value)
        return Literal(value=value, type=type)
    if value is None:
        return Literal(value=None, type="null")
    if isinstance(value, bool):
        return Literal(value=value, type="bool")
    if isinstance(value, int):
        return Literal(value=value, type="int64")
    if isinstance(value, float):
        return Literal(value=value, type="double")
    if isinstance(value, str):
        return Literal(value=value, type="string")
    if isinstance(value, _dt.datetime):
        return Literal(value=value.isoformat(), type="timestamp[us]")
    if isinstance(value, _dt.date):
        return Literal(value=value.isoformat(), type="date32[day]")
    if isinstance(value, _decimal.Decimal):
        sign, digits, exp = value.as_tuple()
        scale = max(0, -int(exp))
        precision = max(len(digits), scale + 1)
        return Literal(value=str(value), type=f"decimal128({precision}, {scale})")
    raise TypeError(f"cannot make a literal of {value.__class__.__name__}")


__all__ = [
    "AGGREGATE_FUNCTIONS", "SCALAR_FUNCTIONS", "AggCall", "Call", "Case", "Cast", "ColumnRef", "ExprNode", "InList",
    "Literal", "NamedExpr", "SortKey", "WindowCall", "columns_used", "conjoin", "conjuncts", "contains_aggregate",
    "contains_window", "display", "display_sort_key", "equi_key_pair", "literal", "split_equi_keys", "transform",
    "walk",
]
