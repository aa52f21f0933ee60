"""Specs shared by the physical plan, expression evaluation and the operators: sort
keys, aggregates and window functions over named columns.

A leaf module (it imports only pydantic), so that ``compute`` and the operators read
these without importing the plan modules, and the plan modules without importing
``compute``.

>>> str(AggSpec(name="n", fn="count", arg="x", distinct=True))
'count(DISTINCT x) AS n'
>>> partial_columns(AggSpec(name="a", fn="avg", arg="x"))
['a__sum', 'a__count']
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """An immutable pydantic model; :meth:`replace` makes changed copies."""

    model_config = ConfigDict(frozen=True)

    def replace(self, **update: Any) -> Any:
        """A copy with some fields changed."""
        return self.model_copy(update=update)


class OrderSpec(Frozen):
    """One sort key over a column; NULLs last unless ``nulls_first`` (DuckDB's default)."""

    column: str
    ascending: bool = True
    nulls_first: bool = False

    def __str__(self) -> str:
        s = self.column + ("" if self.ascending else " DESC")
        return s + (" NULLS FIRST" if self.nulls_first else "")


class AggSpec(Frozen):
    """One aggregate over an input column (``arg`` is ``None`` for ``count_star``)."""

    name: str
    fn: str  # one of dataflow.expr.AGGREGATE_FUNCTIONS
    arg: str | None = None
    distinct: bool = False
    arg2: str | None = None  # corr / covar_*: the second column
    param: float | str | None = None  # quantile fraction, string_agg separator

    def __str__(self) -> str:
        inner = "*" if self.arg is None else ("DISTINCT " if self.distinct else "") + self.arg
        if self.arg2 is not None:
            inner += f", {self.arg2}"
        if self.param is not None:
            inner += f", {self.param!r}"
        return f"{self.fn}({inner}) AS {self.name}"


# Aggregates whose partial state is several columns (the suffixes of their names);
# every other decomposable aggregate carries one column. The moments are float64
# sums (count, sum, sum of squares, sum of products), merged by adding them.
AGG_STATES: dict[str, tuple[str, ...]] = {
    "avg": ("sum", "count"),
    **{fn: ("n", "s", "ss") for fn in ("stddev_samp", "stddev_pop", "var_samp", "var_pop")},
    "covar_samp": ("n", "sx", "sy", "sxy"),
    "covar_pop": ("n", "sx", "sy", "sxy"),
    "corr": ("n", "sx", "sy", "sxy", "sxx", "syy"),
}

# Aggregates that need all of a group's values at once: planned in one phase
# (``single`` mode, after a hash exchange on the keys).
HOLISTIC_AGGREGATES: frozenset[str] = frozenset(
    {"median", "quantile_cont", "quantile_disc", "string_agg", "single_value"}
)


def partial_columns(agg: AggSpec) -> list[str]:
    """The columns in which a partial aggregate carries ``agg``'s state."""
    if agg.fn in AGG_STATES:
        return [f"{agg.name}__{suffix}" for suffix in AGG_STATES[agg.fn]]
    return [agg.name]


class WindowSpec(Frozen):
    """One window function: ranking (``row_number``, ``rank``, ``dense_rank``) or an
    aggregate over an input column (``arg``)."""

    name: str
    fn: str
    arg: str | None = None
    # see dataflow.expr.WindowCall: the frame, the constant parameter, the default column
    frame: tuple[str, int | None, int | None] | None = None
    param: int | None = None
    arg2: str | None = None

    def __str__(self) -> str:
        args = ", ".join(str(a) for a in (self.arg, self.param, self.arg2) if a is not None)
        frame = "" if self.frame is None else f" {self.frame[0]}[{self.frame[1]}, {self.frame[2]}]"
        return f"{self.fn}({args}){frame} AS {self.name}"


__all__ = [
    "AGG_STATES", "HOLISTIC_AGGREGATES", "AggSpec", "Frozen", "OrderSpec", "WindowSpec", "partial_columns",
]
