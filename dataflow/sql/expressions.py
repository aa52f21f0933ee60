"""Scalar expressions: from sqlglot's syntax tree to our expression nodes.

Columns are resolved through a :class:`~dataflow.sql.scope.Scope`. A subquery inside
an expression (``(SELECT ...)``, ``EXISTS``, ``IN (SELECT ...)``) is handed to the
``on_subquery`` callback, which plans it later as a join and returns the column
reference that stands for its value.

>>> from dataflow.sql.parser import parse_sql
>>> from dataflow.sql.scope import Scope
>>> s = Scope(); _ = s.add_relation("t", ["d"])
>>> e = parse_sql("select d + interval '3' month").expressions[0]
>>> from dataflow.expr import display
>>> display(ExprTranslator(s).translate(e))
'add_months(d, 3)'
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable

from sqlglot import exp

from .. import kernels
from ..errors import PlanError, UnknownColumnError, UnsupportedError, near_matches
from ..expr import (
    AggCall,
    Call,
    Case,
    Cast,
    ExprNode,
    InList,
    Literal,
    SortKey,
    literal,
)
from ..kernels.udf import find_udf, udf_names
from .aggregates import EXTRA_AGGREGATES, extra_args
from .literals import add_months, interval_parts, number_literal, sql_type
from .scope import Scope
from .windows import translate_window

# What ``on_subquery`` receives: the kind ("scalar", "exists", "in"), the query's
# syntax tree, and for IN the left-hand expressions. It returns the expression that
# stands for the subquery's value.
SubqueryHook = Callable[[str, exp.Expression, "list[ExprNode] | None"], ExprNode]

_COMPARISONS: dict[type, str] = {
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.LT: "lt",
    exp.LTE: "le",
    exp.GT: "gt",
    exp.GTE: "ge",
}
_ARITHMETIC: dict[type, str] = {
    exp.Add: "add",
    exp.Sub: "subtract",
    exp.Mul: "multiply",
    exp.Div: "divide",
    exp.Mod: "modulo",
}
AGGREGATES: dict[type, str] = {
    exp.Sum: "sum",
    exp.Avg: "avg",
    exp.Min: "min",
    exp.Max: "max",
    exp.Count: "count",
    **EXTRA_AGGREGATES,
}
# EXTRACT(part FROM x) / date_part('part', x): the date part, and the function that gives it
_DATE_PARTS = {
    **{a: "year" for a in ("year", "years", "y", "yr", "yrs", "yyyy")},
    **{a: "month" for a in ("month", "months", "mon", "mons")},
    **{a: "day" for a in ("day", "days", "d", "dayofmonth")},
    **{a: "quarter" for a in ("quarter", "quarters", "q")},
    **{a: "hour" for a in ("hour", "hours", "h", "hr", "hrs")},
    **{a: "minute" for a in ("minute", "minutes", "min", "mins", "m")},
    **{a: "second" for a in ("second", "seconds", "sec", "secs", "s")},
    **{a: "millisecond" for a in ("millisecond", "milliseconds", "ms", "msec", "msecs")},
    **{a: "microsecond" for a in ("microsecond", "microseconds", "us", "usec", "usecs")},
    **{a: "dayofweek" for a in ("dow", "dayofweek", "weekday")},
    "isodow": "isodow",
    **{a: "dayofyear" for a in ("doy", "dayofyear")},
    **{a: "week" for a in ("week", "weeks", "w", "weekofyear")},
    "yearweek": "yearweek",
    "epoch": "epoch",
}
_PART_NAMES = "year, quarter, month, week, day, dow, isodow, doy, hour, minute, second, millisecond, microsecond, epoch"

_WINDOW_RANKING: dict[type, str] = {
    exp.RowNumber: "row_number",
    exp.Rank: "rank",
    exp.DenseRank: "dense_rank",
}


class ExprTranslator:
    """Translate sqlglot expressions resolved in ``scope``.

    ``aggregates`` and ``windows`` say whether aggregate and window functions are
    allowed here; ``clause`` names the clause for error messages.
    """

    def __init__(
        self,
        scope: Scope,
        on_subquery: SubqueryHook | None = None,
        *,
        aggregates: bool = False,
        windows: bool = False,
        clause: str = "the query",
        aliases: dict[str, ExprNode] | None = None,
    ) -> None:
        self.scope = scope
        # select-list names usable where a column name is not found (HAVING, ORDER BY)
        self.aliases = aliases or {}
        self.on_subquery = on_subquery
        self.aggregates = aggregates
        self.windows = windows
        self.clause = clause
        self._in_aggregate = False

    # -- entry ---------------------------------------------------------------------------

    def translate(self, node: exp.Expression) -> ExprNode:
        method = getattr(self, f"_t_{type(node).__name__}", None)
        if method is not None:
            return method(node)
        if type(node) in _COMPARISONS:
            return self._call(_COMPARISONS[type(node)], node.this, node.expression)
        if type(node) in _ARITHMETIC:
            return self._arithmetic(node)
        if type(node) in AGGREGATES:
            return self._aggregate(node)
        if isinstance(node, exp.Func):
            return self._function(node)
        raise UnsupportedError(f"{_describe(node)} is not supported (in {self.clause})")

    def _call(self, fn: str, *args: exp.Expression) -> Call:
        return Call(fn=fn, args=tuple(self.translate(a) for a in args))

    # -- leaves --------------------------------------------------------------------------

    def _t_Column(self, node: exp.Column) -> ExprNode:
        parts = [p.name for p in node.parts]
        if isinstance(node.this, exp.Star):
            raise UnsupportedError(f"{node.sql()} is only allowed as a select item")
        try:
            return self.scope.resolve(parts)
        except UnknownColumnError:
            if len(parts) == 1 and parts[0].lower() in self.aliases:
                return self.aliases[parts[0].lower()]
            raise

    def _t_Literal(self, node: exp.Literal) -> ExprNode:
        if node.is_string:
            return Literal(value=node.this, type="string")
        return number_literal(node.this)

    def _t_Boolean(self, node: exp.Boolean) -> ExprNode:
        return Literal(value=bool(node.this), type="bool")

    def _t_Null(self, node: exp.Null) -> ExprNode:
        return Literal(value=None, type="null")

    def _t_Paren(self, node: exp.Paren) -> ExprNode:
        return self.translate(node.this)

    def _t_Neg(self, node: exp.Neg) -> ExprNode:
        inner = self.translate(node.this)
        if (
            isinstance(inner, Literal)
            and isinstance(inner.value, (int, float))
            and not isinstance(inner.value, bool)
        ):
            return inner.model_copy(update={"value": -inner.value})
        if isinstance(inner, Literal) and inner.type.startswith("decimal") and isinstance(inner.value, str):
            return inner.model_copy(update={"value": str(-decimal.Decimal(inner.value))})
        return Call(fn="negate", args=(inner,))

    def _t_Star(self, node: exp.Star) -> ExprNode:
        raise UnsupportedError(f"* is only allowed as a select item or in count(*) (in {self.clause})")

    # -- boolean and comparison --------------------------------------------------------

    def _t_And(self, node: exp.And) -> ExprNode:
        return self._call("and", node.this, node.expression)

    def _t_Or(self, node: exp.Or) -> ExprNode:
        return self._call("or", node.this, node.expression)

    def _t_Not(self, node: exp.Not) -> ExprNode:
        inner = node.this
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
            return Call(fn="is_not_null", args=(self.translate(inner.this),))
        if isinstance(inner, exp.In) and not inner.args.get("query"):
            res = self.translate(inner)
            if isinstance(res, InList):
                return res.model_copy(update={"negated": not res.negated})
            return Call(fn="not", args=(res,))
        return Call(fn="not", args=(self.translate(inner),))

    def _t_Is(self, node: exp.Is) -> ExprNode:
        if isinstance(node.expression, exp.Null):
            return Call(fn="is_null", args=(self.translate(node.this),))
        if isinstance(node.expression, exp.Boolean):
            # x IS TRUE: never NULL
            x = self.translate(node.this)
            want = Literal(value=bool(node.expression.this), type="bool")
            return Call(
                fn="coalesce", args=(Call(fn="eq", args=(x, want)), Literal(value=False, type="bool"))
            )
        raise UnsupportedError(f"{node.sql(dialect='duckdb')}: IS supports NULL, TRUE and FALSE")

    def _t_Between(self, node: exp.Between) -> ExprNode:
        return self._call("between", node.this, node.args["low"], node.args["high"])

    def _t_Like(self, node: exp.Like) -> ExprNode:
        return self._like("like", node)

    def _t_ILike(self, node: exp.ILike) -> ExprNode:
        return self._like("ilike", node)

    def _like(self, fn: str, node: exp.Expression) -> ExprNode:
        call = self._call(fn, node.this, node.expression)
        return Call(fn="not", args=(call,)) if node.args.get("negate") else call

    def _t_Escape(self, node: exp.Escape) -> ExprNode:
        raise UnsupportedError("LIKE ... ESCAPE is not supported; LIKE uses \\ as its escape character")

    def _t_In(self, node: exp.In) -> ExprNode:
        query = node.args.get("query")
        if query is not None:
            lhs_ast = node.this
            lhs_list = lhs_ast.expressions if isinstance(lhs_ast, exp.Tuple) else [lhs_ast]
            lhs = [self.translate(x) for x in lhs_list]
            res = self._subquery("in", query, lhs)
            return res
        if node.args.get("unnest") or node.args.get("field"):
            raise UnsupportedError(f"{node.sql(dialect='duckdb')}: IN takes a list of values or a subquery")
        if isinstance(node.this, exp.Tuple):
            raise UnsupportedError("a row value (a, b) IN (...) with a list of values is not supported")
        return InList(
            expr=self.translate(node.this), values=tuple(self.translate(v) for v in node.expressions)
        )

    def _t_Exists(self, node: exp.Exists) -> ExprNode:
        return self._subquery("exists", node.this, None)

    def _t_Subquery(self, node: exp.Subquery) -> ExprNode:
        return self._subquery("scalar", node, None)

    def _t_Select(self, node: exp.Select) -> ExprNode:
        return self._subquery("scalar", node, None)

    def _subquery(self, kind: str, query: exp.Expression, lhs: list[ExprNode] | None) -> ExprNode:
        if self.on_subquery is None:
            raise UnsupportedError(f"a subquery in {self.clause} is not supported")
        while (
            isinstance(query, exp.Subquery)
            and not query.args.get("alias")
            and isinstance(query.this, (exp.Query, exp.Subquery))
        ):
            query = query.this  # type: ignore[assignment]  # a Query is an Expression
        return self.on_subquery(kind, query, lhs)

    # -- arithmetic ----------------------------------------------------------------------

    def _arithmetic(self, node: exp.Expression) -> ExprNode:
        fn = _ARITHMETIC[type(node)]
        left, right = node.this, node.expression
        if fn in ("add", "subtract") and (isinstance(right, exp.Interval) or isinstance(left, exp.Interval)):
            if isinstance(left, exp.Interval):
                if fn == "subtract":
                    raise UnsupportedError("an interval minus a date is not supported")
                left, right = right, left
            return self._date_plus(self.translate(left), right, -1 if fn == "subtract" else 1)
        return Call(fn=fn, args=(self.translate(left), self.translate(right)))

    def _t_Interval(self, node: exp.Interval) -> ExprNode:
        raise UnsupportedError("an INTERVAL is only supported added to or subtracted from a date")

    def _date_plus(self, date: ExprNode, iv: exp.Interval, sign: int) -> ExprNode:
        amount, unit = interval_parts(iv)
        n = sign * amount
        if unit == "week":
            unit, n = "day", 7 * n
        elif unit == "year":
            unit, n = "month", 12 * n
        elif unit == "quarter":
            unit, n = "month", 3 * n
        if isinstance(date, Literal) and date.type.startswith("date32") and date.value is not None:
            d = dt.date.fromisoformat(str(date.value))
            d = d + dt.timedelta(days=n) if unit == "day" else add_months(d, n)
            return Literal(value=d.isoformat(), type=date.type)
        fn = "add_days" if unit == "day" else "add_months"
        return Call(fn=fn, args=(date, literal(n)))

    def _t_DPipe(self, node: exp.DPipe) -> ExprNode:
        return self._call("concat", node.this, node.expression)

    def _t_Collate(self, node: exp.Collate) -> ExprNode:
        raise UnsupportedError("COLLATE is not supported")

    def _t_IntDiv(self, node: exp.IntDiv) -> ExprNode:
        raise UnsupportedError("integer division (//) is not supported; use CAST(a / b AS BIGINT)")

    # -- CASE, CAST, dates ---------------------------------------------------------------

    def _t_Case(self, node: exp.Case) -> ExprNode:
        subject = node.args.get("this")
        whens = []
        for w in node.args.get("ifs") or []:
            cond = self.translate(w.this)
            if subject is not None:
                cond = Call(fn="eq", args=(self.translate(subject), cond))
            whens.append((cond, self.translate(w.args["true"])))
        default = node.args.get("default")
        return Case(whens=tuple(whens), otherwise=self.translate(default) if default is not None else None)

    def _t_If(self, node: exp.If) -> ExprNode:
        false = node.args.get("false")
        return Case(
            whens=((self.translate(node.this), self.translate(node.args["true"])),),
            otherwise=self.translate(false) if false is not None else None,
        )

    def _t_Cast(self, node: exp.Cast) -> ExprNode:
        to = sql_type(node.args["to"])
        inner = node.this
        if isinstance(inner, exp.Literal) and inner.is_string and to == "date32[day]":
            try:
                d = dt.date.fromisoformat(inner.this.strip())
            except ValueError:
                raise PlanError(f"invalid date {inner.this!r}: write dates as 'YYYY-MM-DD'") from None
            return Literal(value=d.isoformat(), type=to)
        if isinstance(inner, exp.Literal) and inner.is_string and to.startswith("timestamp"):
            try:
                ts = dt.datetime.fromisoformat(inner.this.strip())
            except ValueError:
                raise PlanError(f"invalid timestamp {inner.this!r}") from None
            return Literal(value=ts.isoformat(), type=to)
        return Cast(expr=self.translate(inner), to=to)

    _t_TryCast = _t_Cast

    def _t_Extract(self, node: exp.Extract) -> ExprNode:
        part = node.this.name.lower()
        if part not in _DATE_PARTS:
            raise UnsupportedError(f"EXTRACT({part.upper()} FROM ...) is not supported; parts: {_PART_NAMES}")
        return Call(fn=_DATE_PARTS[part], args=(self.translate(node.expression),))

    def _t_Substring(self, node: exp.Substring) -> ExprNode:
        args = [node.this, node.args["start"]]
        if node.args.get("length") is not None:
            args.append(node.args["length"])
        return self._call("substring", *args)

    def _t_Trim(self, node: exp.Trim) -> ExprNode:
        position = (node.args.get("position") or "BOTH").upper()
        fn = {"BOTH": "trim", "LEADING": "ltrim", "TRAILING": "rtrim"}[position]
        chars = node.args.get("expression")
        return self._call(fn, node.this, *([chars] if chars is not None else []))

    # -- functions -----------------------------------------------------------------------

    def _function(self, node: exp.Func) -> ExprNode:
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            args = list(node.expressions)
        else:
            name = node.sql_name().lower()
            args = func_args(node)
        if name in ("row_number", "rank", "dense_rank") or type(node) in _WINDOW_RANKING:
            raise PlanError(f"{_written_name(node)}() needs an OVER (...) clause")
        if name in ("date_part", "datepart") and len(args) == 2 and isinstance(args[0], exp.Literal):
            part = args[0].this.lower()
            if part not in _DATE_PARTS:
                raise UnsupportedError(f"date_part('{part}', ...) is not supported; parts: {_PART_NAMES}")
            return Call(fn=_DATE_PARTS[part], args=(self.translate(args[1]),))
        if name == "concat":
            # concat() skips NULLs (unlike ||, which gives NULL)
            empty = Literal(value="", type="string")
            parts = [Call(fn="coalesce", args=(self.translate(a), empty)) for a in args]
            return Call(fn="concat", args=tuple(parts))
        fn = kernels.by_sql_name(name)
        if fn is not None:
            return Call(fn=fn.name, args=tuple(self.translate(a) for a in args))
        udf = find_udf(name)
        if udf is not None:
            return Call(fn=f"udf:{udf.name}", args=tuple(self.translate(a) for a in args))
        written = _written_name(node)
        known = [*kernels.sql_names(), *udf_names(), "count", "sum", "avg", "min", "max", "row_number", "rank",
                 "dense_rank"]
        near = [n for n in near_matches(written, known) if n != written]
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        raise UnsupportedError(f"the function {written}() is not supported{hint}")

    # -- functions sqlglot parses into nodes of their own (their arguments by role) -----

    def _t_Log(self, node: exp.Log) -> ExprNode:
        base, x = node.this, node.expression
        if x is None:
            return self._call("log", base)
        if isinstance(base, exp.Literal) and not base.is_string and base.this in ("10", "2"):
            return self._call(f"log{base.this}", x)  # log10(x), log2(x): exact kernels
        return self._call("log", base, x)

    def _t_Pow(self, node: exp.Pow) -> ExprNode:
        return self._call("power", node.this, node.expression)

    def _t_Greatest(self, node: exp.Greatest) -> ExprNode:
        return self._call("greatest", node.this, *node.expressions)

    def _t_Least(self, node: exp.Least) -> ExprNode:
        return self._call("least", node.this, *node.expressions)

    def _t_StrPosition(self, node: exp.StrPosition) -> ExprNode:
        if node.args.get("position") is not None or node.args.get("occurrence") is not None:
            raise UnsupportedError("strpos()/instr() with a start position is not supported")
        return self._call("strpos", node.this, node.args["substr"])

    def _part(self, node: exp.Func) -> ExprNode:
        unit = node.args.get("unit")
        if unit is None:
            raise PlanError(f"{_written_name(node)}() needs a date part, as in date_diff('day', a, b)")
        if isinstance(unit, (exp.Var, exp.Literal)):
            return Literal(value=unit.name.lower(), type="string")
        return self.translate(unit)

    def _t_TimestampTrunc(self, node: exp.TimestampTrunc) -> ExprNode:
        return Call(fn="date_trunc", args=(self._part(node), self.translate(node.this)))

    _t_DateTrunc = _t_TimestampTrunc

    def _t_DateDiff(self, node: exp.DateDiff) -> ExprNode:
        # sqlglot keeps date_diff(part, start, end) as this=end, expression=start
        return Call(fn="date_diff", args=(self._part(node), self.translate(node.expression), self.translate(node.this)))

    def _t_RegexpLike(self, node: exp.RegexpLike) -> ExprNode:
        flag = node.args.get("flag")
        return self._call("regexp_matches", node.this, node.expression, *([flag] if flag is not None else []))

    def _t_RegexpReplace(self, node: exp.RegexpReplace) -> ExprNode:
        if node.args.get("position") is not None or node.args.get("occurrence") is not None:
            raise UnsupportedError("regexp_replace() with a position or occurrence is not supported")
        mods = node.args.get("modifiers")
        return self._call(
            "regexp_replace", node.this, node.expression, node.args["replacement"], *([mods] if mods is not None else [])
        )

    def _t_RegexpExtract(self, node: exp.RegexpExtract) -> ExprNode:
        if node.args.get("position") is not None or node.args.get("occurrence") is not None:
            raise UnsupportedError("regexp_extract() with a position or occurrence is not supported")
        group = node.args.get("group")
        params = node.args.get("parameters")
        args = [node.this, node.expression]
        if group is not None or params is not None:
            args.append(group if group is not None else exp.Literal.number(0))
        if params is not None:
            args.append(params)
        return self._call("regexp_extract", *args)

    # -- aggregates and windows ----------------------------------------------------------

    def _aggregate(self, node: exp.Expression, *, filter_: exp.Expression | None = None) -> ExprNode:
        fn = AGGREGATES[type(node)]
        if not self.aggregates:
            raise PlanError(
                f"aggregate functions are not allowed in {self.clause}: {node.sql(dialect='duckdb')}"
            )
        if self._in_aggregate:
            raise PlanError(f"aggregate calls cannot be nested: {node.sql(dialect='duckdb')}")
        arg_ast = node.this
        distinct = False
        if isinstance(arg_ast, exp.Distinct):
            distinct = True
            if len(arg_ast.expressions) != 1:
                raise UnsupportedError(f"{fn}(DISTINCT ...) with more than one argument is not supported")
            arg_ast = arg_ast.expressions[0]
        extra = [e for e in node.expressions] if isinstance(node, (exp.Count, exp.Min, exp.Max)) else []
        if extra:
            raise UnsupportedError(f"{fn}() with more than one argument is not supported")
        second, param = extra_args(node)
        self._in_aggregate = True
        try:
            cond = self.translate(filter_) if filter_ is not None else None
            if fn == "count" and (arg_ast is None or isinstance(arg_ast, exp.Star)):
                if cond is None:
                    return AggCall(fn="count_star")
                return AggCall(fn="count", arg=Case(whens=((cond, literal(1)),)))
            if arg_ast is None:
                raise PlanError(f"{fn}() needs an argument")
            arg = self.translate(arg_ast)
            arg2 = self.translate(second) if second is not None else None
        finally:
            self._in_aggregate = False
        if cond is not None:
            arg = Case(whens=((cond, arg),))
            arg2 = Case(whens=((cond, arg2),)) if arg2 is not None else None
        return AggCall(fn=fn, arg=arg, distinct=distinct, arg2=arg2, param=param)

    def _t_Filter(self, node: exp.Filter) -> ExprNode:
        agg = node.this
        if type(agg) not in AGGREGATES:
            raise UnsupportedError(f"FILTER (WHERE ...) applies to aggregate functions, not {_describe(agg)}")
        return self._aggregate(agg, filter_=node.expression.this)

    def _t_Window(self, node: exp.Window) -> ExprNode:
        return translate_window(self, node, AGGREGATES)

    def _no_agg_window(self, node: exp.Expression) -> ExprNode:
        saved = self.windows
        self.windows = False
        try:
            return self.translate(node)
        finally:
            self.windows = saved

    def sort_key(self, node: exp.Ordered) -> SortKey:
        return SortKey(
            expr=self._no_agg_window(node.this),
            ascending=not node.args.get("desc"),
            nulls_first=bool(node.args.get("nulls_first")),
        )


def _written_name(node: exp.Func) -> str:
    """The function's name as DuckDB spells it (sqlglot normalizes some, e.g. strftime)."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    try:
        text = node.sql(dialect="duckdb")
    except Exception:  # noqa: BLE001 - only for the message
        return node.sql_name().lower()
    return text.split("(", 1)[0].strip().lower() or node.sql_name().lower()


def func_args(node: exp.Func) -> list[exp.Expression]:
    out: list[exp.Expression] = []
    for key in node.arg_types:
        v = node.args.get(key)
        if isinstance(v, list):
            out += [x for x in v if isinstance(x, exp.Expression)]
        elif isinstance(v, exp.Expression):
            out.append(v)
    return out


def _describe(node: exp.Expression) -> str:
    try:
        text = node.sql(dialect="duckdb")
    except Exception:  # noqa: BLE001 - only for the message
        text = type(node).__name__
    if len(text) > 60:
        text = text[:57] + "..."
    return f"the expression {text!r} ({type(node).__name__})"
