"""Evaluation of expression nodes over Arrow record batches, and the typing rules.

:func:`evaluate` turns an expression node into an Arrow array with one value per row
of a batch; :func:`evaluate_predicate` does the same for filters (NULL counts as
false). Everything is vectorized with ``pyarrow.compute`` (and numpy where Arrow has
no kernel); no function loops over rows in Python. The scalar functions themselves
live in :mod:`dataflow.kernels`, one module per family, in one registry; this module
compiles an expression tree once into closures (:func:`compile_expr`: columns bound,
kernels looked up, IN value sets built) and evaluates the nodes that are not calls
(CASE, CAST, IN).

The semantics follow DuckDB: mixed-type arithmetic and comparisons unify their
operands first, decimals keep exact precision and scale, ``/`` divides as doubles,
and AND/OR/NOT/IN use SQL's three-valued logic.

Typing is derived from evaluation itself: :func:`infer_field` evaluates the
expression on an empty batch of the input schema, so the inferred type can never
disagree with what :func:`evaluate` produces, and type errors (a string compared with
a number, ``upper(1)``) surface at planning as :class:`~dataflow.errors.ExprTypeError`
naming the expression.

>>> import pyarrow as pa
>>> from dataflow.expr import col
>>> batch = pa.record_batch({"a": [1, 2, None]})
>>> evaluate((col("a") * 10 + 1).node, batch).to_pylist()
[11, 21, None]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from .errors import AmbiguousColumnError, ExprTypeError, PlanError, UnknownColumnError
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
from .kernels import lookup
from .kernels.comparison import EQ
from .kernels.registry import Kernel
from .kernels.udf import call_udf
from .kernels.values import ARROW_ERRORS as _ARROW_ERRORS
from .kernels.values import MAX_DEC128 as _MAX_DEC128
from .kernels.values import Value, align, bool_arg, broadcast, cast_to, coerce, is_const, unify
from .kernels.values import is_numeric as _is_numeric
from .specs import AggSpec, WindowSpec, partial_columns
from .types import Field, Schema, normalize_type, parse_type, resolve_type_name, schema_to_arrow, type_name

__all__ = [
    "Compiled", "aggregate_result_type", "aggregate_state_fields", "check_predicate", "compile_expr",
    "compile_predicate", "evaluate", "evaluate_predicate", "infer_aggregate_field", "infer_field",
    "infer_window_field", "window_fields",
]

_RANKING = frozenset({"row_number", "rank", "dense_rank"})

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
    return broadcast(value, batch.num_rows)


def evaluate_predicate(node: ExprNode, batch: pa.RecordBatch) -> pa.BooleanArray:
    """Evaluate a filter predicate: a boolean array without NULLs (NULL counts as false)."""
    return compile_predicate(node)(batch)


def compile_predicate(node: ExprNode) -> Callable[[pa.RecordBatch], pa.BooleanArray]:
    """:func:`evaluate_predicate` compiled once (see :func:`compile_expr`)."""
    run = compile_expr(node)

    def predicate(batch: pa.RecordBatch) -> pa.BooleanArray:
        try:
            value = run(batch)
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

    return predicate


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


def check_predicate(node: ExprNode, schema: Schema) -> None:
    """Check at planning that ``node`` is a valid predicate over rows of ``schema``: its
    columns exist, its types fit (:class:`ExprTypeError` otherwise) and it is boolean."""
    t = infer_field(node, schema, "predicate").arrow_type
    if not (pa.types.is_boolean(t) or pa.types.is_null(t)):
        raise ExprTypeError(f"a condition must be boolean, but this is {t}", display(node))


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


# aggregates whose state is float64 moments (see dataflow.specs.AGG_STATES)
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
    type. ``partial``: the state columns of :func:`dataflow.specs.partial_columns`
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
# The evaluator: expressions compiled once into closures over batches

# A compiled expression: one batch in, its value out (a scalar for a constant).
Compiled = Callable[[pa.RecordBatch], Value]


def compile_expr(node: ExprNode) -> Compiled:
    """Compile ``node`` once into a function of a batch, as DataFusion's
    ``create_physical_expr`` does: literals become Arrow scalars, calls are bound to
    their kernel (arity checked), cast targets parsed, an IN list's value set built,
    and each column's index found on the first batch (and again only if a batch comes
    with another schema). Operators compile their expressions when they start, so none
    of this is redone per batch; :func:`evaluate` compiles and runs in one go.

    >>> import pyarrow as pa
    >>> from dataflow.expr import col
    >>> f = compile_expr((col("a") + 1).node)
    >>> f(pa.record_batch({"a": [1, 2]})).to_pylist()
    [2, 3]
    """
    if isinstance(node, ColumnRef):
        return _compile_column(node.name)
    if isinstance(node, Literal):
        value = _literal(node)
        return lambda batch: value
    if isinstance(node, Call):
        return _compile_call(node)
    if isinstance(node, Case):
        return _located_errors(_compile_case(node), node)
    if isinstance(node, Cast):
        return _located_errors(_compile_cast(node), node)
    if isinstance(node, InList):
        return _located_errors(_compile_in_list(node), node)
    if isinstance(node, (AggCall, WindowCall)):
        what = "aggregate" if isinstance(node, AggCall) else "window function"
        raise PlanError(
            f"{what} {display(node)} is not allowed here: aggregates and window functions "
            "are only valid in an aggregation or window"
        )
    raise PlanError(f"unknown expression node {node!r}")


def _eval(node: ExprNode, batch: pa.RecordBatch) -> Value:
    return compile_expr(node)(batch)


def _located(e: ExprTypeError, node: ExprNode) -> ExprTypeError:
    """``e`` naming the innermost expression it happened in."""
    return e if e.expr is not None else ExprTypeError(e.reason, display(node))


def _located_errors(run: Compiled, node: ExprNode) -> Compiled:
    def located(batch: pa.RecordBatch) -> Value:
        try:
            return run(batch)
        except ExprTypeError as e:
            raise _located(e, node) from None

    return located


def _compile_column(name: str) -> Compiled:
    bound: list[tuple[pa.Schema, int, pa.DataType | None]] = []  # (schema, index, cast to)

    def column(batch: pa.RecordBatch) -> Value:
        schema = batch.schema
        if not bound or bound[0][0] is not schema:
            idx = schema.get_all_field_indices(name)
            if not idx:
                raise UnknownColumnError(name, schema.names)
            if len(idx) > 1:
                raise AmbiguousColumnError(name, [f"{name} (column {i + 1})" for i in idx])
            t = schema.field(idx[0]).type
            nt = normalize_type(t)
            bound[:] = [(schema, idx[0], None if nt == t else nt)]
        _, i, to = bound[0]
        arr = batch.column(i)
        return arr if to is None else arr.cast(to)

    return column


def _compile_call(node: Call) -> Compiled:
    fn = node.fn
    kids = [compile_expr(a) for a in node.args]
    impl: Kernel
    if fn.startswith("udf:"):
        name = fn[4:]

        def impl(args: list[Value], n: int) -> Value:
            return call_udf(name, args, n)
    else:
        spec = lookup(fn)
        if spec is None:
            raise PlanError(f"unknown function {fn!r}")
        want = spec.check_arity(len(kids))
        if want is not None:
            raise PlanError(f"{fn} takes {want} arguments, got {len(kids)}: {display(node)}")
        impl = spec.impl

    def call(batch: pa.RecordBatch) -> Value:
        args = [k(batch) for k in kids]
        try:
            return impl(args, batch.num_rows)
        except ExprTypeError as e:
            raise _located(e, node) from None

    return call


def _compile_cast(node: Cast) -> Compiled:
    inner = compile_expr(node.expr)
    try:
        target = normalize_type(parse_type(resolve_type_name(node.to)))
    except ValueError as e:
        raise PlanError(f"cannot cast to {node.to!r}: {e}") from e
    return lambda batch: cast_to(inner(batch), target)


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




def _nullable(node: ExprNode, fields: dict[str, Field]) -> bool:
    """Whether ``node`` may be NULL (statically, from its inputs)."""
    if isinstance(node, ColumnRef):
        f = fields.get(node.name)
        return True if f is None else f.nullable
    if isinstance(node, Literal):
        return node.value is None
    if isinstance(node, Call):
        kids = [_nullable(a, fields) for a in node.args]
        spec = None if node.fn.startswith("udf:") else lookup(node.fn)
        rule = "maybe" if spec is None else spec.nulls
        if rule == "never":
            return False
        if rule == "all":
            return all(kids)
        if rule == "maybe":
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
# CASE and IN


def _compile_case(node: Case) -> Compiled:
    conds = [compile_expr(c) for c, _ in node.whens]
    values = [compile_expr(v) for _, v in node.whens]
    if node.otherwise is not None:
        values.append(compile_expr(node.otherwise))
    names = [f"c{i}" for i in range(len(conds))]

    def case(batch: pa.RecordBatch) -> Value:
        n = batch.num_rows
        cs = [bool_arg(c(batch), "CASE WHEN") for c in conds]
        vs = unify([v(batch) for v in values])
        if pa.types.is_null(vs[0].type):
            return pa.scalar(None)
        # a NULL condition is not taken
        arrays = [pc.fill_null(c, False) if c.null_count else c for c in (broadcast(c, n) for c in cs)]
        return pc.case_when(pa.StructArray.from_arrays(arrays, names=names), *vs)

    return case


def _compile_in_list(node: InList) -> Compiled:
    """``x [NOT] IN (...)``: TRUE on a match; NULL if x is NULL or if nothing matches and
    the list holds a NULL; else FALSE. NOT IN is the three-valued negation. A list of
    constants becomes one value set, built on the first batch (it needs the type of x)
    and kept for the next ones of the same type."""
    x_of = compile_expr(node.expr)
    values_of = [compile_expr(v) for v in node.values]
    negated = node.negated
    if not values_of:
        return lambda batch: pa.scalar(negated)
    constant = all(isinstance(v, Literal) for v in node.values)
    sets: dict[tuple[pa.DataType, bool], tuple[pa.DataType, pa.Array, bool, bool]] = {}

    def in_list(batch: pa.RecordBatch) -> Value:
        n = batch.num_rows
        x = x_of(batch)
        key = (x.type, is_const(x))
        if constant and key in sets:
            t, value_set, has_null, has_nan = sets[key]
            x = coerce(x, t)
        else:
            x, *values = unify([x, *(v(batch) for v in values_of)])
            t = x.type
            if pa.types.is_null(t):
                return pa.scalar(None, pa.bool_())
            if not constant:
                out = None
                for v in values:
                    eq = EQ([x, v], n)
                    out = eq if out is None else pc.or_kleene(out, eq)
                return pc.invert(out) if negated else out
            present = [v for v in values if v.is_valid]
            value_set, has_null = pa.array([v.as_py() for v in present], type=t), len(present) < len(values)
            has_nan = pa.types.is_floating(t) and bool(pc.any(pc.is_nan(value_set)).as_py())
            sets[key] = (t, value_set, has_null, has_nan)
        (xa,), const = align([x], n)
        match = pc.is_in(xa, value_set=value_set, skip_nulls=True)
        if has_nan:
            match = pc.or_(match, pc.is_nan(xa))  # NaN IN (NaN) is true in DuckDB
        known = pc.invert(pc.is_null(xa)) if not has_null else pa.scalar(False)
        out = pc.if_else(pc.or_(match, known), match, pa.scalar(None, pa.bool_()))
        out = out[0] if const else out
        return pc.invert(out) if negated else out

    return in_list
