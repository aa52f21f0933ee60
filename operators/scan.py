"""Table scans: morsel planning (with row-group pruning by Parquet statistics) and the
scan operator that reads the morsels handed out to its instance."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dataflow.compute import evaluate_predicate
from dataflow.expr import Call, ColumnRef, ExprNode, InList, Literal, columns_used, conjoin, conjuncts
from dataflow.io import partition_array, read_parquet_metadata, read_text_batches, split_path
from dataflow.logical import MemorySource
from dataflow.physical import PScan
from dataflow.types import conform_batch, normalize_type

from . import operator
from .base import DEFAULT_BATCH_ROWS, Morsel, Operator, TaskContext

_FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def plan_morsels(node: PScan, batch_rows: int = DEFAULT_BATCH_ROWS) -> list[Morsel]:
    """The units of work of a scan: one per Parquet row group that the predicate's
    conjuncts do not rule out by the row group's statistics, one per CSV or JSON
    file, or slices of ``batch_rows`` rows of an in-memory table. Files whose Hive
    partition values fail the predicate are not opened at all."""
    src = node.source
    if src.kind == "memory":
        n = src.num_rows
        return [
            Morsel(source=src.table_id, offset=o, length=min(batch_rows, n - o), rows=min(batch_rows, n - o))
            for o in range(0, n, batch_rows)
        ]
    types = {f.name: f.arrow_type for f in node.table_schema}
    preds = conjuncts(node.predicate)
    paths = _unpruned_files(node, preds)
    if src.kind in ("csv", "json"):
        return [Morsel(source=path) for path in paths]
    morsels = []
    for path in paths:
        meta = read_parquet_metadata(path)
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            if rg.num_rows == 0:
                continue
            stats = _RowGroupStats(rg, types)
            if any(_cannot_hold(p, stats) for p in preds):
                continue
            morsels.append(Morsel(source=path, row_group=i, rows=rg.num_rows))
    return morsels


def _partition_table(node: PScan) -> pa.Table | None:
    """One row per file with its partition values, typed (``None`` without partitions)."""
    src = node.source
    if isinstance(src, MemorySource) or not src.partition_columns:
        return None
    types = {f.name: normalize_type(f.arrow_type) for f in node.table_schema}
    cols = {}
    for i, c in enumerate(src.partition_columns):
        raw = pa.array([v[i] for v in src.partition_values], pa.string())
        cols[c] = raw.cast(types[c])
    return pa.table(cols)


def _unpruned_files(node: PScan, preds: list[ExprNode]) -> list[str]:
    """The files of the scan that the conjuncts over partition columns alone keep."""
    src = node.source
    assert not isinstance(src, MemorySource)
    parts = _partition_table(node)
    if parts is None:
        return list(src.paths)
    pcols = set(src.partition_columns)
    local = [p for p in preds if columns_used(p) and columns_used(p) <= pcols]
    if not local:
        return list(src.paths)
    batch = parts.combine_chunks().to_batches()[0] if parts.num_rows else None
    if batch is None:
        return []
    keep = evaluate_predicate(conjoin(local), batch)  # type: ignore[arg-type]
    return [p for p, k in zip(src.paths, keep.to_pylist(), strict=True) if k]


# -- pruning --------------------------------------------------------------------------------


@dataclass
class _ColumnStats:
    min: Any
    max: Any
    has_min_max: bool
    null_count: int | None
    rows: int
    type: pa.DataType

    @property
    def all_null(self) -> bool:
        return self.null_count is not None and self.null_count == self.rows


class _RowGroupStats:
    """Statistics of one row group's columns, by column name (``None`` if unknown)."""

    def __init__(self, rg: Any, types: dict[str, pa.DataType]) -> None:
        self.rg = rg
        self.types = types
        self.index = {rg.column(j).path_in_schema: j for j in range(rg.num_columns)}
        self.cache: dict[str, _ColumnStats | None] = {}

    def get(self, name: str) -> _ColumnStats | None:
        if name not in self.cache:
            self.cache[name] = self._load(name)
        return self.cache[name]

    def _load(self, name: str) -> _ColumnStats | None:
        j = self.index.get(name)
        if j is None or name not in self.types:
            return None
        st = self.rg.column(j).statistics
        if st is None:
            return None
        null_count = st.null_count if st.has_null_count else None
        try:
            lo, hi = (st.min, st.max) if st.has_min_max else (None, None)
        except (ValueError, TypeError, pa.ArrowException):
            lo, hi = None, None
        has = st.has_min_max and lo is not None and hi is not None
        return _ColumnStats(lo, hi, has, null_count, self.rg.num_rows, normalize_type(self.types[name]))


