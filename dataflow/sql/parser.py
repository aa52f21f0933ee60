"""Parsing SQL text with sqlglot, turning its errors into :class:`SqlSyntaxError`.

>>> parse_sql("select 1").sql()
'SELECT 1'
>>> try:
...     parse_sql("select a,\\nfrom t where")
... except SqlSyntaxError as e:
...     (e.line, e.column)
(2, 8)
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from ..errors import SqlSyntaxError, UnsupportedError

DIALECT = "duckdb"

_CLAUSES = {
    "WHERE",
    "HAVING",
    "JOIN",
    "ORDER",
    "GROUP",
    "LIMIT",
    "OFFSET",
    "FROM",
    "SELECT",
    "WITH",
    "CTE",
    "QUALIFY",
}
_REQUIRED = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*\.(\w+)'>")


def parse_sql(text: str) -> exp.Expression:
    """Parse one SQL query (a trailing ``;`` is fine) into a sqlglot expression."""
    if not text or not text.strip():
        raise SqlSyntaxError("empty query", 1, 1)
    try:
        statements = [s for s in sqlglot.parse(text, read=DIALECT) if s is not None]
    except ParseError as e:
        raise _from_parse_error(e, text) from None
    except TokenError:
        raise _from_token_error(text) from None
    if not statements:
        raise SqlSyntaxError("empty query", 1, 1)
    if len(statements) > 1:
        raise UnsupportedError(f"more than one statement ({len(statements)}); run one query at a time")
    tree = statements[0]
    if not isinstance(tree, (exp.Query, exp.Values)):
        kind = type(tree).__name__.upper()
        raise UnsupportedError(f"{kind} statements: only queries (SELECT, WITH, UNION, ...) can run")
    return tree  # type: ignore[return-value]  # a Query is an Expression


def _from_parse_error(e: ParseError, text: str) -> SqlSyntaxError:
    if not e.errors:
        return SqlSyntaxError(str(e).split("\n")[0])
    err = e.errors[0]
    line, col = err.get("line"), err.get("col")
    token = err.get("highlight") or ""
    # sqlglot reports the column where the offending token ends; point at its start.
    if isinstance(col, int) and token and "\n" not in token:
        col = max(1, col - len(token) + 1)
    desc = err.get("description") or "invalid syntax"
    near = f" near {token!r}" if token else " at the end of the query"
    if m := _REQUIRED.match(desc):
        clause = m.group(2).upper()
        what = f"{clause} clause" if clause in _CLAUSES else "expression"
        msg = f"incomplete {what}{near}"
    elif desc.startswith("Expecting"):
        msg = f"expected {desc[len('Expecting ') :]}{near}"
    elif desc.startswith("Invalid expression / Unexpected token"):
        msg = f"unexpected {token!r}" if token else "unexpected end of the query"
    else:
        msg = f"{desc}{near}"
    return SqlSyntaxError(msg, line, col)


def _from_token_error(text: str) -> SqlSyntaxError:
    """sqlglot's tokenizer gives no position; find the unterminated quote or comment."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                return SqlSyntaxError("unterminated comment", *_line_col(text, i))
            i = j + 2
            continue
        if ch in ("'", '"'):
            j = i + 1
            while True:
                j = text.find(ch, j)
                if j < 0:
                    what = "string" if ch == "'" else "quoted identifier"
                    return SqlSyntaxError(f"unterminated {what} starting with {ch}", *_line_col(text, i))
                if text.startswith(ch * 2, j):  # an escaped quote
                    j += 2
                    continue
                break
            i = j + 1
            continue
        i += 1
    return SqlSyntaxError("invalid characters in the query", 1, 1)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col
