"""The logical plan: what a query computes, with no say on how or where.

Nodes are immutable pydantic models that serialize to JSON (``plan.model_dump_json()``)
and load back with :func:`load_plan`. Every node knows its output :attr:`schema`;
rewrite nodes with :meth:`LogicalNode.replace`, never in place.

Each node kind carries what the optimizer needs to know of it: its inputs
(``child_fields``), its row estimate (:meth:`LogicalNode.estimate_rows`), the columns
it reads of each input (:meth:`LogicalNode.required_columns`), and whether a filter
above it may move below it (``commutes_with_filter``). The plan union
(:data:`LogicalPlan`) is built from the registry of node kinds, so a new node is one
class here.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, ClassVar
from typing import Literal as _L

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from . import expr as ex
from .errors import PlanError
from .plan_node import PlanNode, RowEstimates, join_schema, limit_rows
from .sources import MemorySource, ParquetSource, Source, TextSource
from .types import Field, Schema

JOIN_TYPES = ("inner", "left", "right", "full", "semi", "anti", "cross")


Columns = set[str] | None  # a set of column names; ``None``: all of them


class LogicalNode(PlanNode):
    """Base of logical plan nodes; every concrete kind registers in :attr:`kinds`."""

    if TYPE_CHECKING:
        kind: str  # every concrete kind declares it as a literal field

    kinds: ClassVar[dict[str, type[PlanNode]]] = {}
    # a filter over this node's output may move below it unchanged (it neither
    # changes column values nor depends on which rows it sees)
    commutes_with_filter: ClassVar[bool] = False
    # the output columns are input columns with their values unchanged (a subset of
    # the rows): column statistics pass through
    keeps_columns: ClassVar[bool] = False

    def estimate_rows(self, est: RowEstimates) -> float:
        """Estimated output rows, from the estimates ``est`` gives of the inputs."""
        raise NotImplementedError(f"no row estimate for logical node kind {type(self).__name__}")

    def required_columns(self, required: Columns) -> tuple[Columns, ...]:
        """For each input, the columns this node reads of it when its parent reads
        ``required`` of its output (projection push-down). Default: all of them."""
        return tuple(None for _ in self.children())


def _cols(*exprs: ex.ExprNode | None) -> set[str]:
    out: set[str] = set()
    for e in exprs:
        if e is not None:
            out |= ex.columns_used(e)
    return out


def _plus(required: Columns, *exprs: ex.ExprNode | None) -> Columns:
    """``required`` and the columns ``exprs`` read (all stays all)."""
    return None if required is None else required | _cols(*exprs)


def _infer(exprs: tuple[ex.NamedExpr, ...], schema: Schema) -> Schema:
    from .compute import infer_field

    return tuple(infer_field(e.expr, schema, e.name) for e in exprs)


class _Body(BaseModel):
    """The fields, schema and description that a logical node kind and the physical
    kind planned from it share (``class PExpand(ExpandBody, PhysicalNode)`` in
    :mod:`dataflow.physical`), written once beside the logical kind. Immutable like
    the nodes it is mixed into; not a node kind itself."""

    model_config = ConfigDict(frozen=True)


def show_named(e: ex.NamedExpr) -> str:
    """``expr AS name``, or the expression alone where it displays as its name."""
    d = ex.display(e.expr)
    return d if d == e.name else f"{d} AS {e.name}"


class Scan(LogicalNode):
    """Read a table. ``columns`` projects (``None`` reads all); ``filters`` are
    predicates pushed into the scan, used to prune row groups and then applied."""

    kind: _L["scan"] = "scan"
    table: str
    source: Source
    table_schema: Schema
    columns: tuple[str, ...] | None = None
    filters: tuple[ex.ExprNode, ...] = ()

    def _schema(self) -> Schema:
        if self.columns is None:
            return self.table_schema
        by_name = {f.name: f for f in self.table_schema}
        return tuple(by_name[c] for c in self.columns)

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.scan_rows(self.source, self.table_schema, self.filters)

    def describe(self) -> str:
        s = f"Scan {self.table}"
        if self.columns is not None:
            s += f" columns=[{', '.join(self.columns)}]"
        if self.filters:
            s += " filters=[" + ", ".join(ex.display(f) for f in self.filters) + "]"
        return s


class FilterBody(_Body):
    """Keep the rows for which ``predicate`` is true."""

    predicate: ex.ExprNode

    def _schema(self) -> Schema:
        return self.input.schema  # type: ignore[attr-defined, no-any-return]

    def describe(self) -> str:
        return f"Filter {ex.display(self.predicate)}"


class Filter(FilterBody, LogicalNode):
    kind: _L["filter"] = "filter"
    input: LogicalPlan

    keeps_columns: ClassVar[bool] = True

    def _schema(self) -> Schema:
        from .compute import check_predicate

        check_predicate(self.predicate, self.input.schema)  # type errors surface at planning
        return self.input.schema

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.filter_rows(self.input, self.predicate)

    def required_columns(self, required: Columns) -> tuple[Columns, ...]:
        return (_plus(required, self.predicate),)


class ProjectBody(_Body):
    """Compute ``exprs``, each a named output column."""

    exprs: tuple[ex.NamedExpr, ...]

    def _schema(self) -> Schema:
        from .compute import infer_field

        schema: Schema = self.input.schema  # type: ignore[attr-defined]
        return tuple(infer_field(e.expr, schema, e.name) for e in self.exprs)

    def describe(self) -> str:
        return "Project " + ", ".join(map(show_named, self.exprs))


class Project(ProjectBody, LogicalNode):
    kind: _L["project"] = "project"
    input: LogicalPlan

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.rows(self.input)

    def required_columns(self, required: Columns) -> tuple[Columns, ...]:
        return (_cols(*(e.expr for e in self.exprs if required is None or e.name in required)),)


class Aggregate(LogicalNode):
    """Group by ``keys`` and compute ``aggs`` (each an :class:`AggCall`); output is the
    keys then the aggregates. No keys means one global group."""

    kind: _L["aggregate"] = "aggregate"
    input: LogicalPlan
    keys: tuple[ex.NamedExpr, ...]
    aggs: tuple[ex.NamedExpr, ...]

    def _schema(self) -> Schema:
        from .compute import infer_aggregate_field

        keys = _infer(self.keys, self.input.schema)
        aggs = tuple(infer_aggregate_field(a.expr, self.input.schema, a.name) for a in self.aggs)
        for a in self.aggs:
            assert isinstance(a.expr, ex.AggCall), a
        return keys + aggs

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.groups(self.input, [k.expr for k in self.keys]) if self.keys else 1.0

    def required_columns(self, required: Columns) -> tuple[Columns, ...]:
        return (_cols(*(k.expr for k in self.keys), *(a.expr for a in self.aggs)),)

    def describe(self) -> str:
        return (
            "Aggregate keys=[" + ", ".join(show_named(k) for k in self.keys) + "] aggs=["
            + ", ".join(show_named(a) for a in self.aggs) + "]"
        )


class Join(LogicalNode):
    """Join ``left`` and ``right`` on ``left_keys[i] = right_keys[i]`` and, if given, the
    residual ``condition`` (which for outer, semi and anti joins is part of the match).
    Output: left columns then right columns (left only for semi and anti). Column names
    of the two sides must not collide; the API renames before joining.
    ``null_aware`` (anti only) gives ``NOT IN`` semantics: no rows if the right side
    has a NULL key."""

    kind: _L["join"] = "join"
    left: LogicalPlan
    right: LogicalPlan
    how: str
    left_keys: tuple[ex.ExprNode, ...] = ()
    right_keys: tuple[ex.ExprNode, ...] = ()
    condition: ex.ExprNode | None = None
    null_aware: bool = False

    child_fields: ClassVar[tuple[str, ...]] = ("left", "right")

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.join_rows(self)

    def required_columns(self, required: Columns) -> tuple[Columns, ...]:
        lnames = {f.name for f in self.left.schema}
        rnames = {f.name for f in self.right.schema}
        out = (lnames | rnames) if required is None else set(required)
        need = out | _cols(*self.left_keys, *self.right_keys, self.condition)
        return (need & lnames, need & rnames)

    def _schema(self) -> Schema:
        self._check_types()
        out = join_schema(self.left.schema, self.right.schema, self.how)
        names = [f.name for f in out]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"join output has duplicate column names {dup}")
        return out

    def _check_types(self) -> None:
        """Key pairs must compare and the condition be boolean (errors at planning)."""
        from .compute import check_predicate
        from .expr import Call

        both = self.left.schema + self.right.schema
        for a, b in zip(self.left_keys, self.right_keys, strict=True):
            check_predicate(Call(fn="eq", args=(a, b)), both)
        if self.condition is not None:
            check_predicate(self.condition, both)

    def describe(self) -> str:
        on = " AND ".join(
            f"{ex.display(a)} = {ex.display(b)}" for a, b in zip(self.left_keys, self.right_keys, strict=True)
        )
        if self.condition is not None:
            on = (on + " AND " if on else "") + ex.display(self.condition)
        na = " null_aware" if self.null_aware else ""
        return f"Join {self.how}{na}" + (f" on {on}" if on else "")


class Sort(LogicalNode):
    kind: _L["sort"] = "sort"
    input: LogicalPlan
    keys: tuple[ex.SortKey, ...]

    commutes_with_filter: ClassVar[bool] = True
    keeps_columns: ClassVar[bool] = True

    def _schema(self) -> Schema:
        return self.input.schema

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.rows(self.input)

    def required_columns(self, required: Columns) -> tuple[Columns, ...]:
        return (_plus(required, *(k.expr for k in self.keys)),)

    def describe(self) -> str:
        return "Sort " + ", ".join(ex.display_sort_key(k) for k in self.keys)


class Limit(LogicalNode):
    """Skip ``offset`` rows, then keep at most ``limit`` (``None``: all the rest)."""

    kind: _L["limit"] = "limit"
    input: LogicalPlan
    limit: int | None
    offset: int = 0

    keeps_columns: ClassVar[bool] = True

    def _schema(self) -> Schema:
        return self.input.schema

    def estimate_rows(self, est: RowEstimates) -> float:
        return limit_rows(est.rows(self.input), self.limit, self.offset)

    def required_columns(self, required: Columns) -> tuple[Columns, ...]:
        return (required,)

    def describe(self) -> str:
        return f"Limit {self.limit}" + (f" offset {self.offset}" if self.offset else "")


class Distinct(LogicalNode):
    kind: _L["distinct"] = "distinct"
    input: LogicalPlan

    commutes_with_filter: ClassVar[bool] = True
    keeps_columns: ClassVar[bool] = True

    def _schema(self) -> Schema:
        return self.input.schema

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.groups(self.input, [ex.ColumnRef(name=f.name) for f in self.input.schema], 0.75)

    # whole rows are compared: the input keeps every column (the default)

    def describe(self) -> str:
        return "Distinct"


class Union(LogicalNode):
    """UNION ALL of inputs with the same column types; names come from the first."""

    kind: _L["union"] = "union"
    inputs: tuple[LogicalPlan, ...]

    child_fields: ClassVar[tuple[str, ...]] = ("inputs",)

    def estimate_rows(self, est: RowEstimates) -> float:
        return sum(est.rows(i) for i in self.inputs)

    def _schema(self) -> Schema:
        first = self.inputs[0].schema
        for other in self.inputs[1:]:
            if len(other.schema) != len(first):
                raise ValueError(
                    f"UNION inputs have {len(first)} and {len(other.schema)} columns; they must match"
                )
        for k, other in enumerate(self.inputs[1:], start=2):
            for f, g in zip(first, other.schema, strict=True):
                _check_union_column(f, g, k)
        nullable = [any(inp.schema[i].nullable for inp in self.inputs) for i in range(len(first))]
        return tuple(f.model_copy(update={"nullable": n}) for f, n in zip(first, nullable, strict=True))

    def describe(self) -> str:
        return "Union all"


def _check_union_column(f: Field, g: Field, k: int) -> None:
    """Input ``k``'s column ``g`` must cast to the first input's ``f`` (the union operator
    casts every batch to the output schema): the same kind of type, or NULL."""
    from .errors import UnionTypeError
    from .kernels.values import is_numeric, is_string, is_temporal

    a, b = f.arrow_type, g.arrow_type
    if a == b or pa.types.is_null(a) or pa.types.is_null(b):
        return
    for same_kind in (is_numeric, is_string, is_temporal, pa.types.is_boolean):
        if same_kind(a) and same_kind(b):
            return
    raise UnionTypeError(
        f"UNION column {f.name!r} has type {f.type} in the first input and {g.type} in input {k}"
        f" (column {g.name!r}); cast one of them"
    )


class Window(LogicalNode):
    """Append window-function columns (each a :class:`WindowCall`) to the input."""

    kind: _L["window"] = "window"
    input: LogicalPlan
    exprs: tuple[ex.NamedExpr, ...]

    def _schema(self) -> Schema:
        from .compute import infer_window_field

        for e in self.exprs:
            assert isinstance(e.expr, ex.WindowCall), e
        return self.input.schema + tuple(
            infer_window_field(e.expr, self.input.schema, e.name) for e in self.exprs
        )

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.rows(self.input)

    def required_columns(self, required: Columns) -> tuple[Columns, ...]:
        if required is None:
            return (None,)
        inner = {f.name for f in self.input.schema}
        return ((required & inner) | _cols(*(e.expr for e in self.exprs)),)

    def describe(self) -> str:
        return "Window " + ", ".join(show_named(e) for e in self.exprs)


WRITE_FORMATS = ("parquet", "csv", "json")


# what a write outputs: a row per file written
WRITTEN_FILES: Schema = (
    Field(name="path", type="string", nullable=False),
    Field(name="rows", type="int64", nullable=False),
)


class WriteBody(_Body):
    """Write rows as files of ``format`` under the directory ``path``, in Hive
    ``k=v`` directories of ``partition_by``; ``single`` writes one file."""

    path: str
    format: _L["parquet", "csv", "json"]
    partition_by: tuple[str, ...] = ()
    single: bool = False

    def _schema(self) -> Schema:
        return WRITTEN_FILES

    def describe(self) -> str:
        part = f" partition_by=[{', '.join(self.partition_by)}]" if self.partition_by else ""
        return f"Write {self.format} {self.path}{part}" + (" single" if self.single else "")


class Write(WriteBody, LogicalNode):
    """Write the input's rows as files of ``format`` under the directory ``path``
    (each instance its own part files, in Hive ``k=v`` directories of
    ``partition_by``). Outputs one row per file written: its ``path`` relative to
    ``path`` and its ``rows``. ``single`` writes from one instance (one file)."""

    kind: _L["write"] = "write"
    input: LogicalPlan

    def estimate_rows(self, est: RowEstimates) -> float:
        return 1.0  # a row per file written: a handful


class ExpandBody(_Body):
    """GROUPING SETS: the input columns, a nullable copy of each key ``keys[i]`` as
    ``names[i]``, NULL where the key is not in the row's set, and ``gid``: the set's
    index in ``sets`` (each set lists the indexes of the keys it groups by)."""

    keys: tuple[str, ...]
    names: tuple[str, ...]
    sets: tuple[tuple[int, ...], ...]
    gid: str

    def _schema(self) -> Schema:
        schema: Schema = self.input.schema  # type: ignore[attr-defined]
        by_name = {f.name: f for f in schema}
        copies = tuple(by_name[k].replace(name=n, nullable=True) for k, n in zip(self.keys, self.names, strict=True))
        return schema + copies + (Field(name=self.gid, type="int64", nullable=False),)

    def describe(self) -> str:
        sets = ", ".join("(" + ", ".join(self.keys[i] for i in s) + ")" for s in self.sets)
        return f"Expand keys=[{', '.join(self.keys)}] sets=[{sets}]"


class Expand(ExpandBody, LogicalNode):
    """GROUPING SETS: emit every input row once per grouping set. Each row keeps the
    input columns and gets a copy of each grouping key (``keys[i]`` as ``names[i]``),
    NULL where the key is not in that set, plus ``gid``: the set's index in ``sets``
    (each set lists the indexes of the keys it groups by). An aggregate over
    (``names``, ``gid``) then computes every grouping set at once."""

    kind: _L["expand"] = "expand"
    input: LogicalPlan

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.rows(self.input) * len(self.sets)

    def required_columns(self, required: Columns) -> tuple[Columns, ...]:
        inner = {f.name for f in self.input.schema}
        need = inner if required is None else (required & inner)
        return (need | set(self.keys),)


class ValuesBody(_Body):
    """Constant rows: each row's expressions are constants cast to ``types``."""

    names: tuple[str, ...]
    types: tuple[str, ...]
    rows: tuple[tuple[ex.ExprNode, ...], ...]

    def _schema(self) -> Schema:
        return tuple(Field(name=n, type=t) for n, t in zip(self.names, self.types, strict=True))

    def describe(self) -> str:
        return f"Values {len(self.rows)} rows [{', '.join(self.names)}]"