def _literal_value(lit: Literal, col_type: pa.DataType) -> Any:
    """The literal as a Python value comparable with the column's statistics, or
    ``None`` when unsure (NULL literal, or a string that does not parse as the type)."""
    if lit.value is None:
        return None
    value = lit.py_value()
    if isinstance(value, str) and not pa.types.is_string(col_type):
        # compute parses a string compared with a typed column as that type
        try:
            return pa.scalar(value).cast(col_type).as_py()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _cannot_hold(pred: ExprNode, stats: _RowGroupStats) -> bool:
    """Whether the statistics prove ``pred`` false or NULL for every row of the group."""
    try:
        return _prove_false(pred, stats)
    except TypeError:  # a statistic and a literal that Python cannot compare
        return False


def _prove_false(pred: ExprNode, stats: _RowGroupStats) -> bool:
    if isinstance(pred, InList):
        if pred.negated or not isinstance(pred.expr, ColumnRef):
            return False
        cs = stats.get(pred.expr.name)
        if cs is None or not all(isinstance(v, Literal) for v in pred.values):
            return False
        if cs.all_null:
            return True
        values = []
        for lit in pred.values:
            if lit.value is None:  # type: ignore[union-attr]
                continue  # x IN (..., NULL) is never true through the NULL
            v = _literal_value(lit, cs.type)  # type: ignore[arg-type]
            if v is None:
                return False
            values.append(v)
        if not values:
            return True
        return cs.has_min_max and all(v < cs.min or v > cs.max for v in values)
    if not isinstance(pred, Call):
        return False
    fn, args = pred.fn, pred.args
    if fn == "and":
        return any(_prove_false(a, stats) for a in args)
    if fn == "or":
        return all(_prove_false(a, stats) for a in args)
    if fn in ("is_null", "is_not_null") and len(args) == 1 and isinstance(args[0], ColumnRef):
        cs = stats.get(args[0].name)
        if cs is None or cs.null_count is None:
            return False
        return cs.null_count == 0 if fn == "is_null" else cs.all_null
    if fn == "between" and len(args) == 3 and isinstance(args[0], ColumnRef):
        if not (isinstance(args[1], Literal) and isinstance(args[2], Literal)):
            return False
        cs = stats.get(args[0].name)
        if cs is None:
            return False
        if cs.all_null:
            return True
        lo, hi = _literal_value(args[1], cs.type), _literal_value(args[2], cs.type)
        if not cs.has_min_max or lo is None or hi is None:
            return False
        return bool(cs.max < lo or cs.min > hi or lo > hi)
    if fn in _FLIP and len(args) == 2:
        a, b = args
        if isinstance(a, ColumnRef) and isinstance(b, Literal):
            column, op, lit = a.name, fn, b
        elif isinstance(b, ColumnRef) and isinstance(a, Literal):
            column, op, lit = b.name, _FLIP[fn], a
        else:
            return False
        cs = stats.get(column)
        if cs is None:
            return False
        if cs.all_null:
            return True
        v = _literal_value(lit, cs.type)
        if not cs.has_min_max or v is None:
            return False
        lo, hi = cs.min, cs.max
        if op == "eq":
            return bool(v < lo or v > hi)
        if op == "ne":
            # statistics skip NaN, and NaN <> v holds: no pruning on floats
            return bool(lo == hi == v) and not pa.types.is_floating(cs.type)
        if op == "lt":
            return bool(lo >= v)
        if op == "le":
            return bool(lo > v)
        if op == "gt":
            return bool(hi <= v)
        if op == "ge":
            return bool(hi < v)
    return False


# -- the operator -------------------------------------------------------------------------


