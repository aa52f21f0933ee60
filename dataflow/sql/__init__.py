"""The SQL front end: ``plan_sql(text, catalog)`` parses a query with sqlglot, resolves
its names against the catalog's tables, decorrelates its subqueries into joins, and
returns a logical plan (:mod:`dataflow.logical`)."""

from __future__ import annotations

from .planner import Catalog, Planner, plan_sql

__all__ = ["Catalog", "Planner", "plan_sql"]
