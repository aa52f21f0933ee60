"""The logical plan: what a query computes, with no say on how or where.

Nodes are immutable pydantic models that serialize to JSON (``plan.model_dump_json()``)
and load back with :func:`load_plan`. Every node knows its output :attr:`schema`;
rewrite nodes with :meth:`LogicalNode.replace`, never in place.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any
from typing import Literal as _L
from typing import Union as _Union

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic import Field as _PField

from .expr import AggCall, ExprNode, NamedExpr, SortKey, WindowCall, display, display_sort_key
from .types import Field, Schema

JOIN_TYPES = ("inner", "left", "right", "full", "semi", "anti", "cross")


class ParquetSource(BaseModel):
    """Parquet files: a list of paths (local or ``pyarrow.fs`` URIs) resolved at
    registration. Hive partition columns (last in the table's schema) take their
    values from the path: ``partition_values[i]`` holds file i's raw values."""

    model_config = ConfigDict(frozen=True)
    kind: _L["parquet"] = "parquet"
    paths: tuple[str, ...]
    partition_columns: tuple[str, ...] = ()
    partition_values: tuple[tuple[str | None, ...], ...] = ()


class TextSource(BaseModel):
    """CSV or newline-delimited JSON files, one morsel per file; column types are the
    table's (inferred or given at registration). ``est_rows`` is estimated from the
    bytes and a sample; partitions as for :class:`ParquetSource`."""

    model_config = ConfigDict(frozen=True)
    kind: _L["csv", "json"]
    paths: tuple[str, ...]
    partition_columns: tuple[str, ...] = ()
    partition_values: tuple[tuple[str | None, ...], ...] = ()
    delimiter: str = ","
    header: bool = True
    est_rows: int = 0


class MemorySource(BaseModel):
    """An Arrow table registered in the Session, known by its id."""

    model_config = ConfigDict(frozen=True)
    kind: _L["memory"] = "memory"
    table_id: str
    num_rows: int


Source = Annotated[_Union[ParquetSource, TextSource, MemorySource], _PField(discriminator="kind")]


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


class LogicalNode(BaseModel):
    """Base of logical plan nodes."""

    model_config = ConfigDict(frozen=True)

    def __eq__(self, other: object) -> bool:
        # Compare the fields only. pydantic's own __eq__ compares __dict__ first, which
        # here also holds the cached ``schema``, and on a difference compares the fields
        # again: twice per level, 2**depth for two plans that differ deep down.
        if self is other:
            return True
        if type(self) is not type(other):
            return False
        return all(getattr(self, f) == getattr(other, f) for f in type(self).model_fields)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(_hashable(getattr(self, f)) for f in type(self).model_fields)))

    def children(self) -> tuple[LogicalPlan, ...]:
        """The inputs; a node with an ``input`` field has that one."""
        inp = getattr(self, "input", None)
        return () if inp is None else (inp,)

    def with_children(self, children: tuple[LogicalPlan, ...]) -> LogicalPlan:
        """A copy over new inputs (same number as :meth:`children`)."""
        if "input" in type(self).model_fields:
            return self.replace(input=children[0])
        assert not children
        return self  # type: ignore[return-value]

    def replace(self, **update: Any) -> Any:
        """A copy with some fields changed (cached properties are not carried over)."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update(update)
        return type(self).model_validate(values)

    @cached_property
    def schema(self) -> Schema:
        return self._schema()

    def _schema(self) -> Schema:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for ``explain``."""
        return type(self).__name__

    def column_names(self) -> list[str]:
        return [f.name for f in self.schema]


def _infer(exprs: tuple[NamedExpr, ...], schema: Schema) -> Schema:
    from .compute import infer_field

    return tuple(infer_field(e.expr, schema, e.name) for e in exprs)


class Scan(LogicalNode):
    """Read a table. ``columns`` projects (``None`` reads all); ``filters`` are
    predicates pushed into the scan, used to prune row groups and then applied."""

    kind: _L["scan"] = "scan"
    table: str
    source: Source
    table_schema: Schema
    columns: tuple[str, ...] | None = None
    filters: tuple[ExprNode, ...] = ()

    def _schema(self) -> Schema:
        if self.columns is None:
            return self.table_schema
        by_name = {f.name: f for f in self.table_schema}
        return tuple(by_name[c] for c in self.columns)

    def describe(self) -> str:
        s = f"Scan {self.table}"
        if self.columns is not None:
            s += f" columns=[{', '.join(self.columns)}]"
        if self.filters:
            s += " filters=[" + ", ".join(display(f) for f in self.filters) + "]"
        return s


