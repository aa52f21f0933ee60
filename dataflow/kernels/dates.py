"""Dates and timestamps: parts, calendar arithmetic, ``date_trunc`` and ``date_diff``.

``date_trunc(part, x)`` gives a timestamp (DuckDB 2.0 gives TIMESTAMP for a DATE too);
``date_diff(part, start, end)`` counts the part boundaries crossed from ``start`` to
``end`` (weeks: whole days over 7, truncated), as a BIGINT, as DuckDB does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ExprTypeError, PlanError
from .registry import Kernel, scalar
from .values import (
    Value,
    align,
    const_str,
    int_arg,
    is_temporal,
    null_as,
    null_mask,
    supertype,
    temporal_arg,
    to_numpy,
)

_DAY_IN_UNIT = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def date_arith(op: str, a: Value, b: Value, n: int, symbol: str) -> Value:
    """date + int, int + date, date - int (days) and date - date (days, int64)."""
    ta, tb = a.type, b.type
    if op == "add" and pa.types.is_date(ta) and (pa.types.is_integer(tb) or pa.types.is_null(tb)):
        return _add_days([a, b], n)
    if op == "add" and pa.types.is_date(tb) and (pa.types.is_integer(ta) or pa.types.is_null(ta)):
        return _add_days([b, a], n)
    if op == "subtract" and pa.types.is_date(ta):
        if pa.types.is_integer(tb) or pa.types.is_null(tb):
            return _add_days([a, pc.negate_checked(null_as(b, pa.int64()))], n)
        if pa.types.is_date(tb):
            return pc.subtract(_days(a), _days(b))
    raise ExprTypeError(f"cannot apply {symbol!r} to {ta} and {tb}")


def _days(v: Value) -> Value:
    """Days since the epoch of a date, as int64."""
    if v.type != pa.date32():
        v = v.cast(pa.date32())
    return v.cast(pa.int32()).cast(pa.int64())


@scalar("add_days", 2, "dates", sql=())
def _add_days(args: list[Value], n: int) -> Value:
    """A date or timestamp plus a number of days."""
    d, k = temporal_arg(args[0], "add_days"), int_arg(args[1], "add_days")
    if pa.types.is_timestamp(d.type):
        step = pc.multiply_checked(k, _DAY_IN_UNIT[d.type.unit]).cast(pa.duration(d.type.unit))
        return pc.add_checked(d, step)
    t = d.type
    out = pc.add_checked(_days(d), k).cast(pa.int32()).cast(pa.date32())
    return out if t == pa.date32() else out.cast(t)


@scalar("add_months", 2, "dates", sql=())
def _add_months(args: list[Value], n: int) -> Value:
    """Add months, clamping to the month's end like DuckDB (Jan 31 + 1 month = Feb 29)."""
    d, k = temporal_arg(args[0], "add_months"), int_arg(args[1], "add_months")
    t = d.type
    (da, ka), const = align([d, k], n)
    mask = null_mask([da, ka])
    if pa.types.is_timestamp(t):
        naive = da.cast(pa.timestamp(t.unit))  # compute on UTC wall time
        ticks = to_numpy(naive.cast(pa.int64()), 0)
        old_days = np.floor_divide(ticks, _DAY_IN_UNIT[t.unit])
        date = naive.cast(pa.date32())
    else:
        date = da if t == pa.date32() else da.cast(pa.date32())
    year = to_numpy(pc.year(date), 1970)
    month0 = to_numpy(pc.month(date), 1) - 1
    day = to_numpy(pc.day(date), 1)
    total = year * 12 + month0 + to_numpy(ka, 0).astype(np.int64)
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


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _date_part(kernel: Callable[[Value], Value], fn: str) -> Kernel:
    def impl(args: list[Value], n: int) -> Value:
        d = args[0]
        if pa.types.is_null(d.type):
            return pa.scalar(None, pa.float64() if fn == "epoch" else pa.int64())
        return kernel(temporal_arg(d, fn))

    impl.__doc__ = f"The {fn} of a date or timestamp."
    return impl


scalar("year", 1, "dates")(_date_part(pc.year, "year"))
scalar("month", 1, "dates")(_date_part(pc.month, "month"))
scalar("day", 1, "dates", sql=("day", "dayofmonth", "day_of_month"))(_date_part(pc.day, "day"))
scalar("quarter", 1, "dates")(_date_part(pc.quarter, "quarter"))


def _clock(kernel: Callable[[Value], Value]) -> Callable[[Value], Value]:
    """A time-of-day part: a date is a timestamp at midnight."""
    return lambda v: kernel(_as_timestamp(v))


def _seconds(v: Value) -> Value:
    return pc.second(_as_timestamp(v))


def _millis(v: Value) -> Value:
    # DuckDB: the seconds too, in milliseconds (12.345 s -> 12345)
    ts = _as_timestamp(v)
    return pc.add(pc.multiply(pc.second(ts), 1000), pc.millisecond(ts))


def _micros(v: Value) -> Value:
    ts = _as_timestamp(v)
    ms = pc.add(pc.multiply(pc.second(ts), 1000), pc.millisecond(ts))
    return pc.add(pc.multiply(ms, 1000), pc.microsecond(ts))


def _epoch(v: Value) -> Value:
    """Seconds since 1970-01-01 as a double."""
    ts = _as_timestamp(v)
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[ts.type.unit]
    ticks = ts.cast(pa.timestamp(ts.type.unit)).cast(pa.int64())
    return pc.divide(ticks.cast(pa.float64()), float(per_second))


def _yearweek(v: Value) -> Value:
    return pc.add(pc.multiply(pc.iso_year(v), 100), pc.iso_week(v))


