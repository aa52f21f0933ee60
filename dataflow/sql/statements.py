"""Statements around queries: ``CREATE [OR REPLACE] [TEMP] VIEW``, ``DROP VIEW``,
``EXPLAIN [ANALYZE] [VERBOSE]`` (or PostgreSQL's ``EXPLAIN (ANALYZE, VERBOSE, FORMAT
TEXT|DOT) query``), and query parameters (``$1``, ``?``, ``$name``), for :meth:`dataflow.Session.sql`.

Parameters are bound into the parsed query as typed literal nodes, never by
formatting text: a string parameter is a string literal whatever it contains.
``?`` placeholders are numbered in the order they appear in the text (a ``?``
inside a string literal or a comment is not a placeholder).

>>> bind_params(parse_sql("select * from t where a = $1 and b = $2"), [5, "x'y"]).sql(dialect="duckdb")
"SELECT * FROM t WHERE a = 5 AND b = 'x''y'"
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from ..errors import DataflowError, UnsupportedError
from ..logical import LogicalPlan
from .parser import DIALECT, parse_sql

# CREATE or DROP first, after any comments
_LEADING_DDL = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*(?:create|drop)\b", re.IGNORECASE | re.DOTALL)
# EXPLAIN first, after any comments; the rest is its options and the query
_LEADING_EXPLAIN = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*explain\b", re.IGNORECASE | re.DOTALL)
_EXPLAIN_WORDS = re.compile(r"^\s*(analy[sz]e|verbose)\b", re.IGNORECASE)
_EXPLAIN_OPTIONS = re.compile(r"^\s*\(([^()]*)\)", re.DOTALL)
EXPLAIN_FORMATS = ("text", "dot")
PARAM_TYPES = "int, float, bool, str, None, decimal.Decimal, datetime.date or datetime.datetime"


class ParameterError(DataflowError):
    """Query parameters that do not match the query's placeholders."""


@dataclass(frozen=True)
class Statement:
    """What one SQL text asks for: a ``query`` (its plan), ``create_view`` (name,
    plan, ``replace``; ``if_exists`` for IF NOT EXISTS), ``drop_view`` (name,
    ``if_exists``) or ``explain`` (the query's plan, ``analyze``, ``verbose``,
    ``format``)."""

    kind: str
    name: str = ""
    plan: LogicalPlan | None = None
    replace: bool = False
    if_exists: bool = False
    analyze: bool = False
    verbose: bool = False
    format: str = "text"


def _explain_options(text: str) -> tuple[dict[str, Any], str]:
    """The options of an EXPLAIN (the text after the word EXPLAIN) and the query
    after them: ``ANALYZE``/``ANALYSE`` and ``VERBOSE`` words (DuckDB, PostgreSQL), or
    PostgreSQL's parenthesized list ``(ANALYZE [bool], VERBOSE [bool], FORMAT x)``."""
    opts: dict[str, Any] = {"analyze": False, "verbose": False, "format": "text"}
    rest = text
    paren = _EXPLAIN_OPTIONS.match(rest)
    if paren and not re.match(r"^\s*select\b|^\s*with\b", paren.group(1), re.IGNORECASE):
        rest = rest[paren.end():]
        for item in (i.strip() for i in paren.group(1).split(",")):
            if not item:
                continue
            words = item.split()
            key, value = words[0].lower(), " ".join(words[1:]).lower()
            if key in ("analyze", "analyse", "verbose"):
                if value not in ("", "true", "on", "1", "false", "off", "0"):
                    raise UnsupportedError(f"EXPLAIN option {words[0]} takes true or false, got {value!r}")
                opts["analyze" if key.startswith("analy") else "verbose"] = value in ("", "true", "on", "1")
            elif key == "format":
                if value not in EXPLAIN_FORMATS:
                    raise UnsupportedError(
                        f"EXPLAIN format {value or '(none)'!r}: supported are {', '.join(EXPLAIN_FORMATS)}"
                    )
                opts["format"] = value
            else:
                raise UnsupportedError(f"EXPLAIN option {words[0]!r}: supported are ANALYZE, VERBOSE and FORMAT")
        return opts, rest
    while (word := _EXPLAIN_WORDS.match(rest)) is not None:
        opts["analyze" if word.group(1).lower().startswith("analy") else "verbose"] = True
        rest = rest[word.end():]
    return opts, rest


