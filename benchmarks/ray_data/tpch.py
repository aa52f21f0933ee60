"""TPC-H Q1, Q3 and Q6 written in Ray Data's own API, over the same Parquet files.

A Ray Data user would write them this way: ``ray.data.read_parquet`` with the needed
columns, ``map_batches`` over Arrow batches for filters and computed columns,
``groupby().aggregate()``, ``join`` and ``sort``. Money is computed in float64 (Ray
Data's aggregations work on floats); the answers match DuckDB's to 1e-9 relative.

Used by ``dataflow bench tpch --against ray-data``; also runs alone::

    python benchmarks/ray_data/tpch.py data/tpch-sf0.1 [1 3 6]
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

QUERIES = (1, 3, 6)


def _path(data_dir: str | Path, table: str) -> str:
    return str(Path(data_dir) / f"{table}.parquet")


def _f64(b: pa.Table, name: str) -> pa.Array:
    return pc.cast(b[name], pa.float64())


def _str(b: pa.Table, name: str) -> pa.Array:
    return pc.cast(b[name], pa.string())  # tpchgen writes string_view; Ray Data wants plain strings


def _plain(b: pa.Table) -> pa.Table:
    # tpchgen writes string_view, which some Arrow kernels (take, filter) do not take yet
    fields = [pa.field(f.name, pa.string()) if f.type == pa.string_view() else f for f in b.schema]
    return b.cast(pa.schema(fields)) if fields != list(b.schema) else b


def _collect(ds: Any) -> pa.Table:
    import ray

    tables = ray.get(ds.to_arrow_refs())
    return pa.concat_tables([t for t in tables if t.num_rows]) if tables else pa.table({})


def q1(data_dir: str | Path, parallelism: int) -> pa.Table:
    """Pricing summary report."""
    import ray.data
    from ray.data.aggregate import Count, Mean, Sum

    cutoff = dt.date(1998, 12, 1) - dt.timedelta(days=90)

    def prep(b: pa.Table) -> pa.Table:
        b = _plain(b)
        b = b.filter(pc.less_equal(b["l_shipdate"], pa.scalar(cutoff)))
        price, disc, tax = _f64(b, "l_extendedprice"), _f64(b, "l_discount"), _f64(b, "l_tax")
        disc_price = pc.multiply(price, pc.subtract(1.0, disc))
        return pa.table(
            {
                "l_returnflag": _str(b, "l_returnflag"),
                "l_linestatus": _str(b, "l_linestatus"),
                "l_quantity": _f64(b, "l_quantity"),
                "l_extendedprice": price,
                "disc_price": disc_price,
                "charge": pc.multiply(disc_price, pc.add(1.0, tax)),
                "l_discount": disc,
            }
        )

    cols = [
        "l_returnflag",
        "l_linestatus",
        "l_quantity",
        "l_extendedprice",
        "l_discount",
        "l_tax",
        "l_shipdate",
    ]
    ds = (
        ray.data.read_parquet(_path(data_dir, "lineitem"))
        .select_columns(cols)
        .map_batches(prep, batch_format="pyarrow")
        .groupby(["l_returnflag", "l_linestatus"])
        .aggregate(
            Sum("l_quantity", alias_name="sum_qty"),
            Sum("l_extendedprice", alias_name="sum_base_price"),
            Sum("disc_price", alias_name="sum_disc_price"),
            Sum("charge", alias_name="sum_charge"),
            Mean("l_quantity", alias_name="avg_qty"),
            Mean("l_extendedprice", alias_name="avg_price"),
            Mean("l_discount", alias_name="avg_disc"),
            Count(alias_name="count_order"),
        )
        .sort(["l_returnflag", "l_linestatus"])
    )
    t = _collect(ds)
    return t.select(
        [
            "l_returnflag",
            "l_linestatus",
            "sum_qty",
            "sum_base_price",
            "sum_disc_price",
            "sum_charge",
            "avg_qty",
            "avg_price",
            "avg_disc",
            "count_order",
        ]
    )


def q3(data_dir: str | Path, parallelism: int) -> pa.Table:
    """Shipping priority: the ten unshipped orders of the BUILDING segment with the most revenue."""
    import ray.data
    from ray.data.aggregate import Sum

    day = pa.scalar(dt.date(1995, 3, 15))

    def customers(b: pa.Table) -> pa.Table:
        b = _plain(b)
        b = b.filter(pc.equal(b["c_mktsegment"], "BUILDING"))
        return pa.table({"c_custkey": b["c_custkey"]})

    def orders(b: pa.Table) -> pa.Table:
        return b.filter(pc.less(b["o_orderdate"], day))

    def lineitems(b: pa.Table) -> pa.Table:
        b = b.filter(pc.greater(b["l_shipdate"], day))
        rev = pc.multiply(_f64(b, "l_extendedprice"), pc.subtract(1.0, _f64(b, "l_discount")))
        return pa.table({"l_orderkey": b["l_orderkey"], "rev": rev})

    c = (
        ray.data.read_parquet(_path(data_dir, "customer"))
        .select_columns(["c_custkey", "c_mktsegment"])
        .map_batches(customers, batch_format="pyarrow")
    )
    o = (
        ray.data.read_parquet(_path(data_dir, "orders"))
        .select_columns(["o_orderkey", "o_custkey", "o_orderdate", "o_shippriority"])
        .map_batches(orders, batch_format="pyarrow")
    )
    li = (
        ray.data.read_parquet(_path(data_dir, "lineitem"))
        .select_columns(["l_orderkey", "l_extendedprice", "l_discount", "l_shipdate"])
        .map_batches(lineitems, batch_format="pyarrow")
    )
    n = max(1, parallelism)
    co = o.join(c, join_type="inner", num_partitions=n, on=("o_custkey",), right_on=("c_custkey",))
    j = li.join(co, join_type="inner", num_partitions=n, on=("l_orderkey",), right_on=("o_orderkey",))
    ds = (
        j.groupby(["l_orderkey", "o_orderdate", "o_shippriority"])
        .aggregate(Sum("rev", alias_name="revenue"))
        .sort(["revenue", "o_orderdate"], descending=[True, False])
        .limit(10)
    )
    t = _collect(ds)
    return t.select(["l_orderkey", "revenue", "o_orderdate", "o_shippriority"])


def q6(data_dir: str | Path, parallelism: int) -> pa.Table:
    """Forecasting revenue change."""
    import ray.data

    lo, hi = pa.scalar(dt.date(1994, 1, 1)), pa.scalar(dt.date(1995, 1, 1))

    def prep(b: pa.Table) -> pa.Table:
        disc, qty = _f64(b, "l_discount"), _f64(b, "l_quantity")
        mask = pc.and_(
            pc.and_(pc.greater_equal(b["l_shipdate"], lo), pc.less(b["l_shipdate"], hi)),
            pc.and_(
                pc.and_(pc.greater_equal(disc, 0.05 - 1e-9), pc.less_equal(disc, 0.07 + 1e-9)),
                pc.less(qty, 24.0),
            ),
        )
        b = b.filter(mask)
        return pa.table({"rev": pc.multiply(_f64(b, "l_extendedprice"), _f64(b, "l_discount"))})

    ds = (
        ray.data.read_parquet(_path(data_dir, "lineitem"))
        .select_columns(["l_extendedprice", "l_discount", "l_quantity", "l_shipdate"])
        .map_batches(prep, batch_format="pyarrow")
    )
    return pa.table({"revenue": [ds.sum("rev")]})


RUNNERS: dict[int, Callable[[str | Path, int], pa.Table]] = {1: q1, 3: q3, 6: q6}


def setup(parallelism: int) -> None:
    """Start Ray for Ray Data (if this process has not) with ``parallelism`` CPUs, quietly."""
    import ray
    import ray.data

    if not ray.is_initialized():
        ray.init(num_cpus=parallelism, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False


def run(n: int, data_dir: str | Path, parallelism: int) -> pa.Table:
    """Run TPC-H query ``n`` (1, 3 or 6) on Ray Data; returns the answer."""
    if n not in RUNNERS:
        raise ValueError(f"Ray Data has Q1, Q3 and Q6 here, not Q{n}")
    return RUNNERS[n](data_dir, parallelism)


def main(argv: list[str]) -> int:
    data = argv[0] if argv else "data/tpch-sf0.1"
    queries = [int(a) for a in argv[1:]] or list(QUERIES)
    setup(2)
    for n in queries:
        t0 = time.perf_counter()
        t = run(n, data, 2)
        print(f"Q{n:02d} {time.perf_counter() - t0:.2f} s, {t.num_rows} rows")
        print(t.slice(0, 5).to_pandas().to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
