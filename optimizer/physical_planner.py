"""Turn a logical plan into a physical plan without exchanges.

Each logical node becomes one or more physical operators with a degree of
parallelism; computed keys (of aggregates, joins, sorts, windows) are projected
into columns first, so runtime operators only ever key on columns. Where data must
move between instances is left to the ``enforce_distribution`` rule.

A logical kind with a physical node declared ``planned_from`` it (``PExpand``,
``PValues``) is planned without code here: the fields of the same names
are copied and the node runs as wide as its input. Every node a logical node becomes
gets that logical node's row estimate, down to the node that does its work; the
nodes below (key projections, partial aggregates, top-k) are estimated by the cost
model from their own ``estimate_rows``.
"""

from __future__ import annotations

from itertools import count
from typing import Literal

from dataflow import logical as L
from dataflow.config import OptimizerSettings
from dataflow.errors import UnsupportedError
from dataflow.expr import (
    AggCall,
    Call,
    ColumnRef,
    ExprNode,
    NamedExpr,
    SortKey,
    WindowCall,
    columns_used,
    conjoin,
    walk,
)
from dataflow.physical import (
    PExpand,
    PFilter,
    PHashAggregate,
    PHashJoin,
    PhysicalNode,
    PhysicalPlan,
    PLimit,
    PNestedLoopJoin,
    PProject,
    PScan,
    PSort,
    PTopK,
    PUnion,
    PWindow,
    PWrite,
)
from dataflow.specs import HOLISTIC_AGGREGATES, AggSpec, OrderSpec, WindowSpec

from .statistics import Estimator

# logical kind -> the physical node planned from it one to one
_ONE_TO_ONE = {cls.planned_from: cls for cls in PhysicalNode.kinds.values() if cls.planned_from}  # type: ignore[attr-defined]


