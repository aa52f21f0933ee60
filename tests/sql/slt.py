"""A sqllogictest-style file format: a query, then its expected rows, written by hand.

A file is a sequence of records separated by blank lines; ``#`` starts a comment line.

``setup``
    SQL statements (``CREATE TABLE ...; INSERT ...;``) that build the test data. They
    run in an in-memory DuckDB database that only holds the data: after each setup
    record, every DuckDB table is registered in the dataflow Session as an Arrow table.

``query <types> [rowsort|nosort] [colnames]``
    The SQL text, a line ``----``, then one line per expected row: the values
    separated by single spaces. ``types`` has one letter per column: ``I`` integer,
    ``R`` number (decimal or float, printed with at most 6 decimals, trailing zeros
    dropped), ``T`` text (``(empty)`` for ''), ``D`` date, ``B`` boolean; NULL is
    ``NULL``. ``nosort`` (the default) compares rows in order, ``rowsort`` as sorted
    lines. ``colnames``: the first line after ``----`` holds the column names.

``error <regex>``
    The SQL text; running it must raise a dataflow error whose message matches
    ``regex`` (searched, case-insensitive).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

_TYPES = set("IRTDB")


@dataclass
class Record:
    kind: str  # "setup", "query" or "error"
    sql: str
    path: Path
    line: int
    types: str = ""
    sort: str = "nosort"
    colnames: bool = False
    expected: list[str] = field(default_factory=list)
    error: str = ""
    setups: int = 0  # setup records before this one in the file

    @property
    def id(self) -> str:
        return f"{self.path.stem}:{self.line}"


def parse_file(path: Path) -> list[Record]:
    """The records of one ``.slt`` file."""
    lines = path.read_text().splitlines()
    records: list[Record] = []
    setups = 0
    i = 0
    while i < len(lines):
        raw = lines[i]
        if not raw.strip() or raw.lstrip().startswith("#"):
            i += 1
            continue
        head, start = raw.split(), i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() and lines[i].strip() != "----":
            body.append(lines[i])
            i += 1
        sql = "\n".join(body).strip()
        if not sql:
            raise ValueError(f"{path}:{start}: a record without SQL")
        kind = head[0]
        if kind == "setup":
            records.append(Record("setup", sql, path, start))
            setups += 1
        elif kind == "error":
            pattern = raw.strip()[len("error") :].strip()
            if not pattern:
                raise ValueError(f"{path}:{start}: 'error' needs a pattern")
            records.append(Record("error", sql, path, start, error=pattern, setups=setups))
        elif kind == "query":
            if len(head) < 2 or not set(head[1]) <= _TYPES:
                raise ValueError(f"{path}:{start}: 'query' needs column types from {sorted(_TYPES)}")
            opts = head[2:]
            for o in opts:
                if o not in ("rowsort", "nosort", "colnames"):
                    raise ValueError(f"{path}:{start}: unknown option {o!r}")
            if i >= len(lines) or lines[i].strip() != "----":
                raise ValueError(f"{path}:{start}: a query needs '----' and its expected rows")
            i += 1
            expected: list[str] = []
            while i < len(lines) and lines[i].strip():
                expected.append(lines[i].rstrip())
                i += 1
            rec = Record(
                "query",
                sql,
                path,
                start,
                types=head[1],
                sort="rowsort" if "rowsort" in opts else "nosort",
                colnames="colnames" in opts,
                expected=expected,
                setups=setups,
            )
            records.append(rec)
        else:
            raise ValueError(f"{path}:{start}: unknown record {kind!r}")
    return records


def format_value(v: Any, t: str) -> str:
    """One value as it appears in an expected row, for column type ``t``."""
    if v is None:
        return "NULL"
    if t == "I":
        if isinstance(v, bool) or not isinstance(v, (int, decimal.Decimal)) or v != int(v):
            raise TypeError(f"expected an integer, got {v!r}")
        return str(int(v))
    if t == "R":
        if isinstance(v, bool) or not isinstance(v, (int, float, decimal.Decimal)):
            raise TypeError(f"expected a number, got {v!r}")
        text = f"{float(v) if not isinstance(v, decimal.Decimal) else v:.6f}"
        text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if t == "B":
        if not isinstance(v, bool):
            raise TypeError(f"expected a boolean, got {v!r}")
        return "true" if v else "false"
    if t == "D":
        if not isinstance(v, dt.date):
            raise TypeError(f"expected a date, got {v!r}")
        return v.isoformat()
    if not isinstance(v, str):
        raise TypeError(f"expected text, got {v!r}")
    return v if v != "" else "(empty)"


def format_rows(table: pa.Table, types: str) -> list[str]:
    if table.num_columns != len(types):
        raise AssertionError(
            f"{table.num_columns} columns ({table.column_names}), the record says {len(types)}"
        )
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [
        " ".join(format_value(c[r], t) for c, t in zip(cols, types, strict=True))
        for r in range(table.num_rows)
    ]


def check(record: Record, table: pa.Table) -> None:
    """Raise AssertionError if ``table`` is not the record's expected answer."""
    got = format_rows(table, record.types)
    want = list(record.expected)
    if record.colnames:
        header = " ".join(table.column_names)
        if not want or want[0] != header:
            raise AssertionError(
                f"{record.id}: column names {header!r}, expected {want[0] if want else ''!r}"
            )
        want = want[1:]
    if record.sort == "rowsort":
        got, want = sorted(got), sorted(want)
    if got != want:
        lines = [f"{record.id}: wrong answer for\n{record.sql}", "expected:", *want, "got:", *got]
        raise AssertionError("\n".join(lines))


def error_matches(record: Record, message: str) -> bool:
    return re.search(record.error, message, re.IGNORECASE | re.DOTALL) is not None
