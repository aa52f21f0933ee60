"""From a parsed query to a logical plan.

The planner walks sqlglot's syntax tree clause by clause, in SQL's logical order:
FROM (a join order that follows equality predicates, see :mod:`.joins`), WHERE
(subquery predicates become semi/anti joins, see :mod:`.subqueries`), GROUP BY and
aggregates (through :func:`dataflow.builder.aggregate`), HAVING, window functions,
the select list, DISTINCT, ORDER BY and LIMIT. Set operations, CTEs and derived
tables are planned recursively.

>>> from dataflow.logical import Scan, MemorySource, render
>>> from dataflow.types import Field
>>> class Catalog:
...     def table_names(self): return ["t"]
...     def scan(self, name):
...         return Scan(table="t", source=MemorySource(table_id="t", num_rows=0),
...                     table_schema=(Field(name="a", type="int64"), Field(name="b", type="string")))
>>> print(render(plan_sql("select b, count(*) as n from t where a > 1 group by b", Catalog())))
Project b, n
  Project b, __agg0 AS n
    Aggregate keys=[b] aggs=[count(*) AS __agg0]
      Filter (a > 1)
        Scan t
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlglot import exp

from .. import builder
from ..errors import AmbiguousColumnError, PlanError, UnknownColumnError, UnknownTableError, UnsupportedError
from ..expr import (
    AggCall,
    Call,
    Cast,
    ColumnRef,
    ExprNode,
    Literal,
    NamedExpr,
    SortKey,
    columns_used,
    conjoin,
    contains_aggregate,
    contains_window,
    display,
    transform,
    walk,
)
from ..logical import Distinct, Expand, Filter, Join, Limit, LogicalPlan, Project, Sort, Union, Values
from .expressions import ExprTranslator, default_name
from .grouping import GroupingCalls, cross_sets, group_elements, has_grouping_sets, index_sets
from .joins import Unit, factor_or, filter_plan, join_units, split_equality
from .parser import parse_sql
from .scope import Scope, is_outer
from .setops import intersect_except
from .subqueries import Pending, SubqueryPlanner


class Catalog(Protocol):
    """What the planner needs from a Session: table names, and a Scan per table."""

    def table_names(self) -> list[str]: ...

    def scan(self, name: str) -> LogicalPlan: ...


def plan_sql(sql: str, catalog: Catalog) -> LogicalPlan:
    """Plan one SQL query over the tables of ``catalog``.

    Raises :class:`~dataflow.errors.SqlSyntaxError` (with line and column),
    :class:`~dataflow.errors.UnknownTableError` / :class:`~dataflow.errors.UnknownColumnError`
    (with the nearest names), :class:`~dataflow.errors.AmbiguousColumnError`,
    :class:`~dataflow.errors.UnsupportedError` or :class:`~dataflow.errors.PlanError`.
    """
    tree = parse_sql(sql)
    return Planner(catalog).plan_top(tree)


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


# Placeholder columns for subqueries inside expressions are named with this prefix.
SUBQUERY_PREFIX = "__subquery"


class Planner:
    """Plans queries over one catalog. One instance per query (it numbers placeholders)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._ids = itertools.count(1)
        self.subqueries = SubqueryPlanner(self)

    def new_id(self) -> int:
        return next(self._ids)

    # -- queries -------------------------------------------------------------------------

    def plan_top(self, tree: exp.Expression) -> LogicalPlan:
        q = self.plan_query(tree, None, {}, mode="top")
        exprs = tuple(
            NamedExpr(name=n, expr=ColumnRef(name=c)) for n, c in zip(q.names, q.columns, strict=True)
        )
        if list(q.plan.column_names()) == q.names:
            return q.plan
        return Project(input=q.plan, exprs=exprs)

    def plan_query(
        self,
        node: exp.Expression,
        outer: Scope | None,
        ctes: dict[str, _Cte],
        *,
        mode: str = "table",
    ) -> Planned:
        """Plan a query expression. ``mode`` is "top" (the statement), "table" (a
        derived table or CTE), or for a subquery in an expression "scalar", "in" or
        "exists"; only the latter three may be correlated with ``outer``."""
        with_ = node.args.get("with_") or node.args.get("with")
        if with_ is not None:
            if with_.args.get("recursive"):
                raise UnsupportedError("WITH RECURSIVE is not supported")
            ctes = dict(ctes)
            defined: set[str] = set()
            for cte in with_.expressions:
                name = cte.alias
                if name.lower() in defined:
                    raise PlanError(f"the common table expression {name!r} is defined more than once")
                defined.add(name.lower())
                cols = [c.name for c in (cte.args["alias"].columns or [])]
                ctes[name.lower()] = _Cte(cte.this, cols, dict(ctes))
        if isinstance(node, exp.Subquery):
            inner = self.plan_query(node.this, outer, ctes, mode=mode)
            return self._order_limit_names(node, inner)
        if isinstance(node, exp.Select):
            return self.plan_select(node, outer, ctes, mode)
        if isinstance(node, exp.Union):
            return self.plan_union(node, outer, ctes, mode)
        if isinstance(node, (exp.Intersect, exp.Except)):
            return self.plan_intersect_except(node, outer, ctes, mode)
        if isinstance(node, exp.Values):
            return self._order_limit_names(node, self.plan_values(node))
        raise UnsupportedError(f"this kind of query ({type(node).__name__}) is not supported")

    # -- set operations ------------------------------------------------------------------

    def plan_union(self, node: exp.Union, outer: Scope | None, ctes: dict[str, _Cte], mode: str) -> Planned:
        inner_mode = "table" if mode == "top" else mode
        if mode in ("scalar", "in", "exists"):
            inner_mode = "table"  # a set operation is never correlated here
        parts = self._union_side(node, outer, ctes, inner_mode)
        first = parts[0]
        names, inputs = self.coerce_sides(parts, "UNION")
        plan: LogicalPlan = Union(inputs=tuple(inputs))
        if node.args.get("distinct"):
            plan = Distinct(input=plan)
        out = Planned(plan, list(first.names) if mode == "top" else names, names)
        return self._order_limit_names(node, out)

    def plan_values(self, node: exp.Values) -> Planned:
        """A VALUES list: constant rows, columns ``col0``, ``col1``... (as DuckDB names
        them), each of the common type of its values."""
        t = ExprTranslator(Scope(), clause="VALUES")
        rows: list[tuple[ExprNode, ...]] = []
        for tup in node.expressions:
            items = list(tup.expressions) if isinstance(tup, exp.Tuple) else [tup]
            row = tuple(t.translate(x) for x in items)
            if rows and len(row) != len(rows[0]):
                raise PlanError(
                    f"the rows of VALUES have {len(rows[0])} and {len(row)} values; they must match"
                )
            for e in row:
                if columns_used(e) or contains_aggregate(e) or contains_window(e):
                    raise PlanError(f"VALUES holds constants, not {display(e)}")
            rows.append(row)
        if not rows:
            raise PlanError("VALUES needs at least one row")
        from ..compute import infer_field

        names = [f"col{i}" for i in range(len(rows[0]))]
        types = []
        for i, n in enumerate(names):
            ts = [infer_field(r[i], (), n).type for r in rows]
            common = _common_type(ts, n) or "int32"  # a column of NULLs only
            types.append("int32" if common == "null" else common)
        plan = Values(names=tuple(names), types=tuple(types), rows=tuple(rows))
        return Planned(plan, names, names)

    def coerce_sides(self, parts: list[Planned], what: str) -> tuple[list[str], list[LogicalPlan]]:
        """The inputs of a set operation projected to the first input's (deduplicated)
        names and cast to each column's common type."""
        first = parts[0]
        n = len(first.columns)
        for p in parts[1:]:
            if len(p.columns) != n:
                raise PlanError(
                    f"the inputs of {what} have {n} and {len(p.columns)} columns; they must match"
                )
        names = _dedupe(first.names)
        types = [[_field_type(p.plan, p.columns[i]) for p in parts] for i in range(n)]
        targets = [_common_type(ts, names[i]) for i, ts in enumerate(types)]
        inputs: list[LogicalPlan] = []
        for p in parts:
            exprs = []
            for i, c in enumerate(p.columns):
                e: ExprNode = ColumnRef(name=c)
                target = targets[i]
                if target is not None and _field_type(p.plan, c) != target:
                    e = Cast(expr=e, to=target)
                exprs.append(NamedExpr(name=names[i], expr=e))
            inputs.append(Project(input=p.plan, exprs=tuple(exprs)))
        return names, inputs

    def plan_intersect_except(
        self, node: exp.Intersect | exp.Except, outer: Scope | None, ctes: dict[str, _Cte], mode: str
    ) -> Planned:
        kind = "INTERSECT" if isinstance(node, exp.Intersect) else "EXCEPT"
        parts = [self.plan_query(side, outer, ctes, mode="table") for side in (node.this, node.expression)]
        names, inputs = self.coerce_sides(parts, kind)
        plan = intersect_except(inputs[0], inputs[1], names, kind, bool(node.args.get("distinct")))
        out = Planned(plan, list(parts[0].names) if mode == "top" else names, names)
        return self._order_limit_names(node, out)

    def _union_side(
        self, node: exp.Union, outer: Scope | None, ctes: dict[str, _Cte], mode: str
    ) -> list[Planned]:
        out = []
        for side in (node.this, node.expression):
            same = isinstance(side, exp.Union) and bool(side.args.get("distinct")) == bool(
                node.args.get("distinct")
            )
            # UNION ALL nested in UNION (or the reverse) must keep its own node
            own = any(side.args.get(k) for k in ("order", "limit", "offset", "with_", "with"))
            if same and not own:
                out += self._union_side(side, outer, ctes, mode)
            else:
                out.append(self.plan_query(side, outer, ctes, mode=mode))
        return out

    def _order_limit_names(self, node: exp.Expression, q: Planned) -> Planned:
        """ORDER BY / LIMIT on a set operation or parenthesized query: by output name or position."""
        order = node.args.get("order")
        plan = q.plan
        if order is not None:
            keys = []
            for o in order.expressions:
                idx = _output_index(o.this, q.names)
                if idx is None:
                    raise UnsupportedError(
                        f"ORDER BY {o.this.sql(dialect='duckdb')} on a UNION: use an output column name or position"
                    )
                keys.append(
                    SortKey(
                        expr=ColumnRef(name=q.columns[idx]),
                        ascending=not o.args.get("desc"),
                        nulls_first=bool(o.args.get("nulls_first")),
                    )
                )
            plan = Sort(input=plan, keys=tuple(keys))
        plan = _apply_limit(node, plan)
        return Planned(plan, q.names, q.columns, q.correlation, q.single_row, q.empty_values)

    # -- FROM ----------------------------------------------------------------------------

    def _relation(self, node: exp.Expression, scope: Scope, ctes: dict[str, _Cte]) -> LogicalPlan:
        """Plan one FROM item and add it to ``scope``; returns its plan, with columns
        renamed to the scope's plan names where they collide."""
        alias_node = node.args.get("alias")
        alias_cols = [c.name for c in (alias_node.columns if alias_node is not None else [])]
        if node.args.get("sample") is not None:
            raise UnsupportedError("TABLESAMPLE is not supported")
        if isinstance(node, exp.Subquery) and not isinstance(node.this, exp.Query):
            raise UnsupportedError(
                "parenthesized joins in FROM are not supported; list the joins without parentheses"
            )
        if isinstance(node, exp.Table) and node.args.get("joins"):
            raise UnsupportedError(
                "parenthesized joins in FROM are not supported; list the joins without parentheses"
            )
        if isinstance(node, exp.Table):
            if not isinstance(node.this, exp.Identifier):
                raise UnsupportedError(
                    f"table functions ({node.this.sql(dialect='duckdb')}) are not supported"
                )
            name = node.name
            alias = node.alias or name
            cte = ctes.get(name.lower())
            if cte is not None and not node.args.get("db"):
                q = self.plan_query(cte.node, None, cte.ctes, mode="table")
                plan, names = (
                    q.plan,
                    _rename_prefix(q.names, cte.columns, f"the common table expression {name}"),
                )
                plan = _project_to(plan, q.columns, names)
            else:
                plan = self._table(node)
                names = plan.column_names()
        elif isinstance(node, exp.Subquery):
            if node.args.get("lateral") or isinstance(node.this, exp.Lateral):
                raise UnsupportedError("LATERAL subqueries are not supported")
            alias = node.alias or "unnamed_subquery"
            q = self.plan_query(node.this, scope.parent, ctes, mode="table")
            q = self._order_limit_names(node, q) if (node.args.get("order") or node.args.get("limit")) else q
            plan = _project_to(q.plan, q.columns, q.names)
            names = list(q.names)
        elif isinstance(node, exp.Values):
            alias = node.alias or "valueslist"
            q = self.plan_values(node)
            plan, names = q.plan, list(q.names)
        elif isinstance(node, (exp.Lateral, exp.Unnest)):
            raise UnsupportedError(f"{type(node).__name__.upper()} in FROM is not supported")
        else:
            raise UnsupportedError(f"this FROM item is not supported: {node.sql(dialect='duckdb')}")
        visible = _rename_prefix(names, alias_cols, f"the alias {alias}")
        rel = scope.add_relation(alias, visible)
        mapping = {p: c.internal for p, c in zip(names, rel.columns, strict=True) if p != c.internal}
        return builder.rename(plan, mapping)

    def _table(self, node: exp.Table) -> LogicalPlan:
        name = node.name
        db = node.args.get("db")
        names = list(self.catalog.table_names())
        if db is not None and db.name.lower() not in ("main",):
            raise UnknownTableError(f"{db.name}.{name}", names)
        match = name if name in names else next((n for n in names if n.lower() == name.lower()), None)
        if match is None:
            raise UnknownTableError(name, names)
        return self.catalog.scan(match)

    def _join_condition(
        self,
        on: exp.Expression | None,
        using: list[exp.Expression] | None,
        left_rels: list[Any],
        right_rel: Any,
        scope: Scope,
        side: str,
    ) -> list[ExprNode]:
        if using:
            preds: list[ExprNode] = []
            for ident in using:
                name = ident.name
                hits = [(r, c) for r in left_rels for c in r.find(name)]
                if not hits:
                    raise UnknownColumnError(name, [c.name for r in left_rels for c in r.columns], "USING")
                if len(hits) > 1:
                    raise AmbiguousColumnError(name, [f"{r.alias}.{c.name}" for r, c in hits])
                rc = right_rel.find(name)
                if not rc:
                    raise UnknownColumnError(name, [c.name for c in right_rel.columns], "USING")
                lref, rref = ColumnRef(name=hits[0][1].internal), ColumnRef(name=rc[0].internal)
                preds.append(Call(fn="eq", args=(lref, rref)))
                merged: ExprNode = lref
                if side == "RIGHT":
                    merged = rref
                elif side == "FULL":
                    merged = Call(fn="coalesce", args=(lref, rref))
                scope.merged[name.lower()] = merged
                scope.star_skip.add(rc[0].internal)
            return preds
        t = ExprTranslator(scope, clause="JOIN ... ON")
        cond = t.translate(on)  # type: ignore[arg-type]
        return factor_or(cond)

    def _outer_join(
        self, left: LogicalPlan, right: LogicalPlan, how: str, preds: list[ExprNode]
    ) -> LogicalPlan:
        lcols, rcols = frozenset(left.column_names()), frozenset(right.column_names())
        lk: list[ExprNode] = []
        rk: list[ExprNode] = []
        residual: list[ExprNode] = []
        push_left: list[ExprNode] = []
        push_right: list[ExprNode] = []
        for p in preds:
            pair = split_equality(p, lcols, rcols)
            used = columns_used(p)
            if pair is not None:
                lk.append(pair[0])
                rk.append(pair[1])
            elif how == "left" and used and used <= rcols:
                push_right.append(p)  # filters the optional side before it joins
            elif how == "right" and used and used <= lcols:
                push_left.append(p)
            else:
                residual.append(p)
        left = filter_plan(left, push_left)
        right = filter_plan(right, push_right)
        cond = conjoin(residual)
        return Join(
            left=left, right=right, how=how, left_keys=tuple(lk), right_keys=tuple(rk), condition=cond
        )

    # -- SELECT --------------------------------------------------------------------------

    def plan_select(self, sel: exp.Select, outer: Scope | None, ctes: dict[str, _Cte], mode: str) -> Planned:
        correlated = mode in ("scalar", "in", "exists")
        # a derived table sees the enclosing query, if only to say it may not refer to it
        scope = outer.child() if outer is not None else Scope()
        scope.derived = outer is not None and not correlated
        scope.what = "the select list"
        for key in ("qualify", "prewhere", "connect", "laterals", "sample", "settings", "pivots"):
            if sel.args.get(key):
                raise UnsupportedError(f"{key.upper()} is not supported")
        distinct = sel.args.get("distinct")
        if distinct is not None and distinct.args.get("on"):
            raise UnsupportedError("DISTINCT ON is not supported")

        # FROM, with the WHERE conjuncts that need no subquery applied in the joins.
        where_ast = sel.args.get("where")
        where_conj = _ast_conjuncts(where_ast.this) if where_ast is not None else []
        plain_asts: list[exp.Expression] = []
        sub_asts: list[exp.Expression] = []
        for c in where_conj:
            (sub_asts if _has_subquery(c) else plain_asts).append(c)
        # WHERE is translated once FROM has put its relations in scope.
        correlation: list[ExprNode] = []
        from_plan = self._from_with_where(sel, scope, ctes, plain_asts, correlation, correlated)

        plan = from_plan
        # WHERE conjuncts with subqueries: semi/anti joins, or joined values then a filter.
        for c in sub_asts:
            plan = self.subqueries.apply_conjunct(plan, c, scope, ctes, correlated)

        return self._select_body(sel, scope, ctes, plan, correlation, mode)

    def _from_with_where(
        self,
        sel: exp.Select,
        scope: Scope,
        ctes: dict[str, _Cte],
        plain_asts: list[exp.Expression],
        correlation: list[ExprNode],
        correlated: bool,
    ) -> LogicalPlan:
        """FROM (which fills ``scope``), then the plain WHERE conjuncts translated in
        that scope: the correlated ones go to ``correlation``, the others into the joins."""
        steps = self._from_items(sel, scope, ctes)
        scope.allow_outer = correlated
        scope.what = "WHERE"
        t = ExprTranslator(scope, clause="WHERE")
        where: list[ExprNode] = []
        for c in plain_asts:
            # an OR whose branches share a correlated equality (TPC-DS Q41) has it pulled out
            for e in factor_or(t.translate(c)):
                if any(is_outer(n) for n in columns_used(e)):
                    correlation.append(e)
                else:
                    where.append(e)
        scope.allow_outer = False
        scope.what = "the select list"
        return self._build_from(steps, where)

    def _from_items(self, sel: exp.Select, scope: Scope, ctes: dict[str, _Cte]) -> list[tuple[str, Any]]:
        """The FROM items as steps: ("unit", plan), ("inner", [preds]) or
        ("outer", (how, plan, preds)); relations are added to ``scope``."""
        from_ = sel.args.get("from_") or sel.args.get("from")
        if from_ is None:
            if sel.args.get("joins"):
                raise PlanError("JOIN needs a FROM clause")
            # SELECT without FROM reads one row of no visible columns
            one = Values(
                names=(f"__row{self.new_id()}",), types=("bool",), rows=((Literal(value=True, type="bool"),),)
            )
            return [("unit", one)]
        steps: list[tuple[str, Any]] = [("unit", self._relation(from_.this, scope, ctes))]
        for j in sel.args.get("joins") or []:
            side = (j.args.get("side") or "").upper()
            kind = (j.args.get("kind") or "").upper()
            method = (j.args.get("method") or "").upper()
            on, using = j.args.get("on"), j.args.get("using")
            if kind in ("SEMI", "ANTI", "ASOF", "POSITIONAL") or method in ("ASOF", "POSITIONAL"):
                raise UnsupportedError(f"{kind or method} JOIN is not supported")
            if method == "NATURAL":
                raise UnsupportedError("NATURAL JOIN is not supported; write JOIN ... USING (...)")
            left_rels = list(scope.relations)
            right = self._relation(j.this, scope, ctes)
            right_rel = scope.relations[-1]
            if kind == "CROSS" or (not side and on is None and not using):
                if kind not in ("CROSS", "") and kind != "INNER":
                    raise UnsupportedError(f"{kind} JOIN is not supported")
                if kind == "INNER":
                    raise PlanError("JOIN needs an ON or USING condition (or write CROSS JOIN)")
                steps.append(("unit", right))
                continue
            on_preds = self._join_condition(on, using, left_rels, right_rel, scope, side)
            if side in ("", "INNER"):
                steps.append(("unit", right))
                steps.append(("inner", on_preds))
                continue
            if side not in ("LEFT", "RIGHT", "FULL"):
                raise UnsupportedError(f"{side} JOIN is not supported")
            steps.append(("outer", (side.lower(), right, on_preds)))
        return steps

    def _build_from(self, steps: list[tuple[str, Any]], where: list[ExprNode]) -> LogicalPlan:
        units: list[Unit] = []
        preds: list[ExprNode] = []
        for kind, val in steps:
            if kind == "unit":
                units.append(Unit.of(val))
            elif kind == "inner":
                preds += val
            else:
                # an outer join takes everything to its left as one input
                how, right, on_preds = val
                left = join_units(units, preds)
                units, preds = [Unit.of(self._outer_join(left, right, how, on_preds))], []
        return join_units(units, preds + where)

    def _select_body(
        self,
        sel: exp.Select,
        scope: Scope,
        ctes: dict[str, _Cte],
        plan: LogicalPlan,
        correlation: list[ExprNode],
        mode: str,
    ) -> Planned:
        correlated = mode in ("scalar", "in", "exists")
        group = sel.args.get("group")
        having_ast = sel.args.get("having")
        order = sel.args.get("order")
        distinct = sel.args.get("distinct") is not None
        limit_given = sel.args.get("limit") is not None or sel.args.get("offset") is not None

        pending: list[Pending] = []

        def on_subquery(kind: str, ast: exp.Expression, lhs: list[ExprNode] | None) -> ExprNode:
            return self.subqueries.placeholder(kind, ast, lhs, pending)

        t = ExprTranslator(scope, on_subquery, aggregates=True, windows=True, clause="the select list")
        # grouping() calls become placeholder columns, resolved once the sets are known
        gcalls = GroupingCalls()
        gcalls.replace(sel)
        scope.merged.update(gcalls.placeholders())

        has_agg_ast = _has_aggregate(sel)
        skip_select = mode == "exists" and not has_agg_ast and group is None and having_ast is None
        # The select list: (SQL name, expression).
        items: list[tuple[str, ExprNode]] = []
        if not skip_select:
            for item in sel.expressions:
                items += self._select_items(item, scope, t)
        if mode == "scalar" and len(items) != 1:
            raise PlanError(f"a scalar subquery must return one column, not {len(items)}")

        # GROUP BY
        group_exprs: list[ExprNode] = []
        grouping_sets: tuple[tuple[int, ...], ...] | None = None
        tg = ExprTranslator(scope, on_subquery, clause="GROUP BY")
        if group is not None:
            if group.args.get("all"):
                group_exprs = [e for _, e in items if not contains_aggregate(e) and not contains_window(e)]
            if has_grouping_sets(group):
                if group.args.get("all"):
                    raise UnsupportedError("GROUP BY ALL with ROLLUP, CUBE or GROUPING SETS is not supported")
                elements = group_elements(group, lambda g: self._group_item(g, items, tg))
                group_exprs, grouping_sets = index_sets(cross_sets(elements))
            else:
                for g in group.expressions:
                    group_exprs.append(self._group_item(g, items, tg))
        if gcalls.calls and grouping_sets is None:
            if group is None:
                raise PlanError("grouping() needs a GROUP BY")
            grouping_sets = (tuple(range(len(_unique(group_exprs)))),)
            group_exprs = _unique(group_exprs)
        if grouping_sets is not None and correlated:
            raise UnsupportedError(
                "ROLLUP, CUBE and GROUPING SETS in a correlated subquery are not supported"
            )
        having = None
        if having_ast is not None:
            th = ExprTranslator(scope, on_subquery, aggregates=True, clause="HAVING", aliases=_aliases(items))
            having = th.translate(having_ast.this)

        # ORDER BY: an output (by position or name) or an expression.
        order_keys: list[tuple[int | ExprNode, bool, bool]] = []
        if order is not None:
            to = ExprTranslator(
                scope, on_subquery, aggregates=True, windows=True, clause="ORDER BY", aliases=_aliases(items)
            )
            names = [n for n, _ in items]
            for o in order.expressions:
                idx = _output_index(o.this, names, allow_names=True)
                target: int | ExprNode
                if idx is not None:
                    target = idx
                else:
                    e = to.translate(o.this)
                    same = [i for i, (_, ie) in enumerate(items) if ie == e]
                    target = same[0] if same else e
                order_keys.append((target, not o.args.get("desc"), bool(o.args.get("nulls_first"))))

        gid_ref: ExprNode | None = None
        if grouping_sets is not None:
            gid_ref = ColumnRef(name=f"__gid{self.new_id()}")
            gmap = gcalls.resolve(tg.translate, group_exprs, grouping_sets, gid_ref)

            def sub_g(e: ExprNode) -> ExprNode:
                return transform(e, lambda n: gmap.get(n.name, n) if isinstance(n, ColumnRef) else n)

            items = [(n, sub_g(e)) for n, e in items]
            having = sub_g(having) if having is not None else None
            order_keys = [(k if isinstance(k, int) else sub_g(k), a, nf) for k, a, nf in order_keys]
        post: list[ExprNode] = [e for _, e in items] + ([having] if having is not None else [])
        post += [k for k, _, _ in order_keys if not isinstance(k, int)]
        is_agg = group is not None or any(contains_aggregate(e) for e in post)

        # Subqueries inside aggregate arguments or group keys are joined before aggregating.
        pre_names = set()
        for e in group_exprs + [a for x in post for a in walk(x) if isinstance(a, AggCall)]:
            pre_names |= {n for n in columns_used(e) if n.startswith(SUBQUERY_PREFIX)}
        if not is_agg:
            pre_names = {p.name for p in pending}
        pre = [p for p in pending if p.name in pre_names]
        post_pending = [p for p in pending if p.name not in pre_names]
        if pre:
            plan = self.subqueries.attach(plan, pre, scope, ctes)

        hidden: list[NamedExpr] = []  # correlation columns a subquery must expose
        corr_out: list[ExprNode] = list(correlation)
        empty: dict[int, ExprNode] = {}  # item index -> value over no rows
        single_row = False
        if correlated and correlation and (limit_given):
            raise UnsupportedError("LIMIT or OFFSET in a correlated subquery is not supported")

        if is_agg:
            if correlated and correlation:
                corr_keys, corr_out = _correlation_keys(correlation)
                global_agg = group is None
                group_exprs = group_exprs + [k for k in corr_keys if k not in group_exprs]
            else:
                corr_keys, global_agg = [], group is None
            if grouping_sets is not None and gid_ref is not None:
                plan, copies = self._expand(plan, group_exprs, grouping_sets, gid_ref)
                mapping, components = self._components([*group_exprs, gid_ref], items, post, scope)
                components = [NamedExpr(name=c.name, expr=copies.get(c.expr, c.expr)) for c in components]
                agg_keys = [
                    NamedExpr(name=mapping[k], expr=copies.get(k, k))
                    for k in [*_unique(group_exprs), gid_ref]
                ]
                plan = builder.aggregate(plan, agg_keys, components)
            else:
                mapping, components = self._components(group_exprs, items, post, scope)
                plan = builder.aggregate(
                    plan, [NamedExpr(name=mapping[k], expr=k) for k in _unique(group_exprs)], components
                )

            def rw(e: ExprNode, where: str) -> ExprNode:
                return self._rewrite_post(e, mapping, scope, where)

            items = [(n, rw(e, "the select list")) for n, e in items]
            having = rw(having, "HAVING") if having is not None else None
            order_keys = [(k if isinstance(k, int) else rw(k, "ORDER BY"), a, nf) for k, a, nf in order_keys]
            if corr_keys:
                # the correlation now compares the group key columns with the outer expressions
                corr_out = [
                    Call(fn="eq", args=(ColumnRef(name=mapping[k]), o))
                    for k, o in zip(corr_keys, corr_out, strict=True)
                ]
                hidden = [
                    NamedExpr(name=mapping[k], expr=ColumnRef(name=mapping[k])) for k in _unique(corr_keys)
                ]
                if global_agg and having is None:
                    empty = _empty_values(items, components)
            single_row = global_agg and having is None and not limit_given
        elif correlated and correlation:
            used = sorted({n for p in correlation for n in columns_used(p) if not is_outer(n)})
            hidden = [NamedExpr(name=n, expr=ColumnRef(name=n)) for n in used]
        if correlated and correlation and any(contains_window(e) for _, e in items):
            raise UnsupportedError("window functions in a correlated subquery are not supported")

        if post_pending:
            plan = self.subqueries.attach(plan, post_pending, scope, ctes)
        if having is not None:
            plan = Filter(input=plan, predicate=having)

        # The select list, hidden ORDER BY expressions and correlation columns.
        taken = {h.name for h in hidden}
        if mode == "top":
            out_names = [n for n, _ in items]
            col_names = _dedupe(out_names, taken)
        elif mode == "table":
            out_names = _dedupe([n for n, _ in items])
            col_names = _dedupe(out_names, taken)
        else:
            out_names = [n for n, _ in items]
            col_names = _dedupe(out_names, taken)
        outputs = [NamedExpr(name=c, expr=e) for c, (_, e) in zip(col_names, items, strict=True)]
        extra: list[NamedExpr] = []
        sort: list[SortKey] = []
        all_names = set(col_names) | taken
        for k, asc, nf in order_keys:
            if isinstance(k, int):
                ref = col_names[k]
            else:
                if distinct:
                    raise PlanError(
                        f"for SELECT DISTINCT, ORDER BY expressions must appear in the select list: {display(k)}"
                    )
                ref = _fresh("__order", all_names)
                all_names.add(ref)
                extra.append(NamedExpr(name=ref, expr=k))
            sort.append(SortKey(expr=ColumnRef(name=ref), ascending=asc, nulls_first=nf))
        if not outputs and not hidden:
            # EXISTS needs rows, not columns; keep one constant column
            hidden = [NamedExpr(name="__row", expr=Literal(value=True, type="bool"))]
        plan = builder.window(plan, [*outputs, *hidden, *extra])
        if distinct:
            plan = Distinct(input=plan)
        if sort:
            plan = Sort(input=plan, keys=tuple(sort))
        plan = _apply_limit(sel, plan)
        if extra:
            keep = [*col_names, *(h.name for h in hidden)]
            plan = Project(input=plan, exprs=tuple(NamedExpr(name=c, expr=ColumnRef(name=c)) for c in keep))
        return Planned(
            plan,
            out_names,
            col_names,
            correlation=corr_out if correlated else [],
            single_row=single_row,
            empty_values={col_names[i]: v for i, v in empty.items()},
        )

    def _expand(
        self,
        plan: LogicalPlan,
        keys: list[ExprNode],
        sets: tuple[tuple[int, ...], ...],
        gid: ColumnRef,
    ) -> tuple[LogicalPlan, dict[ExprNode, ExprNode]]:
        """An :class:`Expand` of ``plan`` over the grouping ``sets`` of ``keys``; returns
        it and, per key, the reference to its (nulled per set) copy."""
        n = self.new_id()
        names = list(plan.column_names())
        computed: list[NamedExpr] = []
        key_cols: list[str] = []
        for j, k in enumerate(keys):
            if isinstance(k, ColumnRef) and k.name in names:
                key_cols.append(k.name)
            else:
                c = f"__gk{n}_{j}"
                computed.append(NamedExpr(name=c, expr=k))
                key_cols.append(c)
        if computed:
            keep = [NamedExpr(name=c, expr=ColumnRef(name=c)) for c in names]
            plan = Project(input=plan, exprs=(*keep, *computed))
        copies = tuple(f"__gs{n}_{j}" for j in range(len(keys)))
        plan = Expand(input=plan, keys=tuple(key_cols), names=copies, sets=sets, gid=gid.name)
        return plan, {k: ColumnRef(name=c) for k, c in zip(keys, copies, strict=True)}

    def _select_items(
        self, item: exp.Expression, scope: Scope, t: ExprTranslator
    ) -> list[tuple[str, ExprNode]]:
        star = item if isinstance(item, exp.Star) else None
        qual = None
        if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            star, qual = item.this, item.table
        if star is not None:
            excluded = {c.name.lower() for c in (star.args.get("except_") or star.args.get("except") or [])}
            replaced = {a.alias.lower(): a.this for a in star.args.get("replace") or []}
            renamed = {a.this.name.lower(): a.alias for a in star.args.get("rename") or []}
            rels = scope.relations
            if qual:
                rels = [r for r in scope.relations if r.alias.lower() == qual.lower()]
                if not rels:
                    raise UnknownTableError(qual, [r.alias for r in scope.relations])
            out = []
            for r in rels:
                for c in r.columns:
                    low = c.name.lower()
                    if (c.internal in scope.star_skip and not qual) or low in excluded:
                        continue
                    merged = scope.merged.get(low) if not qual else None
                    e: ExprNode = merged if merged is not None else ColumnRef(name=c.internal)
                    if low in replaced:
                        e = t.translate(replaced.pop(low))
                    out.append((renamed.pop(low, c.name), e))
            missing = sorted(set(replaced) | set(renamed))
            if missing:
                raise UnknownColumnError(missing[0], [c.name for r in rels for c in r.columns], "SELECT *")
            return out
        expr_ast = item.this if isinstance(item, exp.Alias) else item
        name = default_name(item, lambda col: _visible_name(scope, col))
        return [(name, t.translate(expr_ast))]

    def _group_item(
        self, g: exp.Expression, items: list[tuple[str, ExprNode]], t: ExprTranslator
    ) -> ExprNode:
        if isinstance(g, exp.Literal) and not g.is_string:
            try:
                pos = int(g.this)
            except ValueError:
                raise PlanError(f"GROUP BY {g.this}: a position must be a whole number") from None
            if not 1 <= pos <= len(items):
                raise PlanError(f"GROUP BY position {pos} is not in the select list (1 to {len(items)})")
            e = items[pos - 1][1]
            if contains_aggregate(e):
                raise PlanError(f"GROUP BY position {pos} refers to an aggregate: {items[pos - 1][0]}")
            return e
        try:
            return t.translate(g)
        except UnknownColumnError:
            if isinstance(g, exp.Column) and not g.table:
                hits = [e for n, e in items if n.lower() == g.name.lower()]
                if len(hits) == 1 and not contains_aggregate(hits[0]):
                    return hits[0]
            raise

    def _components(
        self,
        keys: list[ExprNode],
        items: list[tuple[str, ExprNode]],
        post: list[ExprNode],
        scope: Scope,
    ) -> tuple[dict[ExprNode, str], list[NamedExpr]]:
        """Name each group key and each aggregate the query needs after aggregating:
        the columns the aggregation step outputs (a select alias where one names
        exactly that expression)."""
        mapping: dict[ExprNode, str] = {}
        components: list[NamedExpr] = []
        taken: set[str] = set()
        alias_of: dict[ExprNode, str] = {}
        for n, e in items:
            alias_of.setdefault(e, n)

        def add(e: ExprNode, base: str) -> None:
            name = _fresh(base, taken)
            taken.add(name)
            mapping[e] = name
            components.append(NamedExpr(name=name, expr=e))

        for k in _unique(keys):
            if isinstance(k, ColumnRef):
                add(k, k.name)
        for k in _unique(keys):
            if k not in mapping:
                add(k, alias_of.get(k, display(k)))

        def collect(e: ExprNode) -> None:
            if e in mapping:
                return
            if isinstance(e, AggCall):
                add(e, alias_of.get(e, display(e)))
                return
            for c in e.children():
                collect(c)

        for e in post:
            collect(e)
        return mapping, components

    def _rewrite_post(self, e: ExprNode, mapping: dict[ExprNode, str], scope: Scope, where: str) -> ExprNode:
        def rec(n: ExprNode) -> ExprNode:
            if n in mapping:
                return ColumnRef(name=mapping[n])
            if isinstance(n, ColumnRef):
                if n.name.startswith(SUBQUERY_PREFIX) or is_outer(n.name):
                    return n
                raise PlanError(
                    f"column {scope.display_name(n.name)!r} in {where} must appear in GROUP BY "
                    "or be used in an aggregate function"
                )
            kids = n.children()
            return n.with_children(tuple(rec(k) for k in kids)) if kids else n

        return rec(e)


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
        m = n
        i = 0
        while m in seen:
            i += 1
            m = f"{n}_{i}"
        seen.add(m)
        out.append(m)
    return out


def _fresh(base: str, taken: set[str]) -> str:
    name = base
    i = 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


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
