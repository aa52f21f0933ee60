"""The ``dataflow bench`` command line.

    dataflow bench tpch --sf N [--queries 1,3,6] [--runs 3] [--parallelism P] [--json FILE]
                        [--against ray-data,spark] [--data DIR] [--timeout S] [--no-cold-start]
    dataflow bench tpcds --sf N [--queries 1,3,6] [--runs 3] [--parallelism P] [--json FILE]
                         [--data DIR] [--timeout S]

Wired into ``dataflow/cli.py`` by :func:`add_bench_parser`; ``python -m dataflow.bench``
runs the same without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _int_list(text: str, last: int = 22, name: str = "TPC-H") -> list[int]:
    try:
        out = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    bad = [n for n in out if not 1 <= n <= last]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"{name} has queries 1 to {last}, got {text!r}")
    return out


def _tpcds_list(text: str) -> list[int]:
    return _int_list(text, 99, "TPC-DS")


def _peers(text: str) -> list[str]:
    from .tpch import PEERS

    out = [x for x in text.replace(" ", "").split(",") if x]
    bad = [p for p in out if p not in PEERS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown peer {', '.join(bad)}: choose from {', '.join(PEERS)}")
    return out


def cmd_bench_tpch(args: argparse.Namespace) -> int:
    """Run the TPC-H benchmark; print the table; write the JSON if asked. Exit 0 when
    every query ran and agrees with DuckDB, 1 otherwise."""
    from .tpch import BenchOptions, run_tpch

    opts = BenchOptions(**_common_options(args), against=args.against, cold_start=not args.no_cold_start)
    return _print_result(run_tpch(opts), args.json)


def cmd_bench_tpcds(args: argparse.Namespace) -> int:
    """Run the TPC-DS benchmark; print the table; write the JSON if asked. Exit 0 when
    every query ran and agrees with DuckDB, 1 otherwise."""
    from .tpcds import TpcdsOptions, run_tpcds

    opts = TpcdsOptions(**_common_options(args))
    return _print_result(run_tpcds(opts), args.json)


def _common_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of :func:`_add_suite_parser`, as ``BenchOptions`` fields."""
    return {
        "sf": args.sf,
        "queries": args.queries,
        "runs": args.runs,
        "parallelism": args.parallelism,
        "data_root": Path(args.data),
        "timeout": args.timeout,
        "log": (lambda s: print(s, file=sys.stderr, flush=True)) if not args.quiet else None,
        "address": args.address,
        "warmup": not args.no_warmup,
        "share_subplans": args.shared_subplans,
    }


def _print_result(result: Any, json_path: str | None) -> int:
    """Print the table, write the JSON if asked; 0 when every query ran and agrees with DuckDB."""
    from .report import format_table, to_json

    print(format_table(result))
    if json_path:
        Path(json_path).write_text(json.dumps(to_json(result), indent=2, default=str) + "\n")
        print(f"\nwrote {json_path}")
    return 0 if all(q.agree for q in result.queries) else 1


def _add_suite_parser(
    subparsers: Any, suite: str, queries: Callable[[str], list[int]], count: int, runs: int, summary: str,
    description: str,
) -> argparse.ArgumentParser:
    """``bench tpch`` or ``bench tpcds`` with the flags they share (data in DATA/<suite>-sf<N>)."""
    p: argparse.ArgumentParser = subparsers.add_parser(suite, help=summary, description=description)
    p.add_argument(
        "--sf", type=float, default=1.0, help=f"scale factor (data in DATA/{suite}-sf<N>, generated if missing)"
    )
    p.add_argument(
        "--queries", type=queries, default=list(range(1, count + 1)), help=f"e.g. 1,3,6 (default: all {count})"
    )
    p.add_argument(
        "--runs", type=int, default=runs, help="timed runs per query after one warm-up (median reported)"
    )
    p.add_argument(
        "--parallelism",
        type=int,
        default=None,
        help="dataflow's parallelism and DuckDB's threads (default: the cluster's CPUs)",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--data", default="data", help=f"where the {suite}-sf<N> folders are (default: data)")
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds for one run of one query (default 600)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--address", default=None,
        help="join this Ray cluster ('auto': the one `dataflow cluster up` started) instead of starting one",
    )
    p.add_argument("--no-warmup", action="store_true", help="time the first run of each query (large sf)")
    p.add_argument(
        "--shared-subplans", action="store_true",
        help="compute a repeated subplan (a CTE read twice) once, first: Session(share_subplans=True)",
    )
    return p


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench tpch`` to a command line's subparsers (those of ``dataflow``)."""
    b = subparsers.add_parser(
        "bench", help="benchmarks: TPC-H and TPC-DS against DuckDB (and Ray Data, Spark)"
    )
    bsub = b.add_subparsers(dest="bench_cmd", required=True)
    t = _add_suite_parser(
        bsub, "tpch", _int_list, 22, 3,
        "run the 22 TPC-H queries on dataflow and DuckDB, check the answers agree, compare times",
        "Run TPC-H on dataflow and on DuckDB (same Parquet files, same number of threads), "
        "check the answers agree, and print the seconds (median of --runs after one warm-up), the ratios, "
        "the cold start and the peak memory.",
    )
    t.add_argument(
        "--against",
        type=_peers,
        default=[],
        metavar="PEERS",
        help="also run peers: ray-data (Q1, Q3, Q6), spark (all 22); pip install -e '.[bench]'",
    )
    t.add_argument("--no-cold-start", action="store_true", help="skip the cold-start measurement")
    t.set_defaults(fn=cmd_bench_tpch)
    from .chaos import add_chaos_parser

    add_chaos_parser(bsub, _int_list)
    d = _add_suite_parser(
        bsub, "tpcds", _tpcds_list, 99, 1,
        "run the 99 TPC-DS queries on dataflow and DuckDB, check the answers agree, compare times",
        "Run TPC-DS (DuckDB's 99 query texts, data from tpcgen-cli) on dataflow and on DuckDB "
        "(same Parquet files, same number of threads), check the answers agree, and print the seconds "
        "(median of --runs after one warm-up), the ratios and the peak memory.",
    )
    d.set_defaults(fn=cmd_bench_tpcds)
    return b


def main(argv: list[str] | None = None) -> int:
    """``python -m dataflow.bench tpch ...``"""
    p = argparse.ArgumentParser(prog="python -m dataflow.bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    bench = add_bench_parser(sub)
    # here "bench" is implied: python -m dataflow.bench tpch ...
    args = p.parse_args(["bench", *(argv if argv is not None else sys.argv[1:])])
    del bench
    return int(args.fn(args))


__all__ = ["add_bench_parser", "cmd_bench_tpcds", "cmd_bench_tpch", "main"]