class Values(ValuesBody, LogicalNode):
    """Constant rows (``VALUES (1, 'a'), (2, 'b')``, and the one row of a SELECT
    without FROM): each row's expressions are constants cast to ``types``."""

    kind: _L["values"] = "values"

    def estimate_rows(self, est: RowEstimates) -> float:
        return float(max(1, len(self.rows)))


def check_fraction(fraction: Any) -> float:
    """``fraction`` as a float in [0, 1], or a :class:`PlanError` naming the value."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or fraction != fraction:
        raise PlanError(f"sample fraction must be a number between 0 and 1, got {fraction!r}")
    if not 0.0 <= fraction <= 1.0:
        raise PlanError(f"sample fraction must be between 0 and 1, got {fraction!r}")
    return float(fraction)


class SampleBody(_Body):
    """Keep each input row with probability ``fraction``, by a seeded hash of its values."""

    fraction: float
    seed: int

    def _schema(self) -> Schema:
        return self.input.schema  # type: ignore[attr-defined, no-any-return]

    def describe(self) -> str:
        return f"Sample {self.fraction:g} seed={self.seed}"


class Sample(SampleBody, LogicalNode):
    """Keep each input row with probability ``fraction`` (Bernoulli sampling). Whether
    a row is kept depends only on its values and ``seed`` (a stable hash of the
    row, see ``operators/sample.py``), so a seed gives the same rows at every degree
    of parallelism and batching; equal rows are kept or dropped together."""

    kind: _L["sample"] = "sample"
    input: LogicalPlan

    commutes_with_filter: ClassVar[bool] = True  # keeping a row depends on its values only
    keeps_columns: ClassVar[bool] = True

    @classmethod
    def of(cls, input: LogicalPlan, fraction: Any, seed: int | None = None) -> Sample:
        """A checked sample node; ``seed=None`` draws one now (the plan is then fixed)."""
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise PlanError(f"sample seed must be an integer, got {seed!r}")
        seed = random.getrandbits(63) if seed is None else seed
        return cls(input=input, fraction=check_fraction(fraction), seed=seed)

    def _schema(self) -> Schema:
        check_fraction(self.fraction)
        return self.input.schema

    def estimate_rows(self, est: RowEstimates) -> float:
        return est.rows(self.input) * self.fraction

    # the rows kept depend on all the input's columns: the input keeps every column


if TYPE_CHECKING:
    LogicalPlan = LogicalNode
else:
    LogicalPlan = LogicalNode.plan_union()
LogicalNode.complete(LogicalPlan)


# load a logical plan from its JSON; the plan as an indented tree, one node a line
load_plan = LogicalNode.load
render = LogicalNode.tree


__all__ = [
    "JOIN_TYPES", "WRITE_FORMATS", "Columns", "Field", "LogicalNode", "LogicalPlan", "MemorySource", "ParquetSource",
    "Source", "TextSource", "WRITTEN_FILES", "ExpandBody", "FilterBody", "ProjectBody", "SampleBody", "ValuesBody",
    "WriteBody", "check_fraction", "load_plan", "render", "show_named",
    *LogicalNode.kinds_named(),
]
