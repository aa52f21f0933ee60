"""fold_constants: evaluate constant sub-expressions once, at planning.

A sub-expression that reads no column (``CAST('1994-01-01' AS date32[day])``,
``DATE '1994-01-01' + INTERVAL 1 YEAR``, ``1 - 0.05``) is evaluated with
:func:`dataflow.compute.evaluate` on a one-row batch and replaced by a literal of the
same type. Boolean identities are simplified (``x AND TRUE`` to ``x``, ``x OR FALSE``
to ``x``, ``NOT NOT x`` to ``x``, ``x AND FALSE`` to ``FALSE``, ``x OR TRUE`` to
``TRUE``), CASE branches with constant conditions are resolved, and a filter on
``TRUE`` disappears. A rewrite is kept only if the
expression's type (and, for output columns, nullability) is unchanged, so the plan's
schema never moves; anything that fails to evaluate (a bad cast, a division by zero)
is left for the query to report when it runs.

>>> from dataflow import logical as L
>>> from dataflow.expr import Cast, ColumnRef, Call, Literal, display
>>> from dataflow.types import Field
>>> scan = L.Scan(table="t", source=L.MemorySource(table_id="t", num_rows=3),
...               table_schema=(Field(name="d", type="date32[day]"),))
>>> since = Cast(expr=Literal(value="1994-01-01", type="string"), to="date32[day]")
>>> f = L.Filter(input=scan, predicate=Call(fn="ge", args=(ColumnRef(name="d"), since)))
>>> display(fold_constants(f).predicate)
"(d >= DATE '1994-01-01')"
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from dataflow import expr as ex
from dataflow import logical as L
from dataflow.compute import evaluate, infer_aggregate_field, infer_field, infer_window_field
from dataflow.types import Schema, normalize_type, type_name

_TRUE = ex.Literal(value=True, type="bool")
_FALSE = ex.Literal(value=False, type="bool")
# one row and no columns a constant could read
_ONE_ROW = pa.record_batch([pa.array([0], pa.int8())], names=["__one_row"])


def fold_constants(plan: L.LogicalPlan) -> L.LogicalPlan:
    """Fold the constant sub-expressions of every expression in ``plan``."""
    kids = plan.children()
    if kids:
        new = tuple(fold_constants(c) for c in kids)
        if any(a is not b for a, b in zip(new, kids, strict=True)):
            plan = plan.with_children(new)

    if isinstance(plan, L.Filter):
        schema = plan.input.schema
        pred = _fold_checked(plan.predicate, schema, check_nullable=False)
        if pred == _TRUE:
            return plan.input
        return plan if pred is plan.predicate else plan.replace(predicate=pred)

    if isinstance(plan, L.Scan):
        if not plan.filters:
            return plan
        filters = [_fold_checked(f, plan.table_schema, check_nullable=False) for f in plan.filters]
        kept = tuple(f for f in filters if f != _TRUE)
        return plan if kept == tuple(plan.filters) else plan.replace(filters=kept)

    if isinstance(plan, L.Project):
        exprs = _fold_named(plan.exprs, plan.input.schema)
        return plan if exprs is plan.exprs else plan.replace(exprs=exprs)

    if isinstance(plan, L.Aggregate):
        schema = plan.input.schema
        keys = _fold_named(plan.keys, schema)
        aggs = _fold_named(plan.aggs, schema, infer_aggregate_field)
        if keys is plan.keys and aggs is plan.aggs:
            return plan
        return plan.replace(keys=keys, aggs=aggs)

    if isinstance(plan, L.Window):
        exprs = _fold_named(plan.exprs, plan.input.schema, infer_window_field)
        return plan if exprs is plan.exprs else plan.replace(exprs=exprs)

    if isinstance(plan, L.Sort):
        schema = plan.input.schema
        sort_keys = []
        for k in plan.keys:
            e = _fold_checked(k.expr, schema, check_nullable=False)
            sort_keys.append(k if e is k.expr else k.model_copy(update={"expr": e}))
        if all(a is b for a, b in zip(sort_keys, plan.keys, strict=True)):
            return plan
        return plan.replace(keys=tuple(sort_keys))

    if isinstance(plan, L.Join):
        lschema, rschema = plan.left.schema, plan.right.schema
        lkeys = tuple(_fold_checked(k, lschema, True) for k in plan.left_keys)
        rkeys = tuple(_fold_checked(k, rschema, True) for k in plan.right_keys)
        cond = plan.condition
        if cond is not None:
            cond = _fold_checked(cond, _dedupe(lschema + rschema), check_nullable=False)
            if cond == _TRUE:
                cond = None
        if lkeys == plan.left_keys and rkeys == plan.right_keys and cond == plan.condition:
            return plan
        return plan.replace(left_keys=lkeys, right_keys=rkeys, condition=cond)

    return plan


# ---------------------------------------------------------------------------------------
# Expressions


def fold_expr(expr: ex.ExprNode) -> ex.ExprNode:
    """``expr`` with constant sub-expressions evaluated and boolean identities
    simplified (no type check: :func:`fold_constants` checks against the schema)."""
    return _fold(expr)


def _fold(node: ex.ExprNode) -> ex.ExprNode:
    if isinstance(node, (ex.ColumnRef, ex.Literal)):
        return node
    kids = node.children()
    if kids:
        new = tuple(_fold(c) for c in kids)
        if any(a is not b for a, b in zip(new, kids, strict=True)):
            node = node.with_children(new)
    simpler = _simplify(node)
    if simpler is not node:
        return simpler
    if _is_constant(node):
        lit = _evaluate_constant(node)
        if lit is not None:
            return lit
    return node


def _simplify(node: ex.ExprNode) -> ex.ExprNode:
    if isinstance(node, ex.Case):
        return _simplify_case(node)
    if not isinstance(node, ex.Call):
        return node
    if node.fn == "not" and len(node.args) == 1:
        inner = node.args[0]
        if isinstance(inner, ex.Call) and inner.fn == "not" and len(inner.args) == 1:
            return inner.args[0]
        return node
    if node.fn in ("and", "or") and len(node.args) == 2:
        unit, zero = (_TRUE, _FALSE) if node.fn == "and" else (_FALSE, _TRUE)
        a, b = node.args
        if a == zero or b == zero:
            return zero  # FALSE AND x is FALSE even for a NULL x (TRUE OR x likewise)
        if a == unit:
            return b
        if b == unit:
            return a
    return node


def _simplify_case(node: ex.Case) -> ex.ExprNode:
    """Drop branches whose condition is a constant FALSE or NULL; a leading constant
    TRUE branch is the value (the caller's type check rejects a type change)."""
    whens = tuple(
        (c, v)
        for c, v in node.whens
        if not (isinstance(c, ex.Literal) and (c.value is None or c.value is False))
    )
    if whens and whens[0][0] == _TRUE:
        return whens[0][1]
    if not whens:
        return node.otherwise if node.otherwise is not None else node
    return node if len(whens) == len(node.whens) else node.model_copy(update={"whens": whens})


def _is_constant(node: ex.ExprNode) -> bool:
    for n in ex.walk(node):
        if isinstance(n, (ex.ColumnRef, ex.AggCall, ex.WindowCall)):
            return False
        if isinstance(n, ex.Call) and n.fn.startswith("udf:"):
            return False  # a user function may be impure or costly
    return True


def _evaluate_constant(node: ex.ExprNode) -> ex.Literal | None:
    """The value of a constant expression as a literal of the same Arrow type, or
    ``None`` when it does not evaluate or cannot be written as a literal."""
    try:
        arr = evaluate(node, _ONE_ROW)
    except Exception:  # noqa: BLE001 - the query will raise it when it runs
        return None
    try:
        tname = type_name(normalize_type(arr.type))
    except ValueError:
        return None
    value = _json_value(arr[0].as_py())
    if value is _UNSUPPORTED:
        return None
    lit = ex.Literal(value=value, type=tname)
    # it must evaluate back to exactly the same value and type
    try:
        again = evaluate(lit, _ONE_ROW)
    except Exception:  # noqa: BLE001
        return None
    if again.type != arr.type or not again.equals(arr):
        return None
    return lit


_UNSUPPORTED = object()


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else _UNSUPPORTED
    if isinstance(v, _decimal.Decimal):
        return str(v)
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    return _UNSUPPORTED


# ---------------------------------------------------------------------------------------
# Type checks


def _careful(expr: ex.ExprNode, ok: Callable[[ex.ExprNode], bool]) -> ex.ExprNode:
    """``expr`` with as much folded as ``ok`` accepts: the whole expression if it
    can, else each child folded as far as the parent still passes."""
    folded = _fold(expr)
    if folded is expr or folded == expr:
        return expr
    if ok(folded):
        return folded
    kids = list(expr.children())
    if not kids:
        return expr
    current = list(kids)
    for i, kid in enumerate(kids):

        def ok_child(c: ex.ExprNode, i: int = i) -> bool:
            return ok(expr.with_children(tuple(current[:i] + [c] + current[i + 1 :])))

        current[i] = _careful(kid, ok_child)
    if all(a is b for a, b in zip(current, kids, strict=True)):
        return expr
    return expr.with_children(tuple(current))


def _same_field(
    infer: Callable[[Any, Schema, str], Any], expr: ex.ExprNode, schema: Schema, name: str, check_nullable: bool
) -> Callable[[ex.ExprNode], bool]:
    """A check that a rewrite of ``expr`` keeps its type (and nullability)."""
    try:
        before = infer(expr, schema, name)
    except Exception:  # noqa: BLE001 - an expression that does not type: leave it alone
        return lambda _: False

    def ok(candidate: ex.ExprNode) -> bool:
        try:
            after = infer(candidate, schema, name)
        except Exception:  # noqa: BLE001
            return False
        if check_nullable:
            return bool(after == before)
        return bool(after.type == before.type)

    return ok


def _fold_checked(expr: ex.ExprNode, schema: Schema, check_nullable: bool) -> ex.ExprNode:
    """``expr`` folded as far as its type (and nullability) stays the same."""
    return _careful(expr, _same_field(infer_field, expr, schema, "_", check_nullable))


def _fold_named(
    exprs: tuple[ex.NamedExpr, ...],
    schema: Schema,
    infer: Callable[[Any, Schema, str], Any] = infer_field,
) -> tuple[ex.NamedExpr, ...]:
    """Fold each output expression as far as its output field stays the same."""
    out = []
    changed = False
    for e in exprs:
        folded = _careful(e.expr, _same_field(infer, e.expr, schema, e.name, True))
        if folded is not e.expr:
            out.append(ex.NamedExpr(name=e.name, expr=folded))
            changed = True
        else:
            out.append(e)
    return tuple(out) if changed else exprs


def _dedupe(schema: Schema) -> Schema:
    seen: set[str] = set()
    out = []
    for f in schema:
        if f.name not in seen:
            seen.add(f.name)
            out.append(f)
    return tuple(out)


__all__ = ["fold_constants", "fold_expr"]
