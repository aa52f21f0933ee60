"""What kernels pass around, and the helpers every function family shares.

A kernel receives its arguments as :data:`Value` s: constants stay Arrow scalars
(Arrow kernels broadcast them for free) and become arrays only at the very end. The
helpers here check argument types (raising :class:`~dataflow.errors.ExprTypeError`,
which the evaluator completes with the expression), unify types as DuckDB does, and
cast with DuckDB's rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ExprTypeError, PlanError, UnsupportedError
from ..types import normalize_type, parse_type, resolve_type_name, same_or_null

Value = Union[pa.Array, pa.Scalar]

MAX_DEC128 = 38
MAX_DEC256 = 76
# The decimal precision that holds every value of an integer type.
_INT_DIGITS: dict[int, int] = {8: 3, 16: 5, 32: 10, 64: 19}
_UINT64_DIGITS = 20
ARROW_ERRORS = (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid)


# -- type predicates -----------------------------------------------------------------------


def is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or t == pa.string_view()


def is_temporal(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_timestamp(t)


def is_const(v: Value) -> bool:
    return isinstance(v, pa.Scalar)


# -- shapes --------------------------------------------------------------------------------


def broadcast(v: Value, n: int) -> pa.Array:
    """``v`` as an array of ``n`` values (a scalar repeated)."""
    if isinstance(v, pa.Scalar):
        return pa.nulls(n) if pa.types.is_null(v.type) else pa.repeat(v, n)
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    return v


def align(values: Sequence[Value], n: int) -> tuple[list[pa.Array], bool]:
    """Broadcast scalars to arrays. With only scalars, use length-1 arrays and report
    it (the caller then returns element 0), so constant folding stays cheap."""
    all_const = all(is_const(v) for v in values)
    size = 1 if all_const else n
    return [broadcast(v, size) for v in values], all_const


def to_numpy(a: pa.Array, fill: object) -> np.ndarray:
    return pc.fill_null(a, fill).to_numpy(zero_copy_only=False) if a.null_count else a.to_numpy(zero_copy_only=False)


def null_mask(arrays: Sequence[pa.Array]) -> np.ndarray | None:
    mask = None
    for a in arrays:
        if a.null_count:
            m = pc.is_null(a).to_numpy(zero_copy_only=False)
            mask = m if mask is None else (mask | m)
    return mask


def to_float(v: Value) -> Value:
    """``v`` as float64. Integers beyond 2^53 round to the nearest double, as in DuckDB
    (Arrow's safe cast would refuse them)."""
    if pa.types.is_float64(v.type):
        return v
    return pc.cast(v, pa.float64(), safe=not pa.types.is_integer(v.type))


def null_as(v: Value, t: pa.DataType) -> Value:
    """A NULL-typed value (an untyped NULL literal) as type ``t``."""
    return v.cast(t) if pa.types.is_null(v.type) and not pa.types.is_null(t) else v


# -- decimals ------------------------------------------------------------------------------


def int_decimal(v: Value | None, t: pa.DataType) -> pa.DataType:
    """The decimal type an integer converts to: a constant gets the fewest digits that
    hold its value, a column the digits of its type (int32 -> 10, int64 -> 19)."""
    if v is not None and is_const(v) and v.is_valid:
        return pa.decimal128(max(1, len(str(abs(int(v.as_py()))))), 0)
    if t == pa.uint64():
        return pa.decimal128(_UINT64_DIGITS, 0)
    return pa.decimal128(_INT_DIGITS[t.bit_width], 0)


def decimal_type(precision: int, scale: int) -> pa.DataType:
    """decimal128 with the precision capped at 38 (DuckDB's maximum)."""
    if scale > MAX_DEC128:
        raise PlanError(f"decimal scale {scale} exceeds the maximum of {MAX_DEC128}")
    return pa.decimal128(max(1, min(precision, MAX_DEC128), scale), scale)


def as_decimal(v: Value) -> Value:
    """An integer or decimal value as a decimal (integers exactly, see int_decimal)."""
    if pa.types.is_decimal(v.type):
        return v
    return int_to_decimal(v, int_decimal(v, v.type))


def int_to_decimal(v: Value, target: pa.DataType) -> Value:
    """Cast integers to a decimal. Arrow checks the precision against the integer
    type, not the values, so go through the type's full width, then narrow (which is
    checked value by value)."""
    width = int_decimal(None, v.type).precision + target.scale
    ctor = pa.decimal128 if width <= MAX_DEC128 else pa.decimal256
    out = v.cast(ctor(width, target.scale))
    return out if out.type == target else out.cast(target)


# -- unification ---------------------------------------------------------------------------


def _parses_from_string(t: pa.DataType) -> bool:
    return is_numeric(t) or is_temporal(t) or pa.types.is_boolean(t)


def supertype(ta: pa.DataType, tb: pa.DataType, va: Value | None = None, vb: Value | None = None) -> pa.DataType:
    """The type two values unify to for comparisons, CASE, COALESCE, IN, greatest and
    least. A string constant meets a typed value by being parsed as that type (DuckDB
    casts the literal in ``d < '1994-01-01'``); a string *column* meets a date the same
    way, but a number or boolean not at all: that is a type error at planning."""
    ta, tb = normalize_type(ta), normalize_type(tb)
    plain = same_or_null(ta, tb)
    if plain is not None:
        return plain
    if is_numeric(ta) and is_numeric(tb):
        if pa.types.is_floating(ta) or pa.types.is_floating(tb):
            return pa.float64()
        if pa.types.is_decimal(ta) or pa.types.is_decimal(tb):
            da = ta if pa.types.is_decimal(ta) else int_decimal(va, ta)
            db = tb if pa.types.is_decimal(tb) else int_decimal(vb, tb)
            scale = max(da.scale, db.scale)
            return decimal_type(max(da.precision - da.scale, db.precision - db.scale) + scale, scale)
        return pa.int64()
    for (ts, vs), (to, _) in (((ta, va), (tb, vb)), ((tb, vb), (ta, va))):
        if is_string(ts) and _parses_from_string(to):
            if vs is not None and not is_const(vs) and not is_temporal(to):
                raise ExprTypeError(f"a string column does not mix with {to}; cast one side explicitly")
            return to
    if pa.types.is_date(ta) and pa.types.is_timestamp(tb):
        return tb
    if pa.types.is_timestamp(ta) and pa.types.is_date(tb):
        return ta
    if pa.types.is_timestamp(ta) and pa.types.is_timestamp(tb):
        units = ["s", "ms", "us", "ns"]
        unit = max(ta.unit, tb.unit, key=units.index)
        return pa.timestamp(unit, tz=ta.tz or tb.tz)
    raise ExprTypeError(f"incompatible types {ta} and {tb}")


def common_type(values: Sequence[Value]) -> pa.DataType:
    """The type a list of values unifies to: the supertype of the values that are not
    strings, then every string checked against it (see :func:`supertype`)."""
    t: pa.DataType = pa.null()
    strings = []
    for v in values:
        if is_string(v.type):
            strings.append(v)
        else:
            t = supertype(t, v.type, None, v)
    for v in strings:
        t = supertype(t, v.type, None, v)
    return t


def coerce(v: Value, t: pa.DataType) -> Value:
    """Cast ``v`` to ``t`` for unification; a string that does not parse is a PlanError."""
    return v if v.type == t else cast_to(v, t)


def unify(values: Sequence[Value]) -> list[Value]:
    t = common_type(values)
    return [coerce(v, t) for v in values]


def unify2(a: Value, b: Value) -> tuple[Value, Value]:
    t = supertype(a.type, b.type, a, b)
    return coerce(a, t), coerce(b, t)


# -- casts ---------------------------------------------------------------------------------


def cast_to(v: Value, target: pa.DataType) -> Value:
    """CAST with DuckDB's rounding (not Arrow's truncation errors) where they differ."""
    src = v.type
    if src == target:
        return v
    try:
        if pa.types.is_null(src):
            return v.cast(target)
        if pa.types.is_decimal(target) and pa.types.is_integer(src):
            return int_to_decimal(v, target)
        if pa.types.is_float64(target) and pa.types.is_integer(src):
            return to_float(v)
        if pa.types.is_floating(src) and pa.types.is_string(target):
            # (float32: DuckDB's shortest digits differ from Arrow's for some large whole
            # numbers at a rounding tie, e.g. 39059072.0 where Arrow finds 39059070)
            return float_to_string(v)
        if pa.types.is_decimal(target) and is_string(src):
            return _string_to_decimal(v, target)
        if pa.types.is_integer(target) and pa.types.is_floating(src):
            v = pc.round(v, round_mode="half_to_even")  # DuckDB rounds doubles half to even
        elif pa.types.is_integer(target) and pa.types.is_decimal(src):
            v = pc.round(v, round_mode="half_towards_infinity")
        elif pa.types.is_decimal(target) and (pa.types.is_decimal(src) or pa.types.is_floating(src)):
            if pa.types.is_floating(src) or target.scale < src.scale:
                v = pc.round(v, ndigits=target.scale, round_mode="half_towards_infinity")
        elif is_string(src) and _parses_from_string(target):
            v = pc.utf8_trim(v.cast(pa.string()) if not pa.types.is_string(src) else v, characters=" ")
        return v.cast(target)
    except pa.ArrowNotImplementedError as e:
        raise ExprTypeError(f"cannot cast {src} to {target}") from e
    except ARROW_ERRORS as e:
        what = repr(v.as_py()) if is_const(v) else f"a value of type {src}"
        raise PlanError(f"cannot cast {what} to {target}: {e}") from e


_NUMBER = r"^(?P<sign>-?)(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?(?:e\+?(?P<exp>-?[0-9]+))?$"


def float_to_string(v: Value) -> Value:
    """Doubles as text the way DuckDB prints them (which is Python's ``repr``): the
    shortest digits that round-trip, fixed notation for exponents -4 to 15 with at least
    one decimal (``524.0``, ``1000000000000000.0``), else ``1e-05``, ``1e+16``. Arrow finds
    the same digits but lays them out otherwise (``524``, ``1e+15``, ``0.00001``); this
    re-lays them out with string kernels, one pass per exponent present."""
    const = is_const(v)
    arrow = broadcast(v, 1).cast(pa.string()) if const else v.cast(pa.string())
    parts = pc.extract_regex(arrow, pattern=_NUMBER)  # NULL for nan, inf, -inf (kept as Arrow prints them)
    sign = pc.struct_field(parts, "sign")
    whole, frac = pc.struct_field(parts, "int"), pc.struct_field(parts, "frac")
    exp = pc.cast(pc.if_else(pc.equal(pc.struct_field(parts, "exp"), ""), "0", pc.struct_field(parts, "exp")), pa.int64())
    digits = pc.binary_join_element_wise(whole, frac, "")
    stripped = pc.utf8_ltrim(digits, characters="0")
    lead = pc.subtract(pc.utf8_length(digits), pc.utf8_length(stripped))
    d = pc.utf8_rtrim(stripped, characters="0")  # the significant digits
    e = pc.add(pc.subtract(pc.subtract(pc.utf8_length(whole), 1), lead), exp).cast(pa.int64())
    # scientific: d.ddde+XX
    mantissa = pc.if_else(
        pc.greater(pc.utf8_length(d), 1),
        pc.binary_join_element_wise(pc.utf8_slice_codeunits(d, 0, 1), pc.utf8_slice_codeunits(d, 1), "."),
        d,
    )
    exp_text = pc.utf8_lpad(pc.cast(pc.abs(e), pa.string()), width=2, padding="0")
    sci = pc.binary_join_element_wise(
        sign, mantissa, pc.if_else(pc.less(e, 0), "e-", "e+"), exp_text, ""
    )
    out = sci
    padded = pc.binary_join_element_wise(d, "0" * 16, "")
    for k in pc.unique(pc.filter(e, pc.and_(pc.greater_equal(e, -4), pc.less(e, 16)))).to_pylist():
        if k >= 0:
            head = pc.utf8_slice_codeunits(padded, 0, k + 1)
            tail = pc.utf8_slice_codeunits(d, k + 1)
            tail = pc.if_else(pc.equal(tail, ""), "0", tail)
            fixed = pc.binary_join_element_wise(sign, head, ".", tail, "")
        else:
            fixed = pc.binary_join_element_wise(sign, "0." + "0" * (-k - 1), d, "")
        out = pc.if_else(pc.equal(e, k), fixed, out)
    zero = pc.binary_join_element_wise(sign, "0.0", "")
    out = pc.if_else(pc.equal(d, ""), zero, out)
    out = pc.coalesce(out, arrow)  # nan, inf
    return out[0] if const else out


def _string_to_decimal(v: Value, target: pa.DataType) -> Value:
    v = pc.utf8_trim(v.cast(pa.string()), characters=" ")
    try:
        return v.cast(target)
    except pa.ArrowInvalid:
        # more fractional digits than the target holds: DuckDB rounds, Arrow refuses
        wide = v.cast(pa.decimal256(MAX_DEC256, MAX_DEC128))
        return pc.round(wide, ndigits=target.scale, round_mode="half_towards_infinity").cast(target)


def cast(v: Value, to: str) -> Value:
    """CAST to a type named in any spelling :func:`dataflow.types.resolve_type_name` takes."""
    try:
        target = normalize_type(parse_type(resolve_type_name(to)))
    except ValueError as e:
        raise PlanError(f"cannot cast to {to!r}: {e}") from e
    return cast_to(v, target)


# -- argument checks -----------------------------------------------------------------------


def string_arg(v: Value, fn: str) -> Value:
    t = v.type
    if pa.types.is_null(t):
        return v.cast(pa.string())
    if not is_string(t):
        raise ExprTypeError(f"{fn} expects a string, got {t}")
    return v if pa.types.is_string(t) else v.cast(pa.string())


def const_str(v: Value, what: str) -> str | None:
    if not is_const(v):
        raise UnsupportedError(f"{what} must be a constant")
    v = string_arg(v, what)
    return v.as_py() if v.is_valid else None


def const_int(v: Value, what: str) -> int | None:
    if not is_const(v):
        raise UnsupportedError(f"{what} must be a constant")
    if not (pa.types.is_integer(v.type) or pa.types.is_null(v.type)):
        raise ExprTypeError(f"{what} must be an integer, got {v.type}")
    return v.as_py() if v.is_valid else None


def bool_arg(v: Value, fn: str) -> Value:
    if pa.types.is_null(v.type):
        return v.cast(pa.bool_())
    if not pa.types.is_boolean(v.type):
        raise ExprTypeError(f"{fn} expects boolean arguments, got {v.type}")
    return v


def numeric_arg(v: Value, fn: str) -> Value:
    """A number (or NULL) argument, as it is."""
    if not (is_numeric(v.type) or pa.types.is_null(v.type)):
        raise ExprTypeError(f"{fn} expects a number, got {v.type}")
    return v


def float_arg(v: Value, fn: str) -> Value:
    """A number argument as float64 (DuckDB's math functions take DOUBLE)."""
    return to_float(numeric_arg(v, fn))


def temporal_arg(v: Value, fn: str) -> Value:
    if pa.types.is_null(v.type):
        return v.cast(pa.date32())
    if not is_temporal(v.type):
        raise ExprTypeError(f"{fn} expects a date or timestamp, got {v.type}")
    return v


def int_arg(v: Value, fn: str) -> Value:
    if pa.types.is_null(v.type):
        return v.cast(pa.int64())
    if not pa.types.is_integer(v.type):
        raise ExprTypeError(f"{fn} expects an integer count, got {v.type}")
    return v.cast(pa.int64())
