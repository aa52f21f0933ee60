"""Errors a user can act on. Every error the engine raises on purpose is a
:class:`DataflowError`; each names the problem in words."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DataflowError(Exception):
    """Base of all dataflow errors."""


class SqlSyntaxError(DataflowError):
    """The SQL text does not parse; ``line`` and ``column`` locate the problem (1-based)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"SQL syntax error{where}: {message}")
        self.line = line
        self.column = column


def near_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates closest to ``name`` (case-insensitive), best first."""
    cands = list(candidates)
    lowered = {c.lower(): c for c in cands}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def _suggest(name: str, candidates: Iterable[str]) -> str:
    cands = list(candidates)
    near = near_matches(name, cands)
    if near:
        return "; did you mean " + " or ".join(repr(x) for x in near) + "?"
    if cands and len(cands) <= 20:
        return "; available: " + ", ".join(sorted(cands))
    return ""


class UnknownTableError(DataflowError):
    def __init__(self, name: str, candidates: Iterable[str] = ()) -> None:
        cands = list(candidates)
        super().__init__(f"unknown table {name!r}{_suggest(name, cands)}")
        self.name = name
        self.suggestions = near_matches(name, cands)


class UnknownColumnError(DataflowError):
    def __init__(self, name: str, candidates: Iterable[str] = (), where: str = "") -> None:
        cands = list(candidates)
        ctx = f" in {where}" if where else ""
        super().__init__(f"unknown column {name!r}{ctx}{_suggest(name, cands)}")
        self.name = name
        self.suggestions = near_matches(name, cands)


class AmbiguousColumnError(DataflowError):
    def __init__(self, name: str, candidates: Iterable[str]) -> None:
        cands = sorted(candidates)
        super().__init__(f"column reference {name!r} is ambiguous: it could be {' or '.join(cands)}")
        self.name = name
        self.candidates = cands


class UnsupportedError(DataflowError):
    """A construct the engine does not support, named in words."""


class ConfigError(DataflowError, ValueError):
    """A Session setting that is out of range or of the wrong type."""


class PlanError(DataflowError):
    """An invalid plan (a type mismatch, a bad argument, a failed plan check)."""


class ExprTypeError(PlanError, TypeError):
    """A type error in an expression, found at planning: an operator or function applied
    to values of the wrong types. ``expr`` is the expression (as SQL-like text) once the
    evaluator knows it; the message names it and the types involved."""

    def __init__(self, message: str, expr: str | None = None) -> None:
        super().__init__(message if expr is None else f"{message}: in {expr}")
        self.reason = message
        self.expr = expr


class UnionTypeError(PlanError, TypeError):
    """The inputs of a UNION have a column whose types do not mix (a string and a number)."""


class ArithmeticOverflowError(DataflowError, ArithmeticError):
    """An integer or decimal result does not fit its type (DuckDB raises too: "Overflow
    in addition of INT64"). Raised instead of a value that silently wrapped around."""


class ExecutionError(DataflowError):
    """An exception inside an operator instance, re-raised in the caller. Names the
    stage, operator and instance, and carries the original traceback text."""

    def __init__(
        self,
        message: str,
        *,
        operator: str = "",
        stage: int | None = None,
        instance: int | None = None,
        remote_traceback: str = "",
        cause_type: str = "",
    ) -> None:
        where = []
        if operator:
            where.append(f"operator {operator}")
        if stage is not None:
            where.append(f"stage {stage}")
        if instance is not None:
            where.append(f"instance {instance}")
        head = f"{cause_type}: {message}" if cause_type else message
        text = f"{head} (in {', '.join(where)})" if where else head
        if remote_traceback:
            text += "\n\nOriginal traceback:\n" + remote_traceback
        super().__init__(text)
        self.operator = operator
        self.stage = stage
        self.instance = instance
        self.remote_traceback = remote_traceback
        self.cause_type = cause_type
        self.message = message


class JobCancelled(DataflowError):
    """The job was cancelled before it finished."""