class PhysicalPlanner:
    """One planning pass; holds a counter for fresh internal column names."""

    def __init__(self, settings: OptimizerSettings, est: Estimator | None = None) -> None:
        self.settings = settings
        self.est = est if est is not None else Estimator()
        self._ids = count()

    def fresh(self, prefix: str) -> str:
        # "__p" keeps them apart from the names the plan builders give (__win0, __agg0)
        return f"__p{prefix}{next(self._ids)}"

    def plan(self, node: L.LogicalPlan) -> PhysicalPlan:
        method = getattr(self, f"_plan_{node.kind}", None)
        if method is not None:
            out: PhysicalPlan = method(node)
        elif node.kind in _ONE_TO_ONE:
            out = self._plan_one_to_one(node, _ONE_TO_ONE[node.kind])  # type: ignore[arg-type]
        else:
            raise UnsupportedError(f"no physical plan for logical node kind {node.kind!r}")
        return _annotate_top(out, self.est.rows(node))

    def _plan_one_to_one(self, node: L.LogicalPlan, cls: type[PhysicalNode]) -> PhysicalPlan:
        values = {f: getattr(node, f) for f in cls.model_fields if f in type(node).model_fields and f != "kind"}
        for name in node.child_fields:  # the physical node names its inputs alike
            v = values[name]
            values[name] = tuple(self.plan(c) for c in v) if isinstance(v, tuple) else self.plan(v)
        kids = [c for name in node.child_fields for c in (values[name] if isinstance(values[name], tuple) else (values[name],))]
        return cls(**values, dop=max((k.dop for k in kids), default=1))

    # -- helpers ------------------------------------------------------------------------

    def _columns_for(
        self, input: PhysicalPlan, exprs: list[ExprNode], prefix: str, only: bool = False
    ) -> tuple[PhysicalPlan, list[str]]:
        """Make every expression available as a column of ``input``: a column reference
        stays as it is; anything else is projected into a fresh column. With ``only``,
        the result has just those columns (what an aggregate reads)."""
        names: list[str] = []
        extra: list[NamedExpr] = []
        seen: dict[ExprNode, str] = {}
        for e in exprs:
            if isinstance(e, ColumnRef):
                names.append(e.name)
            elif e in seen:
                names.append(seen[e])
            else:
                n = self.fresh(prefix)
                seen[e] = n
                extra.append(NamedExpr(name=n, expr=e))
                names.append(n)
        if only:
            keep_names = list(dict.fromkeys(n for n in names if n not in {e.name for e in extra}))
            keep = tuple(NamedExpr(name=n, expr=ColumnRef(name=n)) for n in keep_names)
            if not extra and keep_names == [f.name for f in input.schema]:
                return input, names
            if not keep and not extra:
                return input, names  # count(*): any column will do
            return PProject(input=input, exprs=keep + tuple(extra), dop=input.dop), names
        if not extra:
            return input, names
        keep = tuple(NamedExpr(name=f.name, expr=ColumnRef(name=f.name)) for f in input.schema)
        return PProject(input=input, exprs=keep + tuple(extra), dop=input.dop), names

    @staticmethod
    def _select(input: PhysicalPlan, names: list[str]) -> PhysicalPlan:
        """Project ``input`` to exactly ``names`` (no-op when already so)."""
        if [f.name for f in input.schema] == names:
            return input
        return PProject(
            input=input, exprs=tuple(NamedExpr(name=n, expr=ColumnRef(name=n)) for n in names), dop=input.dop
        )

    def _order(
        self, input: PhysicalPlan, keys: tuple[SortKey, ...]
    ) -> tuple[PhysicalPlan, tuple[OrderSpec, ...]]:
        input, cols = self._columns_for(input, [k.expr for k in keys], "sort")
        order = tuple(
            OrderSpec(column=c, ascending=k.ascending, nulls_first=k.nulls_first)
            for c, k in zip(cols, keys, strict=True)
        )
        return input, order

    # -- nodes --------------------------------------------------------------------------

    def _plan_scan(self, node: L.Scan) -> PhysicalPlan:
        columns = node.columns if node.columns is not None else tuple(f.name for f in node.table_schema)
        return PScan(
            table=node.table,
            source=node.source,
            table_schema=node.table_schema,
            columns=tuple(columns),
            predicate=conjoin(list(node.filters)),
            dop=1 if self._unsafe(*node.filters) else self.settings.dop,
        )

    def _unsafe(self, *exprs: ExprNode | None) -> bool:
        """Whether the expressions call a UDF that is not parallel safe."""
        names = {f"udf:{u}" for u in self.settings.unsafe_udfs}
        return bool(names) and any(
            isinstance(n, Call) and n.fn in names for e in exprs if e is not None for n in walk(e)
        )

    def _plan_filter(self, node: L.Filter) -> PhysicalPlan:
        child = self.plan(node.input)
        dop = 1 if self._unsafe(node.predicate) else child.dop
        return PFilter(input=child, predicate=node.predicate, dop=dop)

    def _plan_project(self, node: L.Project) -> PhysicalPlan:
        child = self.plan(node.input)
        dop = 1 if self._unsafe(*(e.expr for e in node.exprs)) else child.dop
        return PProject(input=child, exprs=node.exprs, dop=dop)

    def _plan_aggregate(self, node: L.Aggregate) -> PhysicalPlan:
        if isinstance(node.input, L.Expand):
            planned = self._plan_grouping_sets(node, node.input)
            if planned is not None:
                return planned
        child = self.plan(node.input)
        child, cols = self._columns_for(
            child, [k.expr for k in node.keys] + _agg_args(node.aggs), "agg", only=True
        )
        key_cols = cols[: len(node.keys)]
        specs = _agg_specs(node.aggs, cols[len(node.keys) :])
        # name the key columns as the logical node does
        if any(k.name != c for k, c in zip(node.keys, key_cols, strict=True)):
            exprs = [
                NamedExpr(name=k.name, expr=ColumnRef(name=c))
                for k, c in zip(node.keys, key_cols, strict=True)
            ]
            used = {x for s in specs for x in (s.arg, s.arg2) if x is not None} - {k.name for k in node.keys}
            exprs += [NamedExpr(name=u, expr=ColumnRef(name=u)) for u in sorted(used)]
            child = PProject(input=child, exprs=tuple(exprs), dop=child.dop)
            key_cols = [k.name for k in node.keys]
        groups = self.est.rows(node)
        rows = max(1.0, self.est.rows(node.input))
        return self.aggregate(
            child, tuple(key_cols), specs, groups=groups,
            reduces=groups / rows <= self.settings.partial_min_reduction,
        )

    def _plan_grouping_sets(self, node: L.Aggregate, ex: L.Expand) -> PhysicalPlan | None:
        """GROUPING SETS with decomposable aggregates whose keys reduce the rows:
        aggregate partially by all the keys first, expand the (far fewer) partial
        states per set, then merge them by (key copies, set): ``partial -> Expand ->
        hash exchange -> final``. Expanding the input rows instead would feed the
        aggregate len(sets) times the rows. ``None``: plan Expand -> two phases."""
        copies = set(ex.names) | {ex.gid}
        inner = {f.name for f in ex.input.schema}
        if not self.settings.two_phase_aggregate:
            return None
        if not all(isinstance(k.expr, ColumnRef) and k.expr.name in copies for k in node.keys):
            return None
        for a in node.aggs:
            e = a.expr
            if not isinstance(e, AggCall) or e.distinct or e.fn in HOLISTIC_AGGREGATES:
                return None
        args = _agg_args(node.aggs)
        if not all(columns_used(x) <= inner for x in args):
            return None
        # only when grouping by all the keys reduces the rows; else (nearly unique keys,
        # TPC-DS Q67) expand the rows and let the partial aggregate after it reduce the
        # coarser sets before the exchange
        finest = L.Aggregate(
            input=ex.input, keys=tuple(NamedExpr(name=k, expr=ColumnRef(name=k)) for k in ex.keys), aggs=()
        )
        finest_groups = self.est.rows(finest)
        if finest_groups / max(1.0, self.est.rows(ex.input)) > self.settings.partial_min_reduction:
            return None
        child = self.plan(ex.input)
        child, cols = self._columns_for(child, [ColumnRef(name=k) for k in ex.keys] + args, "agg", only=True)
        specs = _agg_specs(node.aggs, cols[len(ex.keys) :])
        partial = _partial(child, ex.keys, specs, finest_groups)
        expand = PExpand(
            input=partial, keys=ex.keys, names=ex.names, sets=ex.sets, gid=ex.gid, dop=partial.dop
        )
        final_keys = tuple(k.expr.name for k in node.keys if isinstance(k.expr, ColumnRef))
        out: PhysicalPlan = PHashAggregate(
            input=expand, mode="final", keys=final_keys, aggs=specs, dop=self.settings.dop
        )
        if any(k.name != c for k, c in zip(node.keys, final_keys, strict=True)):
            exprs = [
                NamedExpr(name=k.name, expr=ColumnRef(name=c))
                for k, c in zip(node.keys, final_keys, strict=True)
            ]
            exprs += [NamedExpr(name=a.name, expr=ColumnRef(name=a.name)) for a in specs]
            out = PProject(input=out, exprs=tuple(exprs), dop=out.dop)
        return out

    def aggregate(
        self, child: PhysicalPlan, keys: tuple[str, ...], aggs: tuple[AggSpec, ...], groups: float,
        reduces: bool = True,
    ) -> PhysicalPlan:
        final_dop = self.settings.dop if keys else 1
        from .rules.enforce_distribution import satisfies_hash

        if keys and satisfies_hash(child.output_partitioning(), keys, child.dop):
            # already partitioned on the group keys: aggregate in place, no exchange
            return PHashAggregate(input=child, mode="single", keys=keys, aggs=aggs, dop=child.dop)
        one_phase = any(a.distinct or a.fn in HOLISTIC_AGGREGATES for a in aggs)
        if one_phase or not self.settings.two_phase_aggregate or child.dop == 1 or not reduces:
            return PHashAggregate(
                input=child, mode="single", keys=keys, aggs=aggs, dop=final_dop if child.dop > 1 else 1
            )
        partial = _partial(child, keys, aggs, groups)
        return PHashAggregate(input=partial, mode="final", keys=keys, aggs=aggs, dop=final_dop)

    def _plan_distinct(self, node: L.Distinct) -> PhysicalPlan:
        child = self.plan(node.input)
        rows = max(1.0, self.est.rows(node.input))
        groups = self.est.rows(node)
        reduces = groups / rows <= self.settings.partial_min_reduction
        return self.aggregate(child, tuple(f.name for f in child.schema), (), groups=groups, reduces=reduces)

    def _plan_join(self, node: L.Join) -> PhysicalPlan:
        left = self.plan(node.left)
        right = self.plan(node.right)
        out_names = [f.name for f in node.schema]
        how = node.how
        if not node.left_keys:
            if how == "right":
                # a right join is a left join with the sides swapped
                swapped = PNestedLoopJoin(
                    left=right, right=left, how="left", condition=node.condition, dop=right.dop
                )
                return self._select(swapped, out_names)
            if how == "full":
                raise UnsupportedError("FULL OUTER JOIN needs at least one equality condition")
            kind = "inner" if how == "cross" else how
            return PNestedLoopJoin(left=left, right=right, how=kind, condition=node.condition, dop=left.dop)
        left, lcols = self._columns_for(left, list(node.left_keys), "lk")
        right, rcols = self._columns_for(right, list(node.right_keys), "rk")
        j: PhysicalPlan
        if how == "right":
            # a right join probes with the right side and builds on the left
            j = self._hash_join(right, left, "left", rcols, lcols, node, node.right, node.left)
        elif how == "inner" and self.est.rows(node.left) < self.est.rows(node.right):
            # build the hash table on the smaller side
            j = self._hash_join(right, left, "inner", rcols, lcols, node, node.right, node.left)
        elif (
            how in ("semi", "anti") and not node.null_aware
            and self.est.rows(node.left) * self.settings.right_semi_ratio < self.est.rows(node.right)
        ):
            # the kept side is the smaller: build on it and stream the other side through
            # (a right semi/anti join); both sides are then partitioned on the keys, as
            # broadcasting the kept side would keep its rows once per instance
            j = self._hash_join(right, left, f"right_{how}", rcols, lcols, node, node.right, node.left)
        else:
            j = self._hash_join(left, right, how, lcols, rcols, node, node.left, node.right)
        return self._select(j, out_names)

    def _hash_join(
        self,
        probe: PhysicalPlan,
        build: PhysicalPlan,
        how: str,
        pkeys: list[str],
        bkeys: list[str],
        node: L.Join,
        probe_logical: L.LogicalPlan,
        build_logical: L.LogicalPlan,
    ) -> PhysicalPlan:
        dop = self.settings.dop
        build_rows = self.est.rows(build_logical)
        probe_rows = self.est.rows(probe_logical)
        # broadcasting sends the build side to every probe instance; partitioning sends
        # both sides once: broadcast while that moves fewer rows (and fits in memory)
        cheaper = build_rows * (probe.dop - 1) <= probe_rows
        strategy: Literal["broadcast", "partitioned", "single"]
        if dop == 1 or (probe.dop == 1 and build.dop == 1):
            strategy = "single"
            dop = 1
        elif node.null_aware:
            # NOT IN must see the whole build side (a NULL anywhere in it empties the
            # result; an empty one keeps NULL probe keys): never split it by hash
            strategy = "broadcast"
            dop = probe.dop
        elif (
            how in ("inner", "left", "semi", "anti") and build_rows <= self.settings.broadcast_rows and cheaper
        ):  # (never right_semi/right_anti: the kept side must not be copied)
            strategy = "broadcast"
            dop = probe.dop
        else:
            strategy = "partitioned"
        return PHashJoin(
            left=probe,
            right=build,
            how=how,
            left_keys=tuple(pkeys),
            right_keys=tuple(bkeys),
            condition=node.condition,
            null_aware=node.null_aware,
            strategy=strategy,
            dop=dop,
        )

    def _plan_sort(self, node: L.Sort) -> PhysicalPlan:
        child = self.plan(node.input)
        names = [f.name for f in child.schema]
        child, order = self._order(child, node.keys)
        # a range exchange sorts in parallel and concatenates; a gather-merge merges in
        # one place: cheaper until the merge's single thread becomes the bottleneck
        strategy: Literal["range", "merge"] = (
            "range" if self.est.rows(node) > self.settings.range_sort_rows else "merge"
        )
        return self._select(PSort(input=child, order=order, dop=child.dop, strategy=strategy), names)

    def _plan_limit(self, node: L.Limit) -> PhysicalPlan:
        inner = node.input
        if isinstance(inner, L.Sort) and node.limit is not None:
            child = self.plan(inner.input)
            names = [f.name for f in child.schema]
            child, order = self._order(child, inner.keys)
            top = PTopK(input=child, order=order, k=node.limit + node.offset, dop=child.dop)
            out = PLimit(input=top, limit=node.limit, offset=node.offset, scope="global", dop=1)
            return self._select(out, names)
        child = self.plan(inner)
        if node.limit is not None and child.dop > 1:
            child = PLimit(
                input=child, limit=node.limit + node.offset, offset=0, scope="local", dop=child.dop
            )
        return PLimit(input=child, limit=node.limit, offset=node.offset, scope="global", dop=1)

    def _plan_union(self, node: L.Union) -> PhysicalPlan:
        kids = [self.plan(c) for c in node.inputs]
        names = [f.name for f in node.schema]
        # inputs take the first input's column names
        kids = [
            k
            if [f.name for f in k.schema] == names
            else PProject(
                input=k,
                exprs=tuple(
                    NamedExpr(name=n, expr=ColumnRef(name=f.name))
                    for n, f in zip(names, k.schema, strict=True)
                ),
                dop=k.dop,
            )
            for k in kids
        ]
        return PUnion(inputs=tuple(kids), dop=max(k.dop for k in kids))

    def _plan_window(self, node: L.Window) -> PhysicalPlan:
        child = self.plan(node.input)
        names = [f.name for f in child.schema]
        # one PWindow per distinct (partition, order) spec
        groups: dict[tuple, list[NamedExpr]] = {}
        for e in node.exprs:
            assert isinstance(e.expr, WindowCall)
            groups.setdefault((e.expr.partition_by, e.expr.order_by), []).append(e)
        for (parts, keys), exprs in groups.items():
            calls = [e.expr for e in exprs if isinstance(e.expr, WindowCall)]
            args = [a for c in calls for a in (c.arg, c.arg2) if a is not None]
            child, cols = self._columns_for(child, list(parts) + args, "win")
            part_cols = cols[: len(parts)]
            arg_cols = iter(cols[len(parts) :])
            child, order = self._order(child, keys)
            funcs = []
            for e, c in zip(exprs, calls, strict=True):
                arg = None if c.arg is None else next(arg_cols)
                arg2 = None if c.arg2 is None else next(arg_cols)
                funcs.append(
                    WindowSpec(name=e.name, fn=c.fn, arg=arg, frame=c.frame, param=c.param, arg2=arg2)
                )
            dop = self.settings.dop if part_cols else 1
            child = PWindow(
                input=child, partition_by=tuple(part_cols), order=order, funcs=tuple(funcs), dop=dop
            )
        return self._select(child, names + [e.name for e in node.exprs])

    def _plan_write(self, node: L.Write) -> PhysicalPlan:
        child = self.plan(node.input)
        # an ordered result keeps its order only when one instance writes it
        single = node.single or bool(child.output_ordering())
        return PWrite(
            input=child,
            path=node.path,
            format=node.format,
            partition_by=node.partition_by,
            single=node.single,
            dop=1 if single else child.dop,
        )



