"""The aggregate functions of :mod:`.hash_aggregate`: their states, merges and results.

Decomposable aggregates carry states that merge by a hash aggregate of their own
(``sum`` of counts and sums, ``min``/``max``, ``all``/``any`` of booleans). The
statistical ones (variances, standard deviations, covariances, correlation) carry
float64 moments: the count of values n, their sum and the sum of their squares (or
products), and finish as ``(ss - s*s/n) / (n - 1)`` and so on. Holistic aggregates
(median, quantiles, string_agg, single_value) need a group's values at once: they run
in single mode only, from the list of each group's values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflow.compute import aggregate_result_type
from dataflow.errors import DataflowError
from dataflow.specs import AGG_STATES, AggSpec
from dataflow.types import retype_decimal

VALID = pc.CountOptions(mode="only_valid")
SUM = pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)  # NULL when no value
SUM0 = pc.ScalarAggregateOptions(skip_nulls=True, min_count=0)  # 0 when no value

MOMENTS = frozenset({"stddev_samp", "stddev_pop", "var_samp", "var_pop", "covar_samp", "covar_pop", "corr"})
SIMPLE = frozenset({"count", "count_star", "sum", "avg", "min", "max", "bool_and", "bool_or"})
SUPPORTED = SIMPLE | MOMENTS | {"median", "quantile_cont", "quantile_disc", "string_agg", "single_value"}

SCALAR_ONE_ROW = "More than one row returned by a subquery used as an expression - scalar subqueries can only return a single row"


def state_names(i: int, agg: AggSpec) -> list[str]:
    """The internal state columns of aggregate number ``i``."""
    if agg.fn in AGG_STATES:
        return [f"__s{i}_{s}" for s in AGG_STATES[agg.fn]]
    return [f"__s{i}"]


def raw_specs(
    i: int, agg: AggSpec, chunk: pa.Table, columns: dict[str, Any]
) -> tuple[list[tuple], list[tuple[str, str]]]:
    """For raw rows: the ``group_by`` specs of aggregate ``i`` (its input columns added
    to ``columns``) and, per state column, the ``group_by`` output that holds it."""
    a = f"__a{i}"
    names = state_names(i, agg)
    if agg.fn == "count_star":
        return [([], "count_all")], [(names[0], "count_all")]
    arg = chunk.column(agg.arg)
    if agg.fn in ("sum", "avg"):
        columns[a] = retype_decimal(arg, aggregate_result_type("sum", arg.type))
        if agg.fn == "sum":
            return [(a, "sum", SUM)], [(names[0], f"{a}_sum")]
        return [(a, "sum", SUM), (a, "count", VALID)], [(names[0], f"{a}_sum"), (names[1], f"{a}_count")]
    columns[a] = arg
    if agg.fn == "count":
        return [(a, "count", VALID)], [(names[0], f"{a}_count")]
    if agg.fn in ("min", "max"):
        return [(a, agg.fn)], [(names[0], f"{a}_{agg.fn}")]
    if agg.fn in ("bool_and", "bool_or"):
        op = "all" if agg.fn == "bool_and" else "any"
        return [(a, op, SUM)], [(names[0], f"{a}_{op}")]
    if agg.fn in MOMENTS:
        y = arg.cast(pa.float64())
        if agg.arg2 is None:
            x = y
        else:
            x = chunk.column(agg.arg2).cast(pa.float64())
            both = pc.and_(y.is_valid(), x.is_valid())
            y, x = pc.if_else(both, y, None), pc.if_else(both, x, None)
        derived = {"n": y, "s": y, "ss": pc.multiply(y, y), "sx": x, "sy": y, "sxy": pc.multiply(x, y)}
        derived |= {"sxx": pc.multiply(x, x), "syy": pc.multiply(y, y)}
        specs, outputs = [], []
        for suffix, name in zip(AGG_STATES[agg.fn], names, strict=True):
            col = f"{a}_{suffix}"
            columns[col] = derived[suffix]
            if suffix == "n":
                specs.append((col, "count", VALID))
                outputs.append((name, f"{col}_count"))
            else:
                specs.append((col, "sum", SUM0))
                outputs.append((name, f"{col}_sum"))
        return specs, outputs
    raise DataflowError(f"the aggregate {agg.fn} has no partial state (it runs in single mode)")


def merge_spec(agg: AggSpec, name: str) -> tuple[tuple, str]:
    """The ``group_by`` spec that merges state column ``name``, and its output name."""
    if agg.fn in ("count", "count_star") or name.endswith(("_count", "_n")):
        return (name, "sum", SUM0), f"{name}_sum"
    if agg.fn in MOMENTS:
        return (name, "sum", SUM0), f"{name}_sum"
    if agg.fn in ("sum", "avg"):
        return (name, "sum", SUM), f"{name}_sum"
    if agg.fn in ("bool_and", "bool_or"):
        op = "all" if agg.fn == "bool_and" else "any"
        return (name, op, SUM), f"{name}_{op}"
    return (name, agg.fn), f"{name}_{agg.fn}"


def finalize(i: int, agg: AggSpec, states: pa.Table) -> Any:
    """Merged states of aggregate ``i`` -> its result column."""
    names = state_names(i, agg)
    if agg.fn == "avg":
        total = states.column(names[0]).cast(pa.float64())
        count = states.column(names[1])
        return pc.divide(total, pc.if_else(pc.equal(count, 0), None, count.cast(pa.float64())))
    if agg.fn in MOMENTS:
        return _moments(
            agg.fn, {s: states.column(nm) for s, nm in zip(AGG_STATES[agg.fn], names, strict=True)}
        )
    return states.column(names[0])


def _np(col: Any) -> np.ndarray:
    return pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.float64)


def _moments(fn: str, st: dict[str, Any]) -> pa.Array:
    n = _np(st["n"])
    safe = np.where(n > 0, n, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if fn in ("covar_samp", "covar_pop", "corr"):
            sx, sy, sxy = _np(st["sx"]), _np(st["sy"]), _np(st["sxy"])
            co = sxy - sx * sy / safe
            if fn == "corr":
                vx = np.maximum(_np(st["sxx"]) - sx * sx / safe, 0.0)
                vy = np.maximum(_np(st["syy"]) - sy * sy / safe, 0.0)
                out = co / np.sqrt(vx * vy)
                out = np.clip(out, -1.0, 1.0)  # rounding; NaN (no variance) stays NaN
                return pa.array(out, mask=n < 1)
            div = n - 1 if fn == "covar_samp" else n
            return pa.array(co / np.where(div > 0, div, 1.0), mask=div <= 0)
        s, ss = _np(st["s"]), _np(st["ss"])
        m2 = np.maximum(ss - s * s / safe, 0.0)
        div = n - 1 if fn.endswith("_samp") else n
        var = m2 / np.where(div > 0, div, 1.0)
        out = np.sqrt(var) if fn.startswith("stddev") else var
        return pa.array(out, mask=div <= 0)


# -- holistic aggregates ----------------------------------------------------------------


def holistic(agg: AggSpec, lists: pa.ChunkedArray | pa.Array, counts: Any, out_type: pa.DataType) -> pa.Array:
    """Aggregate ``agg`` per group from each group's list of values (NULLs included);
    ``counts`` is the number of rows of each group (for single_value)."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    n = len(lists)
    if agg.fn == "single_value":
        rows = np.asarray(pc.fill_null(counts, 0).to_numpy(zero_copy_only=False))
        if (rows > 1).any():
            raise DataflowError(SCALAR_ONE_ROW)
        flat = pc.list_flatten(lists)
        par = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
        first = np.full(n, -1, dtype=np.int64)
        first[par[::-1]] = np.arange(len(par) - 1, -1, -1)
        return (
            flat.take(pa.array(np.maximum(first, 0), mask=first < 0)) if len(flat) else pa.nulls(n, out_type)
        )
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    values = pc.list_flatten(lists)
    keep = values.is_valid()
    values, parents = values.filter(keep), parents[keep.to_numpy(zero_copy_only=False)]
    if agg.fn == "string_agg":
        sep = "," if agg.param is None else str(agg.param)
        valid_lists = pa.ListArray.from_arrays(_offsets(parents, n), values.cast(pa.string()))
        lengths = np.bincount(parents, minlength=n)
        return pc.if_else(pa.array(lengths > 0), pc.binary_join(valid_lists, sep), pa.nulls(n, pa.string()))
    # quantiles: sort values within groups, then index
    order = np.lexsort((_sort_key(values), parents))
    values, parents = values.take(pa.array(order)), parents[order]
    lengths = np.bincount(parents, minlength=n).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    q = 0.5 if agg.fn == "median" else float(agg.param if agg.param is not None else 0.5)
    if not 0.0 <= q <= 1.0:
        raise DataflowError(f"{agg.fn}: the quantile must be between 0 and 1, not {q}")
    empty = lengths == 0
    if agg.fn == "quantile_disc":
        idx = np.maximum(np.ceil(q * lengths).astype(np.int64) - 1, 0)
        pos = np.where(empty, 0, starts + idx)
        return values.take(pa.array(pos, mask=empty)) if len(values) else pa.nulls(n, out_type)
    pos = q * np.maximum(lengths - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(lengths - 1, 0))
    frac = pos - lo
    if not len(values):
        return pa.nulls(n, out_type)
    lo_i = np.where(empty, 0, starts + lo)
    hi_i = np.where(empty, 0, starts + hi)
    if pa.types.is_decimal(values.type):
        return _decimal_interpolate(values, lo_i, hi_i, frac, empty, out_type)
    v = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    out = v[lo_i] + (v[hi_i] - v[lo_i]) * frac
    return pa.array(out, mask=empty)


