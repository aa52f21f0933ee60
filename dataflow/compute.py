"""Evaluation of expression nodes over Arrow record batches, and the typing rules.

:func:`evaluate` turns an expression node into an Arrow array with one value per row
of a batch; :func:`evaluate_predicate` does the same for filters (NULL counts as
false). Everything is vectorized with ``pyarrow.compute`` (and numpy where Arrow has
no kernel); no function loops over rows in Python.

The semantics follow DuckDB: mixed-type arithmetic and comparisons unify their
operands first, decimals keep exact precision and scale, ``/`` divides as doubles,
and AND/OR/NOT/IN use SQL's three-valued logic.

Typing is derived from evaluation itself: :func:`infer_field` evaluates the
expression on an empty batch of the input schema, so the inferred type can never
disagree with what :func:`evaluate` produces.

>>> import pyarrow as pa
>>> from dataflow.expr import col
>>> batch = pa.record_batch({"a": [1, 2, None]})
>>> evaluate((col("a") * 10 + 1).node, batch).to_pylist()
[11, 21, None]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import AmbiguousColumnError, PlanError, UnknownColumnError, UnsupportedError
from .expr import (
    AGGREGATE_FUNCTIONS,
    AggCall,
    Call,
    Case,
    Cast,
    ColumnRef,
    ExprNode,
    InList,
    Literal,
    WindowCall,
    display,
)
from .physical import AggSpec, WindowSpec, partial_columns
from .types import Field, Schema, normalize_type, parse_type, retype_decimal, schema_to_arrow, type_name

__all__ = [
    "Udf", "aggregate_result_type", "aggregate_state_fields", "evaluate", "evaluate_predicate",
    "get_udf", "infer_aggregate_field", "infer_field", "infer_window_field", "register_udf",
    "window_fields",
]

# What evaluation passes around internally: constants stay scalars (Arrow kernels
# broadcast them for free) and become arrays only at the very end.
Value = Union[pa.Array, pa.Scalar]

_MAX_DEC128 = 38
_MAX_DEC256 = 76
# The decimal precision that holds every value of an integer type.
_INT_DIGITS: dict[int, int] = {8: 3, 16: 5, 32: 10, 64: 19}
_UINT64_DIGITS = 20
_RANKING = frozenset({"row_number", "rank", "dense_rank"})
_ARROW_ERRORS = (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid)


# ---------------------------------------------------------------------------------------
# Public entry points


def evaluate(node: ExprNode, batch: pa.RecordBatch) -> pa.Array:
    """Evaluate ``node`` over ``batch``: an array with exactly ``batch.num_rows`` values.

    Raises :class:`UnknownColumnError` for a column the batch lacks and
    :class:`PlanError` for a type error or an aggregate/window call.
    """
    try:
        value = _eval(node, batch)
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise PlanError(f"cannot evaluate {display(node)}: {e}") from e
    return _broadcast(value, batch.num_rows)


def evaluate_predicate(node: ExprNode, batch: pa.RecordBatch) -> pa.BooleanArray:
    """Evaluate a filter predicate: a boolean array without NULLs (NULL counts as false)."""
    try:
        value = _eval(node, batch)
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise PlanError(f"cannot evaluate {display(node)}: {e}") from e
    n = batch.num_rows
    if pa.types.is_null(value.type):
        return pa.repeat(pa.scalar(False), n)
    if not pa.types.is_boolean(value.type):
        raise PlanError(f"a predicate must be boolean, but {display(node)} is {value.type}")
    if isinstance(value, pa.Scalar):
        return pa.repeat(pa.scalar(bool(value.is_valid and value.as_py())), n)
    if value.null_count:
        value = pc.fill_null(value, False)
    return value


def infer_field(node: ExprNode, schema: Schema, name: str) -> Field:
    """The output field (type and nullability) of ``node`` over rows of ``schema``.

    The type comes from evaluating ``node`` on an empty batch of ``schema``, so it is
    always what :func:`evaluate` returns. Type errors raise :class:`PlanError`;
    unknown columns :class:`UnknownColumnError` (with near matches).
    """
    batch = _empty_batch(schema)
    try:
        value = _eval(node, batch)
    except _ARROW_ERRORS as e:
        raise PlanError(f"cannot evaluate {display(node)}: {e}") from e
    try:
        tname = type_name(normalize_type(value.type))
    except ValueError as e:
        raise PlanError(f"{display(node)} has unsupported type {value.type}") from e
    fields = {f.name: f for f in schema}
    return Field(name=name, type=tname, nullable=_nullable(node, fields))


# ---------------------------------------------------------------------------------------
# Aggregate and window typing (shared with the aggregate and window operators)


def aggregate_result_type(fn: str, arg_type: pa.DataType | None) -> pa.DataType:
    """The result type of aggregate ``fn`` over values of ``arg_type``.

    count/count_star give int64; sum gives decimal128(38, 0) for integers (DuckDB's
    HUGEINT, which it hands to Arrow as decimal128(38, 0): an int64 sum never wraps
    around), float64 for floats and decimal128(38, s) for decimal(p, s); avg gives
    float64; min/max keep the type.
    """
    if fn in ("count", "count_star"):
        return pa.int64()
    if fn not in AGGREGATE_FUNCTIONS:
        raise PlanError(f"unknown aggregate function {fn!r}")
    if arg_type is None:
        raise PlanError(f"aggregate {fn} needs an argument")
    t = normalize_type(arg_type)
    if fn == "sum":
        if pa.types.is_null(t) or pa.types.is_integer(t):
            return pa.decimal128(_MAX_DEC128, 0)
        if pa.types.is_floating(t):
            return pa.float64()
        if pa.types.is_decimal(t):
            return pa.decimal128(_MAX_DEC128, t.scale)
        raise PlanError(f"sum is not defined for values of type {t}")
    if fn == "avg":
        if pa.types.is_null(t) or _is_numeric(t):
            return pa.float64()
        raise PlanError(f"avg is not defined for values of type {t}")
    if fn in _MOMENTS or fn in ("median", "quantile_cont"):
        if fn in ("median", "quantile_cont") and pa.types.is_decimal(t):
            return t  # DuckDB interpolates decimals in their own type
        if pa.types.is_null(t) or _is_numeric(t):
            return pa.float64()
        raise PlanError(f"{fn} is not defined for values of type {t}")
    if fn in ("bool_and", "bool_or"):
        if pa.types.is_null(t) or pa.types.is_boolean(t):
            return pa.bool_()
        raise PlanError(f"{fn} is not defined for values of type {t}: it takes booleans")
    if fn == "string_agg":
        return pa.string()
    return t  # min, max, quantile_disc, single_value


# aggregates whose state is float64 moments (see dataflow.physical.AGG_STATES)
_MOMENTS = frozenset({"stddev_samp", "stddev_pop", "var_samp", "var_pop", "covar_samp", "covar_pop", "corr"})


def infer_aggregate_field(agg: AggCall, schema: Schema, name: str) -> Field:
    """The output field of an aggregate call whose argument is any expression."""
    if agg.fn == "count_star":
        return Field(name=name, type="int64", nullable=False)
    if agg.arg is None:
        raise PlanError(f"aggregate {agg.fn} needs an argument")
    arg = infer_field(agg.arg, schema, name)
    t = aggregate_result_type(agg.fn, arg.arrow_type)
    if agg.arg2 is not None:
        aggregate_result_type(agg.fn, infer_field(agg.arg2, schema, name).arrow_type)
    return Field(name=name, type=type_name(t), nullable=agg.fn != "count")


def aggregate_state_fields(aggs: tuple[AggSpec, ...], input_schema: Schema, mode: str) -> Schema:
    """The aggregate columns a hash aggregate in ``mode`` outputs (after its keys).

    ``single``/``final``: one column per aggregate, named ``agg.name``, of the result
    type. ``partial``: the state columns of :func:`dataflow.physical.partial_columns`
    (for avg ``{name}__sum`` and ``{name}__count``, else ``{name}``). In ``final``
    mode ``input_schema`` is the partial output, so types come from the state columns.
    """
    if mode not in ("single", "partial", "final"):
        raise PlanError(f"unknown aggregate mode {mode!r}")
    by_name = {f.name: f for f in input_schema}
    names = [f.name for f in input_schema]

    def arrow_type(column: str) -> pa.DataType:
        if column not in by_name:
            raise UnknownColumnError(column, names, where="aggregate input")
        return by_name[column].arrow_type

    out: list[Field] = []
    for agg in aggs:
        counting = agg.fn in ("count", "count_star")
        if mode == "final":
            state = partial_columns(agg)[0]
            t = aggregate_result_type(agg.fn, None if counting else arrow_type(state))
            out.append(Field(name=agg.name, type=type_name(t), nullable=not counting))
            continue
        arg_type = None
        if agg.fn != "count_star":
            if agg.arg is None:
                raise PlanError(f"aggregate {agg.fn} needs an argument")
            arg_type = arrow_type(agg.arg)
        if mode == "partial" and agg.fn == "avg":
            s, c = partial_columns(agg)
            out.append(Field(name=s, type=type_name(aggregate_result_type("sum", arg_type))))
            out.append(Field(name=c, type="int64", nullable=False))
            continue
        if mode == "partial" and agg.fn in _MOMENTS:
            aggregate_result_type(agg.fn, arg_type)  # type check
            n, *sums = partial_columns(agg)
            out.append(Field(name=n, type="int64", nullable=False))
            out += [Field(name=c, type="double") for c in sums]
            continue
        t = aggregate_result_type(agg.fn, arg_type)
        out.append(Field(name=agg.name, type=type_name(t), nullable=not counting))
    return tuple(out)


def _window_type(fn: str, arg_type: pa.DataType | None) -> tuple[pa.DataType, bool]:
    """The result type of window function ``fn`` and whether it may be NULL."""
    if fn in _RANKING or fn == "ntile":
        return pa.int64(), False
    if fn in ("percent_rank", "cume_dist"):
        return pa.float64(), False
    if fn in _VALUE_WINDOWS:
        assert arg_type is not None
        return normalize_type(arg_type), True
    if fn not in AGGREGATE_FUNCTIONS:
        raise PlanError(f"unknown window function {fn!r}")
    return aggregate_result_type(fn, arg_type), fn not in ("count", "count_star")


# window functions that return a value of their argument (lag, lead, ...)
_VALUE_WINDOWS = frozenset({"lag", "lead", "first_value", "last_value", "nth_value"})
_NO_ARG_WINDOWS = _RANKING | {"ntile", "percent_rank", "cume_dist", "count_star"}


def infer_window_field(w: WindowCall, schema: Schema, name: str) -> Field:
    """The output field of a window function: ranking functions give non-NULL int64,
    lag/lead/first_value/last_value/nth_value their argument's type, percent_rank and
    cume_dist float64, aggregates the type of :func:`aggregate_result_type`."""
    for e in (*w.partition_by, *(k.expr for k in w.order_by)):
        infer_field(e, schema, name)  # unknown columns and type errors surface here
    arg_type = None
    if w.fn not in _NO_ARG_WINDOWS:
        if w.arg is None:
            raise PlanError(f"window function {w.fn} needs an argument")
        arg_type = infer_field(w.arg, schema, name).arrow_type
    if w.arg2 is not None:
        infer_field(w.arg2, schema, name)
    t, nullable = _window_type(w.fn, arg_type)
    return Field(name=name, type=type_name(t), nullable=nullable)


def window_fields(funcs: tuple[WindowSpec, ...], schema: Schema) -> Schema:
    """The columns a window operator appends, one per :class:`WindowSpec`."""
    by_name = {f.name: f for f in schema}
    out: list[Field] = []
    for w in funcs:
        arg_type = None
        if w.fn not in _NO_ARG_WINDOWS:
            if w.arg is None:
                raise PlanError(f"window function {w.fn} needs an argument")
            if w.arg not in by_name:
                raise UnknownColumnError(w.arg, list(by_name), where="window input")
            arg_type = by_name[w.arg].arrow_type
        t, nullable = _window_type(w.fn, arg_type)
        out.append(Field(name=w.name, type=type_name(t), nullable=nullable))
    return tuple(out)


# ---------------------------------------------------------------------------------------
# User-defined scalar functions


@dataclasses.dataclass(frozen=True)
class Udf:
    """A registered scalar UDF: ``fn(*arrays) -> pa.Array`` returning ``return_type``.
    ``parallel_safe`` says whether instances may call it concurrently."""

    name: str
    fn: Callable[..., pa.Array]
    return_type: pa.DataType
    parallel_safe: bool = True


_UDFS: dict[str, Udf] = {}


def register_udf(name: str, fn: Callable[..., pa.Array], return_type: str, parallel_safe: bool = True) -> None:
    """Register ``fn`` so that ``Call(fn="udf:<name>", args=...)`` calls it with one Arrow
    array per argument; it must return an array of the same length. Registering a
    name again replaces the function. The registry is per process."""
    try:
        t = normalize_type(parse_type(return_type))
    except ValueError as e:
        raise PlanError(f"UDF {name!r}: {e}") from e
    _UDFS[name] = Udf(name=name, fn=fn, return_type=t, parallel_safe=parallel_safe)


def get_udf(name: str) -> Udf:
    """The UDF registered as ``name``."""
    try:
        return _UDFS[name]
    except KeyError:
        raise PlanError(f"unknown UDF {name!r}; register it with register_udf") from None


# ---------------------------------------------------------------------------------------
# The evaluator


def _eval(node: ExprNode, batch: pa.RecordBatch) -> Value:
    if isinstance(node, ColumnRef):
        return _column(node.name, batch)
    if isinstance(node, Literal):
        return _literal(node)
    if isinstance(node, Call):
        args = [_eval(a, batch) for a in node.args]
        return _call(node, args, batch.num_rows)
    if isinstance(node, Case):
        return _case(node, batch)
    if isinstance(node, Cast):
        return _cast(_eval(node.expr, batch), node.to)
    if isinstance(node, InList):
        return _in_list(node, batch)
    if isinstance(node, (AggCall, WindowCall)):
        what = "aggregate" if isinstance(node, AggCall) else "window function"
        raise PlanError(
            f"{what} {display(node)} is not allowed here: aggregates and window functions "
            "are only valid in an aggregation or window"
        )
    raise PlanError(f"unknown expression node {node!r}")


def _column(name: str, batch: pa.RecordBatch) -> pa.Array:
    idx = batch.schema.get_all_field_indices(name)
    if not idx:
        raise UnknownColumnError(name, batch.schema.names)
    if len(idx) > 1:
        raise AmbiguousColumnError(name, [f"{name} (column {i + 1})" for i in idx])
    arr = batch.column(idx[0])
    t = normalize_type(arr.type)
    return arr if t == arr.type else arr.cast(t)


def _literal(node: Literal) -> pa.Scalar:
    try:
        t = normalize_type(parse_type(node.type))
        return pa.scalar(node.py_value(), type=t)
    except (ValueError, TypeError, *_ARROW_ERRORS) as e:
        raise PlanError(f"invalid literal {node.value!r} of type {node.type}: {e}") from e


@lru_cache(maxsize=256)
def _empty_batch(schema: Schema) -> pa.RecordBatch:
    arrow = schema_to_arrow(schema)
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in arrow], schema=arrow)


def _broadcast(v: Value, n: int) -> pa.Array:
    if isinstance(v, pa.Scalar):
        return pa.nulls(n) if pa.types.is_null(v.type) else pa.repeat(v, n)
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    return v


def _nullable(node: ExprNode, fields: dict[str, Field]) -> bool:
    """Whether ``node`` may be NULL (statically, from its inputs)."""
    if isinstance(node, ColumnRef):
        f = fields.get(node.name)
        return True if f is None else f.nullable
    if isinstance(node, Literal):
        return node.value is None
    if isinstance(node, Call):
        kids = [_nullable(a, fields) for a in node.args]
        if node.fn in ("is_null", "is_not_null"):
            return False
        if node.fn == "coalesce":
            return all(kids)
        if node.fn in ("divide", "modulo", "nullif") or node.fn.startswith("udf:"):
            return True
        return any(kids)
    if isinstance(node, Case):
        if node.otherwise is None or _nullable(node.otherwise, fields):
            return True
        return any(_nullable(v, fields) for _, v in node.whens)
    if isinstance(node, Cast):
        return _nullable(node.expr, fields)
    if isinstance(node, InList):
        return _nullable(node.expr, fields) or any(_nullable(v, fields) for v in node.values)
    return True


# ---------------------------------------------------------------------------------------
# Type helpers


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or t == pa.string_view()


def _is_temporal(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_timestamp(t)


def _is_const(v: Value) -> bool:
    return isinstance(v, pa.Scalar)


def _int_decimal(v: Value | None, t: pa.DataType) -> pa.DataType:
    """The decimal type an integer converts to: a constant gets the fewest digits that
    hold its value, a column the digits of its type (int32 -> 10, int64 -> 19)."""
    if v is not None and _is_const(v) and v.is_valid:
        return pa.decimal128(max(1, len(str(abs(int(v.as_py()))))), 0)
    if t == pa.uint64():
        return pa.decimal128(_UINT64_DIGITS, 0)
    return pa.decimal128(_INT_DIGITS[t.bit_width], 0)


def _decimal_type(precision: int, scale: int) -> pa.DataType:
    """decimal128 with the precision capped at 38 (DuckDB's maximum)."""
    if scale > _MAX_DEC128:
        raise PlanError(f"decimal scale {scale} exceeds the maximum of {_MAX_DEC128}")
    return pa.decimal128(max(1, min(precision, _MAX_DEC128), scale), scale)


def _as_decimal(v: Value) -> Value:
    """An integer or decimal value as a decimal (integers exactly, see _int_decimal)."""
    if pa.types.is_decimal(v.type):
        return v
    return _int_to_decimal(v, _int_decimal(v, v.type))


def _int_to_decimal(v: Value, target: pa.DataType) -> Value:
    """Cast integers to a decimal. Arrow checks the precision against the integer
    type, not the values, so go through the type's full width, then narrow (which is
    checked value by value)."""
    width = _int_decimal(None, v.type).precision + target.scale
    ctor = pa.decimal128 if width <= _MAX_DEC128 else pa.decimal256
    out = v.cast(ctor(width, target.scale))
    return out if out.type == target else out.cast(target)


def _supertype(ta: pa.DataType, tb: pa.DataType, va: Value | None = None, vb: Value | None = None) -> pa.DataType:
    """The type two values unify to for comparisons, CASE, COALESCE and IN."""
    ta, tb = normalize_type(ta), normalize_type(tb)
    if ta == tb:
        return ta
    if pa.types.is_null(ta):
        return tb
    if pa.types.is_null(tb):
        return ta
    if _is_numeric(ta) and _is_numeric(tb):
        if pa.types.is_floating(ta) or pa.types.is_floating(tb):
            return pa.float64()
        if pa.types.is_decimal(ta) or pa.types.is_decimal(tb):
            da = ta if pa.types.is_decimal(ta) else _int_decimal(va, ta)
            db = tb if pa.types.is_decimal(tb) else _int_decimal(vb, tb)
            scale = max(da.scale, db.scale)
            return _decimal_type(max(da.precision - da.scale, db.precision - db.scale) + scale, scale)
        return pa.int64()
    # a string meets a typed value: the string is parsed as that type (DuckDB casts
    # the string literal in ``d < '1994-01-01'``)
    if _is_string(ta) and (_is_numeric(tb) or _is_temporal(tb) or pa.types.is_boolean(tb)):
        return tb
    if _is_string(tb) and (_is_numeric(ta) or _is_temporal(ta) or pa.types.is_boolean(ta)):
        return ta
    if pa.types.is_date(ta) and pa.types.is_timestamp(tb):
        return tb
    if pa.types.is_timestamp(ta) and pa.types.is_date(tb):
        return ta
    if pa.types.is_timestamp(ta) and pa.types.is_timestamp(tb):
        units = ["s", "ms", "us", "ns"]
        unit = max(ta.unit, tb.unit, key=units.index)
        return pa.timestamp(unit, tz=ta.tz or tb.tz)
    raise PlanError(f"incompatible types {ta} and {tb}")


def _common_type(values: Sequence[Value]) -> pa.DataType:
    t: pa.DataType = pa.null()
    for v in values:
        t = _supertype(t, v.type, None, v)
    return t


def _coerce(v: Value, t: pa.DataType) -> Value:
    """Cast ``v`` to ``t`` for unification; a string that does not parse is a PlanError."""
    return v if v.type == t else _cast_to(v, t)


def _unify(values: Sequence[Value]) -> list[Value]:
    t = _common_type(values)
    return [_coerce(v, t) for v in values]


def _unify2(a: Value, b: Value) -> tuple[Value, Value]:
    t = _supertype(a.type, b.type, a, b)
    return _coerce(a, t), _coerce(b, t)


def _null_as(v: Value, t: pa.DataType) -> Value:
    """A NULL-typed value (an untyped NULL literal) as type ``t``."""
    return v.cast(t) if pa.types.is_null(v.type) and not pa.types.is_null(t) else v


def _align(values: Sequence[Value], n: int) -> tuple[list[pa.Array], bool]:
    """Broadcast scalars to arrays. With only scalars, use length-1 arrays and report
    it (the caller then returns element 0), so constant folding stays cheap."""
    all_const = all(_is_const(v) for v in values)
    size = 1 if all_const else n
    return [_broadcast(v, size) for v in values], all_const


def _to_numpy(a: pa.Array, fill: object) -> np.ndarray:
    return pc.fill_null(a, fill).to_numpy(zero_copy_only=False) if a.null_count else a.to_numpy(zero_copy_only=False)


def _null_mask(arrays: Sequence[pa.Array]) -> np.ndarray | None:
    mask = None
    for a in arrays:
        if a.null_count:
            m = pc.is_null(a).to_numpy(zero_copy_only=False)
            mask = m if mask is None else (mask | m)
    return mask


# ---------------------------------------------------------------------------------------
# Scalar functions


def _call(node: Call, args: list[Value], n: int) -> Value:
    fn = node.fn
    if fn.startswith("udf:"):
        return _udf(fn[4:], args, n)
    impl = _FUNCS.get(fn)
    if impl is None:
        raise PlanError(f"unknown function {fn!r}")
    lo, hi = _ARITY[fn]
    if len(args) < lo or (hi is not None and len(args) > hi):
        want = str(lo) if lo == hi else f"{lo} to {hi}" if hi is not None else f"at least {lo}"
        raise PlanError(f"{fn} takes {want} arguments, got {len(args)}: {display(node)}")
    return impl(args, n)


def _udf(name: str, args: list[Value], n: int) -> Value:
    udf = get_udf(name)
    if n == 0:  # typing on an empty batch: no need to call user code
        return pa.array([], udf.return_type)
    arrays = [_broadcast(a, n) for a in args]
    out = udf.fn(*arrays)
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    if not isinstance(out, pa.Array):
        raise PlanError(f"UDF {name!r} returned {type(out).__name__}, not a pyarrow Array")
    if len(out) != n:
        raise PlanError(f"UDF {name!r} returned {len(out)} values for {n} rows")
    return out if out.type == udf.return_type else out.cast(udf.return_type)


# arithmetic ------------------------------------------------------------------------------

_OP_SYMBOL = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "modulo": "%"}
_CHECKED = {"add": pc.add_checked, "subtract": pc.subtract_checked, "multiply": pc.multiply_checked}


