"""The physical plan: which operator runs, on how many instances, and where data moves.

Every node has a degree of parallelism ``dop`` (its number of instances). Operators
that key on columns (aggregate, join, sort, window, exchange) name input columns
directly: the planner projects computed keys into columns first, so the runtime
operators never evaluate key expressions.

What a node *requires* of each input (:meth:`PhysicalNode.required_distribution`) is
kept apart from what it *produces* (:meth:`PhysicalNode.output_partitioning`,
:meth:`PhysicalNode.output_ordering`); the optimizer's ``enforce_distribution`` rule is
the only place that compares the two and inserts :class:`Exchange` nodes.

Each node kind also declares its row estimate from its inputs' rows
(:meth:`PhysicalNode.estimate_rows`, the cost model's), the logical kind it is planned
from one to one (``planned_from``: the planner then needs no code of its own for it),
and is entered in :attr:`PhysicalNode.kinds`, from which :data:`PhysicalPlan` is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from typing import Literal as _L

from .distribution import (
    ANY,
    SINGLE,
    Distribution,
    Partitioning,
    Route,
    renamed_order,
    renamed_partitioning,
    single_or_unknown,
)
from .expr import ExprNode, conjuncts, display
from .logical import ExpandBody, FilterBody, ProjectBody, SampleBody, Source, ValuesBody, WriteBody
from .plan_node import PlanNode, RowEstimates, join_schema, limit_rows, walk
from .specs import AggSpec, OrderSpec, WindowSpec
from .types import Field, Schema


class PhysicalNode(PlanNode):
    """Base of physical plan nodes; every concrete kind registers in :attr:`kinds`."""

    if TYPE_CHECKING:
        kind: str  # every concrete kind declares it as a literal field

    kinds: ClassVar[dict[str, type[PlanNode]]] = {}
    # the logical node kind this one is planned from one to one: the planner copies
    # the fields of the same names and runs it as wide as its input
    planned_from: ClassVar[str | None] = None
    # False for nodes the runtime wires instead of running (the exchange)
    runs_as_operator: ClassVar[bool] = True
    # the output keeps the order of the (first) input's rows
    keeps_order: ClassVar[bool] = False

    dop: int = 1
    # Filled by the cost model: estimated output rows and cumulative cost.
    est_rows: float | None = None
    est_cost: float | None = None

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        """Estimated output rows from the inputs' estimated rows (for the nodes the
        planner did not annotate from the logical plan's estimates)."""
        raise NotImplementedError(f"no row estimate for physical node kind {type(self).__name__}")

    def rows_of_input(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        """The estimate of a node that keeps its input's rows (``estimate_rows = rows_of_input``)."""
        return child_rows[0]

    def required_distribution(self, i: int) -> Distribution:
        return ANY

    def output_partitioning(self) -> Partitioning:
        """By default a node keeps its (first) input's partitioning."""
        kids = self.children()
        return kids[0].output_partitioning() if kids else single_or_unknown(self.dop)

    def output_ordering(self) -> tuple[OrderSpec, ...]:
        """The order of rows within each instance's output (by default none, or the
        input's for a node that ``keeps_order``)."""
        return self.children()[0].output_ordering() if self.keeps_order else ()

    @property
    def name(self) -> str:
        """The operator name used in metrics and errors (``HashJoin``, ``Scan``)."""
        return type(self).__name__.removeprefix("P")


class PScan(PhysicalNode):
    """Scan a table; its units of work (row groups or slices) are morsels handed out
    dynamically to the ``dop`` instances. ``predicate`` prunes row groups by their
    statistics and then filters rows."""

    kind: _L["scan"] = "scan"
    table: str
    source: Source
    table_schema: Schema
    columns: tuple[str, ...]
    predicate: ExprNode | None = None

    def _schema(self) -> Schema:
        by_name = {f.name: f for f in self.table_schema}
        return tuple(by_name[c] for c in self.columns)

    def output_partitioning(self) -> Partitioning:
        return single_or_unknown(self.dop)

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        return est.scan_rows(self.source, self.table_schema, tuple(conjuncts(self.predicate)))

    def describe(self) -> str:
        s = f"Scan {self.table} [{', '.join(self.columns)}]"
        if self.predicate is not None:
            s += f" predicate={display(self.predicate)}"
        return s


class PFilter(FilterBody, PhysicalNode):
    kind: _L["filter"] = "filter"
    keeps_order: ClassVar[bool] = True
    input: PhysicalPlan

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        return child_rows[0] * est.selectivity(self.predicate)


class PProject(ProjectBody, PhysicalNode):
    kind: _L["project"] = "project"
    input: PhysicalPlan

    estimate_rows = PhysicalNode.rows_of_input

    def _passthrough(self) -> dict[str, str]:
        """Input column name -> output name, for columns passed through unchanged."""
        out: dict[str, str] = {}
        for e in self.exprs:
            if getattr(e.expr, "kind", None) == "column":
                out.setdefault(e.expr.name, e.name)  # type: ignore[union-attr]
        return out

    def output_partitioning(self) -> Partitioning:
        return renamed_partitioning(self.input.output_partitioning(), self._passthrough())

    def output_ordering(self) -> tuple[OrderSpec, ...]:
        return renamed_order(self.input.output_ordering(), self._passthrough())


class PHashAggregate(PhysicalNode):
    """Hash aggregation in one of three modes (DuckDB's sink/combine/finalize, spread
    over instances): ``partial`` aggregates whatever rows an instance sees and emits
    states (see :func:`dataflow.specs.partial_columns`); ``final`` merges states, its input hash
    partitioned on the keys (or single without keys); ``single`` does both on input
    already partitioned right. Distinct aggregates run only in ``single`` mode."""

    kind: _L["hash_aggregate"] = "hash_aggregate"
    input: PhysicalPlan
    mode: _L["partial", "final", "single"]
    keys: tuple[str, ...]
    aggs: tuple[AggSpec, ...]

    def _schema(self) -> Schema:
        from .compute import aggregate_state_fields

        by_name = {f.name: f for f in self.input.schema}
        keys = tuple(by_name[k] for k in self.keys)
        return keys + aggregate_state_fields(self.aggs, self.input.schema, self.mode)

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        if not self.keys:
            return float(max(1, self.dop)) if self.mode == "partial" else 1.0
        groups = est.group_rows(child_rows[0], len(self.keys))
        # each instance of a partial aggregate emits the groups it saw
        return min(child_rows[0], groups * self.dop) if self.mode == "partial" else groups

    def required_distribution(self, i: int) -> Distribution:
        if self.mode == "partial":
            return ANY
        if not self.keys:
            return SINGLE
        return Distribution(kind="hash", keys=self.keys)

    def output_partitioning(self) -> Partitioning:
        if self.mode == "partial":
            p = self.input.output_partitioning()
            if p.kind == "hash" and set(p.keys) <= set(self.keys):
                return p  # grouping moves no row to another instance
            return single_or_unknown(self.dop)
        if not self.keys or self.dop == 1:
            return Partitioning(kind="single", n=1) if self.dop == 1 else single_or_unknown(self.dop)
        p = self.input.output_partitioning()
        if p.kind == "hash" and p.n == self.dop and set(p.keys) <= set(self.keys):
            return p  # what the input was hashed on, exactly
        return Partitioning(kind="hash", n=self.dop, keys=self.keys)

    def describe(self) -> str:
        return f"HashAggregate({self.mode}) keys=[{', '.join(self.keys)}] aggs=[{', '.join(map(str, self.aggs))}]"


class PHashJoin(PhysicalNode):
    """Hash join: builds a hash table once on the ``right`` (build) input, then streams
    the ``left`` (probe) input through it. ``strategy`` says how inputs are placed:
    ``broadcast`` (every instance gets the whole build side, the probe side stays
    where it is), ``partitioned`` (both sides hash partitioned on the keys) or
    ``single`` (one instance). ``condition`` is a residual predicate over the joined
    columns. For ``right`` and ``full`` joins the build side cannot be broadcast;
    ``right_semi``/``right_anti`` keep the build rows with (without) a match."""

    kind: _L["hash_join"] = "hash_join"
    left: PhysicalPlan
    right: PhysicalPlan
    how: str
    left_keys: tuple[str, ...]
    right_keys: tuple[str, ...]
    condition: ExprNode | None = None
    null_aware: bool = False
    strategy: _L["broadcast", "partitioned", "single"] = "partitioned"

    child_fields: ClassVar[tuple[str, ...]] = ("left", "right")

    def _schema(self) -> Schema:
        return join_schema(self.left.schema, self.right.schema, self.how)

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        # the logical join's rule with no distinct counts known (a key/foreign-key match)
        sel = est.selectivity(self.condition)
        if self.how in ("right_semi", "right_anti"):
            return est.combine_join(self.how[6:], child_rows[1], child_rows[0], None, None, sel)
        return est.combine_join(self.how, child_rows[0], child_rows[1], None, None, sel)

    def required_distribution(self, i: int) -> Distribution:
        if self.strategy == "single":
            return SINGLE
        if self.strategy == "broadcast":
            return ANY if i == 0 else Distribution(kind="broadcast")
        keys = self.left_keys if i == 0 else self.right_keys
        return Distribution(kind="hash", keys=keys, exact=True)

    def output_partitioning(self) -> Partitioning:
        if self.strategy == "partitioned" and self.how in ("inner", "left", "semi", "anti"):
            return Partitioning(kind="hash", n=self.dop, keys=self.left_keys)
        if self.strategy == "partitioned" and self.how in ("right_semi", "right_anti"):
            return Partitioning(kind="hash", n=self.dop, keys=self.right_keys)
        return self.left.output_partitioning() if self.strategy == "broadcast" else single_or_unknown(self.dop)

    def describe(self) -> str:
        on = ", ".join(f"{a} = {b}" for a, b in zip(self.left_keys, self.right_keys, strict=True))
        cond = f" filter={display(self.condition)}" if self.condition is not None else ""
        na = " null_aware" if self.null_aware else ""
        return f"HashJoin({self.how}{na}, {self.strategy}) on [{on}]{cond}"


class PNestedLoopJoin(PhysicalNode):
    """Join without equality keys (cross joins and other conditions): every instance
    gets the whole ``right`` side and pairs it with its share of ``left``. Supports
    ``inner``/``cross``, ``left``, ``semi`` and ``anti``."""

    kind: _L["nested_loop_join"] = "nested_loop_join"
    left: PhysicalPlan
    right: PhysicalPlan
    how: str
    condition: ExprNode | None = None

    child_fields: ClassVar[tuple[str, ...]] = ("left", "right")

    def _schema(self) -> Schema:
        return join_schema(self.left.schema, self.right.schema, self.how)

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        left, right = child_rows
        return est.combine_join(self.how, left, right, None, None, est.selectivity(self.condition), keyed=False)

    def required_distribution(self, i: int) -> Distribution:
        if self.dop == 1:
            return SINGLE
        return ANY if i == 0 else Distribution(kind="broadcast")

    def describe(self) -> str:
        cond = f" on {display(self.condition)}" if self.condition is not None else ""
        return f"NestedLoopJoin({self.how}){cond}"


class PSort(PhysicalNode):
    """Sort each instance's input (a full sort when fed by a range exchange or a
    single partition)."""

    kind: _L["sort"] = "sort"
    input: PhysicalPlan
    order: tuple[OrderSpec, ...]
    # "merge": sort locally, then gather-merge; "range": range exchange, then sort.
    strategy: _L["merge", "range"] = "merge"

    def _schema(self) -> Schema:
        return self.input.schema

    estimate_rows = PhysicalNode.rows_of_input

    def required_distribution(self, i: int) -> Distribution:
        if self.strategy == "range" and self.dop > 1:
            return Distribution(kind="range", order=self.order)
        return ANY

    def output_ordering(self) -> tuple[OrderSpec, ...]:
        return self.order

    def describe(self) -> str:
        return f"Sort({self.strategy}) [{', '.join(map(str, self.order))}]"


class PTopK(PhysicalNode):
    """Keep the first ``k`` rows of each instance's input in ``order``, sorted."""

    kind: _L["topk"] = "topk"
    input: PhysicalPlan
    order: tuple[OrderSpec, ...]
    k: int

    def _schema(self) -> Schema:
        return self.input.schema

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        return min(child_rows[0], float(self.k) * max(1, self.dop))  # k per instance

    def output_ordering(self) -> tuple[OrderSpec, ...]:
        return self.order

    def describe(self) -> str:
        return f"TopK k={self.k} [{', '.join(map(str, self.order))}]"


class PLimit(PhysicalNode):
    """Skip ``offset`` rows then pass at most ``limit`` (``None``: no limit). As a
    per-instance pre-limit it runs with ``offset=0`` and ``limit=limit+offset``."""

    kind: _L["limit"] = "limit"
    keeps_order: ClassVar[bool] = True
    input: PhysicalPlan
    limit: int | None
    offset: int = 0
    # a global limit needs all rows in one place; a local one limits each instance
    scope: _L["global", "local"] = "global"

    def _schema(self) -> Schema:
        return self.input.schema

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        if self.scope == "local" and self.limit is not None:
            return min(child_rows[0], float(self.limit) * max(1, self.dop))
        return limit_rows(child_rows[0], self.limit, self.offset)

    def required_distribution(self, i: int) -> Distribution:
        return SINGLE if self.scope == "global" else ANY

    def describe(self) -> str:
        return f"Limit({self.scope}) {self.limit}" + (f" offset {self.offset}" if self.offset else "")


class PUnion(PhysicalNode):
    """Concatenate inputs: instance i passes on partition i of every input."""

    kind: _L["union"] = "union"
    inputs: tuple[PhysicalPlan, ...]

    child_fields: ClassVar[tuple[str, ...]] = ("inputs",)

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        return sum(child_rows)

    def _schema(self) -> Schema:
        first = self.inputs[0].schema
        nullable = [any(inp.schema[i].nullable for inp in self.inputs) for i in range(len(first))]
        return tuple(f.replace(nullable=n) for f, n in zip(first, nullable, strict=True))

    def output_partitioning(self) -> Partitioning:
        return single_or_unknown(self.dop)

    def describe(self) -> str:
        return "Union all"


class PWindow(PhysicalNode):
    """Window functions over partitions of ``partition_by`` ordered by ``order``; the
    input is hash partitioned on ``partition_by`` (or single when it is empty)."""

    kind: _L["window"] = "window"
    input: PhysicalPlan
    partition_by: tuple[str, ...]
    order: tuple[OrderSpec, ...]
    funcs: tuple[WindowSpec, ...]

    def _schema(self) -> Schema:
        from .compute import window_fields

        return self.input.schema + window_fields(self.funcs, self.input.schema)

    estimate_rows = PhysicalNode.rows_of_input

    def required_distribution(self, i: int) -> Distribution:
        if not self.partition_by:
            return SINGLE
        return Distribution(kind="hash", keys=self.partition_by)

    def describe(self) -> str:
        order = f" order=[{', '.join(map(str, self.order))}]" if self.order else ""
        return f"Window partition=[{', '.join(self.partition_by)}]{order} [{', '.join(map(str, self.funcs))}]"


class PExpand(ExpandBody, PhysicalNode):
    """GROUPING SETS (see :class:`dataflow.logical.Expand`): each input row once per
    set, the keys outside the set NULL in their copies ``names``, and the set's index
    in ``gid``. Works on any partitioning; the aggregate above shuffles."""

    kind: _L["expand"] = "expand"
    planned_from: ClassVar[str | None] = "expand"
    input: PhysicalPlan

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        return child_rows[0] * len(self.sets)


class PValues(ValuesBody, PhysicalNode):
    """Constant rows (see :class:`dataflow.logical.Values`), produced by instance 0."""

    kind: _L["values"] = "values"
    planned_from: ClassVar[str | None] = "values"

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        return float(max(1, len(self.rows)))


class PExchange(PhysicalNode):
    """Volcano's exchange: moves rows from the ``input.dop`` producer instances to the
    ``dop`` consumer instances. ``hash`` routes by a stable hash of ``keys``;
    ``range`` by split points sampled from the data on ``order``; ``broadcast`` sends
    every row to every consumer; ``round_robin`` deals batches in turn; ``gather``
    collects into one; ``gather_merge`` merges sorted streams into one sorted stream."""

    kind: _L["exchange"] = "exchange"
    runs_as_operator: ClassVar[bool] = False  # the runtime wires stages through it
    input: PhysicalPlan
    mode: _L["hash", "range", "broadcast", "round_robin", "gather", "gather_merge"]
    keys: tuple[str, ...] = ()
    order: tuple[OrderSpec, ...] = ()

    def _schema(self) -> Schema:
        return self.input.schema

    @property
    def route(self) -> Route:  # what the stage graph's edge carries
        return Route(mode=self.mode, keys=self.keys, order=self.order)

    estimate_rows = PhysicalNode.rows_of_input

    def output_partitioning(self) -> Partitioning:
        if self.mode in ("gather", "gather_merge") or self.dop == 1:
            return Partitioning(kind="single", n=1)
        if self.mode == "hash":
            return Partitioning(kind="hash", n=self.dop, keys=self.keys)
        if self.mode == "range":
            return Partitioning(kind="range", n=self.dop, order=self.order)
        if self.mode == "broadcast":
            return Partitioning(kind="broadcast", n=self.dop)
        return Partitioning(kind="unknown", n=self.dop)

    def output_ordering(self) -> tuple[OrderSpec, ...]:
        return self.order if self.mode == "gather_merge" else ()

    @property
    def name(self) -> str:
        return f"Exchange({self.mode})"

    def describe(self) -> str:
        s = f"Exchange {self.mode} {self.input.dop}->{self.dop}"
        if self.keys:
            s += f" keys=[{', '.join(self.keys)}]"
        if self.order:
            s += f" order=[{', '.join(map(str, self.order))}]"
        return s


class PWrite(WriteBody, PhysicalNode):
    """Each instance writes the rows it receives as part files of ``format`` under
    the directory ``path`` (in ``k=v`` subdirectories of ``partition_by``, whose
    columns are left out of the files), and outputs one row per file: its ``path``
    relative to ``path`` and its ``rows``. An ordered input, or ``single``, is
    written by one instance, so that one file keeps the order."""

    kind: _L["write"] = "write"
    input: PhysicalPlan

    def required_distribution(self, i: int) -> Distribution:
        return SINGLE if self.dop == 1 else ANY

    def output_partitioning(self) -> Partitioning:
        return single_or_unknown(self.dop)

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        return 1.0


class PSample(SampleBody, PhysicalNode):
    """Keep the rows whose seeded hash falls below ``fraction`` (see
    :class:`dataflow.logical.Sample`); on any partitioning, as wide as its input."""

    kind: _L["sample"] = "sample"
    planned_from: ClassVar[str | None] = "sample"
    keeps_order: ClassVar[bool] = True
    input: PhysicalPlan

    def estimate_rows(self, child_rows: tuple[float, ...], est: RowEstimates) -> float:
        return child_rows[0] * self.fraction


if TYPE_CHECKING:
    PhysicalPlan = PhysicalNode
else:
    PhysicalPlan = PhysicalNode.plan_union()
PhysicalNode.complete(PhysicalPlan)


load_physical = PhysicalNode.load  # a physical plan from its JSON


def render(plan: PhysicalPlan, indent: int = 0, estimates: bool = False) -> str:
    """The plan as an indented tree with each node's degree of parallelism."""

    def line(node: PhysicalPlan) -> str:
        extra = ""
        if estimates and node.est_rows is not None:
            extra = f" rows={node.est_rows:,.0f}"
            if node.est_cost is not None:
                extra += f" cost={node.est_cost:,.1f}"
        return f"{node.describe()}  [dop={node.dop}{extra}]"

    return plan.tree(line, indent)


__all__ = ["Field", "PhysicalNode", "PhysicalPlan", "load_physical", "render", "walk", *PhysicalNode.kinds_named()]
