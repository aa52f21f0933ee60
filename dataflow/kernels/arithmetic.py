"""Arithmetic: ``+ - * / %``, negation, abs and round.

Integers compute in int64 and never wrap: a result outside int64 raises
:class:`~dataflow.errors.ArithmeticOverflowError` with DuckDB's message ("Overflow in
addition of INT64"). (DuckDB keeps int32 + int32 in int32 and raises above 2^31; the
engine widens every integer to int64 first, so those sums are exact here.) Decimals
follow :mod:`dataflow.kernels.decimal`; a float on either side makes it float64.
``/`` divides as doubles, as DuckDB does, and ``x / 0`` is NULL.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ExprTypeError
from .dates import date_arith
from .decimal import CHECKED, decimal_arith, decimal_modulo, overflow
from .registry import Kernel, scalar
from .values import (
    Value,
    align,
    as_decimal,
    const_int,
    is_const,
    is_numeric,
    is_temporal,
    null_as,
    null_mask,
    to_float,
    to_numpy,
)

OP_SYMBOL = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "modulo": "%"}


def _numeric_operands(op: str, a: Value, b: Value) -> tuple[Value, Value]:
    a, b = null_as(a, b.type), null_as(b, a.type)
    for v in (a, b):
        if not (is_numeric(v.type) or pa.types.is_null(v.type)):
            raise ExprTypeError(f"cannot apply {OP_SYMBOL[op]!r} to {a.type} and {b.type}")
    return a, b


def _int64(op: str, a: Value, b: Value) -> Value:
    try:
        return CHECKED[op](a.cast(pa.int64()), b.cast(pa.int64()))
    except pa.ArrowInvalid as e:
        raise overflow(op, "INT64") from e


def _arith(op: str) -> Kernel:
    def impl(args: list[Value], n: int) -> Value:
        a, b = args
        if is_temporal(a.type) or is_temporal(b.type):
            return date_arith(op, a, b, n, OP_SYMBOL[op])
        a, b = _numeric_operands(op, a, b)
        ta, tb = a.type, b.type
        if pa.types.is_null(ta):
            return pa.scalar(None, pa.int64())
        if pa.types.is_floating(ta) or pa.types.is_floating(tb):
            return CHECKED[op](to_float(a), to_float(b))
        if pa.types.is_decimal(ta) or pa.types.is_decimal(tb):
            return decimal_arith(op, as_decimal(a), as_decimal(b))
        return _int64(op, a, b)

    impl.__doc__ = f"``a {OP_SYMBOL[op]} b``"
    return impl


scalar("add", 2, "arithmetic", sql=())(_arith("add"))
scalar("subtract", 2, "arithmetic", sql=())(_arith("subtract"))
scalar("multiply", 2, "arithmetic", sql=())(_arith("multiply"))


def zero_to_null(b: Value) -> Value:
    if is_const(b):
        return pa.scalar(None, b.type) if b.is_valid and b.as_py() == 0 else b
    return pc.if_else(pc.equal(b, pa.scalar(0, b.type)), pa.scalar(None, b.type), b)


@scalar("divide", 2, "arithmetic", sql=(), returns="double", nulls="maybe")
def _divide(args: list[Value], n: int) -> Value:
    """``/``: DuckDB divides as doubles (ints and decimals too); x / 0 is NULL, as the
    engine's contract says (DuckDB before 2.0 did the same; 2.0 gives +-inf or NaN)."""
    a, b = _numeric_operands("divide", *args)
    if pa.types.is_null(a.type):
        return pa.scalar(None, pa.float64())
    return pc.divide(to_float(a), zero_to_null(to_float(b)))