def _numeric_operands(op: str, a: Value, b: Value) -> tuple[Value, Value]:
    a, b = _null_as(a, b.type), _null_as(b, a.type)
    for v in (a, b):
        if not (_is_numeric(v.type) or pa.types.is_null(v.type)):
            raise PlanError(f"cannot apply {_OP_SYMBOL[op]!r} to {a.type} and {b.type}")
    return a, b


def _arith(op: str) -> Callable[[list[Value], int], Value]:
    def impl(args: list[Value], n: int) -> Value:
        a, b = args
        if _is_temporal(a.type) or _is_temporal(b.type):
            return _date_arith(op, a, b, n)
        a, b = _numeric_operands(op, a, b)
        ta, tb = a.type, b.type
        if pa.types.is_null(ta):
            return pa.scalar(None, pa.int64())
        if pa.types.is_floating(ta) or pa.types.is_floating(tb):
            return _CHECKED[op](a.cast(pa.float64()), b.cast(pa.float64()))
        if pa.types.is_decimal(ta) or pa.types.is_decimal(tb):
            return _decimal_arith(op, _as_decimal(a), _as_decimal(b))
        return _CHECKED[op](a.cast(pa.int64()), b.cast(pa.int64()))

    return impl


def _decimal_arith(op: str, a: Value, b: Value) -> Value:
    """Decimal +, -, * with DuckDB's result scale and precision (capped at 38 digits).

    Arrow raises when its own result precision exceeds 38 (e.g. decimal(31, 4) *
    decimal(16, 2), whose product type is decimal(48, 6)). Then the operands are
    narrowed to the digits their values actually use (exact, and usually enough to
    stay in fast decimal128), else widened to decimal256; the result is cast to the
    decimal128 target, which fails only if a value really overflows 38 digits.
    """
    p1, s1, p2, s2 = a.type.precision, a.type.scale, b.type.precision, b.type.scale
    if op == "multiply":
        scale, precision = s1 + s2, p1 + p2
    else:
        scale = max(s1, s2)
        precision = max(p1 - s1, p2 - s2) + scale + 1
    target = _decimal_type(precision, scale)
    wide = pa.types.is_decimal256(a.type) or pa.types.is_decimal256(b.type)
    if wide or _arrow_decimal_precision(op, p1, s1, p2, s2) > _MAX_DEC128:
        q1 = min(p1, max(_digits_used(a), s1, 1))
        q2 = min(p2, max(_digits_used(b), s2, 1))
        need = _arrow_decimal_precision(op, q1, s1, q2, s2)
        if need > _MAX_DEC256:
            raise pa.ArrowInvalid(f"decimal overflow: the result does not fit in {target}")
        ctor = pa.decimal128 if need <= _MAX_DEC128 else pa.decimal256
        # narrowing to the digits the values use is exact: a view where possible
        a, b = retype_decimal(a, ctor(q1, s1), exact=True), retype_decimal(b, ctor(q2, s2), exact=True)
    out = _CHECKED[op](a, b)
    if out.type == target:
        return out
    # a product of p1 and p2 digits has at most p1 + p2 digits, so narrowing Arrow's
    # p1 + p2 + 1 to that is exact too
    return retype_decimal(out, target, exact=op == "multiply")


