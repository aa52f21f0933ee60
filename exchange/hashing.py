"""A stable, vectorized row hash over key columns, for hash exchanges and joins.

Stable means: the same key values give the same 64-bit hash in every process, on
every machine and in every run (Python's ``hash()`` is salted per process, and
pyarrow has no hash kernel), so rows with equal keys sent by different producers
meet in the same consumer.

Each key value is first turned into one 64-bit *word* that depends only on the
value, not on its Arrow type:

* integers of any width and sign, dates, times, timestamps, durations and booleans:
  the integer value itself (an int32 7, an int64 7, a uint8 7 and ``True``-as-1
  agree; a uint64 above 2**63 shares its word with the int64 of the same bits);
* floats: by value: an integral float in int64 range is its integer (so ``7.0``
  hashes like ``7`` and ``-0.0`` like ``0``), NaN is one canonical word, any other
  float its IEEE-754 double bits;
* decimals: by their unscaled 128/256-bit value and scale (scale 0 values that fit
  int64 hash like integers; equal values of *different* scales hash differently, so
  the planner casts join keys to one decimal type first);
* strings and binaries (string, large_string, string_view, binary, ...): a
  polynomial hash of the bytes in uint64 arithmetic, computed for all rows at once
  from prefix sums over the data buffer and inverse powers of the base, mixed with
  the length; same bytes give the same word whatever the string type;
* dictionary arrays: the word of the decoded value; NULL: a fixed constant.

The words of the key columns are folded left to right with the splitmix64
finalizer: ``h = mix(h ^ word)`` starting from a fixed seed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NULL_WORD", "hash_columns"]

_U64 = np.uint64
_MASK64 = (1 << 64) - 1

#: The word a NULL key value contributes (any fixed constant would do).
NULL_WORD = _U64(0x6E756C6C_6E756C6C)  # "nullnull"
_SEED = _U64(0x243F6A88_85A308D3)  # pi's fraction bits
_NAN_WORD = _U64(0x7FF8000000000000)  # the canonical quiet NaN
_LEN_MULT = _U64(0x9E3779B97F4A7C15)  # golden ratio, to mix a string length in
_SCALE_MULT = _U64(0xC2B2AE3D27D4EB4F)

# The polynomial string hash: h(s) = sum_j (s[j] + 1) * P**j mod 2**64, with P odd so
# that it is invertible mod 2**64. Bytes are shifted by one so that "a" and "a\0" differ.
_P = 0x100000001B3  # the 64-bit FNV prime (odd)


def _inverse_mod_2_64(a: int) -> int:
    """The inverse of an odd ``a`` modulo 2**64 (Newton's iteration doubles the bits)."""
    x = a  # correct to 3 bits for odd a
    for _ in range(6):
        x = (x * (2 - a * x)) & _MASK64
    assert (a * x) & _MASK64 == 1
    return x


_PINV = _inverse_mod_2_64(_P)

# Strings are hashed in groups of whole rows spanning about this many data bytes, which
# bounds the temporaries (3 uint64 per byte) and the cached power tables.
_CHUNK_BYTES = 1 << 20
_pow_cache: dict[int, np.ndarray] = {}


def _powers(base: int, n: int) -> np.ndarray:
    """``base**0 .. base**(n-1)`` mod 2**64; tables up to ``_CHUNK_BYTES`` are cached."""
    size = max(n, 1)
    cached = _pow_cache.get(base)
    if cached is not None and len(cached) >= size:
        return cached[:n]
    if size <= _CHUNK_BYTES:
        size = _CHUNK_BYTES  # build the whole table once
    table = np.full(size, base, dtype=_U64)
    table[0] = 1
    with np.errstate(over="ignore"):
        np.cumprod(table, out=table)  # uint64 arithmetic wraps: exactly mod 2**64
    if size <= _CHUNK_BYTES:
        _pow_cache[base] = table
    return table[:n]


def splitmix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: a bijection on uint64 with full avalanche (in place).

    >>> int(splitmix64(np.array([0], dtype=np.uint64))[0])
    0
    """
    with np.errstate(over="ignore"):
        z ^= z >> _U64(30)
        z *= _U64(0xBF58476D1CE4E5B9)
        z ^= z >> _U64(27)
        z *= _U64(0x94D049BB133111EB)
        z ^= z >> _U64(31)
    return z


def _null_mask(arr: pa.Array) -> np.ndarray | None:
    """A boolean mask of the NULL rows, or ``None`` when there are none."""
    if arr.null_count == 0:
        return None
    return pc.is_null(arr).to_numpy(zero_copy_only=False)


def _fixed_values(arr: pa.Array, dtype: np.dtype | type) -> np.ndarray:
    """The values buffer of a fixed-width array as numpy (zero-copy, offset-aware);
    NULL slots hold arbitrary values."""
    buf = arr.buffers()[1]
    n = len(arr)
    if buf is None or n == 0:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype)[arr.offset : arr.offset + n]


_INT_DTYPES = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}
_UINT_DTYPES = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}
_FLOAT_DTYPES = {16: np.float16, 32: np.float32, 64: np.float64}


def _is_temporal(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t)


def _is_stringlike(t: pa.DataType) -> bool:
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


def _int_words(values: np.ndarray) -> np.ndarray:
    """Integers of any width to their word: the int64 (or uint64) value's bits."""
    if values.dtype.kind == "u":
        return values.astype(_U64)
    return values.astype(np.int64).view(_U64)


def _float_words(x: np.ndarray) -> np.ndarray:
    """Floats by value: integral values in int64 range as that integer, NaN as one
    canonical word, anything else as its float64 bits (-0.0 is integral: 0)."""
    x = x.astype(np.float64)
    integral = (x == np.trunc(x)) & (x >= -(2.0**63)) & (x < 2.0**63)
    words = x.view(_U64).copy()
    words[integral] = x[integral].astype(np.int64).view(_U64)
    words[np.isnan(x)] = _NAN_WORD
    return words


def _decimal_words(arr: pa.Array) -> np.ndarray:
    """Decimals by unscaled value and scale; scale-0 values that fit int64 as integers."""
    t = arr.type
    if t.bit_width < 128:  # decimal32 / decimal64: one signed integer per value
        lo = _int_words(_fixed_values(arr, _INT_DTYPES[t.bit_width]))
        raw = lo[:, None]
        fits = np.ones(len(arr), dtype=bool)
    else:  # decimal128 / decimal256: little-endian 64-bit limbs
        raw = _fixed_values(arr, np.dtype((_U64, t.bit_width // 64)))
        lo = raw[:, 0].copy()
        # the value fits int64 when every higher limb is the sign extension of the low one
        sign = (lo.view(np.int64) >> 63).view(_U64)
        fits = np.all(raw[:, 1:] == sign[:, None], axis=1)
    if t.scale == 0 and fits.all():
        return lo
    with np.errstate(over="ignore"):
        acc = splitmix64(np.full(len(arr), _U64(t.scale & _MASK64), dtype=_U64) * _SCALE_MULT)
    # fold the limbs as if sign-extended to 256 bits, so that decimal128 and decimal256
    # of the same value and scale agree
    sign = (raw[:, -1].view(np.int64) >> 63).view(_U64)
    for j in range(3, -1, -1):
        acc ^= raw[:, j] if j < raw.shape[1] else sign
        splitmix64(acc)
    if t.scale == 0:
        acc[fits] = lo[fits]
    return acc


def _string_words(arr: pa.Array) -> np.ndarray:
    """The polynomial hash of every string's bytes, mixed with its length.

    With prefix sums ``C[i] = sum_{t<i} (b[t]+1) * P**t`` over the data buffer, the
    string at bytes ``[s, e)`` hashes to ``(C[e] - C[s]) * P**-s`` (mod 2**64), which
    only depends on its bytes, not on where they sit in the buffer.
    """
    n = len(arr)
    large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    bufs = arr.buffers()
    if n == 0:
        return np.zeros(0, dtype=_U64)
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)[arr.offset : arr.offset + n + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    out = np.empty(n, dtype=_U64)
    r = 0
    with np.errstate(over="ignore"):
        while r < n:
            # whole rows [r, r1) spanning about _CHUNK_BYTES bytes (at least one row)
            r1 = int(np.searchsorted(offsets, offsets[r] + _CHUNK_BYTES, side="right")) - 1
            r1 = min(max(r1, r + 1), n)
            b0, b1 = int(offsets[r]), int(offsets[r1])
            span = b1 - b0
            seg = data[b0:b1].astype(_U64)
            seg += _U64(1)
            seg *= _powers(_P, span)
            prefix = np.zeros(span + 1, dtype=_U64)
            np.cumsum(seg, out=prefix[1:])
            starts = offsets[r:r1] - b0
            ends = offsets[r + 1 : r1 + 1] - b0
            h = prefix[ends] - prefix[starts]
            h *= _powers(_PINV, span + 1)[starts]
            out[r:r1] = h
            r = r1
        out ^= splitmix64((lengths.astype(_U64) + _U64(1)) * _LEN_MULT)
    return out


def _array_words(arr: pa.Array) -> np.ndarray:
    """One uint64 word per row of one (non-chunked) array; NULL gives ``NULL_WORD``."""
    t = arr.type
    if pa.types.is_dictionary(arr.type):
        # hash the (small) dictionary once, then gather by index
        dict_words = _array_words(arr.dictionary)
        idx_dtypes = _INT_DTYPES if pa.types.is_signed_integer(t.index_type) else _UINT_DTYPES
        indices = _fixed_values(arr.indices, idx_dtypes[t.index_type.bit_width])
        if len(dict_words):
            words = np.take(dict_words, indices.astype(np.intp), mode="clip")  # NULL slots: any index
        else:
            words = np.zeros(len(arr), _U64)
    elif pa.types.is_null(t):
        return np.full(len(arr), NULL_WORD, dtype=_U64)
    elif pa.types.is_boolean(t):
        words = arr.fill_null(False).to_numpy(zero_copy_only=False).astype(_U64)
    elif pa.types.is_signed_integer(t) or _is_temporal(t):
        words = _int_words(_fixed_values(arr, _INT_DTYPES[t.bit_width]))
    elif pa.types.is_unsigned_integer(t):
        words = _int_words(_fixed_values(arr, _UINT_DTYPES[t.bit_width]))
    elif pa.types.is_floating(t):
        words = _float_words(_fixed_values(arr, _FLOAT_DTYPES[t.bit_width]))
    elif pa.types.is_decimal(t):
        words = _decimal_words(arr)
    elif _is_stringlike(t):
        words = _string_words(arr)
    elif t == pa.string_view() or t == pa.binary_view():
        # views point into several buffers: hash the same bytes in offset layout
        words = _string_words(arr.cast(pa.large_binary()))
    else:
        raise TypeError(f"cannot hash key column of type {t}")
    nulls = _null_mask(arr)
    if nulls is not None:
        words = words.copy() if not words.flags.writeable else words
        words[nulls] = NULL_WORD
    return words


def _column_words(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return _array_words(col.chunk(0))
        if col.num_chunks == 0:
            return np.zeros(0, dtype=_U64)
        return np.concatenate([_array_words(c) for c in col.chunks])
    return _array_words(col)


def hash_columns(columns: list[pa.Array | pa.ChunkedArray]) -> np.ndarray:
    """A stable 64-bit hash of each row over one or more key columns.

    Equal key values hash equally in every process and on every machine, across
    integer widths (int32 7 == int64 7), string types (string, large_string,
    string_view) and chunkings; NULLs hash to a fixed word. Returns a ``uint64``
    numpy array with one hash per row.

    >>> a = hash_columns([pa.array([7, None], pa.int32())])
    >>> b = hash_columns([pa.array([7, None], pa.int64())])
    >>> bool((a == b).all())
    True
    """
    if not columns:
        raise ValueError("hash_columns needs at least one column")
    n = len(columns[0])
    acc = np.full(n, _SEED, dtype=_U64)
    for col in columns:
        if len(col) != n:
            raise ValueError(f"key columns differ in length: {len(col)} != {n}")
        acc ^= _column_words(col)
        splitmix64(acc)
    return acc
