"""The SQL front end: ``plan_sql(text, catalog)`` parses a query with sqlglot (DuckDB
dialect), resolves its names against the catalog's tables, decorrelates its
subqueries into joins, and returns a logical plan (:mod:`dataflow.logical`).

``Session.sql(text)`` calls it with the Session as the catalog.

Modules, in the order a query goes through them:

* :mod:`.parser`: sqlglot parsing; syntax errors with line and column.
* :mod:`.scope`: name resolution (unknown / ambiguous names with suggestions,
  correlated references to the enclosing query).
* :mod:`.expressions`: scalar expressions, aggregates, window functions;
  :mod:`.literals`: CAST types, literals typed as DuckDB types them, intervals.
* :mod:`.joins`: the join order of a FROM clause, following equality predicates.
* :mod:`.planner`: queries, FROM and CTEs; :mod:`.select`: SELECT clause by clause;
  :mod:`.setop_planner` / :mod:`.setops`: UNION, INTERSECT, EXCEPT, VALUES;
  :mod:`.grouping`: ROLLUP / CUBE / GROUPING SETS; :mod:`.naming`: shared helpers and
  output names as DuckDB gives them.
* :mod:`.subqueries`: EXISTS / IN / scalar subqueries as semi, anti and left joins.

Supported: SELECT [DISTINCT] with ``*`` (and ``* EXCLUDE / REPLACE / RENAME``), comma
joins and ``[INNER | LEFT | RIGHT | FULL] JOIN ... ON / USING``, ``CROSS JOIN``,
non-equi conditions, WHERE, GROUP BY (columns, positions, aliases, expressions,
``ALL``), HAVING, aggregates (``count``, ``sum``, ``avg``, ``min``, ``max``, with
DISTINCT or FILTER), window functions (``row_number``, ``rank``, ``dense_rank`` and
aggregates OVER (PARTITION BY ... ORDER BY ...), default frame or the whole
partition), ORDER BY (positions, aliases, expressions, NULLS FIRST/LAST),
LIMIT / OFFSET / FETCH FIRST, UNION [ALL], WITH, derived tables with column aliases,
EXISTS / IN / NOT IN / scalar subqueries anywhere in WHERE, HAVING or the select list
(correlated by equalities; EXISTS also by other conditions), CASE, CAST, LIKE /
ILIKE, BETWEEN, IN lists, EXTRACT, SUBSTRING, date ± INTERVAL, string functions.

Not supported, each with an error that names it: SELECT without FROM and VALUES,
INTERSECT / EXCEPT, WITH RECURSIVE, LATERAL, NATURAL JOIN, parenthesized joins,
ROLLUP / CUBE, QUALIFY, DISTINCT ON, ANY / ALL, named windows and other frames,
subqueries referring two levels out, correlated NOT IN over nullable values, and
correlated subqueries with LIMIT or with non-equality conditions under aggregation.
A scalar subquery that returns more than one row gives its largest value rather
than an error.
"""

from __future__ import annotations

from .planner import Catalog, Planner, plan_sql

__all__ = ["Catalog", "Planner", "plan_sql"]
