"""Files: where data lives and what shape it has, for the readers and the writers.

Paths are local paths or ``pyarrow.fs`` URIs (``file:///...``, ``s3://...``: anything
:meth:`pyarrow.fs.FileSystem.from_uri` knows). A source is a file, a directory (its
files of the format's extension, recursively) or a glob; files and directories whose
names start with ``_`` or ``.`` are skipped (``_SUCCESS``, the writers' temporary
directories). Directories named ``key=value`` make Hive partition columns, whose
values come from the path, not the file; filters on them prune whole files before
any is opened (:func:`partition_keeps`).

Every file of a source must have the same columns and types: :func:`resolve_source`
reads every file's schema at registration and names the first file and column that
differ (rather than failing later, inside a query).
"""

from __future__ import annotations

import fnmatch
import glob as _glob
import os
import re
import uuid
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

from . import logical as L
from .errors import DataflowError
from .types import normalize_schema, normalize_type, same_or_null

EXTENSIONS = {
    "parquet": (".parquet", ".parq"),
    "csv": (".csv", ".tsv", ".csv.gz", ".tsv.gz"),
    "json": (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz"),
}
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# bytes of a text file read at registration to infer types (and estimate the rows)
SAMPLE_BYTES = 1 << 20


class SchemaMismatchError(DataflowError):
    """The files of one source do not have the same columns and types."""


# -- file systems ------------------------------------------------------------------------


def is_uri(path: str) -> bool:
    return "://" in path


@lru_cache(maxsize=256)
def _from_uri(uri: str) -> tuple[pafs.FileSystem, str]:
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as e:
        raise DataflowError(f"cannot open {uri}: {e}") from None


def split_path(path: str) -> tuple[pafs.FileSystem, str]:
    """The file system of ``path`` and the path within it."""
    if is_uri(path):
        return _from_uri(path)
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path))


def _prefix(uri: str, fs_path: str) -> str:
    """What to put before a path within the file system to get a URI back."""
    if not is_uri(uri):
        return ""
    scheme = uri.split("://", 1)[0]
    if scheme == "file":
        return "file://"
    rest = uri.split("://", 1)[1]
    # s3://bucket/key -> fs path bucket/key; hdfs://host:port/p -> /p
    i = rest.find(fs_path.lstrip("/")) if fs_path else -1
    host = rest[: max(0, i - (1 if fs_path.startswith("/") else 0))] if i > 0 else ""
    return f"{scheme}://{host}"


def open_input(path: str) -> Any:
    """A readable, seekable file for ``path`` (local or URI)."""
    fs, p = split_path(path)
    return fs.open_input_file(p)


def open_text(path: str) -> Any:
    """A readable stream of a text file, decompressed if its suffix says so (``.gz``, ...)."""
    fs, p = split_path(path)
    return fs.open_input_stream(p, compression="detect")


def file_stamp(path: str) -> tuple[int, int]:
    """``(mtime_ns, size)`` of a file, to key caches of what was read from it."""
    if not is_uri(path):
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size
    fs, p = split_path(path)
    info = fs.get_file_info(p)
    mtime = info.mtime_ns if info.mtime_ns is not None else 0
    return int(mtime), int(info.size or 0)


def read_parquet_metadata(path: str) -> Any:
    """The footer of a Parquet file, read once per process while the file keeps its
    size and mtime (planning, morsels and every worker's reads share it)."""
    mtime, size = file_stamp(path)
    return _footer(path, mtime, size)


@lru_cache(maxsize=1024)
def _footer(path: str, mtime_ns: int, size: int) -> Any:
    if not is_uri(path):
        return pq.read_metadata(path)
    with open_input(path) as f:
        return pq.read_metadata(f)


# -- finding files -----------------------------------------------------------------------


def _hidden(rel: str) -> bool:
    return any(part.startswith(("_", ".")) for part in rel.split("/") if part)


