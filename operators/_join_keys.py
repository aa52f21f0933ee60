"""Hash join keys and residual conditions as Acero takes them: the common type both
sides' keys are cast to, and a residual condition as a ``pyarrow.compute.Expression``
when it translates (see :mod:`.hash_join`).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from dataflow.errors import DataflowError
from dataflow.expr import Call, ColumnRef, ExprNode, InList, Literal
from dataflow.types import parse_type

_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 19}


def common_key_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type both join keys are cast to before hashing."""
    if a == b:
        return a
    t = pa.types
    if _is_stringy(a) and _is_stringy(b):
        return pa.string()
    if _is_binaryish(a) and _is_binaryish(b):
        return pa.binary()
    if t.is_integer(a) and t.is_integer(b):
        if t.is_unsigned_integer(a) and t.is_unsigned_integer(b):
            return a if a.bit_width >= b.bit_width else b
        if t.is_signed_integer(a) and t.is_signed_integer(b):
            return a if a.bit_width >= b.bit_width else b
        return pa.int64()
    if (t.is_decimal(a) or t.is_integer(a)) and (t.is_decimal(b) or t.is_integer(b)):
        pa_, sa = _decimal_shape(a)
        pb, sb = _decimal_shape(b)
        scale = max(sa, sb)
        precision = max(pa_ - sa, pb - sb) + scale
        if precision > 38:
            return pa.decimal256(min(precision, 76), scale)
        return pa.decimal128(precision, scale)
    if (t.is_floating(a) or t.is_integer(a) or t.is_decimal(a)) and (
        t.is_floating(b) or t.is_integer(b) or t.is_decimal(b)
    ):
        return pa.float64()
    if t.is_date(a) and t.is_date(b):
        return pa.date32()
    if t.is_timestamp(a) and t.is_timestamp(b):
        units = ["s", "ms", "us", "ns"]
        return pa.timestamp(max(a.unit, b.unit, key=units.index), tz=a.tz or b.tz)
    try:
        merged = pa.unify_schemas(
            [pa.schema([("k", a)]), pa.schema([("k", b)])], promote_options="permissive"
        )
        return merged.field("k").type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise DataflowError(f"cannot join keys of types {a} and {b}") from e


def _is_stringy(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or t == pa.string_view()


def _is_binaryish(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or t == pa.binary_view()


def _decimal_shape(t: pa.DataType) -> tuple[int, int]:
    if pa.types.is_decimal(t):
        return t.precision, t.scale
    if pa.types.is_unsigned_integer(t):
        return _INT_DIGITS[t.bit_width] + (1 if t.bit_width == 64 else 0), 0
    return _INT_DIGITS[t.bit_width], 0


# -- residual conditions as Acero expressions ----------------------------------------------

_COMPARE = {
    "eq": pc.equal,
    "ne": pc.not_equal,
    "lt": pc.less,
    "le": pc.less_equal,
    "gt": pc.greater,
    "ge": pc.greater_equal,
}
_ARITH = {"add": "add_checked", "subtract": "subtract_checked", "multiply": "multiply_checked"}


def to_acero_expression(node: ExprNode) -> pc.Expression | None:
    """``node`` as a ``pyarrow.compute.Expression`` with SQL semantics, or ``None`` when
    it uses anything outside the safe subset (columns, literals, comparisons, AND / OR /
    NOT, IS [NOT] NULL, BETWEEN, IN lists, + - *)."""
    try:
        return _translate(node)
    except _Untranslatable:
        return None


class _Untranslatable(Exception):
    pass


def _translate(node: ExprNode) -> pc.Expression:
    if isinstance(node, ColumnRef):
        return pc.field(node.name)
    if isinstance(node, Literal):
        if node.type == "null":
            raise _Untranslatable
        return pc.scalar(pa.scalar(node.py_value(), type=parse_type(node.type)))
    if isinstance(node, InList):
        if not node.values:
            raise _Untranslatable
        x = _translate(node.expr)
        out = None
        for v in node.values:
            term = pc.equal(x, _translate(v))
            out = term if out is None else pc.or_kleene(out, term)
        return pc.invert(out) if node.negated else out
    if not isinstance(node, Call):
        raise _Untranslatable
    fn, args = node.fn, node.args
    if fn in _COMPARE and len(args) == 2:
        return _COMPARE[fn](_translate(args[0]), _translate(args[1]))
    if fn in ("and", "or") and args:
        parts = [_translate(a) for a in args]
        out = parts[0]
        for p in parts[1:]:
            out = pc.and_kleene(out, p) if fn == "and" else pc.or_kleene(out, p)
        return out
    if fn == "not" and len(args) == 1:
        return pc.invert(_translate(args[0]))
    if fn == "is_null" and len(args) == 1:
        return pc.is_null(_translate(args[0]))
    if fn == "is_not_null" and len(args) == 1:
        return pc.is_valid(_translate(args[0]))
    if fn == "between" and len(args) == 3:
        x, lo, hi = (_translate(a) for a in args)
        return pc.and_kleene(pc.greater_equal(x, lo), pc.less_equal(x, hi))
    if fn in _ARITH and len(args) == 2:
        return pc.Expression._call(_ARITH[fn], [_translate(args[0]), _translate(args[1])])
    raise _Untranslatable


def binds(expr: pc.Expression, schema: pa.Schema) -> bool:
    """Whether Acero can evaluate ``expr`` as a boolean filter over ``schema``."""
    try:
        schema.empty_table().filter(expr)
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return False