@scalar("modulo", 2, "arithmetic", sql=("mod",), nulls="maybe")
def _modulo(args: list[Value], n: int) -> Value:
    """``%``: the remainder takes the dividend's sign (C's fmod); x % 0 is NULL."""
    a, b = _numeric_operands("modulo", *args)
    ta, tb = a.type, b.type
    if pa.types.is_null(ta):
        return pa.scalar(None, pa.int64())
    if pa.types.is_floating(ta) or pa.types.is_floating(tb):
        a, b = to_float(a), to_float(b)
        (xa, xb), const = align([a, zero_to_null(b)], n)
        mask = null_mask([xa, xb])
        with np.errstate(all="ignore"):
            r = np.fmod(to_numpy(xa, 0.0), to_numpy(xb, 1.0))
        out = pa.array(r, pa.float64(), mask=mask)
        return out[0] if const else out
    if pa.types.is_decimal(ta) or pa.types.is_decimal(tb):
        return decimal_modulo(a, b, zero_to_null)
    a, b = a.cast(pa.int64()), zero_to_null(b.cast(pa.int64()))
    # x % -1 is 0 like x % 1, and -2^63 / -1 would overflow (silently, in Arrow's divide)
    b = pc.if_else(pc.equal(b, -1), pa.scalar(1, pa.int64()), b)
    q = pc.divide(a, b)  # integer division truncates toward zero
    return pc.subtract(a, pc.multiply(q, b))


def _checked_unary(kernel: Callable[[Value], Value], what: str, v: Value) -> Value:
    try:
        return kernel(v)
    except pa.ArrowInvalid as e:
        raise overflow(what, str(v.type).upper()) from e


@scalar("negate", 1, "arithmetic", sql=())
def _negate(args: list[Value], n: int) -> Value:
    """``-x``."""
    return _numeric_unary(args, pc.negate_checked, "negation", "cannot negate a value of type {}")


@scalar("abs", 1, "arithmetic")
def _abs(args: list[Value], n: int) -> Value:
    """The absolute value, in the argument's type."""
    return _numeric_unary(args, pc.abs_checked, "abs", "abs is not defined for type {}")


def _numeric_unary(args: list[Value], kernel: Callable[..., Value], what: str, type_error: str) -> Value:
    """A checked unary kernel over a number (NULL passes through; another type is an error)."""
    (a,) = args
    if pa.types.is_null(a.type):
        return a
    if not is_numeric(a.type):
        raise ExprTypeError(type_error.format(a.type))
    return _checked_unary(kernel, what, a)


def _round_double(a: Value, digits: int, n: int) -> Value:
    """Round doubles as DuckDB does: ``x * 10^d`` rounded half away from zero, in the
    platform's long double (80-bit on x86-64). Arrow's double arithmetic rounds
    ``-928.685`` (really -928.68499999999994...) to -928.69; DuckDB, and this, to
    -928.68 (20,000 random values agree with DuckDB)."""
    (arr,), const = align([a], n)
    x = to_numpy(arr.cast(pa.float64()), 0.0).astype(np.longdouble)
    m = np.longdouble(10) ** abs(digits)
    y = x * m if digits >= 0 else x / m
    with np.errstate(invalid="ignore"):
        r = np.sign(y) * np.floor(np.abs(y) + np.longdouble(0.5))
    out_np = (r / m if digits >= 0 else r * m).astype(np.float64)
    out = pa.array(out_np, pa.float64(), mask=null_mask([arr]))
    if a.type != pa.float64():
        out = out.cast(a.type)
    return out[0] if const else out


@scalar("round", (1, 2), "arithmetic")
def _round(args: list[Value], n: int) -> Value:
    """round(x[, digits]): halves away from zero; a decimal gets scale ``digits``."""
    a = args[0]
    digits = const_int(args[1], "the digits of round()") if len(args) > 1 else 0
    if pa.types.is_null(a.type):
        return a
    if not is_numeric(a.type):
        raise ExprTypeError(f"round is not defined for type {a.type}")
    if digits is None:
        return pa.scalar(None, a.type)
    if pa.types.is_integer(a.type) and digits >= 0:
        return a
    if pa.types.is_floating(a.type):
        return _round_double(a, digits, n)
    out = pc.round(a, ndigits=digits, round_mode="half_towards_infinity")
    if pa.types.is_decimal(a.type) and digits < a.type.scale:
        ctor = pa.decimal256 if pa.types.is_decimal256(a.type) else pa.decimal128
        out = out.cast(ctor(a.type.precision, max(digits, 0)))
    return out
