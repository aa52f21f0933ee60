"""String functions: LIKE, substring, case, trim, concat, strpos and regular expressions.

Regular expressions run in Arrow's RE2 kernels, the engine DuckDB uses too, with
DuckDB's options: ``'i'`` ignores case, ``'c'`` is case-sensitive (the default), ``'g'``
(``regexp_replace``) replaces every match instead of the first. Patterns must be
constants. ``regexp_extract`` gives ``''`` where nothing matches, as DuckDB does.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import PlanError, UnsupportedError
from .registry import Kernel, scalar
from .values import Value, cast_to, const_int, const_str, is_string, string_arg


def _like(ignore_case: bool) -> Kernel:
    def impl(args: list[Value], n: int) -> Value:
        x = string_arg(args[0], "LIKE")
        pattern = const_str(args[1], "a LIKE pattern")
        if pattern is None:
            return pa.scalar(None, pa.bool_())
        # DuckDB's LIKE has no escape character by default; Arrow's treats '\' as one
        return pc.match_like(x, pattern.replace("\\", "\\\\"), ignore_case=ignore_case)

    impl.__doc__ = f"``x {'I' if ignore_case else ''}LIKE pattern``"
    return impl


scalar("like", 2, "strings", sql=())(_like(ignore_case=False))
scalar("ilike", 2, "strings", sql=())(_like(ignore_case=True))


@scalar("substring", (2, 3), "strings", sql=("substring", "substr"))
def _substring(args: list[Value], n: int) -> Value:
    """SQL SUBSTRING(x, start[, length]) with 1-based ``start``, as in DuckDB: a
    negative start counts from the end, start 0 is one before the first character."""
    x = string_arg(args[0], "substring")
    start = const_int(args[1], "the start of substring()")
    length = const_int(args[2], "the length of substring()") if len(args) > 2 else -1
    if start is None or (len(args) > 2 and length is None):
        return pa.scalar(None, pa.string())
    assert length is not None
    if len(args) == 2:
        begin, stop = (start - 1, None) if start > 0 else (start, None)
    elif length < 0:
        raise UnsupportedError("substring() with a negative length is not supported")
    elif start > 0:
        begin, stop = start - 1, start - 1 + length
    elif start == 0:
        begin, stop = 0, max(length - 1, 0)
    else:
        begin, stop = start, (start + length if start + length < 0 else None)
    return pc.utf8_slice_codeunits(x, start=begin, stop=stop)


def _unary_string(kernel: Callable[[Value], Value], fn: str) -> Kernel:
    def impl(args: list[Value], n: int) -> Value:
        return kernel(string_arg(args[0], fn))

    impl.__doc__ = f"{fn}(x)"
    return impl


scalar("upper", 1, "strings", sql=("upper", "ucase"))(_unary_string(pc.utf8_upper, "upper"))
scalar("lower", 1, "strings", sql=("lower", "lcase"))(_unary_string(pc.utf8_lower, "lower"))


@scalar("length", 1, "strings", sql=("length", "len", "strlen", "char_length", "character_length"))
def _length(args: list[Value], n: int) -> Value:
    """The number of characters."""
    return pc.utf8_length(string_arg(args[0], "length")).cast(pa.int64())


@scalar("concat", (1, None), "strings", sql=())
def _concat(args: list[Value], n: int) -> Value:
    """``a || b || ...``: NULL if any argument is NULL; non-strings are cast to text.
    (SQL's concat() skips NULLs: the SQL translator wraps each argument in coalesce.)"""
    parts = [string_arg(a, "concat") if is_string(a.type) or pa.types.is_null(a.type) else cast_to(a, pa.string())
             for a in args]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "")


def _affix(kernel: Callable[..., Value], fn: str) -> Kernel:
    def impl(args: list[Value], n: int) -> Value:
        x = string_arg(args[0], fn)
        pattern = const_str(args[1], f"the second argument of {fn}()")
        if pattern is None:
            return pa.scalar(None, pa.bool_())
        return kernel(x, pattern=pattern)

    impl.__doc__ = f"{fn}(x, s)"
    return impl


scalar("starts_with", 2, "strings", sql=("starts_with", "prefix"))(_affix(pc.starts_with, "starts_with"))
scalar("ends_with", 2, "strings", sql=("ends_with", "suffix"))(_affix(pc.ends_with, "ends_with"))
scalar("contains", 2, "strings")(_affix(pc.match_substring, "contains"))


def _trim(kernel: Callable[..., Value], fn: str) -> Kernel:
    def impl(args: list[Value], n: int) -> Value:
        x = string_arg(args[0], fn)
        chars = const_str(args[1], f"the characters of {fn}()") if len(args) > 1 else " "
        if chars is None:
            return pa.scalar(None, pa.string())
        return kernel(x, characters=chars) if chars else x

    impl.__doc__ = f"{fn}(x[, characters])"
    return impl


scalar("trim", (1, 2), "strings")(_trim(pc.utf8_trim, "trim"))
scalar("ltrim", (1, 2), "strings")(_trim(pc.utf8_ltrim, "ltrim"))
scalar("rtrim", (1, 2), "strings")(_trim(pc.utf8_rtrim, "rtrim"))


@scalar("replace", 3, "strings")
def _replace(args: list[Value], n: int) -> Value:
    """replace(x, old, new): every occurrence of ``old`` replaced."""
    x = string_arg(args[0], "replace")
    old = const_str(args[1], "the search string of replace()")
    new = const_str(args[2], "the replacement of replace()")
    if old is None or new is None:
        return pa.scalar(None, pa.string())
    if old == "":
        return x
    return pc.replace_substring(x, pattern=old, replacement=new)