class Filter(LogicalNode):
    kind: _L["filter"] = "filter"
    input: LogicalPlan
    predicate: ExprNode

    def _schema(self) -> Schema:
        from .compute import check_predicate

        check_predicate(self.predicate, self.input.schema)  # type errors surface at planning
        return self.input.schema

    def describe(self) -> str:
        return f"Filter {display(self.predicate)}"


class Project(LogicalNode):
    kind: _L["project"] = "project"
    input: LogicalPlan
    exprs: tuple[NamedExpr, ...]

    def _schema(self) -> Schema:
        return _infer(self.exprs, self.input.schema)

    def describe(self) -> str:
        return "Project " + ", ".join(_named(e) for e in self.exprs)


def _named(e: NamedExpr) -> str:
    d = display(e.expr)
    return d if d == e.name else f"{d} AS {e.name}"


class Aggregate(LogicalNode):
    """Group by ``keys`` and compute ``aggs`` (each an :class:`AggCall`); output is the
    keys then the aggregates. No keys means one global group."""

    kind: _L["aggregate"] = "aggregate"
    input: LogicalPlan
    keys: tuple[NamedExpr, ...]
    aggs: tuple[NamedExpr, ...]

    def _schema(self) -> Schema:
        from .compute import infer_aggregate_field

        keys = _infer(self.keys, self.input.schema)
        aggs = tuple(infer_aggregate_field(a.expr, self.input.schema, a.name) for a in self.aggs)
        for a in self.aggs:
            assert isinstance(a.expr, AggCall), a
        return keys + aggs

    def describe(self) -> str:
        return (
            "Aggregate keys=[" + ", ".join(_named(k) for k in self.keys) + "] aggs=["
            + ", ".join(_named(a) for a in self.aggs) + "]"
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
    left_keys: tuple[ExprNode, ...] = ()
    right_keys: tuple[ExprNode, ...] = ()
    condition: ExprNode | None = None
    null_aware: bool = False

    def children(self) -> tuple[LogicalPlan, ...]:
        return (self.left, self.right)

    def with_children(self, children: tuple[LogicalPlan, ...]) -> LogicalPlan:
        return self.replace(left=children[0], right=children[1])

    def _schema(self) -> Schema:
        self._check_types()
        left = self.left.schema
        if self.how in ("semi", "anti"):
            return left
        right = self.right.schema
        if self.how in ("right", "full"):
            left = tuple(f.model_copy(update={"nullable": True}) for f in left)
        if self.how in ("left", "full"):
            right = tuple(f.model_copy(update={"nullable": True}) for f in right)
        names = [f.name for f in left] + [f.name for f in right]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"join output has duplicate column names {dup}")
        return left + right

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
            f"{display(a)} = {display(b)}" for a, b in zip(self.left_keys, self.right_keys, strict=True)
        )
        if self.condition is not None:
            on = (on + " AND " if on else "") + display(self.condition)
        na = " null_aware" if self.null_aware else ""
        return f"Join {self.how}{na}" + (f" on {on}" if on else "")


class Sort(LogicalNode):
    kind: _L["sort"] = "sort"
    input: LogicalPlan
    keys: tuple[SortKey, ...]

    def _schema(self) -> Schema:
        return self.input.schema

    def describe(self) -> str:
        return "Sort " + ", ".join(display_sort_key(k) for k in self.keys)


class Limit(LogicalNode):
    """Skip ``offset`` rows, then keep at most ``limit`` (``None``: all the rest)."""

    kind: _L["limit"] = "limit"
    input: LogicalPlan
    limit: int | None
    offset: int = 0

    def _schema(self) -> Schema:
        return self.input.schema

    def describe(self) -> str:
        return f"Limit {self.limit}" + (f" offset {self.offset}" if self.offset else "")


class Distinct(LogicalNode):
    kind: _L["distinct"] = "distinct"
    input: LogicalPlan

    def _schema(self) -> Schema:
        return self.input.schema

    def describe(self) -> str:
        return "Distinct"