def _number_placeholders(text: str) -> str:
    """``text`` with each ``?`` placeholder turned into ``$1``, ``$2``, ... in order."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(text)
    except TokenError:
        return text  # the parser reports the syntax error
    marks = [t for t in tokens if t.token_type == TokenType.PLACEHOLDER and t.text == "?"]
    if not marks:
        return text
    if any(t.token_type == TokenType.PARAMETER for t in tokens):
        raise ParameterError("the query mixes ? and $ placeholders; use one kind")
    out = text
    for i, t in reversed(list(enumerate(marks, start=1))):
        out = out[: t.start] + f"${i}" + out[t.end + 1 :]
    return out


def to_literal(value: Any) -> exp.Expression:
    """A typed SQL literal for a Python value (as DuckDB types parameters)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        num = exp.Literal.number(abs(value))
        return exp.Neg(this=num) if value < 0 else num
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return exp.Cast(this=exp.Literal.string(repr(value)), to=exp.DataType.build("double"))
        lit = exp.Cast(this=exp.Literal.number(repr(abs(value))), to=exp.DataType.build("double"))
        return exp.Neg(this=lit) if value < 0 or math.copysign(1.0, value) < 0 else lit
    if isinstance(value, _decimal.Decimal):
        if not value.is_finite():
            raise ParameterError(f"a decimal parameter must be finite, got {value}")
        sign, digits, exponent = value.as_tuple()
        scale = max(0, -int(exponent))
        precision = max(len(digits) + max(0, int(exponent)), scale, 1)
        if precision > 38:
            raise ParameterError(f"decimal parameter {value} has more than 38 digits")
        return exp.Cast(this=exp.Literal.string(str(value)), to=exp.DataType.build(f"decimal({precision}, {scale})"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            raise ParameterError("timezone-aware datetime parameters are not supported; pass a naive datetime (UTC)")
        return exp.Cast(this=exp.Literal.string(value.isoformat(sep=" ")), to=exp.DataType.build("timestamp"))
    if isinstance(value, _dt.date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("date"))
    raise ParameterError(f"unsupported parameter type {type(value).__name__}: use {PARAM_TYPES}")


def bind_params(tree: exp.Expression, params: Sequence[Any] | Mapping[str, Any] | None) -> exp.Expression:
    """Replace the placeholders of ``tree`` by ``params``: a sequence for ``$1``/``?``
    (1-based), a mapping for ``$name``. Every parameter must be used and every
    placeholder given."""
    marks = list(tree.find_all(exp.Placeholder))
    if params is None:
        if marks:
            raise ParameterError(f"the query has {len(marks)} placeholder(s) but no parameters were given")
        return tree
    if isinstance(params, (str, bytes)) or not isinstance(params, (Sequence, Mapping)):
        raise ParameterError(
            f"params must be a list or tuple (for $1 and ?) or a dict (for $name), got {type(params).__name__}"
        )
    named = isinstance(params, Mapping)
    used: set[Any] = set()
    for m in marks:
        key = m.this
        if key is None:
            raise ParameterError("a placeholder without a number or name")
        if named:
            if str(key).isdigit():
                raise ParameterError(f"placeholder ${key} is numbered, but params is a dict; pass a list")
            if key not in params:
                raise ParameterError(f"no parameter for ${key}; given: {', '.join(sorted(params)) or 'none'}")
            value = params[key]  # type: ignore[index]
        else:
            if not str(key).isdigit():
                raise ParameterError(f"placeholder ${key} is named, but params is a list; pass a dict")
            i = int(key)
            if not 1 <= i <= len(params):
                raise ParameterError(f"no parameter for ${i}: {len(params)} parameter(s) given")
            value = params[i - 1]  # type: ignore[index]
        used.add(key if named else int(key))
        m.replace(to_literal(value))
    expected = set(params) if named else set(range(1, len(params) + 1))
    unused = expected - used
    if unused:
        shown = ", ".join(f"${u}" for u in sorted(unused, key=str))
        raise ParameterError(f"parameter(s) {shown} given but not used by the query")
    return tree


def plan_statement(text: str, catalog: Any, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Statement:
    """Plan one SQL statement over ``catalog``: a query, CREATE VIEW, DROP VIEW or
    EXPLAIN of a query."""
    from .planner import Planner, plan_sql

    explain = _LEADING_EXPLAIN.match(text)
    if explain:
        opts, query = _explain_options(text[explain.end():])
        if not query.strip():
            raise UnsupportedError("EXPLAIN needs a query after it, e.g. EXPLAIN ANALYZE SELECT ...")
        inner = plan_statement(query, catalog, params)
        if inner.kind != "query":
            raise UnsupportedError(f"EXPLAIN of {inner.kind.replace('_', ' ').upper()}: only queries can be explained")
        return Statement(kind="explain", plan=inner.plan, **opts)

    numbered = _number_placeholders(text) if "?" in text else text
    statements: list[exp.Expression] = []
    if _LEADING_DDL.match(text):  # parse twice only for DDL, not for every query
        try:
            statements = [s for s in sqlglot.parse(numbered, read=DIALECT) if s is not None]
        except (ParseError, TokenError):
            pass  # parse_sql below reports the syntax error
    if len(statements) == 1 and isinstance(statements[0], exp.Create):
        create = statements[0]
        kind = str(create.args.get("kind") or "").upper()
        if kind != "VIEW":
            raise UnsupportedError(f"CREATE {kind}: only CREATE VIEW is supported; register data with Session.register")
        query = create.expression
        if not isinstance(query, exp.Query):
            raise UnsupportedError("CREATE VIEW needs AS followed by a query")
        name = create.this.name
        plan = Planner(catalog).plan_top(bind_params(query, params))  # type: ignore[arg-type]
        return Statement(
            kind="create_view",
            name=name,
            plan=plan,
            replace=bool(create.args.get("replace")),
            if_exists=bool(create.args.get("exists")),  # CREATE VIEW IF NOT EXISTS
        )
    if len(statements) == 1 and isinstance(statements[0], exp.Drop):
        node = statements[0]
        kind = str(node.args.get("kind") or "").upper()
        if kind != "VIEW":
            raise UnsupportedError(f"DROP {kind}: only DROP VIEW is supported; use Session.deregister for tables")
        if params:
            raise ParameterError("DROP VIEW takes no parameters")
        tables = node.args.get("tables") or [node.this]
        if len(tables) != 1:
            raise UnsupportedError("DROP VIEW of several views at once; drop one at a time")
        return Statement(kind="drop_view", name=tables[0].name, if_exists=bool(node.args.get("exists")))
    if params is None and numbered == text and "$" not in text:
        return Statement(kind="query", plan=plan_sql(text, catalog))
    tree = parse_sql(numbered)
    return Statement(kind="query", plan=Planner(catalog).plan_top(bind_params(tree, params)))


__all__ = ["EXPLAIN_FORMATS", "PARAM_TYPES", "ParameterError", "Statement", "bind_params", "plan_statement", "to_literal"]
