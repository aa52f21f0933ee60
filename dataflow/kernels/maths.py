"""Math functions over doubles, as DuckDB computes them: ``sqrt``, ``exp``, ``ln``,
``log`` (base 10, or ``log(b, x)`` base ``b``), ``log10``, ``log2``, ``power``/``pow``.

Arguments of any numeric type become float64 and the result is a double. Like DuckDB,
a value outside a function's domain gives NaN or an infinity, not an error:
``sqrt(-4)`` is NaN, ``ln(0)`` is -inf.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow.compute as pc

from .registry import Kernel, scalar
from .values import Value, float_arg


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
