"""Subqueries as joins: decorrelation.

No subquery runs once per outer row. Each becomes a join with the enclosing query:

* ``EXISTS`` / ``NOT EXISTS`` in a WHERE conjunct: a semi / anti join whose keys are
  the correlated equalities (``l2.l_orderkey = l1.l_orderkey``) and whose condition
  holds the other correlated predicates (``l2.l_suppkey <> l1.l_suppkey``).
* ``x IN (SELECT y ...)``: a semi join on ``x = y``; ``NOT IN`` an anti join with
  ``null_aware`` set, which gives SQL's NULL rules.
* A scalar subquery: uncorrelated, a cross join with its single row; correlated with
  equalities, the subquery grouped by its correlation columns and left-joined on them
  (inner-joined when the comparison rejects NULLs), COUNT giving 0 for no match.
* ``EXISTS`` / ``IN`` elsewhere (under OR, in the select list): a left join that
  computes a boolean "mark" column with the same NULL rules.

The planner of the subquery (:meth:`PlannerPart.plan_query` with a correlated mode)
returns the correlated predicates separately, expressed over its output columns
and ``outer_ref`` columns; here they are resolved against the outer plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from dataflow.expr import split_equi_keys

from .. import builder
from ..errors import PlanError, UnsupportedError
from ..expr import (
    AggCall,
    Call,
    Case,
    ColumnRef,
    ExprNode,
    Literal,
    NamedExpr,
    columns_used,
    conjoin,
    transform,
    walk,
)
from ..logical import Distinct, Filter, Join, Limit, LogicalPlan, Project
from .expressions import ExprTranslator
from .scope import Scope, fresh_name, is_outer, outer_name

if TYPE_CHECKING:
    from .naming import Planned, PlannerPart

_COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")


@dataclass
class Pending:
    """A subquery met inside an expression, stood for by the column ``name`` until
    :meth:`SubqueryPlanner.attach` joins it in."""

    name: str
    kind: str  # "scalar", "exists" or "in"
    ast: exp.Expression
    lhs: list[ExprNode] | None


class SubqueryPlanner:
    """Turns subqueries into joins for one planner."""

    def __init__(self, planner: PlannerPart) -> None:
        self.planner = planner

    def placeholder(
        self, kind: str, ast: exp.Expression, lhs: list[ExprNode] | None, pending: list[Pending]
    ) -> ExprNode:
        from .naming import SUBQUERY_PREFIX

        p = Pending(f"{SUBQUERY_PREFIX}{self.planner.new_id()}", kind, ast, lhs)
        pending.append(p)
        return ColumnRef(name=p.name)

    # -- WHERE conjuncts -------------------------------------------------------------------

    def apply_conjunct(
        self,
        plan: LogicalPlan,
        conj: exp.Expression,
        scope: Scope,
        ctes: dict[str, Any],
        correlated: bool,
    ) -> LogicalPlan:
        """Apply one WHERE conjunct that contains a subquery to ``plan``: EXISTS and IN
        (negated or not) as semi / anti joins, anything else as joined values and a filter.
        ``correlated``: this WHERE belongs to a subquery that may refer to its enclosing query."""
        node, negated = conj, False
        while True:
            if isinstance(node, exp.Paren):
                node = node.this
            elif isinstance(node, exp.Not):
                node, negated = node.this, not negated
            else:
                break
        if isinstance(node, exp.Exists):
            return self._semi(plan, "exists", node.this, None, negated, scope, ctes)
        if isinstance(node, exp.In) and node.args.get("query") is not None:
            lhs_ast = node.this
            lhs_list = lhs_ast.expressions if isinstance(lhs_ast, exp.Tuple) else [lhs_ast]
            return self._semi(plan, "in", node.args["query"], lhs_list, negated, scope, ctes)

        pending: list[Pending] = []
        t = ExprTranslator(scope, lambda k, a, lhs: self.placeholder(k, a, lhs, pending), clause="WHERE")
        scope.allow_outer = correlated
        scope.what = "WHERE"
        try:
            pred = t.translate(conj)
        finally:
            scope.allow_outer = False
            scope.what = "the select list"
        if any(is_outer(n) for n in columns_used(pred)):
            raise UnsupportedError(
                "a WHERE condition that holds both a subquery and a reference to the enclosing query"
            )
        # ``x = (SELECT ...)``: the equality becomes a join key; comparisons reject NULLs,
        # so those joins can be inner joins.
        names = {p.name for p in pending}
        key_for: dict[str, ExprNode] = {}
        rejecting: set[str] = set()
        if isinstance(pred, Call) and pred.fn in _COMPARE and len(pred.args) == 2:
            for i, a in enumerate(pred.args):
                other = pred.args[1 - i]
                if isinstance(a, ColumnRef) and a.name in names:
                    rejecting.add(a.name)
                    if pred.fn == "eq" and not (columns_used(other) & names):
                        key_for[a.name] = other
        keyed: set[str] = set()
        plan = self.attach(plan, pending, scope, ctes, key_for=key_for, rejecting=rejecting, keyed=keyed)
        if keyed:
            return plan  # the join enforces the equality
        return Filter(input=plan, predicate=pred)

    def _semi(
        self,
        plan: LogicalPlan,
        kind: str,
        query: exp.Expression,
        lhs_asts: list[exp.Expression] | None,
        negated: bool,
        scope: Scope,
        ctes: dict[str, Any],
    ) -> LogicalPlan:
        lhs: list[ExprNode] = []
        if lhs_asts is not None:
            t = ExprTranslator(scope, clause="the left side of IN")
            lhs = [t.translate(x) for x in lhs_asts]
        sub = self.planner.plan_query(_unwrap(query), scope, ctes, mode=kind)
        if kind == "in" and len(sub.columns) != len(lhs):
            raise PlanError(
                f"IN compares {len(lhs)} value(s) with a subquery returning {len(sub.columns)} column(s)"
            )
        if kind == "exists" and sub.single_row:
            # an aggregate without GROUP BY always returns a row
            return plan if not negated else Filter(input=plan, predicate=Literal(value=False, type="bool"))
        right, preds, values = self._prepare(plan, sub)
        outer_cols = frozenset(plan.column_names())
        right_cols = frozenset(right.column_names())
        lk: list[ExprNode] = []
        rk: list[ExprNode] = []
        for e, v in zip(lhs, values if kind == "in" else [], strict=True):
            lk.append(e)
            rk.append(ColumnRef(name=v))
        more_l, more_r, residual = split_equi_keys(preds, outer_cols, right_cols)
        lk += more_l
        rk += more_r
        how = "anti" if negated else "semi"
        if not lk and not residual:
            return self._exists_uncorrelated(plan, right, negated)
        null_aware = False
        if kind == "in" and negated:
            if not sub.correlation:
                null_aware = True
            elif _nullable(plan, lhs) or _nullable(right, [ColumnRef(name=v) for v in values]):
                raise UnsupportedError(
                    "NOT IN with a correlated subquery over values that may be NULL; "
                    "write NOT EXISTS (... AND x = y) instead"
                )
        return _keyed_join(plan, right, how, lk, rk, residual, null_aware=null_aware)

    def _exists_uncorrelated(self, plan: LogicalPlan, right: LogicalPlan, negated: bool) -> LogicalPlan:
        """EXISTS (uncorrelated): whether the subquery has a row, as a one-row count."""
        name = f"__exists{self.planner.new_id()}"
        counted = builder.aggregate(
            Limit(input=right, limit=1), [], [NamedExpr(name=name, expr=AggCall(fn="count_star"))]
        )
        joined = Join(left=plan, right=counted, how="cross")
        test = Call(fn="eq" if negated else "gt", args=(ColumnRef(name=name), Literal(value=0, type="int64")))
        return _drop(Filter(input=joined, predicate=test), [name])

    # -- values inside expressions --------------------------------------------------------

    def attach(
        self,
        plan: LogicalPlan,
        pending: list[Pending],
        scope: Scope,
        ctes: dict[str, Any],
        *,
        key_for: dict[str, ExprNode] | None = None,
        rejecting: set[str] | None = None,
        keyed: set[str] | None = None,
    ) -> LogicalPlan:
        """Join each pending subquery into ``plan``, so that its placeholder column holds
        its value (a scalar, or the boolean of EXISTS / IN) for every row.

        ``key_for[name]``: an expression the value must equal (``x = (SELECT ...)``),
        made a join key when possible, in which case ``name`` is added to ``keyed``.
        ``rejecting``: placeholders whose NULL makes the row go (an inner join will do).
        """
        key_for = key_for or {}
        rejecting = rejecting or set()
        for p in pending:
            if p.kind == "scalar":
                plan, used = self._scalar(plan, p, scope, ctes, key_for.get(p.name), p.name in rejecting)
                if used and keyed is not None:
                    keyed.add(p.name)
            elif p.kind == "exists":
                plan = self._exists_mark(plan, p, scope, ctes)
            else:
                plan = self._in_mark(plan, p, scope, ctes)
        return plan

    def _scalar(
        self,
        plan: LogicalPlan,
        p: Pending,
        scope: Scope,
        ctes: dict[str, Any],
        key: ExprNode | None,
        rejecting: bool,
    ) -> tuple[LogicalPlan, bool]:
        sub = self.planner.plan_query(_unwrap(p.ast), scope, ctes, mode="scalar")
        right, preds, values = self._prepare(plan, sub)
        value = values[0]
        empty = sub.empty_values.get(sub.columns[0]) if preds else None
        if not preds:
            if not sub.single_row:
                # at most one row is expected (more is an error at run time, as in DuckDB);
                # an empty result must still give one NULL row
                right = builder.aggregate(
                    right, [], [NamedExpr(name=p.name, expr=AggCall(fn="single_value", arg=ColumnRef(name=value)))]
                )
            else:
                right = _keep(right, {value: p.name})
            if key is not None:
                keyed = Join(
                    left=plan,
                    right=right,
                    how="inner",
                    left_keys=(key,),
                    right_keys=(ColumnRef(name=p.name),),
                )
                return keyed, True
            return Join(left=plan, right=right, how="cross"), False
        outer_cols = frozenset(plan.column_names())
        raw = f"{p.name}_raw" if empty is not None else p.name
        right = builder.rename(right, {value: raw})
        right_cols = frozenset(right.column_names())
        lk, rk, residual = split_equi_keys(preds, outer_cols, right_cols)
        if not sub.single_row and not residual and rk and all(isinstance(k, ColumnRef) for k in rk):
            # one value per correlation key; several rows for one key are an error at run
            # time (DuckDB: "More than one row returned by a subquery")
            key_names = list(dict.fromkeys(k.name for k in rk if isinstance(k, ColumnRef)))
            right = builder.aggregate(
                right,
                [NamedExpr(name=k, expr=ColumnRef(name=k)) for k in key_names],
                [
                    *(NamedExpr(name=k, expr=ColumnRef(name=k)) for k in key_names),
                    NamedExpr(name=raw, expr=AggCall(fn="single_value", arg=ColumnRef(name=raw))),
                ],
            )
        how = "inner" if rejecting and empty is None else "left"
        used = key is not None and how == "inner"
        if used:
            lk.append(key)  # type: ignore[arg-type]
            rk.append(ColumnRef(name=raw))
        joined: LogicalPlan = _keyed_join(plan, right, how, lk, rk, residual)
        if empty is not None:
            # no matching row: the aggregate over no rows (COUNT gives 0), not NULL
            filled: ExprNode
            if rk:
                no_match: ExprNode = Call(fn="is_null", args=(rk[0],))
                filled = Case(whens=((no_match, empty),), otherwise=ColumnRef(name=raw))
            else:
                filled = Call(fn="coalesce", args=(ColumnRef(name=raw), empty))
            joined = _append(joined, p.name, filled)
        return joined, used

    def _exists_mark(self, plan: LogicalPlan, p: Pending, scope: Scope, ctes: dict[str, Any]) -> LogicalPlan:
        sub = self.planner.plan_query(_unwrap(p.ast), scope, ctes, mode="exists")
        if sub.single_row:
            return _append(plan, p.name, Literal(value=True, type="bool"))
        right, preds, _ = self._prepare(plan, sub)
        if not preds:
            cnt = f"{p.name}_count"
            counted = builder.aggregate(
                Limit(input=right, limit=1), [], [NamedExpr(name=cnt, expr=AggCall(fn="count_star"))]
            )
            joined = Join(left=plan, right=counted, how="cross")
            return _append(
                joined, p.name, Call(fn="gt", args=(ColumnRef(name=cnt), Literal(value=0, type="int64")))
            )
        lk, rk, residual = split_equi_keys(preds, frozenset(plan.column_names()), frozenset(right.column_names()))
        if residual:
            raise UnsupportedError(
                "EXISTS with a correlated condition other than equality, outside a top-level WHERE conjunct"
            )
        mark = f"{p.name}_mark"
        keys = [NamedExpr(name=f"{p.name}_k{i}", expr=k) for i, k in enumerate(rk)]
        marked = Distinct(
            input=Project(
                input=right, exprs=(*keys, NamedExpr(name=mark, expr=Literal(value=True, type="bool")))
            )
        )
        joined = Join(
            left=plan,
            right=marked,
            how="left",
            left_keys=tuple(lk),
            right_keys=tuple(ColumnRef(name=k.name) for k in keys),
        )
        return _append(
            joined,
            p.name,
            Call(fn="coalesce", args=(ColumnRef(name=mark), Literal(value=False, type="bool"))),
        )

    def _in_mark(self, plan: LogicalPlan, p: Pending, scope: Scope, ctes: dict[str, Any]) -> LogicalPlan:
        assert p.lhs is not None
        if len(p.lhs) != 1:
            raise UnsupportedError("a row value (a, b) IN (SELECT ...) outside a top-level WHERE conjunct")
        if any(is_outer(n) for n in columns_used(p.lhs[0])):
            raise UnsupportedError("IN (SELECT ...) with a left side from the enclosing query")
        sub = self.planner.plan_query(_unwrap(p.ast), scope, ctes, mode="in")
        if len(sub.columns) != 1:
            raise PlanError(f"IN compares 1 value with a subquery returning {len(sub.columns)} columns")
        if sub.correlation:
            raise UnsupportedError(
                "a correlated IN (SELECT ...) outside a top-level WHERE conjunct; write EXISTS instead"
            )
        right, _, values = self._prepare(plan, sub)
        v = ColumnRef(name=values[0])
        key, mark, n, nn = (f"{p.name}_{s}" for s in ("key", "mark", "rows", "values"))
        marked = Distinct(
            input=Project(
                input=right,
                exprs=(
                    NamedExpr(name=key, expr=v),
                    NamedExpr(name=mark, expr=Literal(value=True, type="bool")),
                ),
            )
        )
        stats = builder.aggregate(
            right,
            [],
            [
                NamedExpr(name=n, expr=AggCall(fn="count_star")),
                NamedExpr(name=nn, expr=AggCall(fn="count", arg=v)),
            ],
        )
        lhs = p.lhs[0]
        joined: LogicalPlan = Join(
            left=plan, right=marked, how="left", left_keys=(lhs,), right_keys=(ColumnRef(name=key),)
        )
        joined = Join(left=joined, right=stats, how="cross")
        zero = Literal(value=0, type="int64")
        value = Case(
            whens=(
                (Call(fn="is_not_null", args=(ColumnRef(name=mark),)), Literal(value=True, type="bool")),
                (Call(fn="eq", args=(ColumnRef(name=n), zero)), Literal(value=False, type="bool")),
                (
                    Call(
                        fn="or",
                        args=(
                            Call(fn="is_null", args=(lhs,)),
                            Call(fn="lt", args=(ColumnRef(name=nn), ColumnRef(name=n))),
                        ),
                    ),
                    Literal(value=None, type="bool"),
                ),
            ),
            otherwise=Literal(value=False, type="bool"),
        )
        return _append(joined, p.name, value)

    # -- shared --------------------------------------------------------------------------

    def _prepare(self, outer: LogicalPlan, sub: Planned) -> tuple[LogicalPlan, list[ExprNode], list[str]]:
        """The subquery's plan with columns renamed away from the outer plan's names, its
        correlation predicates over the outer and the renamed columns, and its value columns."""
        outer_cols = set(outer.column_names())
        right_cols = list(sub.plan.column_names())
        taken = outer_cols | set(right_cols)
        rename: dict[str, str] = {}
        for c in right_cols:
            if c in outer_cols:
                rename[c] = fresh_name(c, taken)
                taken.add(rename[c])
        right = builder.rename(sub.plan, rename)

        def fix(n: ExprNode) -> ExprNode:
            if isinstance(n, ColumnRef):
                if is_outer(n.name):
                    name = outer_name(n.name)
                    if name not in outer_cols:
                        raise PlanError(
                            f"a correlated subquery refers to {name!r}, which is not available here "
                            "(it must appear in GROUP BY to be used after aggregation)"
                        )
                    return ColumnRef(name=name)
                if n.name in rename:
                    return ColumnRef(name=rename[n.name])
            return n

        preds = [transform(p, fix) for p in sub.correlation]
        return right, preds, [rename.get(c, c) for c in sub.columns]


def _keyed_join(
    left: LogicalPlan, right: LogicalPlan, how: str, lk: list[ExprNode], rk: list[ExprNode],
    residual: list[ExprNode], null_aware: bool = False,
) -> Join:
    """``left`` joined with ``right`` on ``lk = rk`` and the ``residual`` conditions."""
    return Join(
        left=left, right=right, how=how, left_keys=tuple(lk), right_keys=tuple(rk),
        condition=conjoin(residual), null_aware=null_aware,
    )


def _unwrap(node: exp.Expression) -> exp.Expression:
    while (
        isinstance(node, exp.Subquery)
        and not node.args.get("alias")
        and not (node.args.get("order") or node.args.get("limit") or node.args.get("offset"))
    ):
        node = node.this
    return node


def _append(plan: LogicalPlan, name: str, expr: ExprNode) -> LogicalPlan:
    cols = tuple(NamedExpr(name=c, expr=ColumnRef(name=c)) for c in plan.column_names())
    return Project(input=plan, exprs=(*cols, NamedExpr(name=name, expr=expr)))


def _keep(plan: LogicalPlan, rename: dict[str, str]) -> LogicalPlan:
    """Only the columns in ``rename``, renamed."""
    return Project(
        input=plan, exprs=tuple(NamedExpr(name=new, expr=ColumnRef(name=old)) for old, new in rename.items())
    )


def _drop(plan: LogicalPlan, names: list[str]) -> LogicalPlan:
    keep = [c for c in plan.column_names() if c not in names]
    return Project(input=plan, exprs=tuple(NamedExpr(name=c, expr=ColumnRef(name=c)) for c in keep))


def _nullable(plan: LogicalPlan, exprs: list[ExprNode]) -> bool:
    from ..compute import infer_field

    return any(infer_field(e, plan.schema, "x").nullable for e in exprs)


__all__ = ["Pending", "SubqueryPlanner", "walk"]
