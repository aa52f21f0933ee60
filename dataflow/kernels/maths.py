"""Math functions, as DuckDB computes them: ``sqrt``, ``exp``, ``ln``, ``log`` (base
10, or ``log(b, x)`` base ``b``), ``log10``, ``log2``, ``power``/``pow`` over doubles;
``ceil``, ``floor``, ``trunc`` and ``sign``.

Arguments of any numeric type become float64 and the result is a double. Like DuckDB,
a value outside a function's domain gives NaN or an infinity, not an error:
``sqrt(-4)`` is NaN, ``ln(0)`` is -inf.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from .registry import Kernel, scalar
from .values import Value, float_arg, numeric_arg, to_float


def _unary(kernel: Callable[[Value], Value], fn: str) -> Kernel:
    def impl(args: list[Value], n: int) -> Value:
        return kernel(float_arg(args[0], fn))

    impl.__doc__ = f"{fn}(x) of a number, as a double"
    return impl


scalar("sqrt", 1, "math", returns="double")(_unary(pc.sqrt, "sqrt"))
scalar("exp", 1, "math", returns="double")(_unary(pc.exp, "exp"))
scalar("ln", 1, "math", returns="double")(_unary(pc.ln, "ln"))
scalar("log10", 1, "math", returns="double")(_unary(pc.log10, "log10"))
scalar("log2", 1, "math", returns="double")(_unary(pc.log2, "log2"))


@scalar("log", (1, 2), "math", returns="double")
def _log(args: list[Value], n: int) -> Value:
    """log(x): base 10 (DuckDB's); log(b, x): base ``b``."""
    if len(args) == 1:
        return pc.log10(float_arg(args[0], "log"))
    b, x = float_arg(args[0], "log"), float_arg(args[1], "log")
    return pc.divide(pc.ln(x), pc.ln(b))


@scalar("power", 2, "math", sql=("power", "pow"), returns="double")
def _power(args: list[Value], n: int) -> Value:
    """power(x, y): ``x`` to the ``y``, as doubles."""
    x, y = float_arg(args[0], "power"), float_arg(args[1], "power")
    return pc.power(x, y)


def _to_integer_decimal(kernel: Callable[[Value], Value], fn: str) -> Kernel:
    """ceil/floor/trunc: doubles stay doubles, decimal(p, s) becomes decimal(p, 0), as
    DuckDB types them; integers become doubles for ceil and floor (DuckDB's choice)
    and stay as they are for trunc."""

    def impl(args: list[Value], n: int) -> Value:
        x = numeric_arg(args[0], fn)
        t = x.type
        if pa.types.is_null(t):
            return pa.scalar(None, pa.float64())
        if pa.types.is_decimal(t):
            # one more digit while rounding (ceil(9.99) is 10.00, too wide for decimal(3, 2))
            wide = pa.decimal256 if pa.types.is_decimal256(t) or t.precision >= 38 else pa.decimal128
            ctor = pa.decimal256 if pa.types.is_decimal256(t) else pa.decimal128
            return kernel(x.cast(wide(t.precision + 1, t.scale))).cast(ctor(t.precision, 0))
        if pa.types.is_integer(t):
            return x if fn == "trunc" else to_float(x)
        return kernel(to_float(x))

    impl.__doc__ = f"{fn}(x)"
    return impl


scalar("ceil", 1, "math", sql=("ceil", "ceiling"))(_to_integer_decimal(pc.ceil, "ceil"))
scalar("floor", 1, "math")(_to_integer_decimal(pc.floor, "floor"))
scalar("trunc", 1, "math")(_to_integer_decimal(pc.trunc, "trunc"))


@scalar("sign", 1, "math", returns="int8")
def _sign(args: list[Value], n: int) -> Value:
    """sign(x): -1, 0 or 1, as a TINYINT."""
    x = numeric_arg(args[0], "sign")
    if pa.types.is_null(x.type):
        return pa.scalar(None, pa.int8())
    return pc.sign(to_float(x) if pa.types.is_decimal(x.type) else x).cast(pa.int8())