class Union(LogicalNode):
    """UNION ALL of inputs with the same column types; names come from the first."""

    kind: _L["union"] = "union"
    inputs: tuple[LogicalPlan, ...]

    def children(self) -> tuple[LogicalPlan, ...]:
        return self.inputs

    def with_children(self, children: tuple[LogicalPlan, ...]) -> LogicalPlan:
        return self.replace(inputs=tuple(children))

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
    exprs: tuple[NamedExpr, ...]

    def _schema(self) -> Schema:
        from .compute import infer_window_field

        for e in self.exprs:
            assert isinstance(e.expr, WindowCall), e
        return self.input.schema + tuple(
            infer_window_field(e.expr, self.input.schema, e.name) for e in self.exprs
        )

    def describe(self) -> str:
        return "Window " + ", ".join(_named(e) for e in self.exprs)


WRITE_FORMATS = ("parquet", "csv", "json")


class Write(LogicalNode):
    """Write the input's rows as files of ``format`` under the directory ``path``
    (each instance its own part files, in Hive ``k=v`` directories of
    ``partition_by``). Outputs one row per file written: its ``path`` relative to
    ``path`` and its ``rows``. ``single`` writes from one instance (one file)."""

    kind: _L["write"] = "write"
    input: LogicalPlan
    path: str
    format: _L["parquet", "csv", "json"]
    partition_by: tuple[str, ...] = ()
    single: bool = False

    def _schema(self) -> Schema:
        return (Field(name="path", type="string", nullable=False), Field(name="rows", type="int64", nullable=False))

    def describe(self) -> str:
        part = f" partition_by=[{', '.join(self.partition_by)}]" if self.partition_by else ""
        return f"Write {self.format} {self.path}{part}" + (" single" if self.single else "")


class Expand(LogicalNode):
    """GROUPING SETS: emit every input row once per grouping set. Each row keeps the
    input columns and gets a copy of each grouping key (``keys[i]`` as ``names[i]``),
    NULL where the key is not in that set, plus ``gid``: the set's index in ``sets``
    (each set lists the indexes of the keys it groups by). An aggregate over
    (``names``, ``gid``) then computes every grouping set at once."""

    kind: _L["expand"] = "expand"
    input: LogicalPlan
    keys: tuple[str, ...]
    names: tuple[str, ...]
    sets: tuple[tuple[int, ...], ...]
    gid: str

    def _schema(self) -> Schema:
        by_name = {f.name: f for f in self.input.schema}
        copies = tuple(by_name[k].replace(name=n, nullable=True) for k, n in zip(self.keys, self.names, strict=True))
        return self.input.schema + copies + (Field(name=self.gid, type="int64", nullable=False),)

    def describe(self) -> str:
        sets = ", ".join("(" + ", ".join(self.keys[i] for i in s) + ")" for s in self.sets)
        return f"Expand keys=[{', '.join(self.keys)}] sets=[{sets}]"


class Values(LogicalNode):
    """Constant rows (``VALUES (1, 'a'), (2, 'b')``, and the one row of a SELECT
    without FROM): each row's expressions are constants cast to ``types``."""

    kind: _L["values"] = "values"
    names: tuple[str, ...]
    types: tuple[str, ...]
    rows: tuple[tuple[ExprNode, ...], ...]

    def _schema(self) -> Schema:
        return tuple(Field(name=n, type=t) for n, t in zip(self.names, self.types, strict=True))

    def describe(self) -> str:
        return f"Values {len(self.rows)} rows [{', '.join(self.names)}]"


LogicalPlan = Annotated[
    _Union[Scan, Filter, Project, Aggregate, Join, Sort, Limit, Distinct, Union, Window, Write, Expand, Values],
    _PField(discriminator="kind"),
]

for _m in (Filter, Project, Aggregate, Join, Sort, Limit, Distinct, Union, Window, Write, Expand):
    _m.model_rebuild()

_ADAPTER: TypeAdapter[Any] = TypeAdapter(LogicalPlan)


def load_plan(data: str | bytes) -> LogicalPlan:
    """Load a logical plan from its JSON."""
    return _ADAPTER.validate_json(data)


def render(plan: LogicalPlan, indent: int = 0) -> str:
    """The plan as an indented tree, one node a line."""
    lines = ["  " * indent + plan.describe()]
    for c in plan.children():
        lines.append(render(c, indent + 1))
    return "\n".join(lines)


__all__ = [
    "JOIN_TYPES", "Aggregate", "Distinct", "Expand", "Field", "Filter", "Join", "Limit", "LogicalPlan",
    "MemorySource", "ParquetSource", "Project", "Scan", "Sort", "Source", "TextSource", "Union", "Values", "Window",
    "WRITE_FORMATS", "Write",
    "load_plan", "render",
]