def _arrow_decimal_precision(op: str, p1: int, s1: int, p2: int, s2: int) -> int:
    """The result precision Arrow's decimal kernels compute (and reject above 38)."""
    if op == "multiply":
        return p1 + p2 + 1
    return max(p1 - s1, p2 - s2) + max(s1, s2) + 1


def _digits_used(*values: Value) -> int:
    """The number of digits (of the unscaled integer) of the largest absolute value."""
    digits = 1
    for v in values:
        if _is_const(v):
            ends = [v]
        else:
            mm = pc.min_max(v)
            ends = [mm["min"], mm["max"]]
        for e in ends:
            if e.is_valid:
                digits = max(digits, len(e.as_py().as_tuple().digits))
    return digits


def _zero_to_null(b: Value) -> Value:
    if _is_const(b):
        return pa.scalar(None, b.type) if b.is_valid and b.as_py() == 0 else b
    return pc.if_else(pc.equal(b, pa.scalar(0, b.type)), pa.scalar(None, b.type), b)


def _divide(args: list[Value], n: int) -> Value:
    """``/``: DuckDB divides as doubles (ints and decimals too); x / 0 is NULL, as the
    engine's contract says (DuckDB before 2.0 did the same; 2.0 gives +-inf or NaN)."""
    a, b = _numeric_operands("divide", *args)
    if pa.types.is_null(a.type):
        return pa.scalar(None, pa.float64())
    a, b = a.cast(pa.float64()), b.cast(pa.float64())
    return pc.divide(a, _zero_to_null(b))


