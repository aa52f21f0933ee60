"""reorder_joins: order multi-way inner joins by estimated cardinality.

Finds every maximal tree of inner (and cross) joins, with the filters and plain
projections (renames, pass-through) between them, flattens it into relations and
predicates, and rebuilds it by estimated cardinality: up to ``DP_LIMIT`` relations by
dynamic programming over the connected subsets of the join graph (the cheapest bushy
tree, a tree's cost being the sum of its estimated intermediate results), beyond that
by greedy operator ordering (repeatedly join the connected pair with the smallest
estimated result). Parts with no equality to join on are crossed last, the pair with
the smallest estimated result first. Column equalities form
equivalence classes, so ``a = b AND b = c`` also lets ``a``'s and ``c``'s relations
join directly. Every join takes the smaller estimated input on the right, the side
our hash join builds its table from. Outer, semi and anti joins are barriers: the
rule reorders inside their inputs only. The output keeps its columns and their order
(a projection on top restores them when needed).

>>> import pyarrow as pa
>>> from dataflow import logical as L
>>> from dataflow.expr import ColumnRef
>>> from dataflow.types import schema_from_arrow
>>> def t(name, rows, col):
...     schema = schema_from_arrow(pa.schema([(col, pa.int64())]))
...     return L.Scan(table=name, source=L.MemorySource(table_id=name, num_rows=rows), table_schema=schema)
>>> small, big = t("small", 10, "s"), t("big", 1000, "b")
>>> j = L.Join(left=small, right=big, how="inner",
...            left_keys=(ColumnRef(name="s"),), right_keys=(ColumnRef(name="b"),))
>>> print(L.render(reorder_joins(j)))
Project s, b
  Join inner on b = s
    Scan big
    Scan small
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dataflow import logical as L
from dataflow.expr import Call, ColumnRef, ExprNode, NamedExpr, columns_used, conjoin, conjuncts, transform

from ..statistics import Estimator

_INNER = ("inner", "cross")
# up to this many relations the join order is found by dynamic programming; beyond, greedily
DP_LIMIT = 10


def reorder_joins(plan: L.LogicalPlan, est: Estimator | None = None) -> L.LogicalPlan:
    """Reorder every tree of inner joins in ``plan`` by estimated cardinality (with
    ``est``, the optimization's estimator, or a fresh one)."""
    return _Reorderer(est if est is not None else Estimator()).visit(plan)


@dataclass
class _Region:
    """A flattened join tree: its leaf relations, the predicates over them (in leaf
    column names), and its output as (output name, leaf column name) pairs."""

    relations: list[L.LogicalPlan] = field(default_factory=list)
    predicates: list[ExprNode] = field(default_factory=list)
    output: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Part:
    """A partial join result while ordering: a plan, the relations it covers, its columns."""

    plan: L.LogicalPlan
    rels: int  # a bitmask of relation indices
    cols: frozenset[str]


def _is_plain_project(plan: L.LogicalPlan) -> bool:
    return isinstance(plan, L.Project) and all(isinstance(e.expr, ColumnRef) for e in plan.exprs)


def _is_inner_join(plan: L.LogicalPlan) -> bool:
    return isinstance(plan, L.Join) and plan.how in _INNER


def _reaches_join(plan: L.LogicalPlan) -> bool:
    """Whether ``plan`` is an inner join under filters and plain projections."""
    while isinstance(plan, L.Filter) or _is_plain_project(plan):
        plan = plan.input  # type: ignore[union-attr,attr-defined]
    return _is_inner_join(plan)


def _rename(expr: ExprNode, mapping: dict[str, str]) -> ExprNode:
    return transform(
        expr,
        lambda n: ColumnRef(name=mapping[n.name]) if isinstance(n, ColumnRef) and n.name in mapping else n,
    )


class _Reorderer:
    def __init__(self, est: Estimator) -> None:
        self.est = est

    def visit(self, plan: L.LogicalPlan) -> L.LogicalPlan:
        if isinstance(plan, L.Join) and plan.how in _INNER:
            return self._reorder(plan)
        if isinstance(plan, L.Project) and _is_inner_join(plan.input):
            # read the reordered join's columns directly: no second projection
            built, output = self._region(plan.input)  # type: ignore[arg-type]
            mapping = dict(output)
            exprs = tuple(NamedExpr(name=e.name, expr=_rename(e.expr, mapping)) for e in plan.exprs)
            return plan.replace(input=built, exprs=exprs)
        kids = plan.children()
        if not kids:
            return plan
        new = tuple(self.visit(c) for c in kids)
        if all(a is b for a, b in zip(new, kids, strict=True)):
            return plan
        return plan.with_children(new)

    # -- flattening ------------------------------------------------------------------------

    def _flatten(self, plan: L.LogicalPlan, through_projects: bool) -> _Region:
        if isinstance(plan, L.Join) and plan.how in _INNER:
            left = self._flatten(plan.left, through_projects)
            right = self._flatten(plan.right, through_projects)
            lmap, rmap = dict(left.output), dict(right.output)
            both = {**lmap, **rmap}
            preds = left.predicates + right.predicates
            for lk, rk in zip(plan.left_keys, plan.right_keys, strict=True):
                preds.append(Call(fn="eq", args=(_rename(lk, lmap), _rename(rk, rmap))))
            preds += [_rename(c, both) for c in conjuncts(plan.condition)]
            return _Region(left.relations + right.relations, preds, left.output + right.output)
        if _reaches_join(plan):
            if isinstance(plan, L.Filter):
                inner = self._flatten(plan.input, through_projects)
                m = dict(inner.output)
                inner.predicates += [_rename(c, m) for c in conjuncts(plan.predicate)]
                return inner
            if isinstance(plan, L.Project) and through_projects:
                inner = self._flatten(plan.input, through_projects)
                m = dict(inner.output)
                inner.output = [(e.name, m[e.expr.name]) for e in plan.exprs]  # type: ignore[union-attr]
                return inner
        # a leaf: reorder what is inside it on its own
        leaf = self.visit(plan)
        return _Region([leaf], [], [(f.name, f.name) for f in leaf.schema])

    # -- ordering --------------------------------------------------------------------------

    def _reorder(self, plan: L.Join) -> L.LogicalPlan:
        built, output = self._region(plan)
        if [f.name for f in built.schema] == [o for o, _ in output] and all(o == i for o, i in output):
            return built
        return L.Project(
            input=built, exprs=tuple(NamedExpr(name=o, expr=ColumnRef(name=i)) for o, i in output)
        )

    def _region(self, plan: L.Join) -> tuple[L.LogicalPlan, list[tuple[str, str]]]:
        """The join tree rebuilt, and its output as (output name, built column name)."""
        region = self._flatten(plan, through_projects=True)
        names = [f.name for r in region.relations for f in r.schema]
        if len(set(names)) != len(names):
            # a projection dropped a column whose name a relation above reuses: keep
            # projections as leaves (the inputs of each join never share names)
            region = self._flatten(plan, through_projects=False)
        return self._build(region), region.output

    def _build(self, region: _Region) -> L.LogicalPlan:
        relations = list(region.relations)
        owner: dict[str, int] = {}
        types: dict[str, str] = {}
        for i, r in enumerate(relations):
            for f in r.schema:
                owner[f.name] = i
                types[f.name] = f.type

        # sort predicates: constant, single-relation, column-equality classes, the rest
        constant: list[ExprNode] = []
        local: dict[int, list[ExprNode]] = {}
        parent: dict[str, str] = {}
        order: list[str] = []  # columns in order of first appearance in an equality
        others: list[tuple[ExprNode, int]] = []

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for p in region.predicates:
            rels = frozenset(owner[c] for c in columns_used(p) if c in owner)
            if isinstance(p, Call) and p.fn == "eq" and all(isinstance(a, ColumnRef) for a in p.args):
                a, b = (x.name for x in p.args)  # type: ignore[union-attr]
                if a != b and types.get(a) == types.get(b) and a in owner and b in owner:
                    for x in (a, b):
                        if x not in parent:
                            parent[x] = x
                            order.append(x)
                    ra, rb = find(a), find(b)
                    if ra != rb:
                        parent[rb] = ra
                    continue
            if not rels:
                constant.append(p)
            elif len(rels) == 1:
                local.setdefault(next(iter(rels)), []).append(p)
            else:
                others.append((p, sum(1 << r for r in rels)))

        classes: dict[str, list[str]] = {}
        for x in order:
            classes.setdefault(find(x), []).append(x)
        class_list = list(classes.values())
        # members of a class within one relation are equal by a filter on it
        for members in class_list:
            by_rel: dict[int, list[str]] = {}
            for m in members:
                by_rel.setdefault(owner[m], []).append(m)
            for rel, ms in by_rel.items():
                for m in ms[1:]:
                    local.setdefault(rel, []).append(
                        Call(fn="eq", args=(ColumnRef(name=ms[0]), ColumnRef(name=m)))
                    )

        parts: list[_Part] = []
        for i, r in enumerate(relations):
            pred = conjoin(local.get(i, []))
            leaf = r if pred is None else L.Filter(input=r, predicate=pred)
            parts.append(_Part(leaf, 1 << i, frozenset(f.name for f in r.schema)))

        # the join graph: relations linked by an equality usable as a hash key
        adj = [0] * len(parts)
        for members in class_list:
            mask = 0
            for m in members:
                mask |= 1 << owner[m]
            for i in range(len(parts)):
                if mask >> i & 1:
                    adj[i] |= mask & ~(1 << i)
        for p, prels in others:
            if _is_split_equality(p, owner):
                for i in range(len(parts)):
                    if prels >> i & 1:
                        adj[i] |= prels & ~(1 << i)
        ctx = _Context(class_list, others)
        if len(parts) <= DP_LIMIT:
            parts = [self._dp(parts, comp, adj, ctx) for comp in _components(adj)]
        result = self._greedy(parts, ctx)
        pred = conjoin(constant)
        return result if pred is None else L.Filter(input=result, predicate=pred)

    def _greedy(self, parts: list[_Part], ctx: _Context) -> L.LogicalPlan:
        """Greedy operator ordering: join the connected pair with the smallest
        estimated result until one part is left; cross only when nothing connects."""
        # a candidate depends only on its two parts, so it survives other merges
        cache: dict[tuple[int, int], tuple[L.Join, bool]] = {}

        def candidate(a: _Part, b: _Part) -> tuple[L.Join, bool]:
            key = (a.rels, b.rels)
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = self._join(a, b, ctx)
            return hit

        while len(parts) > 1:
            best: tuple[float, int, int] | None = None
            for connected_only in (True, False):
                for i in range(len(parts)):
                    for j in range(i + 1, len(parts)):
                        join, connected = candidate(parts[i], parts[j])
                        if connected_only and not connected:
                            continue
                        rows = self.est.rows(join)
                        if best is None or rows < best[0]:
                            best = (rows, i, j)
                if best is not None:
                    break
            assert best is not None
            _, i, j = best
            join, _ = candidate(parts[i], parts[j])
            merged = _Part(join, parts[i].rels | parts[j].rels, parts[i].cols | parts[j].cols)
            parts = [merged if k == i else p for k, p in enumerate(parts) if k != j]
        return parts[0].plan

    def _dp(self, parts: list[_Part], component: int, adj: list[int], ctx: _Context) -> _Part:
        """The cheapest bushy join tree of one connected component (DPsub): the cost
        of a tree is the sum of its estimated intermediate results (C_out)."""
        best: dict[int, tuple[float, _Part]] = {}
        for i, p in enumerate(parts):
            if component >> i & 1:
                best[1 << i] = (0.0, p)
        nbr: dict[int, int] = {}

        def neighbours(mask: int) -> int:
            out = nbr.get(mask)
            if out is None:
                out = 0
                m = mask
                while m:
                    low = m & -m
                    out |= adj[low.bit_length() - 1]
                    m ^= low
                nbr[mask] = out
            return out

        # every proper subset of a set is a smaller number: sets come after their parts
        subset = component
        masks = []
        while subset:
            masks.append(subset)
            subset = (subset - 1) & component
        for s in sorted(masks):
            if s & (s - 1) == 0:
                continue
            low = s & -s
            choice: tuple[float, int] | None = None
            s1 = (s - 1) & s
            while s1:
                if s1 & low:
                    s2 = s ^ s1
                    b1, b2 = best.get(s1), best.get(s2)
                    if b1 is not None and b2 is not None and neighbours(s1) & s2:
                        cost = b1[0] + b2[0]
                        if choice is None or cost < choice[0]:
                            choice = (cost, s1)
                s1 = (s1 - 1) & s
            if choice is None:
                continue  # not connected
            cost, s1 = choice
            a, b = best[s1][1], best[s ^ s1][1]
            join, _ = self._join(a, b, ctx)
            best[s] = (cost + self.est.rows(join), _Part(join, s, a.cols | b.cols))
        return best[component][1]

    def _join(self, a: _Part, b: _Part, ctx: _Context) -> tuple[L.Join, bool]:
        """The join of two parts with every predicate that becomes applicable there,
        the larger estimated input on the left; and whether it has an equality key."""
        if self.est.rows(b.plan) > self.est.rows(a.plan):
            a, b = b, a  # the smaller side builds the hash table
        lkeys: list[ExprNode] = []
        rkeys: list[ExprNode] = []
        for members in ctx.classes:
            ma = next((m for m in members if m in a.cols), None)
            mb = next((m for m in members if m in b.cols), None)
            if ma is not None and mb is not None:
                lkeys.append(ColumnRef(name=ma))
                rkeys.append(ColumnRef(name=mb))
        rels = a.rels | b.rels
        cond: list[ExprNode] = []
        for p, prels in ctx.others:
            # applicable here for the first time: not within one side already
            if prels & ~rels or not prels & ~a.rels or not prels & ~b.rels:
                continue
            if isinstance(p, Call) and p.fn == "eq":
                x, y = p.args
                ux, uy = columns_used(x), columns_used(y)
                if ux and uy and ux <= a.cols and uy <= b.cols:
                    lkeys.append(x)
                    rkeys.append(y)
                    continue
                if ux and uy and ux <= b.cols and uy <= a.cols:
                    lkeys.append(y)
                    rkeys.append(x)
                    continue
            cond.append(p)
        condition = conjoin(cond)
        how = "inner" if lkeys or condition is not None else "cross"
        join = L.Join(
            left=a.plan,
            right=b.plan,
            how=how,
            left_keys=tuple(lkeys),
            right_keys=tuple(rkeys),
            condition=condition,
        )
        return join, bool(lkeys)


@dataclass(frozen=True)
class _Context:
    """The predicates of a region: column equivalence classes (in leaf column names)
    and the other multi-relation predicates with the relations they read (a bitmask)."""

    classes: list[list[str]]
    others: list[tuple[ExprNode, int]]


def _is_split_equality(p: ExprNode, owner: dict[str, int]) -> bool:
    """``x = y`` where each side reads the columns of different relations only."""
    if not (isinstance(p, Call) and p.fn == "eq" and len(p.args) == 2):
        return False
    rx = {owner[c] for c in columns_used(p.args[0]) if c in owner}
    ry = {owner[c] for c in columns_used(p.args[1]) if c in owner}
    return bool(rx) and bool(ry) and not rx & ry


def _components(adj: list[int]) -> list[int]:
    """Connected components of the join graph, as bitmasks, in order of first relation."""
    seen = 0
    out = []
    for i in range(len(adj)):
        if seen >> i & 1:
            continue
        comp = frontier = 1 << i
        while frontier:
            low = frontier & -frontier
            frontier ^= low
            new = adj[low.bit_length() - 1] & ~comp
            comp |= new
            frontier |= new
        seen |= comp
        out.append(comp)
    return out


__all__ = ["reorder_joins"]
