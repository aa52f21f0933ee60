"""The SQL spellings of the aggregate functions beyond count/sum/avg/min/max, and
their extra arguments (the second column of ``corr``, the fraction of a quantile,
the separator of ``string_agg``), for :mod:`.expressions`.

>>> import sqlglot
>>> node = sqlglot.parse_one("select quantile_cont(x, 0.25) from t", dialect="duckdb").expressions[0]
>>> EXTRA_AGGREGATES[type(node)], extra_args(node)[1]
('quantile_cont', 0.25)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from ..errors import PlanError

EXTRA_AGGREGATES: dict[type, str] = {
    exp.Stddev: "stddev_samp",
    exp.StddevSamp: "stddev_samp",
    exp.StddevPop: "stddev_pop",
    exp.Variance: "var_samp",
    exp.VariancePop: "var_pop",
    exp.Corr: "corr",
    exp.CovarSamp: "covar_samp",
    exp.CovarPop: "covar_pop",
    exp.Median: "median",
    exp.PercentileCont: "quantile_cont",
    exp.PercentileDisc: "quantile_disc",
    exp.Quantile: "quantile_disc",
    exp.LogicalAnd: "bool_and",
    exp.LogicalOr: "bool_or",
    exp.GroupConcat: "string_agg",
}


def _constant(node: exp.Expression | None, what: str) -> Any:
    if node is None:
        return None
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return -float(node.this.this)
    if not isinstance(node, exp.Literal):
        raise PlanError(f"{what} must be a constant, not {node.sql(dialect='duckdb')}")
    return node.this if node.is_string else float(node.this)


def extra_args(node: exp.Expression) -> tuple[exp.Expression | None, float | str | None]:
    """The second argument (an expression) and the constant parameter of an aggregate."""
    fn = EXTRA_AGGREGATES.get(type(node))
    if fn in ("corr", "covar_samp", "covar_pop"):
        second = node.args.get("expression")
        if second is None:
            raise PlanError(f"{fn}() takes two arguments")
        return second, None
    if fn in ("quantile_cont", "quantile_disc"):
        q = node.args.get("expression") or node.args.get("quantile")
        if q is None:
            raise PlanError(f"{fn}() needs the quantile, e.g. {fn}(x, 0.5)")
        if isinstance(q, (exp.Array, exp.Tuple)):
            raise PlanError(f"{fn}() with a list of quantiles is not supported; give one fraction")
        value = _constant(q, f"the quantile of {fn}()")
        if not isinstance(value, float) or not 0.0 <= value <= 1.0:
            raise PlanError(f"the quantile of {fn}() must be a number between 0 and 1, not {value!r}")
        return None, value
    if fn == "string_agg":
        sep = _constant(node.args.get("separator"), "the separator of string_agg()")
        if sep is not None and not isinstance(sep, str):
            raise PlanError("the separator of string_agg() must be a string")
        return None, sep
    return None, None


def extra_name(node: exp.Expression, name: Callable[[exp.Expression], str]) -> str:
    """The default column name of an aggregate call, as DuckDB writes it: the function
    as spelled in the query (``stddev``, ``var_samp``) and all its arguments."""
    args = [node.this]
    for key in ("expression", "quantile", "separator"):
        if node.args.get(key) is not None:
            args.append(node.args[key])
    inner = ", ".join(a.sql(dialect="duckdb") if isinstance(a, exp.Literal) else name(a) for a in args)
    return f"{_SPELLING.get(type(node), EXTRA_AGGREGATES[type(node)])}({inner})"


# sqlglot folds some spellings together; these are DuckDB's names for the folded node
_SPELLING: dict[type, str] = {exp.Stddev: "stddev", exp.Variance: "var_samp", exp.GroupConcat: "string_agg"}