def _modulo(args: list[Value], n: int) -> Value:
    """``%``: the remainder takes the dividend's sign (C's fmod); x % 0 is NULL."""
    a, b = _numeric_operands("modulo", *args)
    ta, tb = a.type, b.type
    if pa.types.is_null(ta):
        return pa.scalar(None, pa.int64())
    if pa.types.is_floating(ta) or pa.types.is_floating(tb):
        a, b = a.cast(pa.float64()), b.cast(pa.float64())
        (xa, xb), const = _align([a, _zero_to_null(b)], n)
        mask = _null_mask([xa, xb])
        with np.errstate(all="ignore"):
            r = np.fmod(_to_numpy(xa, 0.0), _to_numpy(xb, 1.0))
        out = pa.array(r, pa.float64(), mask=mask)
        return out[0] if const else out
    if pa.types.is_decimal(ta) or pa.types.is_decimal(tb):
        return _decimal_modulo(a, b)
    a, b = a.cast(pa.int64()), _zero_to_null(b.cast(pa.int64()))
    q = pc.divide(a, b)  # integer division truncates toward zero
    return pc.subtract(a, pc.multiply(q, b))


def _decimal_modulo(a: Value, b: Value) -> Value:
    a, b = _unify2(a, b)  # both now decimal(p, s) of the common type
    t = a.type
    b = _zero_to_null(b)
    p, s = t.precision, t.scale
    # Arrow's decimal division: scale max(4, s1 + p2 - s2 + 1), precision p1 - s1 + s2 + scale
    if p + max(4, p + 1) > _MAX_DEC256:
        # too wide for decimal256's quotient: narrow to the digits the values use
        p = max(s + 1, _digits_used(a, b))
        if p + max(4, p + 1) > _MAX_DEC256:
            raise UnsupportedError(f"% on {t} values this large is not supported")
    if p + max(4, p + 1) > _MAX_DEC128 or p != t.precision:
        a, b = a.cast(pa.decimal256(p, s)), b.cast(pa.decimal256(p, s))
    q = pc.trunc(pc.divide(a, b))
    q = q.cast(pa.decimal256(p + 1, 0))  # exact: q is a whole number below 10^p
    r = pc.subtract(a.cast(pa.decimal256(p, s)), pc.multiply(q, b.cast(pa.decimal256(p, s))))
    return r.cast(t)


