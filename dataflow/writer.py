"""Writing a DataFrame's result to files, atomically.

The rows never pass through the caller: the plan is wrapped in a
:class:`~dataflow.logical.Write` node, whose instances (``operators/write.py``)
write their part files into a hidden temporary directory beside the destination
and report them. Only when the job succeeds does the caller rename the directory
(or, for ``single_file``, the one file) into place; if the job fails, the
temporary directory is deleted and the destination is untouched. With
``mode="overwrite"`` an existing destination is first renamed aside, then deleted
once the new output is in place.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import io
from . import logical as L
from .errors import DataflowError, PlanError, UnknownColumnError
from .types import schema_to_arrow

if TYPE_CHECKING:
    from .dataframe import DataFrame

MODES = ("error", "overwrite")


def write(
    df: DataFrame,
    fmt: str,
    path: str,
    partition_by: tuple[str, ...],
    mode: str,
    single_file: bool,
    parallelism: int | None,
) -> pa.Table:
    """Run ``df`` into files of ``fmt`` at ``path``; returns ``(path, rows)`` per file."""
    if fmt not in L.WRITE_FORMATS:
        raise PlanError(f"unknown output format {fmt!r}; use one of {', '.join(L.WRITE_FORMATS)}")
    if mode not in MODES:
        raise PlanError(f"unknown write mode {mode!r}; use 'error' or 'overwrite'")
    columns = df.columns
    for c in partition_by:
        if c not in columns:
            raise UnknownColumnError(c, columns, "partition_by")
    if partition_by and set(partition_by) >= set(columns):
        raise PlanError("partition_by names every column: the files would have no columns left")
    if partition_by and single_file:
        raise PlanError("single_file and partition_by do not go together (one file per partition)")
    if io.exists(path):
        if mode == "error":
            raise DataflowError(f"{path} already exists; pass mode='overwrite' to replace it")
    tmp = io.temp_dir_for(path)
    fs, tmp_fs = io.split_path(tmp)
    fs.create_dir(tmp_fs, recursive=True)
    try:
        plan = L.Write(input=df.plan, path=tmp, format=fmt, partition_by=partition_by, single=single_file)  # type: ignore[arg-type]
        files = df.session.execute(plan, parallelism).result()
        if files.num_rows == 0 and not partition_by:
            # an empty result still makes a file, with the columns
            _write_empty(fmt, io.join(tmp, f"part-00000-empty.{fmt}"), schema_to_arrow(df.plan.schema))
            files = pa.table({"path": [f"part-00000-empty.{fmt}"], "rows": pa.array([0], pa.int64())})
        _commit(tmp, path, files, single_file)
    except BaseException:
        io.remove(tmp)
        raise
    rel = files.column("path").to_pylist()
    final = [path if single_file else io.join(path, r) for r in rel]
    return pa.table({"path": pa.array(final, pa.string()), "rows": files.column("rows")})


def _write_empty(fmt: str, path: str, schema: pa.Schema) -> None:
    fs, p = io.split_path(path)
    with fs.open_output_stream(p) as out:
        if fmt == "parquet":
            pq.write_table(schema.empty_table(), out)
        elif fmt == "csv":
            pacsv.write_csv(schema.empty_table(), out)


def _commit(tmp: str, dest: str, files: pa.Table, single_file: bool) -> None:
    """Move the finished output from ``tmp`` to ``dest`` (an existing ``dest`` is
    renamed aside first and deleted after)."""
    if single_file:
        if files.num_rows != 1:
            raise DataflowError(f"a single-file write produced {files.num_rows} files")  # pragma: no cover
        source = io.join(tmp, files.column("path")[0].as_py())
    else:
        source = tmp
        io.keep_only(tmp, set(files.column("path").to_pylist()))  # files of failed attempts go
    old = None
    if io.exists(dest):
        old = io.temp_dir_for(dest).replace("-tmp-", "-old-") + uuid.uuid4().hex[:4]
        io.move(dest, old)
    try:
        io.move(source, dest)
    except BaseException:
        if old is not None:
            io.move(old, dest)  # put the previous output back
        raise
    if old is not None:
        io.remove(old)
    if single_file:
        io.remove(tmp)
