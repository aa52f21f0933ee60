"""TPC-DS helpers: data generation through ``tpcgen-cli`` and the 99 query texts
(the shared pieces are in :mod:`dataflow.tpc`).

The query texts are DuckDB's (its ``tpcds`` extension's ``tpcds_queries()``), copied
into ``benchmarks/tpcds/queries/`` (beside TPC-H's ``benchmarks/tpch/queries/``) so that a
checkout is self-contained; the shared copy beside the repository
(``<repo>/../shared/tpcds/queries``) is used only if that one is missing.

>>> from dataflow import tpcds
>>> "store_sales" in tpcds.TABLES
True
>>> "select" in tpcds.query_text(3).lower()
True
"""

from __future__ import annotations

from pathlib import Path

from .tpc import Suite

TABLES: tuple[str, ...] = (
    "call_center",
    "catalog_page",
    "catalog_returns",
    "catalog_sales",
    "customer",
    "customer_address",
    "customer_demographics",
    "date_dim",
    "household_demographics",
    "income_band",
    "inventory",
    "item",
    "promotion",
    "reason",
    "ship_mode",
    "store",
    "store_returns",
    "store_sales",
    "time_dim",
    "warehouse",
    "web_page",
    "web_returns",
    "web_sales",
    "web_site",
)

QUERY_NUMBERS: tuple[int, ...] = tuple(range(1, 100))

_HERE = Path(__file__).resolve().parent
QUERIES_DIR = _HERE.parent / "benchmarks" / "tpcds" / "queries"
SHARED_QUERIES_DIR = _HERE.parent.parent / "shared" / "tpcds" / "queries"


SUITE = Suite(
    name="TPC-DS",
    tables=TABLES,
    query_numbers=QUERY_NUMBERS,
    query_dirs=(QUERIES_DIR, SHARED_QUERIES_DIR),
    program="tpcgen-cli",
    program_args=("tpcds", "parquet"),
)
# the suite's methods are the module's functions
query_path, query_text, table_paths = SUITE.query_path, SUITE.query_text, SUITE.table_paths
is_generated, generate = SUITE.is_generated, SUITE.generate

__all__ = ["QUERIES_DIR", "QUERY_NUMBERS", "SUITE", "TABLES", "generate", "is_generated", "query_path", "query_text", "table_paths"]  # noqa: E501