def _negate(args: list[Value], n: int) -> Value:
    (a,) = args
    if pa.types.is_null(a.type):
        return a
    if not _is_numeric(a.type):
        raise PlanError(f"cannot negate a value of type {a.type}")
    return pc.negate_checked(a)


def _abs(args: list[Value], n: int) -> Value:
    (a,) = args
    if pa.types.is_null(a.type):
        return a
    if not _is_numeric(a.type):
        raise PlanError(f"abs is not defined for type {a.type}")
    return pc.abs_checked(a)


def _const_int(v: Value, what: str) -> int | None:
    if not _is_const(v):
        raise UnsupportedError(f"{what} must be a constant")
    if not (pa.types.is_integer(v.type) or pa.types.is_null(v.type)):
        raise PlanError(f"{what} must be an integer, got {v.type}")
    return v.as_py() if v.is_valid else None


def _round(args: list[Value], n: int) -> Value:
    """round(x[, digits]): halves away from zero; a decimal gets scale ``digits``."""
    a = args[0]
    digits = _const_int(args[1], "the digits of round()") if len(args) > 1 else 0
    if pa.types.is_null(a.type):
        return a
    if not _is_numeric(a.type):
        raise PlanError(f"round is not defined for type {a.type}")
    if digits is None:
        return pa.scalar(None, a.type)
    if pa.types.is_integer(a.type) and digits >= 0:
        return a
    out = pc.round(a, ndigits=digits, round_mode="half_towards_infinity")
    if pa.types.is_decimal(a.type) and digits < a.type.scale:
        ctor = pa.decimal256 if pa.types.is_decimal256(a.type) else pa.decimal128
        out = out.cast(ctor(a.type.precision, max(digits, 0)))
    return out


