"""Scalar function kernels over Arrow, one module per family, in one registry.

``registry`` holds the table (:class:`~dataflow.kernels.registry.ScalarFunction`: name,
arity, result type, kernel, SQL spellings). The families register themselves when
imported here: ``arithmetic`` (with ``decimal``), ``comparison`` (and logic),
``conditional``, ``strings``, ``dates`` and ``maths``. ``values`` holds what they share
(type unification, casts, argument checks); ``udf`` the user-defined functions.

To add a function, define its kernel in its family's module under ``@scalar(...)``:
the evaluator, the planner's typing, ``expr.SCALAR_FUNCTIONS`` and the SQL translator
all read the registry.
"""

from __future__ import annotations

from . import arithmetic, comparison, conditional, dates, maths, strings  # noqa: F401  (they register)
from .registry import ScalarFunction, by_sql_name, functions, lookup, names, sql_names

__all__ = ["ScalarFunction", "by_sql_name", "functions", "lookup", "names", "sql_names"]