def find_files(path: str, fmt: str) -> tuple[list[str], str | None]:
    """The files of a source, sorted, and the root directory (fs path) under which
    Hive partition directories are looked for (``None`` for a single file)."""
    fs, p = split_path(path)
    prefix = _prefix(path, p)
    exts = EXTENSIONS[fmt]
    wild = any(ch in p for ch in "*?[")
    if wild:
        parts = p.split("/")
        k = next(i for i, part in enumerate(parts) if any(ch in part for ch in "*?["))
        root = "/".join(parts[:k]) or "/"
        if not is_uri(path):
            found = sorted(f for f in _glob.glob(p, recursive=True) if os.path.isfile(f))
        else:
            infos = _list(fs, root, path)
            found = sorted(i.path for i in infos if fnmatch.fnmatch(i.path, p))
        files = [f for f in found if not _hidden(os.path.relpath(f, root))]
        if not files:
            raise DataflowError(f"no files match {path}")
        return [prefix + f for f in files], root
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.NotFound:
        raise DataflowError(f"no such file or directory: {path}")
    if info.type == pafs.FileType.File:
        return [prefix + p], None
    infos = _list(fs, p, path)
    files = sorted(
        i.path for i in infos if i.path.lower().endswith(exts) and not _hidden(os.path.relpath(i.path, p))
    )
    if not files:
        raise DataflowError(f"no {fmt} files ({', '.join(exts)}) found in {path}")
    return [prefix + f for f in files], p


def _list(fs: pafs.FileSystem, root: str, shown: str) -> list[Any]:
    try:
        return [i for i in fs.get_file_info(pafs.FileSelector(root, recursive=True)) if i.type == pafs.FileType.File]
    except (OSError, pa.ArrowException) as e:
        raise DataflowError(f"cannot list {shown}: {e}") from None


# -- Hive partitions -----------------------------------------------------------------------

_KV = re.compile(r"^([^=/]+)=(.*)$")


def hive_partitions(files: list[str], root: str | None) -> tuple[tuple[str, ...], tuple[tuple[str | None, ...], ...]]:
    """Partition column names and each file's raw values, from ``key=value``
    directories between ``root`` and the file. No ``key=value`` directory: no
    partitions. Files that disagree on the keys are an error naming one of them."""
    if root is None:
        return (), ()
    per_file: list[list[tuple[str, str]]] = []
    for f in files:
        rel = os.path.relpath(split_path(f)[1], root).replace(os.sep, "/")
        matches = [m for d in rel.split("/")[:-1] if (m := _KV.match(d))]
        per_file.append([(unquote(m.group(1)), unquote(m.group(2))) for m in matches])
    if not any(per_file):
        return (), ()
    keys = tuple(k for k, _ in per_file[0])
    for f, kvs in zip(files, per_file, strict=True):
        got = tuple(k for k, _ in kvs)
        if got != keys:
            raise SchemaMismatchError(
                f"inconsistent Hive partitions: {f} is under partition keys {list(got)} "
                f"but {files[0]} under {list(keys)}"
            )
    values = tuple(tuple(None if v == NULL_PARTITION else v for _, v in kvs) for kvs in per_file)
    return keys, values


_INT = re.compile(r"^-?\d{1,18}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def partition_type(values: Sequence[str | None]) -> pa.DataType:
    """The type of a partition column: int64 or date when every value is one (as
    DuckDB's ``hive_types_autocast``), else string."""
    vals = [v for v in values if v is not None]
    if vals and all(_INT.match(v) for v in vals):
        return pa.int64()
    if vals and all(_DATE.match(v) for v in vals):
        try:
            for v in vals:
                date.fromisoformat(v)
            return pa.date32()
        except ValueError:
            pass
    return pa.string()


def partition_array(value: str | None, type_: pa.DataType, n: int) -> pa.Array:
    """``n`` copies of a partition value, as ``type_``."""
    scalar = pa.scalar(value, pa.string()).cast(type_) if value is not None else pa.scalar(None, type_)
    return pa.repeat(scalar, n)


def partition_dir(columns: Sequence[str], values: Sequence[Any]) -> str:
    """The ``k=v/...`` directory of one partition (NULL as Hive's default partition)."""
    parts = []
    for c, v in zip(columns, values, strict=True):
        text = NULL_PARTITION if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        parts.append(f"{quote(c, safe='')}={quote(text, safe='')}")
    return "/".join(parts)


# -- schemas -------------------------------------------------------------------------------


def _text_options(fmt: str, delimiter: str, header: bool, schema: pa.Schema | None = None) -> dict[str, Any]:
    if fmt == "csv":
        read = pacsv.ReadOptions(block_size=SAMPLE_BYTES, autogenerate_column_names=not header)
        # an empty field is NULL, as DuckDB reads it (and as the CSV writer writes NULL)
        conv = pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False)
        return {"read_options": read, "parse_options": pacsv.ParseOptions(delimiter=delimiter), "convert_options": conv}
    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore") if schema else None
    return {"read_options": pajson.ReadOptions(block_size=SAMPLE_BYTES), "parse_options": parse}


