"""Comparisons and logic: ``= <> < <= > >=``, BETWEEN, AND/OR/NOT, IS [NOT] NULL.

Operands unify first (:func:`dataflow.kernels.values.supertype`); doubles compare as
DuckDB's do (NaN equals NaN and sorts above every number); AND, OR and NOT use SQL's
three-valued logic (Kleene).
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ExprTypeError
from .registry import Kernel, scalar
from .values import Value, bool_arg, unify2

_SYMBOL = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _nan(v: Value) -> Value | None:
    """is_nan of a float value; None for a constant that is not NaN (nothing to do)."""
    if isinstance(v, pa.Scalar) and not (v.is_valid and v.as_py() != v.as_py()):
        return None
    return pc.is_nan(v)


def _nan_aware(symbol: str, kernel: Callable[[Value, Value], Value], a: Value, b: Value) -> Value:
    """Compare doubles as DuckDB does: NaN equals NaN and is greater than every other
    value (IEEE comparisons, Arrow's, make every comparison with NaN false). NULLs stay
    NULL: the corrections combine with ``or_``/``and_``, which give NULL for NULL."""
    out = kernel(a, b)
    na, nb = _nan(a), _nan(b)
    if na is None and nb is None:
        return out
    false = pa.scalar(False)
    na = false if na is None else na
    nb = false if nb is None else nb
    if symbol in ("=", "<>"):
        fix = pc.and_(na, nb)
        return pc.or_(out, fix) if symbol == "=" else pc.and_(out, pc.invert(fix))
    if symbol == "<":
        return pc.or_(out, pc.and_(pc.invert(na), nb))
    if symbol == "<=":
        return pc.or_(out, nb)
    if symbol == ">":
        return pc.or_(out, pc.and_(na, pc.invert(nb)))
    return pc.or_(out, na)  # >=


def compare(kernel: Callable[[Value, Value], Value], symbol: str = "=") -> Kernel:
    """A comparison kernel: unify the operands, then compare (NULL-typed gives NULL)."""

    def impl(args: list[Value], n: int) -> Value:
        a, b = args
        try:
            a, b = unify2(a, b)
        except ExprTypeError as e:
            raise ExprTypeError(f"cannot compare {a.type} with {b.type}; cast one side explicitly") from e
        if pa.types.is_null(a.type):
            return pa.scalar(None, pa.bool_())
        if pa.types.is_floating(a.type):
            return _nan_aware(symbol, kernel, a, b)
        return kernel(a, b)

    impl.__doc__ = f"``a {symbol} b``"
    return impl


EQ = compare(pc.equal, "=")
for _name, _kernel in (("eq", pc.equal), ("ne", pc.not_equal), ("lt", pc.less), ("le", pc.less_equal),
                       ("gt", pc.greater), ("ge", pc.greater_equal)):
    scalar(_name, 2, "comparison", sql=())(EQ if _name == "eq" else compare(_kernel, _SYMBOL[_name]))


@scalar("between", 3, "comparison", sql=())
def _between(args: list[Value], n: int) -> Value:
    """``x BETWEEN lo AND hi``."""
    x, lo, hi = args
    ge = compare(pc.greater_equal, ">=")([x, lo], n)
    le = compare(pc.less_equal, "<=")([x, hi], n)
    return pc.and_kleene(ge, le)


@scalar("and", (1, None), "logic", sql=())
def _and(args: list[Value], n: int) -> Value:
    """``a AND b AND ...``."""
    return _fold_logic(args, pc.and_kleene, "AND")


@scalar("or", (1, None), "logic", sql=())
def _or(args: list[Value], n: int) -> Value:
    """``a OR b OR ...``."""
    return _fold_logic(args, pc.or_kleene, "OR")


def _fold_logic(args: list[Value], kernel: Callable[[Value, Value], Value], what: str) -> Value:
    """``args`` combined left to right by a three-valued ``kernel``; each must be boolean."""
    out = bool_arg(args[0], what)
    for a in args[1:]:
        out = kernel(out, bool_arg(a, what))
    return out


@scalar("not", 1, "logic", sql=())
def _not(args: list[Value], n: int) -> Value:
    """``NOT a``."""
    return pc.invert(bool_arg(args[0], "NOT"))


@scalar("is_null", 1, "logic", sql=("isnull",), nulls="never")
def _is_null(args: list[Value], n: int) -> Value:
    """``x IS NULL``."""
    return pc.is_null(args[0])


@scalar("is_not_null", 1, "logic", sql=("notnull",), nulls="never")
def _is_not_null(args: list[Value], n: int) -> Value:
    """``x IS NOT NULL``."""
    return pc.is_valid(args[0])
