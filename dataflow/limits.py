"""How deep a query may nest.

Parsing (sqlglot), planning and evaluating expressions recurse over the expression
tree, about 20 Python frames per level of parentheses, so Python's default limit of
1,000 frames broke at 45 nested parentheses or 500 chained ``+ 1``. A Session raises
the limit (never lowers it) to :data:`RECURSION_LIMIT`; Python 3.11 runs
Python-to-Python calls without growing the C stack, so this is safe. What is still
too deep is refused with a :class:`~dataflow.errors.PlanError` that says so, never a
raw ``RecursionError``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import PlanError

RECURSION_LIMIT = 20_000


def allow_deep_plans() -> None:
    """Raise this process's recursion limit to :data:`RECURSION_LIMIT` (never lower it)."""
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


@contextmanager
def refuse_too_deep(what: str) -> Iterator[None]:
    """Turn a ``RecursionError`` inside the block into a clear :class:`PlanError`."""
    try:
        yield
    except RecursionError:
        raise PlanError(
            f"{what} is nested too deeply to plan (Python's recursion limit is {sys.getrecursionlimit()}); "
            "write long OR chains as IN lists, or split the expression"
        ) from None