def _sample_text(path: str, fmt: str, delimiter: str, header: bool) -> tuple[pa.Schema, float]:
    """A text file's inferred schema and its rows per byte, from its first block."""
    try:
        with open_text(path) as f:
            opener = pacsv.open_csv if fmt == "csv" else pajson.open_json
            reader = opener(f, **_text_options(fmt, delimiter, header))
            schema = reader.schema
            try:
                first = reader.read_next_batch()
                rows = first.num_rows
            except StopIteration:
                rows = 0
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise DataflowError(f"cannot read {fmt.upper()} file {path}: {e}") from None
    size = max(1, min(file_stamp(path)[1], SAMPLE_BYTES))
    return schema, rows / size


def _unify_text(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The common type of one column inferred from two text files, if they agree
    up to an all-NULL column or an integer column in one and a float in the other."""
    plain = same_or_null(a, b)
    if plain is not None:
        return plain
    if {str(a), str(b)} == {"int64", "double"}:
        return pa.float64()
    return None


def _check_same(first: str, fs0: pa.Schema, other: str, fs1: pa.Schema, unify: bool) -> pa.Schema:
    names0, names1 = fs0.names, fs1.names
    for n in names0:
        if n not in names1:
            raise SchemaMismatchError(f"{other} has no column {n!r}, which {first} has")
    for n in names1:
        if n not in names0:
            raise SchemaMismatchError(f"{other} has a column {n!r} that {first} does not have")
    fields = []
    for f0 in fs0:
        t0, t1 = normalize_type(f0.type), normalize_type(fs1.field(f0.name).type)
        t = _unify_text(t0, t1) if unify else (t0 if t0 == t1 else None)
        if t is None:
            raise SchemaMismatchError(f"column {f0.name!r} is {t1} in {other} but {t0} in {first}")
        fields.append(pa.field(f0.name, t))
    return pa.schema(fields)


def resolve_source(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    fmt: str,
    *,
    schema: pa.Schema | None = None,
    delimiter: str = ",",
    header: bool = True,
    hive_partitioning: bool | None = None,
) -> tuple[L.ParquetSource | L.TextSource, pa.Schema]:
    """Find a source's files, check that they agree, and describe it: the source for
    a Scan node and the table's Arrow schema (file columns, then partition columns).
    ``schema`` (CSV and JSON) gives the column types instead of inferring them."""
    if isinstance(path, (str, os.PathLike)):
        paths: list[Any] = [path]
    elif isinstance(path, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in path):
        paths = list(path)
    else:
        raise DataflowError(f"a path must be a string, a path or a list of them, got {type(path).__name__}")
    if not paths:
        raise DataflowError("no paths given")
    files: list[str] = []
    roots: set[str | None] = set()
    for p in paths:
        fs_files, root = find_files(str(p), fmt)
        files += fs_files
        roots.add(root)
    if hive_partitioning is False or len(roots) != 1:
        pcols: tuple[str, ...] = ()
        pvals: tuple[tuple[str | None, ...], ...] = ()
    else:
        pcols, pvals = hive_partitions(files, next(iter(roots)))
    if fmt == "parquet":
        file_schema = _parquet_schemas(files)
        per_byte = 0.0
    else:
        file_schema, per_byte = _text_schemas(files, fmt, delimiter, header, schema)
    for c in pcols:
        if c in file_schema.names:
            raise SchemaMismatchError(
                f"partition column {c!r} (from the directory names) is also a column of {files[0]}"
            )
    ptypes = [partition_type([v[i] for v in pvals]) for i in range(len(pcols))]
    table_schema = pa.schema(list(file_schema) + [pa.field(c, t) for c, t in zip(pcols, ptypes, strict=True)])
    if fmt == "parquet":
        src: L.ParquetSource | L.TextSource = L.ParquetSource(
            paths=tuple(files), partition_columns=pcols, partition_values=pvals
        )
    else:
        size = sum(file_stamp(f)[1] for f in files)
        src = L.TextSource(
            kind=fmt,  # type: ignore[arg-type]
            paths=tuple(files),
            partition_columns=pcols,
            partition_values=pvals,
            delimiter=delimiter,
            header=header,
            est_rows=int(size * per_byte),
        )
    return src, table_schema


def _parquet_schemas(files: list[str]) -> pa.Schema:
    def read(f: str) -> pa.Schema:
        try:
            if is_uri(f):
                with open_input(f) as fh:
                    return pq.read_schema(fh)
            return pq.read_schema(f)
        except (pa.ArrowInvalid, OSError) as e:
            raise DataflowError(f"cannot read Parquet file {f}: {e}") from None

    first = normalize_schema(read(files[0]))
    for f in files[1:]:
        _check_same(files[0], first, f, normalize_schema(read(f)), unify=False)
    return first


def _text_schemas(
    files: list[str], fmt: str, delimiter: str, header: bool, schema: pa.Schema | None
) -> tuple[pa.Schema, float]:
    if schema is not None:
        _, per_byte = _sample_text(files[0], fmt, delimiter, header)
        return normalize_schema(schema), per_byte
    merged, per_byte = _sample_text(files[0], fmt, delimiter, header)
    merged = normalize_schema(merged)
    for f in files[1:]:
        s, _ = _sample_text(f, fmt, delimiter, header)
        merged = _check_same(files[0], merged, f, normalize_schema(s), unify=True)
    # a column NULL in every sampled row: read it as strings
    return pa.schema([pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in merged]), per_byte


# -- reading one text file ------------------------------------------------------------------


def _json_parse_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_date(t) or pa.types.is_decimal(t) or pa.types.is_time(t):
        return pa.string()
    return t


def read_text_batches(
    path: str, src: L.TextSource, schema: pa.Schema, columns: list[str], batch_bytes: int = 8 << 20
) -> Any:
    """Yield record batches of ``columns`` of one CSV or JSON file, typed by ``schema``
    (the file columns of the table)."""
    want = [c for c in columns if c in schema.names] or [schema.names[0]]
    parse_schema = schema
    if src.kind == "json":
        # the JSON parser reads dates and decimals only from strings it then casts
        parse_schema = pa.schema([pa.field(f.name, _json_parse_type(f.type)) for f in schema])
    opts = _text_options(src.kind, src.delimiter, src.header, parse_schema)
    opts["read_options"].block_size = batch_bytes
    if src.kind == "csv":
        opts["convert_options"].include_columns = want
    with open_text(path) as f:
        opener = pacsv.open_csv if src.kind == "csv" else pajson.open_json
        try:
            reader = opener(f, **opts)
            for batch in reader:
                batch = batch.select(want)
                if parse_schema is not schema:
                    batch = batch.cast(pa.schema([schema.field(c) for c in want]))
                yield batch
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise DataflowError(f"cannot read {src.kind.upper()} file {path}: {e}") from None


# -- writing -------------------------------------------------------------------------------


def temp_dir_for(dest: str) -> str:
    """A hidden temporary directory beside ``dest`` (same file system, so the final
    rename is a rename), skipped by the readers while the job runs."""
    fs, p = split_path(dest)
    parent, base = os.path.split(p.rstrip("/"))
    name = f".{base}.dataflow-tmp-{uuid.uuid4().hex[:10]}"
    return _prefix(dest, p) + (f"{parent}/{name}" if parent else name)


def exists(path: str) -> bool:
    fs, p = split_path(path)
    return fs.get_file_info(p).type != pafs.FileType.NotFound


def remove(path: str) -> None:
    """Delete a file or a directory tree (nothing if it does not exist)."""
    fs, p = split_path(path)
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.Directory:
        fs.delete_dir(p)
    elif info.type == pafs.FileType.File:
        fs.delete_file(p)


def keep_only(root: str, keep: set[str]) -> None:
    """Delete every file under ``root`` whose path relative to it is not in ``keep``
    (what a failed attempt of a retried job left behind)."""
    fs, base = split_path(root)
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
        if info.type == pafs.FileType.File:
            rel = info.path[len(base.rstrip("/")) + 1 :]
            if rel not in keep:
                fs.delete_file(info.path)


def move(src: str, dest: str) -> None:
    fs, s = split_path(src)
    _, d = split_path(dest)
    fs.move(s, d)


def join(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + rel


__all__ = [
    "EXTENSIONS", "NULL_PARTITION", "SchemaMismatchError", "exists", "file_stamp", "find_files",
    "hive_partitions", "join", "keep_only", "move", "open_input", "partition_array", "partition_dir", "partition_type",
    "read_parquet_metadata", "read_text_batches", "remove", "resolve_source", "split_path", "temp_dir_for",
]
