"""Shared pieces of the SQL planner: the planned-query record, CTE entries, and the
small helpers for names, positions, limits and types (split out of ``planner.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from ..errors import PlanError, UnsupportedError
from ..expr import (
    AggCall,
    Call,
    Cast,
    ColumnRef,
    ExprNode,
    Literal,
    NamedExpr,
    columns_used,
    display,
    transform,
)
from ..logical import Limit, LogicalPlan, Project
from .aggregates import EXTRA_AGGREGATES, extra_name
from .expressions import AGGREGATES, func_args
from .scope import Scope, fresh_name, is_outer


@dataclass
class Planned:
    """A planned query: its plan, the SQL names of its output columns and the plan
    columns holding them. For a correlated subquery, ``correlation`` holds the
    predicates that tie it to the enclosing query (over its plan's columns and
    ``outer_ref`` columns), to become join conditions."""

    plan: LogicalPlan
    names: list[str]
    columns: list[str]
    correlation: list[ExprNode] = field(default_factory=list)
    # Exactly one row (a global aggregate without HAVING), per correlation key if correlated.
    single_row: bool = False
    # For a correlated aggregate without GROUP BY: the value of an output column when
    # no row matches (``count(*)`` is 0, not NULL), where that is not NULL.
    empty_values: dict[str, ExprNode] = field(default_factory=dict)


@dataclass
class _Cte:
    node: exp.Expression
    columns: list[str]
    ctes: dict[str, _Cte]


class PlannerPart:
    """Base of the planner's mixins (:class:`.select.SelectPlanner`,
    :class:`.setop_planner.SetOpPlanner`): what they use of
    :class:`dataflow.sql.planner.Planner`, which provides it."""

    if TYPE_CHECKING:  # provided by Planner
        subqueries: Any

        def new_id(self) -> int: ...
        def plan_query(
            self, node: exp.Expression, outer: Scope | None, ctes: dict[str, _Cte], *, mode: str = ...
        ) -> Planned: ...
        def _relation(self, node: exp.Expression, scope: Scope, ctes: dict[str, _Cte]) -> LogicalPlan: ...
        def _join_condition(self, *args: Any) -> list[ExprNode]: ...
        def _outer_join(self, *args: Any) -> LogicalPlan: ...


# Placeholder columns for subqueries inside expressions are named with this prefix.
SUBQUERY_PREFIX = "__subquery"


# -- helpers ---------------------------------------------------------------------------------


def _aliases(items: list[tuple[str, ExprNode]]) -> dict[str, ExprNode]:
    """Select-list names that HAVING and ORDER BY expressions may use, as DuckDB allows."""
    out: dict[str, ExprNode] = {}
    for name, e in items:
        out.setdefault(name.lower(), e)
    return out


def _ast_conjuncts(node: exp.Expression) -> list[exp.Expression]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _ast_conjuncts(node.this) + _ast_conjuncts(node.expression)
    return [node]


def _has_subquery(node: exp.Expression) -> bool:
    return any(isinstance(n, (exp.Subquery, exp.Exists, exp.Select)) for n in node.walk())


def _has_aggregate(sel: exp.Select) -> bool:
    for item in sel.expressions:
        for n in item.walk():
            if isinstance(n, (exp.Subquery, exp.Select)) and n is not item:
                continue
            if isinstance(n, exp.AggFunc) and not isinstance(n.parent, exp.Window):
                return True
    return False


def _output_index(node: exp.Expression, names: list[str], allow_names: bool = True) -> int | None:
    """The output column an ORDER BY item means: a position, or an output name."""
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            pos = int(node.this)
        except ValueError:
            return None
        if not 1 <= pos <= len(names):
            raise PlanError(f"ORDER BY position {pos} is not in the select list (1 to {len(names)})")
        return pos - 1
    if allow_names and isinstance(node, exp.Column) and not node.table:
        hits = [i for i, n in enumerate(names) if n.lower() == node.name.lower()]
        if len(hits) >= 1:
            return hits[0]
    return None


def _apply_limit(node: exp.Expression, plan: LogicalPlan) -> LogicalPlan:
    limit = node.args.get("limit")
    offset = node.args.get("offset")
    if limit is None and offset is None:
        return plan
    if isinstance(limit, exp.Fetch):
        opts = limit.args.get("limit_options")
        if opts is not None and (opts.args.get("percent") or opts.args.get("with_ties")):
            raise UnsupportedError("FETCH ... PERCENT and WITH TIES are not supported")
        count = limit.args.get("count")
        n = _const_count(count, "FETCH FIRST") if count is not None else 1
    else:
        n = _const_count(limit.expression, "LIMIT") if limit is not None else None
    off = _const_count(offset.expression, "OFFSET") if offset is not None else 0
    return Limit(input=plan, limit=n, offset=off or 0)


def _const_count(node: exp.Expression | None, what: str) -> int | None:
    if node is None:
        return None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            v = int(node.this)
        except ValueError:
            v = -1
        if v >= 0:
            return v
    if isinstance(node, exp.Null):
        return None
    raise UnsupportedError(f"{what} must be a non-negative whole number, not {node.sql(dialect='duckdb')}")


def _visible_name(scope: Scope, col: exp.Column) -> str:
    """The declared name of the column a reference resolves to (DuckDB names outputs so)."""
    parts = [p.name for p in col.parts]
    name = parts[-1]
    rels = scope.relations
    if len(parts) >= 2:
        rels = [r for r in rels if r.alias.lower() == parts[-2].lower()]
    for r in rels:
        hits = r.find(name)
        if hits:
            return hits[0].name
    return name


def _dedupe(names: list[str], taken: set[str] | None = None) -> list[str]:
    """Unique names: a repeated ``x`` becomes ``x_1``, ``x_2`` (as DuckDB does)."""
    seen = set(taken or ())
    out = []
    for n in names:
        out.append(fresh_name(n, seen))
        seen.add(out[-1])
    return out


def _unique(xs: list[ExprNode]) -> list[ExprNode]:
    return list(dict.fromkeys(xs))


def _rename_prefix(names: list[str], aliases: list[str], what: str) -> list[str]:
    if len(aliases) > len(names):
        raise PlanError(f"{what} names {len(aliases)} columns, but there are only {len(names)}")
    return list(aliases) + list(names[len(aliases) :])


def _project_to(plan: LogicalPlan, columns: list[str], names: list[str]) -> LogicalPlan:
    names = _dedupe(names)
    if list(plan.column_names()) == names and columns == names:
        return plan
    return Project(
        input=plan,
        exprs=tuple(NamedExpr(name=n, expr=ColumnRef(name=c)) for n, c in zip(names, columns, strict=True)),
    )


def _correlation_keys(preds: list[ExprNode]) -> tuple[list[ExprNode], list[ExprNode]]:
    """For a correlated aggregate: each correlation predicate must be ``inner = outer``;
    returns the inner expressions (to group by) and the outer ones."""
    inner, outer = [], []
    for p in preds:
        ok = isinstance(p, Call) and p.fn == "eq" and len(p.args) == 2
        if ok:
            a, b = p.args  # type: ignore[union-attr]
            ua, ub = columns_used(a), columns_used(b)
            a_outer = bool(ua) and all(is_outer(n) for n in ua)
            b_outer = bool(ub) and all(is_outer(n) for n in ub)
            a_inner = bool(ua) and not any(is_outer(n) for n in ua)
            b_inner = bool(ub) and not any(is_outer(n) for n in ub)
            if a_inner and b_outer:
                inner.append(a)
                outer.append(b)
                continue
            if b_inner and a_outer:
                inner.append(b)
                outer.append(a)
                continue
        raise UnsupportedError(
            f"the correlated condition {_show(p)} in an aggregating subquery: only equalities between a "
            "column of the subquery and one of the enclosing query are supported there"
        )
    return inner, outer


def _show(p: ExprNode) -> str:
    from ..expr import transform
    from .scope import outer_name

    return display(
        transform(
            p,
            lambda n: (
                ColumnRef(name=outer_name(n.name)) if isinstance(n, ColumnRef) and is_outer(n.name) else n
            ),
        )
    )


def _empty_values(items: list[tuple[str, ExprNode]], components: list[NamedExpr]) -> dict[int, ExprNode]:
    """What each select item of an aggregate without GROUP BY is over no rows: COUNTs
    are 0, other aggregates NULL. Only items where that is not simply NULL."""
    over_nothing: dict[str, ExprNode] = {}
    for c in components:
        if isinstance(c.expr, AggCall):
            zero = c.expr.fn in ("count", "count_star")
            over_nothing[c.name] = (
                Literal(value=0, type="int64") if zero else Literal(value=None, type="null")
            )
    out = {}
    for i, (_, e) in enumerate(items):
        v = transform(e, lambda n: over_nothing.get(n.name, n) if isinstance(n, ColumnRef) else n)
        v = transform(v, _null_in_null_out)
        if not (isinstance(v, Literal) and v.value is None):
            out[i] = v
    return out


# Functions whose result is NULL when any argument is NULL.
_STRICT = frozenset(
    {
        "add",
        "subtract",
        "multiply",
        "divide",
        "modulo",
        "negate",
        "abs",
        "round",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "between",
        "not",
        "like",
        "ilike",
        "substring",
        "upper",
        "lower",
        "length",
        "concat",
        "starts_with",
        "ends_with",
        "contains",
        "trim",
        "ltrim",
        "rtrim",
        "replace",
        "year",
        "month",
        "day",
        "quarter",
        "add_days",
        "add_months",
    }
)


def _is_null_literal(n: ExprNode) -> bool:
    return isinstance(n, Literal) and n.value is None


def _null_in_null_out(n: ExprNode) -> ExprNode:
    if isinstance(n, Call) and n.fn in _STRICT and any(_is_null_literal(a) for a in n.args):
        return Literal(value=None, type="null")
    if isinstance(n, Cast) and _is_null_literal(n.expr):
        return Literal(value=None, type="null")
    return n


def _field_type(plan: LogicalPlan, col: int | str) -> str | None:
    schema = plan.schema
    if isinstance(col, int):
        return schema[col].type
    for f in schema:
        if f.name == col:
            return f.type
    return None


def _common_type(types: list[str | None], name: str) -> str | None:
    """The type the inputs of a UNION column are cast to."""
    import pyarrow as pa

    from ..types import parse_type, type_name

    known = [t for t in types if t is not None and t != "null"]
    if not known or all(t == known[0] for t in known):
        return known[0] if known else None
    ats = [parse_type(t) for t in known]
    if all(pa.types.is_integer(t) for t in ats):
        return type_name(max(ats, key=lambda t: t.bit_width))
    if all(pa.types.is_integer(t) or pa.types.is_decimal(t) for t in ats):
        decs = [t for t in ats if pa.types.is_decimal(t)]
        scale = max(t.scale for t in decs)
        whole = max(
            [t.precision - t.scale for t in decs] + [19 if any(pa.types.is_integer(t) for t in ats) else 0]
        )
        return f"decimal128({min(38, whole + scale)}, {scale})"
    if all(pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_floating(t) for t in ats):
        return "double"
    if all(pa.types.is_string(t) or pa.types.is_large_string(t) for t in ats):
        return "string"
    raise PlanError(f"the inputs of UNION have different types for column {name!r}: {', '.join(known)}")


# -- output names (moved from expressions.py) ----------------------------------------------

_INFIX_NAMES: dict[type, str] = {
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.Mod: "%",
    exp.EQ: "=",
    exp.NEQ: "!=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.And: "AND",
    exp.Or: "OR",
    exp.DPipe: "||",
}


def default_name(node: exp.Expression, column_name: Callable[[exp.Column], str] | None = None) -> str:
    """The column name DuckDB gives a select item without an alias, for simple cases:
    a column keeps its name; ``sum(x)``; ``count_star()``; ``(a * (1 - b))``."""
    if isinstance(node, exp.Alias):
        return node.alias
    return _name(node, column_name)


def _name(node: Any, column_name: Callable[[exp.Column], str] | None) -> str:
    if isinstance(node, exp.Column):
        if column_name is not None:
            try:
                return column_name(node)
            except Exception:  # noqa: BLE001 - the name of an unresolvable column is its text
                pass
        return node.name
    if isinstance(node, exp.Paren):
        return _name(node.this, column_name)
    if isinstance(node, exp.Literal):
        return node.this if not node.is_string else "'" + node.this.replace("'", "''") + "'"
    if type(node) in _INFIX_NAMES:
        a = _name(node.this, column_name)
        b = _name(node.expression, column_name)
        return f"({a} {_INFIX_NAMES[type(node)]} {b})"
    if isinstance(node, exp.Neg):
        return f"-{_name(node.this, column_name)}"
    if isinstance(node, exp.Count) and (node.this is None or isinstance(node.this, exp.Star)):
        return "count_star()"
    if type(node) in EXTRA_AGGREGATES:
        return extra_name(node, lambda x: _name(x, column_name))
    if type(node) in AGGREGATES:
        inner = node.this
        if isinstance(inner, exp.Distinct):
            return f"{AGGREGATES[type(node)]}(DISTINCT {', '.join(_name(x, column_name) for x in inner.expressions)})"
        return f"{AGGREGATES[type(node)]}({_name(inner, column_name)})"
    if isinstance(node, exp.Anonymous):
        return f"{node.name.lower()}({', '.join(_name(a, column_name) for a in node.expressions)})"
    if isinstance(node, exp.Func) and not isinstance(node, (exp.Cast, exp.Extract, exp.Case, exp.Window)):
        args = ", ".join(_name(a, column_name) for a in func_args(node))
        return f"{node.sql_name().lower()}({args})"
    return node.sql(dialect="duckdb")
