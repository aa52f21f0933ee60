"""Benchmarks of dataflow: ``dataflow bench tpch`` runs TPC-H on dataflow and DuckDB
(and on request Ray Data and Spark), checks the answers agree and compares the times.

Modules: ``compare`` (do two answers agree), ``report`` (records, table, JSON, targets),
``memory`` (peak memory of all processes), ``cold`` (the cold-start child process),
``tpch`` (the run), ``cli`` (the command line). See ``docs/benchmarks.md``.
"""

from __future__ import annotations

from .compare import OrderSpec, compare_tables, order_spec
from .report import BenchResult, PeerRun, QueryRun, format_table, summary, to_json

__all__ = [
    "BenchResult",
    "OrderSpec",
    "PeerRun",
    "QueryRun",
    "compare_tables",
    "format_table",
    "order_spec",
    "summary",
    "to_json",
]
