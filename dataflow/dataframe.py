"""The lazy DataFrame: each method returns a new DataFrame over a bigger logical
plan; nothing runs until ``to_arrow()``, ``to_pandas()``, ``to_polars()``,
``iter_batches()``, ``to_ray_dataset()``, ``count()``, a ``write_*()`` or ``submit()``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pyarrow as pa

from . import builder
from . import logical as L
from .errors import DataflowError, PlanError, UnknownColumnError
from .expr import (
    ColumnRef,
    Expr,
    ExprNode,
    NamedExpr,
    columns_used,
    conjoin,
    conjuncts,
    contains_aggregate,
    contains_window,
    split_equi_keys,
    to_expr,
    to_sort_key,
)
from .limits import refuse_too_deep
from .types import schema_to_arrow

if TYPE_CHECKING:
    from .runtime.job import Job
    from .session import Session


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _names(plan: L.LogicalPlan) -> list[str]:
    return [f.name for f in plan.schema]


def _flatten(items: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for x in items:
        if isinstance(x, (list, tuple)):
            out.extend(x)
        else:
            out.append(x)
    return out


def _arguments_of(template: Callable[_P, _R]) -> Callable[[Callable[..., _R]], Callable[_P, _R]]:
    """Give the decorated method the arguments of ``template``, a sibling that takes the
    same ones (``write_csv`` those of ``write_parquet``), so that they are declared once:
    the method shows ``template``'s signature (to ``help``, the docs and type checkers)
    and is called with every argument bound to it, its defaults filled in."""
    signature = inspect.signature(template)

    def decorate(method: Callable[..., _R]) -> Callable[_P, _R]:
        @functools.wraps(method)
        def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{method.__qualname__}() {e}") from None
            bound.apply_defaults()
            return method(*bound.args, **bound.kwargs)

        call.__signature__ = signature  # type: ignore[attr-defined]
        return call

    return decorate


class DataFrame:
    """A lazy query over the tables of a :class:`~dataflow.Session`."""

    def __init__(self, session: Session, plan: L.LogicalPlan) -> None:
        self.session = session
        self.plan = plan
        with refuse_too_deep("the expression"):
            plan.schema  # noqa: B018 - fail here, at the call that made the plan invalid

    def _new(self, plan: L.LogicalPlan) -> DataFrame:
        return DataFrame(self.session, plan)

    def _check(self, node: ExprNode, where: str) -> None:
        builder.check_columns(node, self.plan, where)

    # -- schema -------------------------------------------------------------------------

    @property
    def schema(self) -> pa.Schema:
        return schema_to_arrow(self.plan.schema)

    @property
    def columns(self) -> list[str]:
        return _names(self.plan)

    def __repr__(self) -> str:
        return f"DataFrame[{', '.join(f'{f.name}: {f.type}' for f in self.plan.schema)}]"

    def __getitem__(self, name: str) -> Expr:
        if name not in self.columns:
            raise UnknownColumnError(name, self.columns)
        return Expr(ColumnRef(name=name))

    # -- transformations ----------------------------------------------------------------

    def select(self, *exprs: str | Expr) -> DataFrame:
        """Compute columns; aggregates here make a global aggregate (as SQL does),
        window functions a window."""
        named = [to_expr(e).named() for e in _flatten(list(exprs))]
        for n in named:
            self._check(n.expr, "select")
        if any(contains_aggregate(n.expr) for n in named):
            return self._new(builder.aggregate(self.plan, [], named))
        if any(contains_window(n.expr) for n in named):
            return self._new(builder.window(self.plan, named))
        return self._new(L.Project(input=self.plan, exprs=tuple(named)))

    def filter(self, predicate: Expr | str) -> DataFrame:
        """Keep rows where ``predicate`` is true (NULL counts as false)."""
        if isinstance(predicate, str):
            raise PlanError("filter() takes an expression such as col('x') > 3; for SQL text use Session.sql")
        node = to_expr(predicate).node
        self._check(node, "filter")
        if contains_aggregate(node):
            raise PlanError("aggregate functions are not allowed in filter(); filter after agg() instead")
        return self._new(L.Filter(input=self.plan, predicate=node))

    where = filter

    def with_column(self, name: str, expr: Expr | Any) -> DataFrame:
        """Add (or replace) one column."""
        return self.with_columns(**{name: expr})

    def with_columns(self, **exprs: Expr | Any) -> DataFrame:
        out: list[NamedExpr] = []
        for n in self.columns:
            if n in exprs:
                out.append(NamedExpr(name=n, expr=to_expr(exprs[n]).node))
            else:
                out.append(NamedExpr(name=n, expr=ColumnRef(name=n)))
        out += [NamedExpr(name=n, expr=to_expr(e).node) for n, e in exprs.items() if n not in self.columns]
        for n in out:
            self._check(n.expr, "with_column")
        if any(contains_window(n.expr) for n in out):
            return self._new(builder.window(self.plan, out))
        return self._new(L.Project(input=self.plan, exprs=tuple(out)))

    def drop(self, *columns: str) -> DataFrame:
        for c in columns:
            if c not in self.columns:
                raise UnknownColumnError(c, self.columns, "drop")
        return self.select(*[c for c in self.columns if c not in columns])

    def rename(self, mapping: dict[str, str]) -> DataFrame:
        for c in mapping:
            if c not in self.columns:
                raise UnknownColumnError(c, self.columns, "rename")
        return self._new(builder.rename(self.plan, mapping))

    def join(
        self,
        other: DataFrame,
        on: str | Sequence[str] | Expr | None = None,
        how: str = "inner",
        *,
        left_on: str | Sequence[str] | None = None,
        right_on: str | Sequence[str] | None = None,
        suffix: str = "_right",
    ) -> DataFrame:
        """Join with ``other``: ``on`` names key columns present on both sides (kept once
        in the output), or is a join condition (``col("a") == col("b")``, over column
        names of the two sides); ``left_on``/``right_on`` pair differently named keys.
        ``how``: inner, left, right, full, semi, anti or cross. Right-side columns whose
        names collide with left ones get ``suffix``."""
        how = {"outer": "full", "left_outer": "left", "right_outer": "right", "leftsemi": "semi"}.get(how, how)
        if how not in L.JOIN_TYPES:
            raise PlanError(f"unknown join type {how!r}; use one of {', '.join(L.JOIN_TYPES)}")
        if other.session is not self.session:
            raise PlanError("cannot join DataFrames of different Sessions")
        left, right = self.plan, other.plan
        lnames, rnames = _names(left), _names(right)
        shared_keys: list[str] = []
        lkeys: list[ExprNode] = []
        rkeys: list[ExprNode] = []
        condition: ExprNode | None = None
        if isinstance(on, Expr):
            # rename first so that a condition can name right columns unambiguously
            pass
        elif on is not None:
            shared_keys = [on] if isinstance(on, str) else list(on)
            for k in shared_keys:
                if k not in lnames:
                    raise UnknownColumnError(k, lnames, "the left side of the join")
                if k not in rnames:
                    raise UnknownColumnError(k, rnames, "the right side of the join")
        elif left_on is not None or right_on is not None:
            lo = [left_on] if isinstance(left_on, str) else list(left_on or [])
            ro = [right_on] if isinstance(right_on, str) else list(right_on or [])
            if len(lo) != len(ro):
                raise PlanError(f"left_on has {len(lo)} keys but right_on has {len(ro)}")
            for k in lo:
                if k not in lnames:
                    raise UnknownColumnError(k, lnames, "the left side of the join")
            for k in ro:
                if k not in rnames:
                    raise UnknownColumnError(k, rnames, "the right side of the join")
            lkeys = [ColumnRef(name=k) for k in lo]
            rkeys = [ColumnRef(name=k) for k in ro]
        elif how != "cross":
            raise PlanError(f"a {how} join needs on=, or left_on= and right_on=; use how='cross' for a cross join")

        # rename right columns that collide with left ones
        mapping: dict[str, str] = {}
        if how not in ("semi", "anti") or isinstance(on, Expr):
            taken = set(lnames) | set(rnames)
            for c in rnames:
                if c in lnames:
                    new = c + suffix
                    while new in taken:
                        new += suffix
                    taken.add(new)
                    mapping[c] = new
        elif shared_keys:
            for c in rnames:
                if c in lnames:
                    mapping[c] = c + suffix
        right_r = builder.rename(right, mapping)
        if shared_keys:
            lkeys = [ColumnRef(name=k) for k in shared_keys]
            rkeys = [ColumnRef(name=mapping.get(k, k)) for k in shared_keys]
        else:
            rkeys = [ColumnRef(name=mapping.get(k.name, k.name)) if isinstance(k, ColumnRef) else k for k in rkeys]
        if isinstance(on, Expr):
            lset = set(lnames)
            rset = set(_names(right_r))
            lk, rk, rest = split_equi_keys(conjuncts(on.node), lset, rset)
            lkeys += lk
            rkeys += rk
            condition = conjoin(rest)
            for n in columns_used(on.node):
                if n not in lset and n not in rset:
                    raise UnknownColumnError(n, sorted(lset | rset), "the join condition")
        plan: L.LogicalPlan = L.Join(
            left=left, right=right_r, how=how, left_keys=tuple(lkeys), right_keys=tuple(rkeys), condition=condition
        )
        if shared_keys and how not in ("semi", "anti"):
            # keep each shared key once, in the left key's position
            out: list[NamedExpr] = []
            dropped = {mapping.get(k, k) for k in shared_keys}
            for n in _names(plan):
                if n in dropped:
                    continue
                if n in shared_keys and how in ("right", "full"):
                    from .expr import coalesce

                    e = coalesce(Expr(ColumnRef(name=n)), Expr(ColumnRef(name=mapping.get(n, n)))).node
                    out.append(NamedExpr(name=n, expr=e))
                else:
                    out.append(NamedExpr(name=n, expr=ColumnRef(name=n)))
            plan = L.Project(input=plan, exprs=tuple(out))
        return self._new(plan)

    def group_by(self, *keys: str | Expr) -> GroupedData:
        """Group rows; follow with ``.agg(...)``."""
        return GroupedData(self, [to_expr(k).named() for k in _flatten(list(keys))])

    groupby = group_by

    def agg(self, *exprs: Expr) -> DataFrame:
        """A global aggregate (one row)."""
        return GroupedData(self, []).agg(*exprs)

    def sort(self, *keys: str | Expr | Any, descending: bool | Sequence[bool] = False) -> DataFrame:
        """Sort by keys: column names, expressions, or ``col("x").desc()``."""
        flat = _flatten(list(keys))
        desc = [descending] * len(flat) if isinstance(descending, bool) else list(descending)
        sort_keys = []
        for k, d in zip(flat, desc, strict=True):
            sk = to_sort_key(to_expr(k).node if isinstance(k, (str, Expr)) else k)
            if d:
                sk = sk.model_copy(update={"ascending": False})
            self._check(sk.expr, "sort")
            sort_keys.append(sk)
        return self._new(L.Sort(input=self.plan, keys=tuple(sort_keys)))

    order_by = sort

    def limit(self, n: int | None, offset: int = 0) -> DataFrame:
        if (n is not None and n < 0) or offset < 0:
            raise PlanError("limit and offset must not be negative")
        return self._new(L.Limit(input=self.plan, limit=n, offset=offset))

    head = limit

    def distinct(self) -> DataFrame:
        return self._new(L.Distinct(input=self.plan))

    def sample(self, fraction: float, seed: int | None = None) -> DataFrame:
        """Keep each row with probability ``fraction`` (0 to 1; Bernoulli sampling).
        Which rows are kept depends on their values and ``seed`` only, so a seed gives
        the same rows at any parallelism; without one, a seed is drawn now (this
        DataFrame then always returns the same rows). Equal rows are kept or dropped
        together. A bad fraction raises :class:`~dataflow.errors.PlanError` here."""
        return self._new(L.Sample.of(self.plan, fraction, seed))

    def union(self, other: DataFrame, all: bool = True) -> DataFrame:  # noqa: A002
        """Rows of both (UNION ALL); ``all=False`` removes duplicates (UNION)."""
        if len(other.columns) != len(self.columns):
            raise PlanError(f"union of {len(self.columns)} and {len(other.columns)} columns")
        plan: L.LogicalPlan = L.Union(inputs=(self.plan, other.plan))
        if not all:
            plan = L.Distinct(input=plan)
        return self._new(plan)

    def union_all(self, other: DataFrame) -> DataFrame:
        return self.union(other, all=True)

    # -- execution ----------------------------------------------------------------------

    def submit(self, parallelism: int | None = None, *, stream: bool = False) -> Job:
        """Start the query; returns a :class:`Job` (``result()``, ``cancel()``, ``metrics()``).
        ``parallelism`` forces every stage to that many instances; by default the cost
        model chooses, up to the Session's parallelism. ``stream=True`` has the Ray
        runtime stream the result into Ray's object store while the query runs, for
        ``job.iter_batches()`` and ``job.to_ray_dataset()`` (without it, the result
        comes back with the last instance's answer: the quickest for ``result()``)."""
        return self.session.execute(self.plan, parallelism, stream=stream)

    def to_arrow(self, parallelism: int | None = None) -> pa.Table:
        """Run the query and return its result as an Arrow table."""
        return self.submit(parallelism).result()

    collect = to_arrow

    def to_pandas(self, parallelism: int | None = None) -> Any:
        return self.to_arrow(parallelism).to_pandas()

    def to_pylist(self) -> list[dict[str, Any]]:
        return self.to_arrow().to_pylist()

    def to_polars(self, parallelism: int | None = None) -> Any:
        """Run the query and return its result as a polars DataFrame."""
        import polars

        return polars.from_arrow(self.to_arrow(parallelism))

    def to_ray_dataset(self, parallelism: int | None = None) -> Any:
        """Run the query and return its result as a Ray Dataset. On the Ray runtime the
        Dataset reads the result where the workers left it in Ray's object store, without
        copying it through the driver."""
        return self.submit(parallelism, stream=True).to_ray_dataset()

    def iter_batches(self, parallelism: int | None = None) -> Iterator[pa.RecordBatch]:
        """Run the query and yield its result's record batches as the job delivers
        them (a runtime that streams yields the first before the query is done)."""
        return self.submit(parallelism, stream=True).iter_batches()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        """``for batch in df``: the result's record batches (see :meth:`iter_batches`)."""
        return iter(self.iter_batches())

    # -- writing ------------------------------------------------------------------------

    def write_parquet(
        self,
        path: str,
        *,
        partition_by: str | Sequence[str] | None = None,
        mode: str = "error",
        single_file: bool = False,
        parallelism: int | None = None,
    ) -> pa.Table:
        """Write the result as Parquet: a directory of part files written in parallel
        by the last stage's instances (in Hive ``k=v`` subdirectories of
        ``partition_by``, whose columns are left out of the files), or with
        ``single_file`` one file at ``path``. ``mode``: ``"error"`` if ``path``
        exists, or ``"overwrite"``. Atomic: files go to a hidden temporary directory
        beside ``path`` and are renamed into place when the job succeeds; a failed
        job leaves ``path`` as it was. Returns the files written (``path``, ``rows``)."""
        return self._write("parquet", path, partition_by, mode, single_file, parallelism)

    @_arguments_of(write_parquet)
    def write_csv(self, path: str, **options: Any) -> pa.Table:
        """Write the result as CSV files with a header line (the keywords as :meth:`write_parquet`)."""
        return self._write("csv", path, **options)

    @_arguments_of(write_parquet)
    def write_json(self, path: str, **options: Any) -> pa.Table:
        """Write the result as newline-delimited JSON (the keywords as :meth:`write_parquet`)."""
        return self._write("json", path, **options)

    def _write(
        self,
        fmt: str,
        path: str,
        partition_by: str | Sequence[str] | None,
        mode: str,
        single_file: bool,
        parallelism: int | None,
    ) -> pa.Table:
        from .writer import write

        keys = (partition_by,) if isinstance(partition_by, str) else tuple(partition_by or ())
        return write(self, fmt, str(path), keys, mode, single_file, parallelism)

    def count(self) -> int:
        """Run a count of the rows."""
        from .functions import count

        return int(self.agg(count().alias("count")).to_arrow().column(0)[0].as_py())

    def explain(
        self,
        verbose: bool = False,
        analyze: bool = False,
        parallelism: int | None = None,
        format: str = "text",
    ) -> str:
        """The logical plan, the physical plan with its exchanges and degrees of
        parallelism, and the stages with their instances. ``verbose`` adds each
        optimizer rule's effect and time. ``analyze`` runs the query and adds, per
        operator and per instance, the actual rows in and out, batches, bytes, self
        time, time waiting for input and for output, the skew across instances and
        the job's attempts. ``format="dot"`` gives the stage graph as Graphviz DOT
        text instead (after ``analyze``, with rows and bytes on every exchange);
        ``format="svg"`` renders that (needs ``pip install 'dataflow[viz]'`` and
        Graphviz's ``dot``)."""
        from .explain import explain

        return explain(self, verbose=verbose, analyze=analyze, parallelism=parallelism, format=format)

    def explain_svg(self, path: str, analyze: bool = False, parallelism: int | None = None) -> str:
        """Write the stage graph as an SVG file at ``path`` (see :meth:`explain`);
        returns ``path``."""
        svg = self.explain(analyze=analyze, parallelism=parallelism, format="svg")
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg)
        return path

    def show(self, n: int = 20) -> None:
        print(self.limit(n).to_arrow().to_pandas().to_string(index=False))


class GroupedData:
    """``df.group_by(keys)``: call ``agg`` with aggregate expressions."""

    def __init__(self, df: DataFrame, keys: list[NamedExpr]) -> None:
        self.df = df
        self.keys = keys

    def agg(self, *exprs: Expr | Iterable[Expr]) -> DataFrame:
        """Aggregate each group. Outputs are the keys, then ``exprs``: aggregates or
        expressions over aggregates and keys (``sum(a) / count()``)."""
        outs = [to_expr(e).named() for e in _flatten(list(exprs))]
        key_outs = [NamedExpr(name=k.name, expr=k.expr) for k in self.keys]
        return self.df._new(builder.aggregate(self.df.plan, self.keys, key_outs + outs))

    def count(self) -> DataFrame:
        from .functions import count

        return self.agg(count().alias("count"))


__all__ = ["DataFrame", "DataflowError", "GroupedData"]
