"""Order-preserving integer codes for sort keys: vectorized multi-key comparison.

Comparing rows under ``ORDER BY a DESC, b NULLS FIRST`` row by row in Python is slow.
Instead each key column becomes one ``uint64`` *code* per row with
``code[i] < code[j]`` exactly when row i sorts before row j on that key (equal codes:
a tie), following Arrow's sort order: NULLs first or last as asked, NaN next to the
NULLs (after the values with NULLS LAST, before them with NULLS FIRST), ``-0.0`` equal
to ``0.0``, strings by their bytes. Rows of several keys then compare as tuples of
codes; :func:`lex_rank` folds the tuples into one dense code.

Codes only compare within one call: encode all the rows that must be compared
together. Strings, binaries and decimals are encoded by Arrow's ``rank`` (a sort);
when many rows only need comparing with a few reference rows (a batch with its range
split points, a merge buffer with its bound row), :func:`count_before` avoids that
sort with a vectorized binary search among the reference values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflow.specs import OrderSpec

from .hashing import _FLOAT_DTYPES, _INT_DTYPES, _UINT_DTYPES, _fixed_values, _is_temporal, _null_mask

__all__ = ["count_before", "is_elementwise", "key_codes", "lex_rank", "order_codes", "sort_key_tuples"]

_U64 = np.uint64
_TOP = _U64(1 << 63)
_MAX = _U64(np.iinfo(np.uint64).max)


def sort_key_tuples(order: Sequence[OrderSpec]) -> list[tuple[str, str, str]]:
    """``order`` as Arrow ``sort_keys`` for ``pc.sort_indices`` / ``Table.sort_by``.

    >>> sort_key_tuples([OrderSpec(column="a", ascending=False)])
    [('a', 'descending', 'at_end')]
    """
    return [
        (s.column, "ascending" if s.ascending else "descending", "at_start" if s.nulls_first else "at_end")
        for s in order
    ]


def _as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _numeric_u64(arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Ascending order-preserving uint64 of a fixed-width array (and its NaN mask), or
    ``None`` for types that need a sort to encode."""
    t = arr.type
    if pa.types.is_boolean(t):
        return arr.fill_null(False).to_numpy(zero_copy_only=False).astype(_U64), None
    if pa.types.is_signed_integer(t) or _is_temporal(t):
        return _fixed_values(arr, _INT_DTYPES[t.bit_width]).astype(np.int64).view(_U64) ^ _TOP, None
    if pa.types.is_unsigned_integer(t):
        return _fixed_values(arr, _UINT_DTYPES[t.bit_width]).astype(_U64), None
    if pa.types.is_floating(t):
        x = _fixed_values(arr, _FLOAT_DTYPES[t.bit_width]).astype(np.float64)
        x += 0.0  # -0.0 becomes 0.0
        nan = np.isnan(x)
        bits = x.view(_U64)
        # the usual trick: flip all bits of negatives, only the sign bit of positives
        u = np.where(bits >> _U64(63), ~bits, bits | _TOP)
        return u, (nan if nan.any() else None)
    return None


def _dense_rank(arr: pa.Array, spec: OrderSpec) -> np.ndarray:
    direction = "ascending" if spec.ascending else "descending"
    placement = "at_start" if spec.nulls_first else "at_end"
    try:  # pyarrow >= 25 wants the NULL placement per sort key
        ranks = pc.rank(arr, sort_keys=[("", direction, placement)], tiebreaker="dense")
    except (TypeError, ValueError):  # older pyarrow
        ranks = pc.rank(arr, sort_keys=direction, null_placement=placement, tiebreaker="dense")
    return ranks.to_numpy(zero_copy_only=False).astype(_U64, copy=False)


