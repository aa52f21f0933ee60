"""Micro-benchmark of expression evaluation per batch: ``python -m dataflow.bench.expr``.

Small batches (1,024 rows) through four expressions, each evaluated ``--batches``
times: interpreted (:func:`dataflow.compute.evaluate`, which compiles and runs on every
call, as the operators did before) and compiled once (:func:`compile_expr`, what
Project and Filter now do when an instance starts). CPU time of this process (best of
``--repeat``), so other load on the machine counts less.

Measured on the 2-core dev machine (shared): IN list 62-73 us -> 30-32 us per batch,
CASE 55-64 -> 35-41, a three-term predicate 93-116 -> 50-55, decimal arithmetic
75-88 -> 68-76 (before: the tree-walking evaluator of commit 445ef27).
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

import numpy as np
import pyarrow as pa

from dataflow.compute import compile_expr, evaluate
from dataflow.expr import ExprNode, col, lit, when


def _batch(rows: int) -> pa.RecordBatch:
    rng = np.random.default_rng(0)
    return pa.record_batch({
        "price": pa.array([Decimal(int(x)) / 100 for x in rng.integers(100, 10**7, rows)], pa.decimal128(15, 2)),
        "disc": pa.array([Decimal(int(x)) / 100 for x in rng.integers(0, 10, rows)], pa.decimal128(15, 2)),
        "q": pa.array(rng.integers(0, 50, rows), pa.int64()),
        "mode": pa.array(rng.choice(["AIR", "MAIL", "SHIP", "RAIL", "TRUCK"], rows)),
    })


EXPRESSIONS: dict[str, ExprNode] = {
    "arith": (col("price") * (1 - col("disc"))).node,
    "in_list": col("mode").isin(["AIR", "MAIL", "SHIP", "REG AIR", "FOB"]).node,
    "case": when(col("q") > 25).then(col("q") * 2).otherwise(lit(0)).node,
    "pred": ((col("q") > 10) & (col("q") < 40) & col("mode").isin(["AIR", "MAIL"])).node,
}


def _best(fn, batches: int, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        for _ in range(batches):
            fn()
        best = min(best, time.process_time() - t)
    return best / batches * 1e6


def main(argv: list[str] | None = None) -> None:
    """Print microseconds per batch, interpreted and compiled, for each expression."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    batch = _batch(args.rows)
    for name, node in EXPRESSIONS.items():
        compiled = compile_expr(node)
        interp = _best(lambda: evaluate(node, batch), args.batches, args.repeat)  # noqa: B023
        comp = _best(lambda: compiled(batch), args.batches, args.repeat)  # noqa: B023
        print(f"{name:8s} interpreted {interp:7.1f} us/batch   compiled {comp:7.1f} us/batch")


if __name__ == "__main__":
    main()
