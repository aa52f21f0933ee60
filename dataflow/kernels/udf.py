"""User-defined scalar functions: Python callables over Arrow arrays, registered by name.

``Call(fn="udf:<name>")`` calls one; the SQL translator resolves ``name(...)`` to it
when no built-in function has that name. The registry is per process (each Ray worker
registers a job's UDFs when it sets up, see ``dataflow.runtime``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pyarrow as pa

from ..errors import PlanError
from ..types import normalize_type, parse_type, resolve_type_name
from .values import Value, broadcast


@dataclasses.dataclass(frozen=True)
class Udf:
    """A registered scalar UDF: ``fn(*arrays) -> pa.Array`` returning ``return_type``.
    ``parallel_safe`` says whether instances may call it concurrently."""

    name: str
    fn: Callable[..., pa.Array]
    return_type: pa.DataType
    parallel_safe: bool = True


_UDFS: dict[str, Udf] = {}


def register_udf(name: str, fn: Callable[..., pa.Array], return_type: str, parallel_safe: bool = True) -> None:
    """Register ``fn`` so that ``Call(fn="udf:<name>", args=...)`` calls it with one Arrow
    array per argument; it must return an array of the same length. Registering a
    name again replaces the function. The registry is per process."""
    try:
        t = normalize_type(parse_type(resolve_type_name(return_type)))
    except ValueError as e:
        raise PlanError(f"UDF {name!r}: {e}") from e
    _UDFS[name] = Udf(name=name, fn=fn, return_type=t, parallel_safe=parallel_safe)


def get_udf(name: str) -> Udf:
    """The UDF registered as ``name``."""
    try:
        return _UDFS[name]
    except KeyError:
        raise PlanError(f"unknown UDF {name!r}; register it with register_udf") from None


def find_udf(name: str) -> Udf | None:
    """The UDF registered as ``name`` (matched case-insensitively, as SQL names are), or None."""
    if name in _UDFS:
        return _UDFS[name]
    low = name.lower()
    hits = [u for k, u in _UDFS.items() if k.lower() == low]
    return hits[0] if len(hits) == 1 else None


def udf_names() -> list[str]:
    """The names of the registered UDFs."""
    return sorted(_UDFS)


def call_udf(name: str, args: list[Value], n: int) -> Value:
    """Call the UDF ``name`` over ``n`` rows; checks what it returns."""
    udf = get_udf(name)
    if n == 0:  # typing on an empty batch: no need to call user code
        return pa.array([], udf.return_type)
    arrays = [broadcast(a, n) for a in args]
    out = udf.fn(*arrays)
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    if not isinstance(out, pa.Array):
        raise PlanError(f"UDF {name!r} returned {type(out).__name__}, not a pyarrow Array")
    if len(out) != n:
        raise PlanError(f"UDF {name!r} returned {len(out)} values for {n} rows")
    return out if out.type == udf.return_type else out.cast(udf.return_type)