def _comparable(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array of a type Arrow's comparison and sort kernels accept."""
    arr = _as_array(col)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.type == pa.string_view():
        arr = arr.cast(pa.large_string())
    elif arr.type == pa.binary_view():
        arr = arr.cast(pa.large_binary())
    return arr


def is_elementwise(t: pa.DataType) -> bool:
    """Whether :func:`key_codes` encodes a column of type ``t`` value by value (numbers,
    booleans, dates and times) rather than by sorting it (strings, decimals, ...)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return (
        pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or _is_temporal(t)
        or pa.types.is_null(t)
    )


def key_codes(col: pa.Array | pa.ChunkedArray, spec: OrderSpec) -> np.ndarray:
    """Order-preserving ``uint64`` codes of one sort key column (see the module doc).

    >>> key_codes(pa.array([3, None, 1]), OrderSpec(column="x")).argsort().tolist()
    [2, 0, 1]
    """
    arr = _comparable(col)
    if pa.types.is_null(arr.type):
        return np.zeros(len(arr), dtype=_U64)
    num = _numeric_u64(arr)
    if num is None:
        # strings, binaries, decimals: let Arrow sort, with its exact collation
        return _dense_rank(arr, spec)
    u, nan = num
    if not spec.ascending:
        u = ~u
    nulls = _null_mask(arr)
    if nulls is None and nan is None:
        return u
    special = np.zeros(len(arr), dtype=bool)
    for m in (nulls, nan):
        if m is not None:
            special |= m
    values = ~special
    # two codes are reserved next to the values for NaN and NULL
    if values.any() and u[values].max() > _MAX - _U64(2):
        _, inverse = np.unique(u[values], return_inverse=True)
        u = u.copy()
        u[values] = inverse.astype(_U64)
    if spec.nulls_first:  # NULL, NaN, values
        codes = u + _U64(2)
        low, high = _U64(0), _U64(1)
    else:  # values, NaN, NULL
        codes = u.copy()
        low, high = _MAX, _MAX - _U64(1)
    if nan is not None:
        codes[nan] = high
    if nulls is not None:
        codes[nulls] = low
    return codes


def order_codes(
    columns: Sequence[pa.Array | pa.ChunkedArray], order: Sequence[OrderSpec]
) -> list[np.ndarray]:
    """:func:`key_codes` of each key column (``columns[i]`` under ``order[i]``)."""
    return [key_codes(c, s) for c, s in zip(columns, order, strict=True)]


def lex_rank(codes: Sequence[np.ndarray]) -> np.ndarray:
    """One ``uint64`` code per row that orders rows as the tuples of ``codes`` do
    (lexicographically, first key first): the dense rank of the tuples, or the single
    key's codes as they are.

    >>> lex_rank([np.array([1, 1, 0], np.uint64), np.array([5, 2, 9], np.uint64)]).tolist()
    [2, 1, 0]
    """
    if len(codes) == 1:
        return codes[0]
    n = len(codes[0])
    if n == 0:
        return np.zeros(0, dtype=_U64)
    perm = np.lexsort(tuple(reversed(codes)))  # lexsort's last key is the primary one
    change = np.zeros(n, dtype=bool)
    for c in codes:
        s = c[perm]
        change[1:] |= s[1:] != s[:-1]
    dense = np.empty(n, dtype=_U64)
    dense[perm] = np.cumsum(change, dtype=_U64)
    return dense


def _search_codes(values: pa.Array, uniq: pa.Array, spec: OrderSpec) -> np.ndarray:
    """``2 * (number of uniq values strictly before v) + (1 if v is one of them)`` for
    each non-NULL ``v`` of ``values``; ``uniq`` is distinct, non-NULL and in order.
    A binary search run for all rows at once: log2(len(uniq)) rounds of one ``take``
    and one comparison kernel."""
    n, m = len(values), len(uniq)
    if m == 0:
        return np.zeros(n, dtype=_U64)
    before = pc.less if spec.ascending else pc.greater
    lo = np.zeros(n, dtype=np.int64)
    hi = np.full(n, m, dtype=np.int64)
    for _ in range(m.bit_length()):
        active = lo < hi
        mid = (lo + hi) // 2
        probe_before = before(uniq.take(np.minimum(mid, m - 1)), values).to_numpy(zero_copy_only=False)
        lo = np.where(active & probe_before, mid + 1, lo)
        hi = np.where(active & ~probe_before, mid, hi)
    equal = pc.equal(uniq.take(np.minimum(lo, m - 1)), values).to_numpy(zero_copy_only=False) & (lo < m)
    return 2 * lo.astype(_U64) + equal


def _common_type(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """A type both ``a`` and ``b`` cast to (int8 and int64: int64), else ``a``."""
    try:
        schemas = [pa.schema([("x", a)]), pa.schema([("x", b)])]
        return pa.unify_schemas(schemas, promote_options="permissive").field("x").type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return a


def _codes_against(col: pa.Array, ref: pa.Array, spec: OrderSpec) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``col`` and of ``ref`` (a few rows) that keep how every row of ``col``
    compares with every row of ``ref`` (not how rows of ``col`` compare among
    themselves). Without a sort of ``col``: a binary search among ref's values."""
    if ref.type != col.type:
        common = _common_type(col.type, ref.type)
        col, ref = col.cast(common), ref.cast(common)
    if is_elementwise(col.type):
        codes = key_codes(pa.chunked_array([col, ref], type=col.type), spec)  # elementwise
        return codes[: len(col)], codes[len(col) :]
    ref_values = ref.drop_null()
    uniq = pc.unique(ref_values)  # few values (a later key of ref need not be in order)
    uniq = uniq.take(pc.array_sort_indices(uniq, order="ascending" if spec.ascending else "descending"))
    null_ref = ref.null_count > 0
    shift = _U64(2) if (null_ref and spec.nulls_first) else _U64(0)
    if spec.nulls_first:
        null_code = _U64(1) if null_ref else _U64(0)
    else:
        null_code = _U64(2 * len(uniq) + (1 if null_ref else 0))

    def encode(a: pa.Array) -> np.ndarray:
        if a.null_count == 0:
            return _search_codes(a, uniq, spec) + shift
        valid = pc.is_valid(a).to_numpy(zero_copy_only=False)
        out = np.full(len(a), null_code, dtype=_U64)
        out[valid] = _search_codes(a.drop_null(), uniq, spec) + shift
        return out

    return encode(col), encode(ref)


def count_before(
    columns: Sequence[pa.Array | pa.ChunkedArray],
    ref_columns: Sequence[pa.Array | pa.ChunkedArray],
    order: Sequence[OrderSpec],
) -> np.ndarray:
    """For each row of ``columns``, how many rows of ``ref_columns`` sort strictly
    before it under ``order`` (``columns[i]``, ``ref_columns[i]`` are the values of
    ``order[i]``); the ref rows must be in order (``ValueError`` if not). Costs
    O(rows * log(ref rows)) vectorized work per key, no sort of ``columns``.

    >>> spec = OrderSpec(column="x", ascending=False)  # NULLS LAST
    >>> count_before([pa.array(["a", "c", None])], [pa.array(["c", "b"])], [spec]).tolist()
    [2, 0, 2]
    """
    if not order:
        raise ValueError("count_before needs at least one sort key")
    n = len(columns[0])
    data_codes, ref_codes = [], []
    rows: np.ndarray | None = None  # the rows a later key can still matter for (None: all)
    for col, ref, spec in zip(columns, ref_columns, order, strict=True):
        arr = _comparable(col)
        d, r = _codes_against(arr if rows is None else arr.take(rows), _comparable(ref), spec)
        if rows is None:
            data_codes.append(d)
        else:
            # a row equal to no ref on an earlier key compares with every ref there:
            # its codes for later keys do not matter
            full = np.zeros(n, dtype=_U64)
            full[rows] = d
            data_codes.append(full)
        ref_codes.append(r)
        tied = np.isin(d, r)
        rows = np.flatnonzero(tied) if rows is None else rows[tied]
    return _count_codes_before(data_codes, ref_codes)


def _count_codes_before(data: list[np.ndarray], refs: list[np.ndarray]) -> np.ndarray:
    """:func:`count_before` on key codes: for each data row (a tuple of codes), how many
    ref rows sort strictly before it; the ref rows must be in order."""
    m = len(refs[0])
    if m == 0:
        return np.zeros(len(data[0]), dtype=np.int64)
    if len(data) == 1:
        s = refs[0]
        if np.any(s[1:] < s[:-1]):
            raise ValueError("reference rows are not in order")
        return np.searchsorted(s, data[0], side="left")
    # Only how data rows compare with ref rows matters, so each key's codes can be
    # replaced by small ones that keep those comparisons: 2 * (number of distinct ref
    # values below) + (1 if equal to one). Their mixed-radix number keeps the
    # lexicographic order and fits 64 bits unless there are very many refs and keys.
    small_d, small_r, radices = [], [], []
    for d, r in zip(data, refs, strict=True):
        uniq = np.unique(r)
        pos_d = np.searchsorted(uniq, d, side="left")
        hit = uniq[np.minimum(pos_d, len(uniq) - 1)] == d
        small_d.append(2 * pos_d.astype(_U64) + hit)
        small_r.append(2 * np.searchsorted(uniq, r).astype(_U64) + _U64(1))
        radices.append(2 * len(uniq) + 1)
    if math.prod(radices) < 2**63:
        comp_d = np.zeros(len(data[0]), dtype=_U64)
        comp_r = np.zeros(m, dtype=_U64)
        for dd, rr, radix in zip(small_d, small_r, radices, strict=True):
            comp_d = comp_d * _U64(radix) + dd
            comp_r = comp_r * _U64(radix) + rr
    else:  # rank data and refs together
        n = len(data[0])
        both = lex_rank([np.concatenate([dd, rr]) for dd, rr in zip(small_d, small_r, strict=True)])
        comp_d, comp_r = both[:n], both[n:]
    return _count_codes_before([comp_d], [comp_r])
