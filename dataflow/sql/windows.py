"""Window calls in SQL: ``f(...) OVER (PARTITION BY ... ORDER BY ... frame)``.

Functions: the ranking ones (``row_number``, ``rank``, ``dense_rank``, ``ntile``,
``percent_rank``, ``cume_dist``), the value ones (``lag``, ``lead``, ``first_value``,
``last_value``, ``nth_value``) and the aggregates. Frames are ``ROWS`` with any
bounds (``UNBOUNDED``, ``n PRECEDING``, ``CURRENT ROW``, ``n FOLLOWING``) and
``RANGE`` bounded by ``UNBOUNDED`` or ``CURRENT ROW`` (the current row's peers). A
frame is kept as ``(kind, start, end)``, offsets from the current row (negative:
preceding; ``None``: unbounded), see :class:`dataflow.expr.WindowCall`.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from ..errors import PlanError, UnsupportedError
from ..expr import ExprNode, Literal, WindowCall

_RANKING: dict[type, str] = {
    exp.RowNumber: "row_number",
    exp.Rank: "rank",
    exp.DenseRank: "dense_rank",
    exp.PercentRank: "percent_rank",
    exp.CumeDist: "cume_dist",
    exp.Ntile: "ntile",
}
_VALUES: dict[type, str] = {
    exp.Lag: "lag",
    exp.Lead: "lead",
    exp.FirstValue: "first_value",
    exp.LastValue: "last_value",
    exp.NthValue: "nth_value",
}
_FRAMED = frozenset({"first_value", "last_value", "nth_value"})  # and the aggregates
_WINDOW_AGGREGATES = frozenset({"sum", "avg", "min", "max", "count", "count_star"})
SUPPORTED = ", ".join([*_RANKING.values(), *_VALUES.values(), "sum", "avg", "min", "max", "count"])


def _int_constant(node: exp.Expression | None, what: str, default: int | None = None) -> int | None:
    if node is None:
        return default
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            pass
    raise PlanError(f"{what} must be a whole number constant, not {node.sql(dialect='duckdb')}")


def _bound(value: Any, side: Any, what: str) -> int | None:
    """One frame bound as an offset: None for UNBOUNDED, 0 for CURRENT ROW."""
    v = str(value or "").upper() if not isinstance(value, exp.Expression) else None
    s = str(side or "").upper()
    if v == "UNBOUNDED":
        return None
    if v == "CURRENT ROW":
        return 0
    n = _int_constant(value if isinstance(value, exp.Expression) else exp.Literal.number(value), what)
    assert n is not None
    if n < 0:
        raise PlanError(f"{what}: a frame offset must not be negative")
    return -n if s == "PRECEDING" else n


def frame_of(spec: exp.WindowSpec, fn: str) -> tuple[str, int | None, int | None] | None:
    """The frame of a window spec, ``None`` for the default."""
    kind = (spec.args.get("kind") or "").lower()
    if not kind:
        return None
    start_v, end_v = spec.args.get("start"), spec.args.get("end")
    start = _bound(start_v, spec.args.get("start_side"), "the frame start")
    if end_v is None:
        end: int | None = 0  # "ROWS 3 PRECEDING" ends at the current row
    else:
        end = _bound(end_v, spec.args.get("end_side"), "the frame end")
    if str(start_v).upper() == "UNBOUNDED" and str(spec.args.get("start_side") or "").upper() == "FOLLOWING":
        raise PlanError("a window frame cannot start at UNBOUNDED FOLLOWING")
    if str(end_v).upper() == "UNBOUNDED" and str(spec.args.get("end_side") or "").upper() == "PRECEDING":
        raise PlanError("a window frame cannot end at UNBOUNDED PRECEDING")
    if kind == "range" and any(b not in (None, 0) for b in (start, end)):
        raise UnsupportedError(
            f"the window frame {spec.sql(dialect='duckdb')}: RANGE frames with offsets are not supported; "
            "use ROWS, or RANGE with UNBOUNDED and CURRENT ROW"
        )
    if kind not in ("rows", "range"):
        raise UnsupportedError(f"{kind.upper()} window frames are not supported; use ROWS or RANGE")
    return (kind, start, end)


def translate_window(t: Any, node: exp.Window, aggregates: dict[type, str]) -> ExprNode:
    """The :class:`WindowCall` of ``node``; ``t`` is the expression translator."""
    if not t.windows:
        raise PlanError(f"window functions are not allowed in {t.clause}: {node.sql(dialect='duckdb')}")
    if node.args.get("alias"):
        raise UnsupportedError("named windows (OVER w) are not supported; write the window in OVER (...)")
    func = node.this
    if isinstance(func, exp.Filter):
        raise UnsupportedError("FILTER in a window function is not supported")
    if isinstance(func, (exp.IgnoreNulls, exp.RespectNulls)):
        raise UnsupportedError("IGNORE NULLS / RESPECT NULLS in a window function is not supported")
    partition = tuple(t._no_agg_window(p) for p in node.args.get("partition_by") or [])
    order_ast = node.args.get("order")
    order = tuple(t.sort_key(o) for o in (order_ast.expressions if order_ast else []))
    arg: ExprNode | None = None
    arg2: ExprNode | None = None
    param: int | None = None
    name = func.name.lower() if isinstance(func, exp.Anonymous) else ""
    if type(func) in _RANKING or name in _RANKING.values():
        fn = _RANKING.get(type(func), name)
        if fn == "ntile":
            param = _int_constant(
                func.this if not isinstance(func, exp.Anonymous) else func.expressions[0],
                "ntile()'s argument",
            )
            if param is None or param <= 0:
                raise PlanError("ntile()'s argument must be a positive whole number")
    elif type(func) in _VALUES or name in _VALUES.values():
        fn = _VALUES.get(type(func), name)
        arg = t._no_agg_window(func.this)
        if fn in ("lag", "lead"):
            param = _int_constant(func.args.get("offset"), f"the offset of {fn}()", 1)
            default = func.args.get("default")
            if default is not None:
                arg2 = t._no_agg_window(default)
                if isinstance(arg2, Literal) and arg2.value is None:
                    arg2 = None
        elif fn == "nth_value":
            param = _int_constant(func.args.get("offset"), "the position of nth_value()")
            if param is None or param <= 0:
                raise PlanError("nth_value()'s position must be a positive whole number")
    elif type(func) in aggregates and aggregates[type(func)] in _WINDOW_AGGREGATES:
        fn = aggregates[type(func)]
        inner = func.this
        if isinstance(inner, exp.Distinct):
            raise UnsupportedError(f"{fn}(DISTINCT ...) OVER (...) is not supported")
        if fn == "count" and (inner is None or isinstance(inner, exp.Star)):
            fn = "count_star"
        else:
            arg = t._no_agg_window(inner)
    else:
        shown = name or func.sql_name().lower()
        raise UnsupportedError(f"the window function {shown}() is not supported; supported: {SUPPORTED}")
    frame = None
    spec = node.args.get("spec")
    if spec is not None and (fn in _FRAMED or fn in _WINDOW_AGGREGATES):
        frame = frame_of(spec, fn)
        if frame == ("range", None, 0) and order:
            frame = None  # the default
        if frame is not None and frame[1] is None and frame[2] is None:
            frame = ("rows", None, None)  # the whole partition
    return WindowCall(
        fn=fn, arg=arg, partition_by=partition, order_by=order, frame=frame, param=param, arg2=arg2
    )
