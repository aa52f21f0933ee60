"""TPC-H helpers: data generation through ``tpchgen-cli`` and the 22 query texts
(the shared pieces are in :mod:`dataflow.tpc`).

>>> from dataflow import tpch
>>> "lineitem" in tpch.TABLES
True
>>> tpch.query_text(6).lstrip().startswith("-- TPC-H Q6")
True
"""

from __future__ import annotations

from pathlib import Path

from .tpc import Suite

TABLES: tuple[str, ...] = (
    "customer",
    "lineitem",
    "nation",
    "orders",
    "part",
    "partsupp",
    "region",
    "supplier",
)

QUERY_NUMBERS: tuple[int, ...] = tuple(range(1, 23))

# benchmarks/ sits next to the package in a source checkout (the package is installed editable).
QUERIES_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "tpch" / "queries"


SUITE = Suite(
    name="TPC-H",
    tables=TABLES,
    query_numbers=QUERY_NUMBERS,
    query_dirs=(QUERIES_DIR,),
    program="tpchgen-cli",
    program_args=("parquet",),
)
# the suite's methods are the module's functions
query_path, query_text, table_paths = SUITE.query_path, SUITE.query_text, SUITE.table_paths
is_generated, generate = SUITE.is_generated, SUITE.generate

__all__ = ["QUERIES_DIR", "QUERY_NUMBERS", "SUITE", "TABLES", "generate", "is_generated", "query_path", "query_text", "table_paths"]  # noqa: E501