@scalar("strpos", 2, "strings", sql=("strpos", "instr", "position"), returns="int64")
def _strpos(args: list[Value], n: int) -> Value:
    """strpos(x, s): the 1-based character position of the first ``s`` in ``x``, 0 if
    there is none (``position(s IN x)`` in SQL)."""
    x = string_arg(args[0], "strpos")
    sub = const_str(args[1], "the search string of strpos()")
    if sub is None:
        return pa.scalar(None, pa.int64())
    if sub == "":
        return pc.if_else(pc.is_valid(x), pa.scalar(1, pa.int64()), pa.scalar(None, pa.int64()))
    # split once at the first occurrence: the characters before it give the position
    parts = pc.split_pattern(x, pattern=sub, max_splits=1)
    before = pc.utf8_length(pc.list_element(parts, 0)).cast(pa.int64())
    found = pc.equal(pc.list_value_length(parts), 2)
    return pc.if_else(found, pc.add(before, 1), pa.scalar(0, pa.int64()))


# -- regular expressions ------------------------------------------------------------------


def _options(v: Value | None, fn: str, allow_global: bool = False) -> tuple[bool, bool]:
    """(ignore_case, global) from DuckDB's option letters."""
    text = "" if v is None else const_str(v, f"the options of {fn}()") or ""
    ignore_case, global_ = False, False
    for ch in text:
        if ch == "i":
            ignore_case = True
        elif ch == "c":
            ignore_case = False
        elif ch == "g" and allow_global:
            global_ = True
        else:
            raise PlanError(f"{fn}(): unrecognized regex option {ch!r}; supported: 'c', 'i'"
                            + (", 'g'" if allow_global else ""))
    return ignore_case, global_


def _pattern(v: Value, fn: str, ignore_case: bool) -> str | None:
    p = const_str(v, f"the pattern of {fn}()")
    if p is None:
        return None
    p = ("(?i)" if ignore_case else "") + p
    _check_regex(fn, p)
    return p


_PROBE = pa.array([""], pa.string())


@lru_cache(maxsize=256)
def _check_regex(fn: str, pattern: str) -> None:
    """Compile ``pattern`` once (Arrow compiles lazily, so an empty batch at planning
    would not): a bad pattern is an error at planning."""
    _regex_call(fn, lambda: pc.match_substring_regex(_PROBE, pattern=pattern))


@lru_cache(maxsize=256)
def _has_group(pattern: str, group: int) -> bool:
    try:
        pc.replace_substring_regex(_PROBE, pattern=pattern, replacement=f"\\{group}", max_replacements=1)
    except pa.ArrowInvalid:
        return False
    return True


def _regex_call(fn: str, call: Callable[[], Value]) -> Value:
    try:
        return call()
    except pa.ArrowInvalid as e:
        raise PlanError(f"{fn}(): invalid regular expression: {e}") from e


@scalar("regexp_matches", (2, 3), "strings", returns="bool")
def _regexp_matches(args: list[Value], n: int) -> Value:
    """regexp_matches(x, pattern[, options]): whether ``pattern`` matches anywhere in ``x``."""
    x = string_arg(args[0], "regexp_matches")
    ignore_case, _ = _options(args[2] if len(args) > 2 else None, "regexp_matches")
    p = _pattern(args[1], "regexp_matches", ignore_case)
    if p is None:
        return pa.scalar(None, pa.bool_())
    return _regex_call("regexp_matches", lambda: pc.match_substring_regex(x, pattern=p))


@scalar("regexp_replace", (3, 4), "strings", returns="string")
def _regexp_replace(args: list[Value], n: int) -> Value:
    """regexp_replace(x, pattern, replacement[, options]): the first match replaced
    (every match with option ``'g'``); ``\\1`` in ``replacement`` is the first group."""
    x = string_arg(args[0], "regexp_replace")
    ignore_case, global_ = _options(args[3] if len(args) > 3 else None, "regexp_replace", allow_global=True)
    p = _pattern(args[1], "regexp_replace", ignore_case)
    rep = const_str(args[2], "the replacement of regexp_replace()")
    if p is None or rep is None:
        return pa.scalar(None, pa.string())
    limit = None if global_ else 1
    return _regex_call(
        "regexp_replace", lambda: pc.replace_substring_regex(x, pattern=p, replacement=rep, max_replacements=limit)
    )


@scalar("regexp_extract", (2, 4), "strings", returns="string")
def _regexp_extract(args: list[Value], n: int) -> Value:
    """regexp_extract(x, pattern[, group[, options]]): the text of ``group`` (0: the
    whole match) in the first match, ``''`` if nothing matches."""
    x = string_arg(args[0], "regexp_extract")
    group = const_int(args[2], "the group of regexp_extract()") if len(args) > 2 else 0
    ignore_case, _ = _options(args[3] if len(args) > 3 else None, "regexp_extract")
    p = _pattern(args[1], "regexp_extract", ignore_case)
    if p is None or group is None:
        return pa.scalar(None, pa.string())
    if group < 0:
        raise PlanError(f"regexp_extract(): the group must be 0 or more, got {group}")
    flags, body = ("(?i)", p[4:]) if ignore_case else ("", p)
    # the first match of P is group 1 of ^.*?(P).*$ (lazy prefix: the leftmost start)
    whole = f"{flags}(?s:^.*?)({body})(?s:.*)$"
    if not _has_group(whole, group + 1):
        # a group the pattern does not have: DuckDB gives ''
        return pc.if_else(pc.is_valid(x), pa.scalar("", pa.string()), pa.scalar(None, pa.string()))
    matched = pc.match_substring_regex(x, pattern=p)
    picked = pc.replace_substring_regex(x, pattern=whole, replacement=f"\\{group + 1}", max_replacements=1)
    return pc.if_else(matched, picked, pa.scalar("", pa.string()))
