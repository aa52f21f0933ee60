"""Set operations and VALUES in the planner (split out of ``planner.py``)."""

from __future__ import annotations

from sqlglot import exp

from ..errors import PlanError, UnsupportedError
from ..expr import (
    AggCall,
    Cast,
    ColumnRef,
    ExprNode,
    NamedExpr,
    SortKey,
    WindowCall,
    display,
    walk,
)
from ..logical import Distinct, LogicalPlan, Project, Sort, Union, Values
from .expressions import ExprTranslator
from .naming import (
    Planned,
    PlannerPart,
    _apply_limit,
    _common_type,
    _Cte,
    _dedupe,
    _field_type,
    _output_index,
)
from .scope import Scope
from .setops import intersect_except


class SetOpPlanner(PlannerPart):
    """UNION, INTERSECT, EXCEPT and VALUES: a mixin of :class:`dataflow.sql.planner.Planner`."""

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
                if any(isinstance(x, (ColumnRef, AggCall, WindowCall)) for x in walk(e)):
                    raise PlanError(f"VALUES holds constants, not {display(e)}")
            rows.append(row)
        if not rows:
            raise PlanError("VALUES needs at least one row")
        from ..compute import infer_field

        names = [f"col{i}" for i in range(len(rows[0]))]
        types = []
        for i, n in enumerate(names):
            ts: list[str | None] = [infer_field(r[i], (), n).type for r in rows]
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
