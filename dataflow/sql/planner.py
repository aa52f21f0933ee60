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
from typing import Any, Protocol

from sqlglot import exp

from .. import builder
from ..errors import AmbiguousColumnError, PlanError, UnknownColumnError, UnknownTableError, UnsupportedError
from ..expr import (
    Call,
    ColumnRef,
    ExprNode,
    NamedExpr,
    columns_used,
    conjoin,
)
from ..logical import Join, LogicalPlan, Project
from .expressions import ExprTranslator
from .joins import factor_or, filter_plan, split_equality
from .naming import (
    Planned,
    _Cte,
    _project_to,
    _rename_prefix,
)
from .parser import parse_sql
from .scope import Scope
from .select import SelectPlanner
from .setop_planner import SetOpPlanner
from .subqueries import SubqueryPlanner


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


class Planner(SetOpPlanner, SelectPlanner):
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

    # -- FROM ----------------------------------------------------------------------------

    def _relation(self, node: exp.Expression, scope: Scope, ctes: dict[str, _Cte]) -> LogicalPlan:
        """Plan one FROM item and add it to ``scope``; returns its plan, with columns
        renamed to the scope's plan names where they collide."""
        alias_node = node.args.get("alias")
        alias_cols = [c.name for c in (alias_node.columns if alias_node is not None else [])]
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
        if node.args.get("sample") is not None:
            plan = _table_sample(plan, node.args["sample"])
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


def _table_sample(plan: LogicalPlan, sample: exp.TableSample) -> LogicalPlan:
    """``TABLESAMPLE BERNOULLI (p)``, ``TABLESAMPLE (p PERCENT)`` and ``SYSTEM (p)``: keep
    each row with probability p/100 (per row, as :meth:`DataFrame.sample`; SYSTEM's
    blocks are rows here), seeded by ``REPEATABLE (s)``. A number of rows (DuckDB's
    bare ``TABLESAMPLE (10)``, reservoir sampling) is not supported."""
    from ..logical import Sample

    method_node = sample.args.get("method")
    method = method_node.name.upper() if method_node is not None else ""
    percent, size = sample.args.get("percent"), sample.args.get("size")
    if any(sample.args.get(k) for k in ("bucket_numerator", "bucket_denominator", "bucket_field", "rows")):
        raise UnsupportedError(f"this TABLESAMPLE is not supported: {sample.sql(dialect='duckdb')}")
    if percent is None and (size is None or method not in ("BERNOULLI", "SYSTEM")):
        raise UnsupportedError(
            f"TABLESAMPLE of a number of rows is not supported ({sample.sql(dialect='duckdb')}); "
            "give a percentage: TABLESAMPLE BERNOULLI (10) or TABLESAMPLE (10 PERCENT)"
        )
    amount = percent if percent is not None else size
    assert amount is not None
    value = _sample_number(amount, "percentage")
    if not 0.0 <= value <= 100.0:
        raise PlanError(f"TABLESAMPLE percentage must be between 0 and 100, got {value:g}")
    seed_node = sample.args.get("seed")
    seed = None if seed_node is None else int(_sample_number(seed_node, "REPEATABLE seed"))
    return Sample.of(plan, value / 100.0, seed)


def _sample_number(node: exp.Expression, what: str) -> float:
    """A numeric literal (possibly negated) of a TABLESAMPLE clause."""
    sign = 1.0
    if isinstance(node, exp.Neg):
        sign, node = -1.0, node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return sign * float(node.this)
        except ValueError:
            pass
    raise PlanError(f"TABLESAMPLE {what} must be a number, got {node.sql(dialect='duckdb')}")
