"""The one table of scalar functions: name, arity, return-type rule, kernel, SQL names.

Each function family module (``arithmetic``, ``strings``, ``dates`` ...) registers its
functions with :func:`scalar` where it defines them, so adding a function touches one
file: the kernel, its arity, its SQL spellings and its result type sit together.

A kernel is ``impl(args, n) -> Value``: ``args`` are Arrow arrays or scalars (see
:mod:`dataflow.kernels.values`), ``n`` the number of rows. The result type is, by
default, what the kernel returns on empty input: planning evaluates every expression on
an empty batch (:func:`dataflow.compute.infer_field`), so typing can never disagree with
evaluation, and a kernel's argument checks run at planning. ``returns`` states the rule
in words for the functions whose result type does not depend on the input
(``sqrt -> double``); :func:`ScalarFunction.result_type` checks it against the kernel.

>>> from dataflow.kernels import lookup
>>> import pyarrow as pa
>>> lookup("sqrt").result_type([pa.int32()])
DataType(double)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pyarrow as pa

from ..errors import PlanError
from .values import Value

Kernel = Callable[[list[Value], int], Value]


@dataclasses.dataclass(frozen=True)
class ScalarFunction:
    """One scalar function.

    ``name`` is what :class:`dataflow.expr.Call` names; ``arity`` is ``(min, max)``
    (``max`` None: no maximum); ``sql_names`` are the lower-case SQL spellings the SQL
    translator accepts for a plain call ``f(a, b)``; ``returns`` is a fixed result type
    name, when the result type does not depend on the arguments; ``nulls`` says when the
    result is NULL: ``"any"`` (if any argument is), ``"all"`` (only if all are),
    ``"never"`` or ``"maybe"`` (it may be, even for valid arguments).
    """

    name: str
    impl: Kernel
    arity: tuple[int, int | None]
    family: str
    sql_names: tuple[str, ...] = ()
    returns: str | None = None
    nulls: str = "any"
    doc: str = ""

    def check_arity(self, count: int) -> str | None:
        """None if ``count`` arguments are accepted, else what is (``"2"``, ``"1 to 3"``)."""
        lo, hi = self.arity
        if count >= lo and (hi is None or count <= hi):
            return None
        return str(lo) if lo == hi else f"{lo} to {hi}" if hi is not None else f"at least {lo}"

    def result_type(self, args: list[pa.DataType | pa.Scalar]) -> pa.DataType:
        """The result type for arguments of these types (or constants, for arguments
        that must be constant, such as a date part): the kernel run on empty arrays
        (raising its type errors), checked against ``returns`` if stated."""
        out = self.impl([a if isinstance(a, pa.Scalar) else pa.array([], a) for a in args], 0)
        t = out.type
        if self.returns is not None and str(t) != self.returns:
            raise PlanError(f"{self.name} returned {t}, its rule says {self.returns}")
        return t


_REGISTRY: dict[str, ScalarFunction] = {}
_BY_SQL_NAME: dict[str, ScalarFunction] = {}


def scalar(
    name: str,
    arity: tuple[int, int | None] | int,
    family: str,
    sql: tuple[str, ...] | None = None,
    returns: str | None = None,
    nulls: str = "any",
) -> Callable[[Kernel], Kernel]:
    """Register the decorated kernel as the scalar function ``name``. ``sql`` lists its
    SQL spellings (default: ``(name,)``; ``()`` for an engine-only function such as
    ``add``, which SQL writes as ``+``). Without a decorator:
    ``scalar(name, arity, family)(impl)``."""
    if name in _REGISTRY:
        raise ValueError(f"scalar function {name!r} is defined twice")
    if nulls not in ("any", "all", "never", "maybe"):
        raise ValueError(f"unknown nulls rule {nulls!r}")
    sql_names = (name,) if sql is None else sql
    for s in sql_names:
        if s in _BY_SQL_NAME:
            raise ValueError(f"SQL name {s!r} is taken by {_BY_SQL_NAME[s].name}")
    ar = (arity, arity) if isinstance(arity, int) else arity

    def wrap(impl: Kernel) -> Kernel:
        fn = ScalarFunction(
            name=name, impl=impl, arity=ar, family=family, sql_names=sql_names,
            returns=returns, nulls=nulls, doc=(impl.__doc__ or "").strip().split("\n")[0],
        )
        _REGISTRY[name] = fn
        for s in sql_names:
            _BY_SQL_NAME[s] = fn
        return impl

    return wrap


def lookup(name: str) -> ScalarFunction | None:
    """The function registered as ``name`` (the engine name), or None."""
    return _REGISTRY.get(name)


def by_sql_name(name: str) -> ScalarFunction | None:
    """The function SQL calls ``name`` (lower case), or None."""
    return _BY_SQL_NAME.get(name)


def names() -> frozenset[str]:
    """Every registered engine name."""
    return frozenset(_REGISTRY)


def sql_names() -> frozenset[str]:
    """Every SQL spelling."""
    return frozenset(_BY_SQL_NAME)


def functions() -> list[ScalarFunction]:
    """Every registered function, by family then name."""
    return sorted(_REGISTRY.values(), key=lambda f: (f.family, f.name))
