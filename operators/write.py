"""The write operator: each instance writes the rows it receives as its own part
files, so a result is written in parallel by the last stage, never through the
caller. It writes into the job's temporary directory (the physical node's ``path``)
and outputs one row per file, ``(path, rows)``; the caller moves the directory into
place when every instance has finished (``dataflow.dataframe``), so a failed job
leaves nothing at the destination.

Files are named ``part-<instance>-<n>-<token>.<ext>``: the instance number first, so
that the files of a range-partitioned result list in order. With ``partition_by`` the
rows are split by the values of those columns into Hive ``k=v`` directories, and the
columns are left out of the files (the readers take them from the path). Rows are
buffered per file up to ``ctx.batch_rows`` so Parquet row groups are not tiny.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dataflow.io import partition_dir, split_path
from dataflow.physical import PWrite
from dataflow.types import conform_batch, schema_to_arrow

from . import operator
from .base import Operator, TaskContext

EXTENSION = {"parquet": ".parquet", "csv": ".csv", "json": ".json"}
# open part files per instance at most (one per partition being written)
MAX_OPEN_FILES = 64


class _File:
    """One open part file: buffered batches, a writer, and its row count."""

    def __init__(self, fmt: str, root: str, rel: str, schema: pa.Schema) -> None:
        self.fmt, self.rel, self.schema = fmt, rel, schema
        fs, base = split_path(root)
        # partition directories level by level, never the job's directory itself: once
        # the caller deleted it (the job failed) a late instance must not recreate it
        level = base
        for part in rel.split("/")[:-1]:
            level = f"{level}/{part}"
            fs.create_dir(level, recursive=False)
        self.sink = fs.open_output_stream(f"{base}/{rel}")
        self.writer: Any = None
        if fmt == "parquet":
            self.writer = pq.ParquetWriter(self.sink, schema)
        elif fmt == "csv":
            self.writer = pacsv.CSVWriter(self.sink, schema)
        self.buffer: list[pa.RecordBatch] = []
        self.buffered = 0
        self.rows = 0

    def add(self, batch: pa.RecordBatch, flush_rows: int) -> None:
        self.buffer.append(batch)
        self.buffered += batch.num_rows
        self.rows += batch.num_rows
        if self.buffered >= flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        table = pa.Table.from_batches(self.buffer, schema=self.schema)
        self.buffer, self.buffered = [], 0
        if self.fmt == "json":
            _write_json_lines(self.sink, table)
        else:
            self.writer.write_table(table)

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()
        self.sink.close()


def _write_json_lines(sink: Any, table: pa.Table) -> None:
    """Newline-delimited JSON, one object a row (pyarrow has a JSON reader only):
    built column by column with Arrow kernels; through Python's ``json`` only for
    types those do not cover (lists, structs, binary) or strings with rare control
    characters."""
    fast = _json_lines_vectorized(table)
    if fast is not None:
        sink.write(fast)
        return
    import json

    for i, f in enumerate(table.schema):
        if pa.types.is_floating(f.type):  # NaN and infinities are not JSON: null, as the fast path
            c = table.column(i)
            table = table.set_column(i, f, pc.if_else(pc.is_finite(c), c, pa.scalar(None, f.type)))
    for row in table.to_pylist():
        sink.write((json.dumps(row, default=str, ensure_ascii=False) + "\n").encode())


_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def _json_value(col: pa.Array) -> pa.Array | None:
    """Each value as JSON text (``null`` for NULL), or ``None`` if the type is not covered."""
    t = col.type
    if pa.types.is_null(t):
        return pa.repeat(pa.scalar("null"), len(col))
    if pa.types.is_boolean(t):
        text = pc.if_else(col, "true", "false")
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        text = pc.cast(col, pa.string())
    elif pa.types.is_floating(t):
        # NaN and infinities are not JSON numbers: write them as null (as pandas does)
        text = pc.if_else(pc.is_finite(col), pc.cast(col, pa.string()), pa.scalar(None, pa.string()))
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_temporal(t):
        text = pc.cast(col, pa.string())
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            if pc.any(pc.match_substring_regex(text, "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]")).as_py():
                return None
            for a, b in _ESCAPES:
                text = pc.replace_substring(text, a, b)
        text = pc.binary_join_element_wise('"', text, '"', "")
    else:
        return None
    return pc.fill_null(text, "null")


def _json_lines_vectorized(table: pa.Table) -> bytes | None:
    """The rows as JSON lines, or ``None`` when a column needs the slow path."""
    import json

    parts: list[Any] = []
    for i, name in enumerate(table.column_names):
        value = _json_value(table.column(i).combine_chunks())
        if value is None:
            return None
        parts += [("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":", value]
    if not parts:
        return b"{}\n" * table.num_rows
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "")
    if not len(lines) or lines.buffers()[2] is None:
        return b""
    # the lines are contiguous in the array's data buffer: write that, no copy per row
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()


def split_by(table: pa.Table, keys: list[str]) -> Iterator[tuple[tuple[Any, ...], pa.Table]]:
    """``(values, rows)`` for each distinct combination of ``keys`` in ``table``."""
    codes = np.zeros(table.num_rows, dtype=np.int64)
    uniques = []
    for k in keys:
        enc = pc.dictionary_encode(table.column(k).combine_chunks(), null_encoding="encode")
        idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        uniques.append(enc.dictionary)
        codes = codes * (len(enc.dictionary) + 1) + idx
    groups, inverse = np.unique(codes, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(groups)))
    start = 0
    for end in bounds:
        take = order[start:end]
        first = int(take[0])
        values = tuple(table.column(k)[first].as_py() for k in keys)
        yield values, table.take(pa.array(take))
        start = end


@operator(PWrite)
class Write(Operator):
    """Write this instance's input rows as part files; output a row per file."""

    def __init__(self, node: Any, ctx: TaskContext, node_id: str = "0") -> None:
        super().__init__(node, ctx, node_id)
        self.token = uuid.uuid4().hex[:8]
        # open files by partition values, least recently written first; closed ones
        self.files: OrderedDict[tuple[Any, ...], _File] = OrderedDict()
        self.closed: list[_File] = []
        self.count = 0
        # input batches may carry other names after pass-through projections
        self.input_schema = schema_to_arrow(node.input.schema)
        keys = set(node.partition_by)
        self.data_schema = pa.schema([f for f in self.input_schema if f.name not in keys])

    def _file(self, values: tuple[Any, ...], schema: pa.Schema) -> _File:
        f = self.files.get(values)
        if f is not None:
            self.files.move_to_end(values)
            return f
        if len(self.files) >= MAX_OPEN_FILES:
            # many partitions: close the least recently written file (more come later)
            _, oldest = self.files.popitem(last=False)
            oldest.close()
            self.closed.append(oldest)
        # the token is new per instance and attempt: a retried job never writes over a
        # file of an attempt that failed, and the commit keeps only the files listed
        name = f"part-{self.ctx.instance:05d}-{self.count:04d}-{self.token}{EXTENSION[self.node.format]}"
        self.count += 1
        rel = f"{partition_dir(self.node.partition_by, values)}/{name}" if self.node.partition_by else name
        f = self.files[values] = _File(self.node.format, self.node.path, rel, schema)
        return f

    def execute(self, inputs: list[Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
        keys = list(self.node.partition_by)
        flush = self.ctx.batch_rows
        try:
            for batch in inputs[0]:
                if not batch.num_rows:
                    continue
                batch = conform_batch(batch, self.input_schema)
                if not keys:
                    self._file((), self.data_schema).add(batch, flush)
                    continue
                table = pa.Table.from_batches([batch])
                for values, rows in split_by(table, keys):
                    for b in rows.select(self.data_schema.names).to_batches():
                        self._file(values, self.data_schema).add(b, flush)
        finally:
            for f in self.files.values():
                f.close()
        files = self.closed + list(self.files.values())
        if files:
            yield pa.RecordBatch.from_arrays(
                [pa.array([f.rel for f in files], pa.string()), pa.array([f.rows for f in files], pa.int64())],
                schema=self.schema,
            )