# dates -----------------------------------------------------------------------------------


def _date_arith(op: str, a: Value, b: Value, n: int) -> Value:
    """date + int, int + date, date - int (days) and date - date (days, int64)."""
    ta, tb = a.type, b.type
    if op == "add" and pa.types.is_date(ta) and (pa.types.is_integer(tb) or pa.types.is_null(tb)):
        return _add_days([a, b], n)
    if op == "add" and pa.types.is_date(tb) and (pa.types.is_integer(ta) or pa.types.is_null(ta)):
        return _add_days([b, a], n)
    if op == "subtract" and pa.types.is_date(ta):
        if pa.types.is_integer(tb) or pa.types.is_null(tb):
            return _add_days([a, pc.negate_checked(_null_as(b, pa.int64()))], n)
        if pa.types.is_date(tb):
            return pc.subtract(_days(a), _days(b))
    raise PlanError(f"cannot apply {_OP_SYMBOL[op]!r} to {ta} and {tb}")


def _days(v: Value) -> Value:
    """Days since the epoch of a date, as int64."""
    if v.type != pa.date32():
        v = v.cast(pa.date32())
    return v.cast(pa.int32()).cast(pa.int64())


_DAY_IN_UNIT = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _temporal_arg(v: Value, fn: str) -> Value:
    if pa.types.is_null(v.type):
        return v.cast(pa.date32())
    if not _is_temporal(v.type):
        raise PlanError(f"{fn} expects a date or timestamp, got {v.type}")
    return v


def _int_arg(v: Value, fn: str) -> Value:
    if pa.types.is_null(v.type):
        return v.cast(pa.int64())
    if not pa.types.is_integer(v.type):
        raise PlanError(f"{fn} expects an integer count, got {v.type}")
    return v.cast(pa.int64())


def _add_days(args: list[Value], n: int) -> Value:
    d, k = _temporal_arg(args[0], "add_days"), _int_arg(args[1], "add_days")
    if pa.types.is_timestamp(d.type):
        step = pc.multiply_checked(k, _DAY_IN_UNIT[d.type.unit]).cast(pa.duration(d.type.unit))
        return pc.add_checked(d, step)
    t = d.type
    out = pc.add_checked(_days(d), k).cast(pa.int32()).cast(pa.date32())
    return out if t == pa.date32() else out.cast(t)


def _add_months(args: list[Value], n: int) -> Value:
    """Add months, clamping to the month's end like DuckDB (Jan 31 + 1 month = Feb 29)."""
    d, k = _temporal_arg(args[0], "add_months"), _int_arg(args[1], "add_months")
    t = d.type
    (da, ka), const = _align([d, k], n)
    mask = _null_mask([da, ka])
    if pa.types.is_timestamp(t):
        naive = da.cast(pa.timestamp(t.unit))  # compute on UTC wall time
        ticks = _to_numpy(naive.cast(pa.int64()), 0)
        old_days = np.floor_divide(ticks, _DAY_IN_UNIT[t.unit])
        date = naive.cast(pa.date32())
    else:
        date = da if t == pa.date32() else da.cast(pa.date32())
    year = _to_numpy(pc.year(date), 1970)
    month0 = _to_numpy(pc.month(date), 1) - 1
    day = _to_numpy(pc.day(date), 1)
    total = year * 12 + month0 + _to_numpy(ka, 0).astype(np.int64)
    new_year, new_month0 = np.divmod(total, 12)
    leap = (new_year % 4 == 0) & ((new_year % 100 != 0) | (new_year % 400 == 0))
    month_len = _MONTH_DAYS[new_month0] + (leap & (new_month0 == 1))
    new_days = _days_from_civil(new_year, new_month0 + 1, np.minimum(day, month_len))
    if pa.types.is_timestamp(t):
        shifted = ticks + (new_days - old_days) * _DAY_IN_UNIT[t.unit]
        out = pa.array(shifted, pa.int64(), mask=mask).cast(pa.timestamp(t.unit)).cast(t)
    else:
        out = pa.array(new_days.astype(np.int32), pa.int32(), mask=mask).cast(pa.date32())
        if t != pa.date32():
            out = out.cast(t)
    return out[0] if const else out


_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _date_part(kernel: Callable[[Value], Value], fn: str) -> Callable[[list[Value], int], Value]:
    def impl(args: list[Value], n: int) -> Value:
        d = args[0]
        if pa.types.is_null(d.type):
            return pa.scalar(None, pa.int64())
        return kernel(_temporal_arg(d, fn))

    return impl


# comparisons and logic ---------------------------------------------------------------------


def _compare(kernel: Callable[[Value, Value], Value]) -> Callable[[list[Value], int], Value]:
    def impl(args: list[Value], n: int) -> Value:
        a, b = _unify2(*args)
        if pa.types.is_null(a.type):
            return pa.scalar(None, pa.bool_())
        return kernel(a, b)

    return impl


def _between(args: list[Value], n: int) -> Value:
    x, lo, hi = args
    return pc.and_kleene(_compare(pc.greater_equal)([x, lo], n), _compare(pc.less_equal)([x, hi], n))


