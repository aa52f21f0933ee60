"""SELECT: FROM, WHERE, GROUP BY (with grouping sets), HAVING, the select list,
window functions, DISTINCT, ORDER BY and LIMIT, in SQL's logical order. A mixin of
:class:`dataflow.sql.planner.Planner` (split out of ``planner.py``)."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from .. import builder
from ..errors import PlanError, UnknownColumnError, UnknownTableError, UnsupportedError
from ..expr import (
    AggCall,
    Call,
    ColumnRef,
    ExprNode,
    Literal,
    NamedExpr,
    SortKey,
    columns_used,
    contains_aggregate,
    contains_window,
    display,
    transform,
    walk,
)
from ..logical import Distinct, Expand, Filter, LogicalPlan, Project, Sort, Values
from .expressions import ExprTranslator
from .grouping import GroupingCalls, cross_sets, group_elements, has_grouping_sets, index_sets
from .joins import Unit, factor_or, join_units
from .naming import (
    SUBQUERY_PREFIX,
    Planned,
    PlannerPart,
    _aliases,
    _apply_limit,
    _ast_conjuncts,
    _correlation_keys,
    _Cte,
    _dedupe,
    _empty_values,
    _has_aggregate,
    _has_subquery,
    _output_index,
    _unique,
    _visible_name,
    default_name,
)
from .scope import Scope, fresh_name, is_outer
from .subqueries import Pending


class SelectPlanner(PlannerPart):
    """The SELECT half of the planner."""

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

        gid_ref: ColumnRef | None = None
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
                ref = fresh_name("__order", all_names)
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
            name = fresh_name(base, taken)
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