def _agg_args(aggs: tuple[NamedExpr, ...]) -> list[ExprNode]:
    """The arguments of the aggregate calls ``aggs``, in order (the second after the first)."""
    calls = [a.expr for a in aggs if isinstance(a.expr, AggCall)]
    return [x for c in calls for x in (c.arg, c.arg2) if x is not None]


def _agg_specs(aggs: tuple[NamedExpr, ...], arg_cols: list[str]) -> tuple[AggSpec, ...]:
    """The aggregate calls ``aggs`` as specs over ``arg_cols``, the columns their
    :func:`_agg_args` were planned into."""
    cols = iter(arg_cols)
    specs = []
    for a in aggs:
        e = a.expr
        assert isinstance(e, AggCall)
        arg = None if e.arg is None else next(cols)
        arg2 = None if e.arg2 is None else next(cols)
        specs.append(AggSpec(name=a.name, fn=e.fn, arg=arg, distinct=e.distinct, arg2=arg2, param=e.param))
    return tuple(specs)


def _partial(child: PhysicalPlan, keys: tuple[str, ...], aggs: tuple[AggSpec, ...], groups: float) -> PhysicalPlan:
    """The partial phase of a two-phase aggregate: each instance emits at most the
    ``groups`` of the final result, and at most the rows it reads."""
    below = child
    while below.est_rows is None and isinstance(below, PProject):
        below = below.input  # the key projection keeps the rows
    rows = None if below.est_rows is None else min(below.est_rows, groups * child.dop)
    return PHashAggregate(input=child, mode="partial", keys=keys, aggs=aggs, dop=child.dop, est_rows=rows)


def _annotate_top(out: PhysicalPlan, rows: float) -> PhysicalPlan:
    """Give ``rows`` (the logical node's estimate) to the nodes at the top of what it
    was planned into: through projections (which keep the rows) down to the first
    other node still without an estimate."""
    if out.est_rows is not None:
        return out
    if isinstance(out, PProject):
        inner = out.input
        if inner.est_rows is None:
            out = out.replace(input=_annotate_top(inner, rows))
    return out.replace(est_rows=rows)


def to_physical(plan: L.LogicalPlan, settings: OptimizerSettings, est: Estimator | None = None) -> PhysicalPlan:
    """Plan ``plan`` with every operator at ``settings.dop`` (blocking operators over a
    single partition at 1); exchanges come later, from ``enforce_distribution``."""
    return PhysicalPlanner(settings, est).plan(plan)
