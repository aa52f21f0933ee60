"""SQL literals and types: the Arrow type of a CAST, numbers typed as DuckDB types them,
and intervals of date arithmetic (split out of :mod:`.expressions`).

>>> number_literal("0.06").type, number_literal("1e3").type
('decimal128(3, 2)', 'double')
"""

from __future__ import annotations

import calendar
import datetime as dt
import decimal
import re

from sqlglot import exp

from ..errors import UnsupportedError
from ..expr import Literal, literal
from ..types import resolve_type_name

_INT = re.compile(r"\d+")


def sql_type(dtype: exp.DataType) -> str:
    """The Arrow type name for a SQL type in a CAST (DuckDB's names: ``INTEGER`` is
    int32, ``REAL``/``FLOAT`` float32, ``INT8`` int64; Arrow's names such as
    ``float64`` are accepted too, see :func:`dataflow.types.resolve_type_name`)."""
    t = dtype.this
    T = exp.DataType.Type
    simple = {
        T.TINYINT: "int8",
        T.SMALLINT: "int16",
        T.INT: "int32",
        T.BIGINT: "int64",
        T.UTINYINT: "uint8",
        T.USMALLINT: "uint16",
        T.UINT: "uint32",
        T.UBIGINT: "uint64",
        T.FLOAT: "float",
        T.DOUBLE: "double",
        T.BOOLEAN: "bool",
        T.DATE: "date32[day]",
        T.VARCHAR: "string",
        T.CHAR: "string",
        T.TEXT: "string",
        T.NVARCHAR: "string",
        T.NCHAR: "string",
        T.TIMESTAMP: "timestamp[us]",
        T.TIMESTAMPNTZ: "timestamp[us]",
        T.DATETIME: "timestamp[us]",
        T.VARBINARY: "binary",
        T.BINARY: "binary",
    }
    if t in simple:
        return simple[t]
    if t == T.DECIMAL:
        params = [
            int(p.this.this) if isinstance(p.this, exp.Literal) else int(p.name) for p in dtype.expressions
        ]
        precision, scale = (params + [18, 3])[:2] if params else (18, 3)
        if len(params) == 1:
            scale = 0
        return f"decimal128({precision}, {scale})"
    written = dtype.args.get("kind") if t == T.USERDEFINED else None
    text = str(written) if written else dtype.sql(dialect="duckdb")
    try:
        return resolve_type_name(text)
    except ValueError:
        raise UnsupportedError(f"the type {text} in CAST is not supported") from None


def add_months(d: dt.date, months: int) -> dt.date:
    """Calendar month arithmetic that clamps to the month's last day, as DuckDB does."""
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def number_literal(text: str) -> Literal:
    """A numeric literal typed as DuckDB types it: integers, exact decimals for
    ``0.06``, doubles for ``1e3``."""
    if _INT.fullmatch(text):
        value = int(text)
        if value < 2**63:
            return literal(value)
        return literal(decimal.Decimal(text))
    if "e" in text.lower():
        return literal(float(text))
    return literal(decimal.Decimal(text))


def interval_parts(iv: exp.Interval) -> tuple[int, str]:
    """``INTERVAL '3' MONTH`` as ``(3, "month")``; units day, week, month, quarter, year."""
    value = iv.this
    unit = iv.args.get("unit")
    text = value.name if isinstance(value, exp.Literal) else None
    if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal):
        text = "-" + value.this.name
    unit_name = unit.name.lower() if unit is not None else ""
    if text is not None and not unit_name:
        bits = text.split()
        if len(bits) == 2:
            text, unit_name = bits[0], bits[1].lower()
    if text is None:
        raise UnsupportedError("an INTERVAL needs a constant amount, as in INTERVAL '3' MONTH")
    try:
        amount = int(text.strip())
    except ValueError:
        raise UnsupportedError(f"the interval amount {text!r} must be a whole number") from None
    unit_name = unit_name.rstrip("s") if unit_name.endswith("s") else unit_name
    if unit_name not in ("day", "week", "month", "quarter", "year"):
        raise UnsupportedError(
            f"INTERVAL unit {unit_name.upper() or '(none)'}: dates take DAY, WEEK, MONTH, QUARTER or YEAR"
        )
    return amount, unit_name
