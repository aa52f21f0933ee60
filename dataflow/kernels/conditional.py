"""Conditional functions: coalesce, nullif, greatest and least.

``greatest``/``least`` skip NULLs (NULL only if every argument is), as DuckDB's do,
over arguments unified to one type.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ExprTypeError
from .comparison import EQ
from .registry import scalar
from .values import Value, align, is_const, unify


def _unified(args: list[Value], fn: str) -> list[Value]:
    try:
        return unify(args)
    except ExprTypeError as e:
        types = ", ".join(str(a.type) for a in args)
        raise ExprTypeError(f"{fn} cannot mix values of types {types}: {e.reason}") from None


@scalar("coalesce", (1, None), "conditional", sql=("coalesce", "ifnull"), nulls="all")
def _coalesce(args: list[Value], n: int) -> Value:
    """The first argument that is not NULL."""
    vals = _unified(args, "coalesce")
    if pa.types.is_null(vals[0].type) or len(vals) == 1:
        return vals[0]
    return pc.coalesce(*vals)


@scalar("nullif", 2, "conditional", nulls="maybe")
def _nullif(args: list[Value], n: int) -> Value:
    """NULL if ``a = b``, else ``a``."""
    a, b = args
    if pa.types.is_null(a.type):
        return a
    eq = EQ([a, b], n)
    if is_const(eq) and is_const(a):
        return pa.scalar(None, a.type) if eq.is_valid and eq.as_py() else a
    (a_arr,), _ = align([a], n)
    return pc.if_else(pc.fill_null(eq, False), pa.scalar(None, a.type), a_arr)


def _extreme(kernel, fn: str):  # type: ignore[no-untyped-def]
    def impl(args: list[Value], n: int) -> Value:
        vals = _unified(args, fn)
        t = vals[0].type
        if pa.types.is_null(t):
            return vals[0]
        if len(vals) == 1:
            return vals[0]
        try:
            out = kernel(*vals, skip_nulls=True)
        except pa.ArrowNotImplementedError as e:
            raise ExprTypeError(f"{fn} is not defined for values of type {t}") from e
        if fn == "greatest" and pa.types.is_floating(t):
            # DuckDB: NaN is greater than every number (Arrow skips it)
            nan = None
            for v in vals:
                isnan = pc.fill_null(pc.is_nan(v), False)
                nan = isnan if nan is None else pc.or_(nan, isnan)
            out = pc.if_else(nan, pa.scalar(float("nan"), t), out)
        return out

    impl.__doc__ = f"The {'largest' if fn == 'greatest' else 'smallest'} argument that is not NULL."
    return impl


scalar("greatest", (1, None), "conditional", nulls="all")(_extreme(pc.max_element_wise, "greatest"))
scalar("least", (1, None), "conditional", nulls="all")(_extreme(pc.min_element_wise, "least"))
