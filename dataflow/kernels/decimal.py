"""Decimal arithmetic with DuckDB's result precision and scale.

``+``/``-``: scale ``max(s1, s2)``, precision ``max(p1 - s1, p2 - s2) + scale + 1``;
``*``: scale ``s1 + s2``, precision ``p1 + p2``, but 18 when both operands have at most
18 digits and the scale is below 18 (DuckDB multiplies those in 64 bits); all capped
at 38 digits, as DuckDB caps them, and a value that does not fit raises (DuckDB: "Overflow in addition of
DECIMAL(38)"), never wraps. ``%`` keeps the common type of its operands.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ArithmeticOverflowError, PlanError, UnsupportedError
from ..types import retype_decimal
from .values import MAX_DEC128, MAX_DEC256, Value, decimal_type, is_const, unify2

_INT64_DIGITS = 18
CHECKED = {"add": pc.add_checked, "subtract": pc.subtract_checked, "multiply": pc.multiply_checked}
_OP_WORD = {"add": "addition", "subtract": "subtraction", "multiply": "multiplication"}


def overflow(op: str, what: str) -> ArithmeticOverflowError:
    """The error DuckDB gives, e.g. "Overflow in addition of INT64"."""
    return ArithmeticOverflowError(f"Overflow in {_OP_WORD.get(op, op)} of {what}")


def decimal_result_type(op: str, a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """DuckDB's result type of decimal ``a op b`` for ``op`` in add, subtract, multiply."""
    p1, s1, p2, s2 = a.precision, a.scale, b.precision, b.scale
    if op == "multiply":
        scale, precision = s1 + s2, p1 + p2
        if scale > MAX_DEC128:
            raise PlanError(
                f"needed scale {scale} to represent the product of {a} and {b} exactly, more than "
                f"the maximum of {MAX_DEC128}; cast an operand to a smaller scale"
            )
        if precision > _INT64_DIGITS and max(p1, p2) <= _INT64_DIGITS and scale < _INT64_DIGITS:
            # DuckDB multiplies two 64-bit decimals in 64 bits (checked): DECIMAL(18, s)
            precision = _INT64_DIGITS
        return decimal_type(precision, scale)
    scale = max(s1, s2)
    return decimal_type(max(p1 - s1, p2 - s2) + scale + 1, scale)


def decimal_arith(op: str, a: Value, b: Value) -> Value:
    """Decimal +, -, * with DuckDB's result scale and precision (capped at 38 digits).

    Arrow raises when its own result precision exceeds 38 (e.g. decimal(31, 4) *
    decimal(16, 2), whose product type is decimal(48, 6)). Then the operands are
    narrowed to the digits their values actually use (exact, and usually enough to
    stay in fast decimal128), else widened to decimal256; the result is cast to the
    decimal128 target, which fails only if a value really overflows 38 digits.
    """
    p1, s1, p2, s2 = a.type.precision, a.type.scale, b.type.precision, b.type.scale
    target = decimal_result_type(op, a.type, b.type)
    what = f"DECIMAL({target.precision})"
    wide = pa.types.is_decimal256(a.type) or pa.types.is_decimal256(b.type)
    try:
        if wide or _arrow_decimal_precision(op, p1, s1, p2, s2) > MAX_DEC128:
            q1 = min(p1, max(digits_used(a), s1, 1))
            q2 = min(p2, max(digits_used(b), s2, 1))
            need = _arrow_decimal_precision(op, q1, s1, q2, s2)
            if need > MAX_DEC256:
                raise overflow(op, what)
            ctor = pa.decimal128 if need <= MAX_DEC128 else pa.decimal256
            # narrowing to the digits the values use is exact: a view where possible
            a, b = retype_decimal(a, ctor(q1, s1), exact=True), retype_decimal(b, ctor(q2, s2), exact=True)
        out = CHECKED[op](a, b)
        if out.type == target:
            return out
        # a product of p1 and p2 digits has at most p1 + p2 digits, so narrowing Arrow's
        # p1 + p2 + 1 to that is exact too; narrower targets are checked value by value
        return retype_decimal(out, target, exact=op == "multiply" and target.precision >= p1 + p2)
    except pa.ArrowInvalid as e:
        raise overflow(op, what) from e


def _arrow_decimal_precision(op: str, p1: int, s1: int, p2: int, s2: int) -> int:
    """The result precision Arrow's decimal kernels compute (and reject above 38)."""
    if op == "multiply":
        return p1 + p2 + 1
    return max(p1 - s1, p2 - s2) + max(s1, s2) + 1


def digits_used(*values: Value) -> int:
    """The number of digits (of the unscaled integer) of the largest absolute value."""
    digits = 1
    for v in values:
        if is_const(v):
            ends = [v]
        else:
            mm = pc.min_max(v)
            ends = [mm["min"], mm["max"]]
        for e in ends:
            if e.is_valid:
                digits = max(digits, len(e.as_py().as_tuple().digits))
    return digits


def decimal_modulo(a: Value, b: Value, zero_to_null) -> Value:  # type: ignore[no-untyped-def]
    """``a % b`` for decimals: the remainder in the operands' common type."""
    a, b = unify2(a, b)  # both now decimal(p, s) of the common type
    t = a.type
    b = zero_to_null(b)
    p, s = t.precision, t.scale
    # Arrow's decimal division: scale max(4, s1 + p2 - s2 + 1), precision p1 - s1 + s2 + scale
    if p + max(4, p + 1) > MAX_DEC256:
        # too wide for decimal256's quotient: narrow to the digits the values use
        p = max(s + 1, digits_used(a, b))
        if p + max(4, p + 1) > MAX_DEC256:
            raise UnsupportedError(f"% on {t} values this large is not supported")
    if p + max(4, p + 1) > MAX_DEC128 or p != t.precision:
        a, b = a.cast(pa.decimal256(p, s)), b.cast(pa.decimal256(p, s))
    q = pc.trunc(pc.divide(a, b))
    q = q.cast(pa.decimal256(p + 1, 0))  # exact: q is a whole number below 10^p
    r = pc.subtract(a.cast(pa.decimal256(p, s)), pc.multiply(q, b.cast(pa.decimal256(p, s))))
    return r.cast(t)