for _name, _sql, _kernel in (
    ("hour", ("hour",), _clock(pc.hour)),
    ("minute", ("minute",), _clock(pc.minute)),
    ("second", ("second",), _seconds),
    ("millisecond", ("millisecond",), _millis),
    ("microsecond", ("microsecond",), _micros),
    ("dayofweek", ("dayofweek", "day_of_week"), lambda v: pc.day_of_week(v, count_from_zero=True, week_start=7)),
    ("isodow", ("isodow", "dayofweek_iso"), lambda v: pc.day_of_week(v, count_from_zero=False, week_start=1)),
    ("dayofyear", ("dayofyear", "day_of_year"), pc.day_of_year),
    ("week", ("week", "weekofyear", "week_of_year"), pc.iso_week),
    ("yearweek", ("yearweek",), _yearweek),
):
    scalar(_name, 1, "dates", sql=_sql)(_date_part(_kernel, _name))
scalar("epoch", 1, "dates", sql=("epoch", "time_to_unix"), returns="double")(_date_part(_epoch, "epoch"))


# -- date_trunc and date_diff ----------------------------------------------------------------

_PARTS: dict[str, str] = {
    **{a: "millennium" for a in ("millennium", "millennia", "millenniums", "mil", "mils")},
    **{a: "century" for a in ("century", "centuries", "c", "cent", "cents")},
    **{a: "decade" for a in ("decade", "decades", "dec", "decs")},
    **{a: "year" for a in ("year", "years", "y", "yr", "yrs", "yy", "yyyy")},
    **{a: "quarter" for a in ("quarter", "quarters", "q")},
    **{a: "month" for a in ("month", "months", "mon", "mons", "mm")},
    **{a: "week" for a in ("week", "weeks", "w", "weekofyear")},
    **{a: "day" for a in ("day", "days", "d", "dayofmonth")},
    **{a: "hour" for a in ("hour", "hours", "h", "hr", "hrs")},
    **{a: "minute" for a in ("minute", "minutes", "m", "min", "mins")},
    **{a: "second" for a in ("second", "seconds", "s", "sec", "secs")},
    **{a: "millisecond" for a in ("millisecond", "milliseconds", "ms", "msec", "msecs")},
    **{a: "microsecond" for a in ("microsecond", "microseconds", "us", "usec", "usecs")},
}


def _part(v: Value, fn: str) -> str | None:
    text = const_str(v, f"the part of {fn}()")
    if text is None:
        return None
    part = _PARTS.get(text.strip().lower())
    if part is None:
        raise PlanError(f"{fn}(): unknown date part {text!r}; use year, quarter, month, week, day, hour, minute ...")
    return part


def _as_timestamp(v: Value) -> Value:
    return v.cast(pa.timestamp("us")) if pa.types.is_date(v.type) else v


@scalar("date_trunc", 2, "dates", sql=("date_trunc", "datetrunc"))
def _date_trunc(args: list[Value], n: int) -> Value:
    """``date_trunc(part, x)``: the timestamp at the start of ``x``'s ``part``."""
    part = _part(args[0], "date_trunc")
    x = temporal_arg(args[1], "date_trunc")
    ts = _as_timestamp(x)
    if part is None:
        return pa.scalar(None, ts.type)
    years = {"decade": 10, "century": 100, "millennium": 1000}.get(part)
    if years is not None:
        # DuckDB: decades, centuries and millennia start at years divisible by 10, 100, 1000
        y = pc.year(ts).cast(pa.float64())
        start = pc.multiply(pc.floor(pc.divide(y, years)), years)
        (ya,), const = align([start.cast(pa.int64())], n)
        mask = null_mask([ya])
        days = _days_from_civil(to_numpy(ya, 1970), np.ones(len(ya), np.int64), np.ones(len(ya), np.int64))
        out = pa.array(days.astype(np.int32), pa.int32(), mask=mask).cast(pa.date32()).cast(ts.type)
        return out[0] if const else out
    return pc.floor_temporal(ts, unit=part, week_starts_monday=True)


def _month_index(v: Value) -> Value:
    return pc.add(pc.multiply(pc.year(v).cast(pa.int64()), 12), pc.month(v).cast(pa.int64()))


_BETWEEN = {
    "year": pc.years_between,
    "quarter": pc.quarters_between,
    "day": pc.days_between,
    "hour": pc.hours_between,
    "minute": pc.minutes_between,
    "second": pc.seconds_between,
    "millisecond": pc.milliseconds_between,
    "microsecond": pc.microseconds_between,
}


@scalar("date_diff", 3, "dates", sql=("date_diff", "datediff"), returns="int64")
def _date_diff(args: list[Value], n: int) -> Value:
    """``date_diff(part, start, end)``: the number of ``part`` boundaries between."""
    part = _part(args[0], "date_diff")
    start, end = (temporal_arg(a, "date_diff") for a in args[1:])
    t = supertype(start.type, end.type)
    if not is_temporal(t):
        raise ExprTypeError(f"date_diff expects dates or timestamps, got {start.type} and {end.type}")
    if part is None:
        return pa.scalar(None, pa.int64())
    start, end = start.cast(t), end.cast(t)
    if part == "month":
        out = pc.subtract(_month_index(end), _month_index(start))
    elif part == "week":
        out = pc.divide(pc.days_between(start, end), 7)  # integer division truncates
    elif part in ("decade", "century", "millennium"):
        years = {"decade": 10, "century": 100, "millennium": 1000}[part]
        out = pc.subtract(pc.divide(pc.year(end), years), pc.divide(pc.year(start), years))
    else:
        out = _BETWEEN[part](start, end)
    return out.cast(pa.int64())