def _bool_arg(v: Value, fn: str) -> Value:
    if pa.types.is_null(v.type):
        return v.cast(pa.bool_())
    if not pa.types.is_boolean(v.type):
        raise PlanError(f"{fn} expects boolean arguments, got {v.type}")
    return v


def _and(args: list[Value], n: int) -> Value:
    out = _bool_arg(args[0], "AND")
    for a in args[1:]:
        out = pc.and_kleene(out, _bool_arg(a, "AND"))
    return out


def _or(args: list[Value], n: int) -> Value:
    out = _bool_arg(args[0], "OR")
    for a in args[1:]:
        out = pc.or_kleene(out, _bool_arg(a, "OR"))
    return out


def _not(args: list[Value], n: int) -> Value:
    return pc.invert(_bool_arg(args[0], "NOT"))


def _is_null(args: list[Value], n: int) -> Value:
    return pc.is_null(args[0])


def _is_not_null(args: list[Value], n: int) -> Value:
    return pc.is_valid(args[0])


def _coalesce(args: list[Value], n: int) -> Value:
    vals = _unify(args)
    if pa.types.is_null(vals[0].type):
        return vals[0]
    if len(vals) == 1:
        return vals[0]
    return pc.coalesce(*vals)


def _nullif(args: list[Value], n: int) -> Value:
    a, b = args
    if pa.types.is_null(a.type):
        return a
    eq = _compare(pc.equal)([a, b], n)
    if _is_const(eq) and _is_const(a):
        return pa.scalar(None, a.type) if eq.is_valid and eq.as_py() else a
    (a_arr,), _ = _align([a], n)
    return pc.if_else(pc.fill_null(eq, False), pa.scalar(None, a.type), a_arr)


# strings ---------------------------------------------------------------------------------


def _string_arg(v: Value, fn: str) -> Value:
    t = v.type
    if pa.types.is_null(t):
        return v.cast(pa.string())
    if not _is_string(t):
        raise PlanError(f"{fn} expects a string, got {t}")
    return v if pa.types.is_string(t) else v.cast(pa.string())


def _const_str(v: Value, what: str) -> str | None:
    if not _is_const(v):
        raise UnsupportedError(f"{what} must be a constant")
    v = _string_arg(v, what)
    return v.as_py() if v.is_valid else None


def _like(ignore_case: bool) -> Callable[[list[Value], int], Value]:
    def impl(args: list[Value], n: int) -> Value:
        x = _string_arg(args[0], "LIKE")
        pattern = _const_str(args[1], "a LIKE pattern")
        if pattern is None:
            return pa.scalar(None, pa.bool_())
        # DuckDB's LIKE has no escape character by default; Arrow's treats '\' as one
        return pc.match_like(x, pattern.replace("\\", "\\\\"), ignore_case=ignore_case)

    return impl


def _substring(args: list[Value], n: int) -> Value:
    """SQL SUBSTRING(x, start[, length]) with 1-based ``start``, as in DuckDB: a
    negative start counts from the end, start 0 is one before the first character."""
    x = _string_arg(args[0], "substring")
    start = _const_int(args[1], "the start of substring()")
    length = _const_int(args[2], "the length of substring()") if len(args) > 2 else -1
    if start is None or (len(args) > 2 and length is None):
        return pa.scalar(None, pa.string())
    assert length is not None
    if len(args) == 2:
        begin, stop = (start - 1, None) if start > 0 else (start, None)
    elif length < 0:
        raise UnsupportedError("substring() with a negative length is not supported")
    elif start > 0:
        begin, stop = start - 1, start - 1 + length
    elif start == 0:
        begin, stop = 0, max(length - 1, 0)
    else:
        begin, stop = start, (start + length if start + length < 0 else None)
    return pc.utf8_slice_codeunits(x, start=begin, stop=stop)


def _unary_string(kernel: Callable[[Value], Value], fn: str) -> Callable[[list[Value], int], Value]:
    def impl(args: list[Value], n: int) -> Value:
        return kernel(_string_arg(args[0], fn))

    return impl


def _length(args: list[Value], n: int) -> Value:
    return pc.utf8_length(_string_arg(args[0], "length")).cast(pa.int64())


def _concat(args: list[Value], n: int) -> Value:
    """``a || b || ...``: NULL if any argument is NULL; non-strings are cast to text."""
    parts = [_string_arg(a, "concat") if _is_string(a.type) or pa.types.is_null(a.type) else _cast_to(a, pa.string())
             for a in args]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "")


def _affix(kernel: Callable[..., Value], fn: str) -> Callable[[list[Value], int], Value]:
    def impl(args: list[Value], n: int) -> Value:
        x = _string_arg(args[0], fn)
        pattern = _const_str(args[1], f"the second argument of {fn}()")
        if pattern is None:
            return pa.scalar(None, pa.bool_())
        return kernel(x, pattern=pattern)

    return impl


def _trim(kernel: Callable[..., Value], fn: str) -> Callable[[list[Value], int], Value]:
    def impl(args: list[Value], n: int) -> Value:
        x = _string_arg(args[0], fn)
        chars = _const_str(args[1], f"the characters of {fn}()") if len(args) > 1 else " "
        if chars is None:
            return pa.scalar(None, pa.string())
        return kernel(x, characters=chars) if chars else x

    return impl


def _replace(args: list[Value], n: int) -> Value:
    x = _string_arg(args[0], "replace")
    old = _const_str(args[1], "the search string of replace()")
    new = _const_str(args[2], "the replacement of replace()")
    if old is None or new is None:
        return pa.scalar(None, pa.string())
    if old == "":
        return x
    return pc.replace_substring(x, pattern=old, replacement=new)


# CASE, CAST, IN ------------------------------------------------------------------------------


def _case(node: Case, batch: pa.RecordBatch) -> Value:
    n = batch.num_rows
    conds = [_bool_arg(_eval(c, batch), "CASE WHEN") for c, _ in node.whens]
    values = [_eval(v, batch) for _, v in node.whens]
    if node.otherwise is not None:
        values.append(_eval(node.otherwise, batch))
    values = _unify(values)
    t = values[0].type
    if pa.types.is_null(t):
        return pa.scalar(None)
    # a NULL condition is not taken
    cond_arrays = [pc.fill_null(c, False) if c.null_count else c for c in (_broadcast(c, n) for c in conds)]
    struct = pa.StructArray.from_arrays(cond_arrays, names=[f"c{i}" for i in range(len(conds))])
    return pc.case_when(struct, *values)