def _sort_key(values: pa.Array) -> np.ndarray:
    if pa.types.is_decimal(values.type):
        return values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return values.to_numpy(zero_copy_only=False)


def _offsets(parents: np.ndarray, n: int) -> pa.Array:
    counts = np.bincount(parents, minlength=n)
    return pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))


def _decimal_interpolate(
    values: pa.Array,
    lo: np.ndarray,
    hi: np.ndarray,
    frac: np.ndarray,
    empty: np.ndarray,
    out_type: pa.DataType,
) -> pa.Array:
    """lo + (hi - lo) * frac in the decimal's unscaled integers, truncated toward zero
    (as DuckDB does: the median of 1.50 and 2.25 is 1.87)."""
    scale = values.type.scale
    py = values.to_pylist()
    out: list[Any] = []
    import decimal

    q = decimal.Decimal(1).scaleb(-scale)
    for i in range(len(lo)):
        if empty[i]:
            out.append(None)
            continue
        a, b = py[lo[i]], py[hi[i]]
        d = (b - a) * decimal.Decimal(repr(float(frac[i])))
        out.append(a + d.quantize(q, rounding=decimal.ROUND_DOWN))
    return pa.array(out, type=out_type)


__all__ = ["SUPPORTED", "finalize", "holistic", "merge_spec", "raw_specs", "state_names"]
