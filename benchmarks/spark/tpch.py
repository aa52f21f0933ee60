"""The 22 TPC-H queries on Spark SQL in local mode, over the same Parquet files.

Used by ``dataflow bench tpch --against spark``; also runs alone::

    python benchmarks/spark/tpch.py data/tpch-sf0.1 [QUERY ...]

Spark runs in this process's JVM child (``local[P]``: P task threads). The query
texts are the ones dataflow and DuckDB run (``dataflow.tpch.query_text``), translated
from DuckDB's dialect to Spark's by sqlglot (``interval '90' day`` and the like).
Settings: 4 GB for the driver (local mode runs everything in it), adaptive query
execution on (Spark's default), ``spark.sql.shuffle.partitions`` = 4 x P instead of
200 (the usual advice for small data on few cores), the UI off.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


def spark_sql(duckdb_sql: str) -> str:
    """A query in DuckDB's dialect, in Spark's."""
    import sqlglot

    return sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0]


class SparkTpch:
    """A local Spark session with the TPC-H tables as temporary views.

    >>> with SparkTpch("data/tpch-sf0.01", parallelism=2) as sp:  # doctest: +SKIP
    ...     sp.run(6)
    """

    def __init__(self, data_dir: str | Path, parallelism: int = 2, driver_memory: str = "4g") -> None:
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        self.spark: Any = (
            SparkSession.builder.master(f"local[{parallelism}]")
            .appName("dataflow-bench-tpch")
            .config("spark.driver.memory", driver_memory)
            .config("spark.sql.shuffle.partitions", str(4 * parallelism))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")
        for t in TABLES:
            self.spark.read.parquet(str(Path(data_dir) / f"{t}.parquet")).createOrReplaceTempView(t)

    def run(self, n: int) -> pa.Table:
        """Run TPC-H query ``n``; returns the answer as Arrow."""
        from dataflow import tpch

        return self.spark.sql(spark_sql(tpch.query_text(n))).toArrow()

    def stop(self) -> None:
        """Stop the Spark session and its JVM."""
        if self.spark is not None:
            self.spark.stop()
            self.spark = None

    def __enter__(self) -> SparkTpch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    data = argv[0] if argv else "data/tpch-sf0.1"
    queries = [int(a) for a in argv[1:]] or list(range(1, 23))
    with SparkTpch(data) as sp:
        for n in queries:
            t0 = time.perf_counter()
            try:
                t = sp.run(n)
                print(f"Q{n:02d} {time.perf_counter() - t0:.2f} s, {t.num_rows} rows", flush=True)
            except Exception as e:  # noqa: BLE001 - report and go on
                print(f"Q{n:02d} FAILED {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
