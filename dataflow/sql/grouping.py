"""GROUP BY ROLLUP / CUBE / GROUPING SETS, and grouping() / grouping_id().

A GROUP BY clause is a list of elements, each a plain key, ``ROLLUP (...)``,
``CUBE (...)`` or ``GROUPING SETS (...)``; the grouping sets of the clause are the
cross product of each element's sets (as in DuckDB and PostgreSQL). The planner
puts an :class:`dataflow.logical.Expand` below the aggregate, which emits each row
once per set with the keys outside it NULL and the set's index in a ``gid`` column;
the aggregate then groups by the key copies and ``gid``.

``grouping(a, b, ...)`` is a bit mask (the first argument the most significant bit)
of the arguments that are *not* grouped in a row's set. As the sets are known when
planning, it becomes a ``CASE gid WHEN 0 THEN m0 WHEN 1 THEN m1 ... END`` of constants.

>>> import sqlglot
>>> g = sqlglot.parse_one("select 1 from t group by rollup (a, b)").args["group"]
>>> elems = group_elements(g, lambda e: e.sql())
>>> cross_sets(elems)
[['a', 'b'], ['a'], []]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from ..errors import PlanError, UnsupportedError
from ..expr import Call, Case, ColumnRef, ExprNode, Literal

GROUPING_PREFIX = "\x00grouping:"

# the sets of one GROUP BY element: each a list of key expressions
Element = list[list[Any]]


def has_grouping_sets(group: exp.Group | None) -> bool:
    """Whether the GROUP BY uses ROLLUP, CUBE or GROUPING SETS."""
    return group is not None and any(
        isinstance(g, (exp.Rollup, exp.Cube, exp.GroupingSets)) for g in group.expressions
    )


def _flat(node: exp.Expression) -> list[exp.Expression]:
    """The keys of one item of a ROLLUP / CUBE / GROUPING SETS list: ``(a, b)`` is two."""
    if isinstance(node, exp.Tuple):
        return list(node.expressions)
    if isinstance(node, exp.Paren):
        return _flat(node.this)
    return [node]


def group_elements(group: exp.Group, key: Callable[[exp.Expression], Any]) -> list[Element]:
    """Each GROUP BY element as its list of sets of keys (``key`` translates one key)."""
    out: list[Element] = []
    for g in group.expressions:
        if isinstance(g, exp.Rollup):
            parts = [[key(k) for k in _flat(x)] for x in g.expressions]
            out.append([sum(parts[:i], []) for i in range(len(parts), -1, -1)])
        elif isinstance(g, exp.Cube):
            parts = [[key(k) for k in _flat(x)] for x in g.expressions]
            if len(parts) > 12:
                raise UnsupportedError(
                    f"CUBE of {len(parts)} elements makes too many grouping sets (at most 12)"
                )
            sets = []
            for mask in range(2 ** len(parts) - 1, -1, -1):
                sets.append(sum((p for i, p in enumerate(parts) if mask >> (len(parts) - 1 - i) & 1), []))
            out.append(sets)
        elif isinstance(g, exp.GroupingSets):
            sets = []
            for x in g.expressions:
                if isinstance(x, (exp.Rollup, exp.Cube, exp.GroupingSets)):
                    raise UnsupportedError("ROLLUP or CUBE inside GROUPING SETS is not supported")
                sets.append([key(k) for k in _flat(x)])
            out.append(sets)
        else:
            out.append([[key(g)]])
    return out


def cross_sets(elements: list[Element]) -> list[list[Any]]:
    """The grouping sets of the whole clause: the cross product of the elements' sets."""
    out: list[list[Any]] = []
    for combo in itertools.product(*elements):
        s: list[Any] = []
        for part in combo:
            s += [k for k in part if k not in s]
        out.append(s)
    return out


def index_sets(sets: list[list[ExprNode]]) -> tuple[list[ExprNode], tuple[tuple[int, ...], ...]]:
    """The distinct keys of all sets, and each set as sorted indexes into them."""
    keys: list[ExprNode] = []
    for s in sets:
        for k in s:
            if k not in keys:
                keys.append(k)
    return keys, tuple(tuple(sorted(keys.index(k) for k in s)) for s in sets)


class GroupingCalls:
    """The grouping() calls of one SELECT, replaced in the syntax tree by placeholder
    columns before translation and resolved once the grouping sets are known."""

    def __init__(self) -> None:
        self.calls: list[list[exp.Expression]] = []

    def replace(self, sel: exp.Select) -> None:
        """Replace every grouping()/grouping_id() in ``sel``'s select list, HAVING,
        QUALIFY and ORDER BY (not in subqueries) by a placeholder column."""
        targets: list[exp.Expression] = list(sel.expressions)
        for key in ("having", "order"):
            if sel.args.get(key) is not None:
                targets.append(sel.args[key])
        for i, t in enumerate(targets):
            top_level = i < len(sel.expressions)
            found: list[exp.Expression] = list(t.find_all(exp.Grouping, exp.GroupingId))
            for node in found:
                if _inside_subquery(node, t):
                    continue
                name = f"{GROUPING_PREFIX}{len(self.calls)}"
                self.calls.append(list(node.expressions))
                # the column name DuckDB gives it (grouping_id is an alias of grouping)
                written = node.sql(dialect="duckdb").replace("GROUPING_ID(", "GROUPING(", 1)
                new: exp.Expression = exp.column(name, quoted=True)
                if top_level and node is t:
                    sel.expressions[i] = exp.alias_(new, written, quoted=True)
                    sel.set("expressions", sel.expressions)
                else:
                    node.replace(new)

    def placeholders(self) -> dict[str, ExprNode]:
        """Names the translator resolves to placeholder column references."""
        return {
            f"{GROUPING_PREFIX}{i}".lower(): ColumnRef(name=f"{GROUPING_PREFIX}{i}")
            for i in range(len(self.calls))
        }

    def resolve(
        self,
        translate: Callable[[exp.Expression], ExprNode],
        keys: list[ExprNode],
        sets: tuple[tuple[int, ...], ...],
        gid: ExprNode,
    ) -> dict[str, ExprNode]:
        """Placeholder name -> its CASE over ``gid`` (the set index)."""
        out: dict[str, ExprNode] = {}
        for i, args in enumerate(self.calls):
            idx = []
            for a in args:
                e = translate(a)
                if e not in keys:
                    raise PlanError(
                        f"the argument {a.sql(dialect='duckdb')} of grouping() must be a GROUP BY key"
                    )
                idx.append(keys.index(e))
            whens = []
            for s, members in enumerate(sets):
                mask = sum(1 << (len(idx) - 1 - j) for j, k in enumerate(idx) if k not in members)
                whens.append(
                    (
                        Call(fn="eq", args=(gid, Literal(value=s, type="int64"))),
                        Literal(value=mask, type="int64"),
                    )
                )
            out[f"{GROUPING_PREFIX}{i}"] = Case(whens=tuple(whens), otherwise=Literal(value=0, type="int64"))
        return out


def _inside_subquery(node: exp.Expression, top: exp.Expression) -> bool:
    if node is top:
        return False
    p = node.parent
    while p is not None and p is not top:
        if isinstance(p, (exp.Subquery, exp.Select)):
            return True
        p = p.parent
    return False