@operator(PScan)
class Scan(Operator):
    """Read the morsels the runtime hands this instance (``ctx.next_morsel(node_id)``
    until ``None``): a Parquet row group (one ``ParquetFile`` kept open per path), a
    CSV or JSON file (streamed in blocks), or a slice of an in-memory table
    (``ctx.get_table``). Hive partition columns are filled in from the file's path.
    Types are normalized (string views become strings, ...), ``predicate`` filters
    the rows, and batches have at most ``ctx.batch_rows`` rows.

    Without a ``next_morsel`` callback the instance plans the morsels itself and takes
    every ``dop``-th one, starting at its ``instance`` number."""

    def __init__(self, node: Any, ctx: TaskContext, node_id: str = "0") -> None:
        super().__init__(node, ctx, node_id)
        extra = sorted(columns_used(node.predicate) - set(node.columns)) if node.predicate is not None else []
        self.read_columns = list(node.columns) + extra
        by_name = {f.name: f for f in node.table_schema}
        self.read_schema = pa.schema(
            [
                pa.field(c, normalize_type(by_name[c].arrow_type), by_name[c].nullable)
                for c in self.read_columns
            ]
        )
        src = node.source
        self.partition_columns: tuple[str, ...] = tuple(getattr(src, "partition_columns", ()))
        self.partition_values = (
            dict(zip(src.paths, src.partition_values, strict=True)) if self.partition_columns else {}
        )
        # the columns read from the files (the rest come from the paths)
        self.file_columns = [c for c in self.read_columns if c not in self.partition_columns]
        self.file_schema = pa.schema(
            [pa.field(f.name, normalize_type(f.arrow_type)) for f in node.table_schema if f.name not in self.partition_columns]
        )

    def _morsels(self) -> Iterator[Morsel]:
        if self.ctx.next_morsel is not None:
            while (m := self.ctx.next_morsel(self.node_id)) is not None:
                yield m
        else:
            yield from plan_morsels(self.node, self.ctx.batch_rows)[self.ctx.instance :: max(self.ctx.dop, 1)]

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        files: dict[str, pq.ParquetFile] = {}
        pred = self.node.predicate
        for m in self._morsels():
            for part in self._read(m, files):
                for batch in part.to_batches(max_chunksize=self.ctx.batch_rows):
                    if not batch.num_rows:
                        continue
                    batch = conform_batch(batch, self.read_schema)
                    if pred is not None:
                        batch = batch.filter(evaluate_predicate(pred, batch))
                        if not batch.num_rows:
                            continue
                    if len(self.read_columns) != len(self.schema):
                        batch = batch.select(list(self.node.columns))
                    yield conform_batch(batch, self.schema)

    def _read(self, m: Morsel, files: dict[str, pq.ParquetFile]) -> Iterator[pa.Table]:
        kind = self.node.source.kind
        if kind == "memory":
            if self.ctx.get_table is None:
                raise RuntimeError("a memory scan needs TaskContext.get_table")
            yield self.ctx.get_table(m.source).slice(m.offset, m.length).select(self.read_columns)
            return
        if kind == "parquet":
            pf = files.get(m.source)
            if pf is None:
                fs, p = split_path(m.source)
                pf = files[m.source] = pq.ParquetFile(p, filesystem=fs, metadata=read_parquet_metadata(m.source))
            # a scan of partition columns only still needs the row count
            cols = self.file_columns or [self.file_schema.names[0]]
            assert m.row_group is not None
            parts: Iterator[pa.Table | pa.RecordBatch] = iter([pf.read_row_group(m.row_group, columns=cols)])
        else:
            parts = read_text_batches(m.source, self.node.source, self.file_schema, self.file_columns)
        for t in parts:
            yield self._with_partitions(m.source, t)

    def _with_partitions(self, path: str, t: pa.Table | pa.RecordBatch) -> pa.Table:
        if isinstance(t, pa.RecordBatch):
            t = pa.Table.from_batches([t])
        if not self.partition_columns:
            return t.select(self.read_columns)
        values = dict(zip(self.partition_columns, self.partition_values[path], strict=True))
        cols = []
        for f in self.read_schema:
            if f.name in values:
                cols.append(partition_array(values[f.name], f.type, t.num_rows))
            else:
                cols.append(t.column(f.name))
        return pa.Table.from_arrays(cols, names=self.read_columns)