def _cast_to(v: Value, target: pa.DataType) -> Value:
    """CAST with DuckDB's rounding (not Arrow's truncation errors) where they differ."""
    src = v.type
    if src == target:
        return v
    try:
        if pa.types.is_null(src):
            return v.cast(target)
        if pa.types.is_decimal(target) and pa.types.is_integer(src):
            return _int_to_decimal(v, target)
        if pa.types.is_decimal(target) and _is_string(src):
            return _string_to_decimal(v, target)
        if pa.types.is_integer(target) and pa.types.is_floating(src):
            v = pc.round(v, round_mode="half_to_even")  # DuckDB rounds doubles half to even
        elif pa.types.is_integer(target) and pa.types.is_decimal(src):
            v = pc.round(v, round_mode="half_towards_infinity")
        elif pa.types.is_decimal(target) and (pa.types.is_decimal(src) or pa.types.is_floating(src)):
            if pa.types.is_floating(src) or target.scale < src.scale:
                v = pc.round(v, ndigits=target.scale, round_mode="half_towards_infinity")
        elif _is_string(src) and (_is_numeric(target) or _is_temporal(target) or pa.types.is_boolean(target)):
            v = pc.utf8_trim(v.cast(pa.string()) if not pa.types.is_string(src) else v, characters=" ")
        return v.cast(target)
    except _ARROW_ERRORS as e:
        what = repr(v.as_py()) if _is_const(v) else f"a value of type {src}"
        raise PlanError(f"cannot cast {what} to {target}: {e}") from e


def _string_to_decimal(v: Value, target: pa.DataType) -> Value:
    v = pc.utf8_trim(v.cast(pa.string()), characters=" ")
    try:
        return v.cast(target)
    except pa.ArrowInvalid:
        # more fractional digits than the target holds: DuckDB rounds, Arrow refuses
        wide = v.cast(pa.decimal256(_MAX_DEC256, _MAX_DEC128))
        return pc.round(wide, ndigits=target.scale, round_mode="half_towards_infinity").cast(target)


def _cast(v: Value, to: str) -> Value:
    try:
        target = normalize_type(parse_type(to))
    except ValueError as e:
        raise PlanError(f"cannot cast to {to!r}: {e}") from e
    return _cast_to(v, target)


def _in_list(node: InList, batch: pa.RecordBatch) -> Value:
    """``x [NOT] IN (...)``: TRUE on a match; NULL if x is NULL or if nothing matches and
    the list holds a NULL; else FALSE. NOT IN is the three-valued negation."""
    n = batch.num_rows
    x = _eval(node.expr, batch)
    values = [_eval(v, batch) for v in node.values]
    if not values:
        return pa.scalar(node.negated)
    x, *values = _unify([x, *values])
    if pa.types.is_null(x.type):
        return pa.scalar(None, pa.bool_())
    if all(_is_const(v) for v in values):
        present = [v for v in values if v.is_valid]
        has_null = len(present) < len(values)
        (xa,), const = _align([x], n)
        value_set = pa.array([v.as_py() for v in present], type=x.type)
        match = pc.is_in(xa, value_set=value_set, skip_nulls=True)
        known = pc.invert(pc.is_null(xa)) if not has_null else pa.scalar(False)
        out = pc.if_else(pc.or_(match, known), match, pa.scalar(None, pa.bool_()))
        out = out[0] if const else out
    else:
        out = None
        for v in values:
            eq = _compare(pc.equal)([x, v], n)
            out = eq if out is None else pc.or_kleene(out, eq)
    return pc.invert(out) if node.negated else out


# ---------------------------------------------------------------------------------------
# The function table

_FUNCS: dict[str, Callable[[list[Value], int], Value]] = {
    "add": _arith("add"),
    "subtract": _arith("subtract"),
    "multiply": _arith("multiply"),
    "divide": _divide,
    "modulo": _modulo,
    "negate": _negate,
    "abs": _abs,
    "round": _round,
    "eq": _compare(pc.equal),
    "ne": _compare(pc.not_equal),
    "lt": _compare(pc.less),
    "le": _compare(pc.less_equal),
    "gt": _compare(pc.greater),
    "ge": _compare(pc.greater_equal),
    "between": _between,
    "and": _and,
    "or": _or,
    "not": _not,
    "is_null": _is_null,
    "is_not_null": _is_not_null,
    "coalesce": _coalesce,
    "nullif": _nullif,
    "like": _like(ignore_case=False),
    "ilike": _like(ignore_case=True),
    "substring": _substring,
    "upper": _unary_string(pc.utf8_upper, "upper"),
    "lower": _unary_string(pc.utf8_lower, "lower"),
    "length": _length,
    "concat": _concat,
    "starts_with": _affix(pc.starts_with, "starts_with"),
    "ends_with": _affix(pc.ends_with, "ends_with"),
    "contains": _affix(pc.match_substring, "contains"),
    "trim": _trim(pc.utf8_trim, "trim"),
    "ltrim": _trim(pc.utf8_ltrim, "ltrim"),
    "rtrim": _trim(pc.utf8_rtrim, "rtrim"),
    "replace": _replace,
    "year": _date_part(pc.year, "year"),
    "month": _date_part(pc.month, "month"),
    "day": _date_part(pc.day, "day"),
    "quarter": _date_part(pc.quarter, "quarter"),
    "add_days": _add_days,
    "add_months": _add_months,
}

# (min, max) argument counts; None: no maximum
_ARITY: dict[str, tuple[int, int | None]] = {
    **{f: (2, 2) for f in ("add", "subtract", "multiply", "divide", "modulo", "eq", "ne", "lt", "le", "gt", "ge")},
    **{f: (1, 1) for f in ("negate", "abs", "not", "is_null", "is_not_null", "upper", "lower", "length")},
    **{f: (1, 1) for f in ("year", "month", "day", "quarter")},
    **{f: (2, 2) for f in ("nullif", "like", "ilike", "starts_with", "ends_with", "contains", "add_days", "add_months")},
    **{f: (1, 2) for f in ("round", "trim", "ltrim", "rtrim")},
    **{f: (1, None) for f in ("and", "or", "coalesce", "concat")},
    "between": (3, 3),
    "substring": (2, 3),
    "replace": (3, 3),
}
