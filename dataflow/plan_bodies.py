"""The bodies of the node kinds that the physical plan takes over as they are: the
fields, schema and description that a logical node and the physical node planned
from it share, written once.

Each concrete node lists its body before its family base (``class Expand(ExpandBody,
LogicalNode)``) and adds its ``kind``, its input field (typed by its family's plan
union) and what differs between the families: estimates, distributions, orderings.

>>> from dataflow import logical as L, physical as P
>>> L.Filter.describe is P.PFilter.describe
True
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from .expr import ExprNode, NamedExpr, display
from .types import Field, Schema


class _Body(BaseModel):
    """Immutable like the nodes it is mixed into; not a node kind itself."""

    model_config = ConfigDict(frozen=True)


def show_named(e: NamedExpr) -> str:
    """``expr AS name``, or the expression alone where it displays as its name."""
    d = display(e.expr)
    return d if d == e.name else f"{d} AS {e.name}"


class FilterBody(_Body):
    """Keep the rows for which ``predicate`` is true."""

    predicate: ExprNode

    def _schema(self) -> Schema:
        return self.input.schema  # type: ignore[attr-defined, no-any-return]

    def describe(self) -> str:
        return f"Filter {display(self.predicate)}"


class ProjectBody(_Body):
    """Compute ``exprs``, each a named output column."""

    exprs: tuple[NamedExpr, ...]

    def _schema(self) -> Schema:
        from .compute import infer_field

        schema: Schema = self.input.schema  # type: ignore[attr-defined]
        return tuple(infer_field(e.expr, schema, e.name) for e in self.exprs)

    def describe(self) -> str:
        return "Project " + ", ".join(map(show_named, self.exprs))


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


class ValuesBody(_Body):
    """Constant rows: each row's expressions are constants cast to ``types``."""

    names: tuple[str, ...]
    types: tuple[str, ...]
    rows: tuple[tuple[ExprNode, ...], ...]

    def _schema(self) -> Schema:
        return tuple(Field(name=n, type=t) for n, t in zip(self.names, self.types, strict=True))

    def describe(self) -> str:
        return f"Values {len(self.rows)} rows [{', '.join(self.names)}]"


# what a write outputs: a row per file written
WRITTEN_FILES: Schema = (
    Field(name="path", type="string", nullable=False),
    Field(name="rows", type="int64", nullable=False),
)


class WriteBody(_Body):
    """Write rows as files of ``format`` under the directory ``path``, in Hive
    ``k=v`` directories of ``partition_by``; ``single`` writes one file."""

    path: str
    format: Literal["parquet", "csv", "json"]
    partition_by: tuple[str, ...] = ()
    single: bool = False

    def _schema(self) -> Schema:
        return WRITTEN_FILES

    def describe(self) -> str:
        part = f" partition_by=[{', '.join(self.partition_by)}]" if self.partition_by else ""
        return f"Write {self.format} {self.path}{part}" + (" single" if self.single else "")


class SampleBody(_Body):
    """Keep each input row with probability ``fraction``, by a seeded hash of its values."""

    fraction: float
    seed: int

    def _schema(self) -> Schema:
        return self.input.schema  # type: ignore[attr-defined, no-any-return]

    def describe(self) -> str:
        return f"Sample {self.fraction:g} seed={self.seed}"


__all__ = [
    "WRITTEN_FILES", "ExpandBody", "FilterBody", "ProjectBody", "SampleBody", "ValuesBody", "WriteBody", "show_named",
]
