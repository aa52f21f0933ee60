"""The ``dataflow`` command line.

    dataflow demo [--sf 0.01] [--parallelism N] [--keep]
    dataflow tpch gen --sf N --out DIR
    dataflow sql --data DIR "SELECT ..." [--out FILE.parquet|FILE.csv|FILE.json] [--parallelism N] [--local]
    dataflow bench tpch --sf N [--queries 1,3,6] [--runs 3] [--json FILE] [--against ray-data,spark]
    dataflow cluster up|status|down, dataflow submit, dataflow jobs, dataflow logs ID  (cluster/cli.py)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pyarrow as pa

DEFAULT_DATA = Path("data")


def _print_table(table: pa.Table, limit: int = 50) -> None:
    cols = table.column_names
    rows = table.slice(0, limit).to_pylist()
    cells = [[_fmt(r[c]) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(line)
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |")
    print(line)
    for row in cells:
        print("| " + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + " |")
    print(line)
    more = f" (showing {limit})" if table.num_rows > limit else ""
    print(f"{table.num_rows} row{'s' if table.num_rows != 1 else ''}{more}")


def _fmt(v: object) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e15 else f"{v:.6e}"
    return str(v)


_FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json"}


def _register_dir(session: object, data: Path) -> list[str]:
    """Register each ``<table>.parquet|.csv|.json`` file (or a folder of them) in
    ``data`` under its name."""
    if not data.is_dir():
        raise SystemExit(f"error: --data {data}: no such directory")
    names = []
    for p in sorted(data.iterdir()):
        if p.name.startswith((".", "_")):
            continue
        fmt = _FORMATS.get(p.suffix)
        if fmt is None and p.is_dir():
            fmt = next((f for ext, f in _FORMATS.items() if any(p.rglob(f"*{ext}"))), None)
        if fmt is None:
            continue
        name = p.stem if p.suffix in _FORMATS else p.name
        getattr(session, f"register_{fmt}")(name, str(p))
        names.append(name)
    if not names:
        raise SystemExit(f"error: no Parquet, CSV or JSON tables in {data}")
    return names


def cmd_tpch_gen(args: argparse.Namespace) -> int:
    from . import tpch

    t0 = time.perf_counter()
    out = tpch.generate(args.sf, args.out)
    print(f"TPC-H scale factor {args.sf:g} in {out} ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from . import DataflowError, Session

    fmt = None
    if args.out:
        fmt = _FORMATS.get(Path(args.out).suffix.lower())
        if fmt is None:
            print(f"error: --out {args.out}: the suffix must be .parquet, .csv or .json", file=sys.stderr)
            return 2
    data = Path(args.data)
    if not data.is_dir():
        print(f"error: --data {data}: no such directory", file=sys.stderr)
        return 2
    with Session(args.address, parallelism=args.parallelism, runtime="local" if args.local else "ray") as s:
        try:
            _register_dir(s, data)
            df = s.sql(args.query)
            if fmt is not None:
                files = getattr(df, f"write_{fmt}")(args.out, single_file=True, mode="overwrite")
                rows = sum(files.column("rows").to_pylist())
                print(f"wrote {rows} rows to {args.out}")
                return 0
            table = df.to_arrow()
        except DataflowError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    _print_table(table, args.max_rows)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import Session, col, lit, tpch
    from . import functions as F

    data = Path(args.data) / f"tpch-sf{args.sf:g}"
    print(f"Generating TPC-H at scale factor {args.sf:g} into {data} ...")
    tpch.generate(args.sf, data)
    t0 = time.perf_counter()
    # the demo shows the actors at work: its small query goes to them, not to the driver
    with Session(parallelism=args.parallelism, leader_rows=0) as s:
        print(f"Local Ray cluster up in {time.perf_counter() - t0:.1f} s; parallelism {s.parallelism}")
        print(f"Ray dashboard: {s.dashboard_url or '(not available)'}{'' if args.keep else ' (until the demo ends)'}")
        for t in tpch.TABLES:
            s.register_parquet(t, str(data / f"{t}.parquet"))
        # Revenue per nation of the region ASIA in 1994 (TPC-H Q5, through the DataFrame API).
        region = s.table("region").filter(col("r_name") == "ASIA")
        nation = s.table("nation").join(region, left_on="n_regionkey", right_on="r_regionkey")
        customer = s.table("customer").join(nation, left_on="c_nationkey", right_on="n_nationkey")
        orders = s.table("orders").filter(
            (col("o_orderdate") >= lit("1994-01-01").cast("date32[day]"))
            & (col("o_orderdate") < lit("1995-01-01").cast("date32[day]"))
        )
        supplier = s.table("supplier")
        q = (
            s.table("lineitem")
            .join(orders, left_on="l_orderkey", right_on="o_orderkey")
            .join(customer, left_on="o_custkey", right_on="c_custkey")
            .join(supplier, on=(col("l_suppkey") == col("s_suppkey")) & (col("c_nationkey") == col("s_nationkey")))
            .group_by("n_name")
            .agg(F.sum(col("l_extendedprice") * (1 - col("l_discount"))).alias("revenue"))
            .sort(col("revenue").desc())
        )
        t1 = time.perf_counter()
        q.to_arrow()  # the first run also starts the actors the plan needs
        cold = time.perf_counter() - t1
        t1 = time.perf_counter()
        job = q.submit()
        result = job.result()
        warm = time.perf_counter() - t1
        print("\nRevenue by nation, ASIA, 1994:")
        _print_table(result)
        _check_with_duckdb(result, data)
        print(f"query time: {cold:.2f} s cold (starting actors), {warm:.2f} s warm (actors from the pool)")
        print("\n" + q.explain())
        actors = {m["actor_id"] for m in job.metrics()}
        print(f"\nThe job ran {len(job.metrics())} operator instances on {len(actors)} actors.")
        if not args.keep:
            print("(The cluster stops now: `dataflow demo --keep` keeps it up to watch in the Ray dashboard.)")
            return 0
        print(f"\nRay dashboard, live until Ctrl-C: {s.dashboard_url or '(not available)'}")
        print(dashboard_login_hint())
        print(f"Actors (Actors page): dataflow:{s.name}:worker-NN and dataflow:{s.name}:coordinator, Session {s.name}.")
        print("Press Ctrl-C to stop the cluster.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nStopping the cluster.")
    return 0


def ray_auth_token() -> tuple[Path | None, str | None]:
    """Where Ray's dashboard token is, and the token: ``RAY_AUTH_TOKEN``, else the file
    ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token`` (the order Ray reads them in).
    ``(None, None)`` when token authentication is off or there is no token."""
    import os

    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return None, None
    if os.environ.get("RAY_AUTH_TOKEN"):
        return None, os.environ["RAY_AUTH_TOKEN"].strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()
    try:
        return path, path.read_text().strip() or None
    except OSError:
        return None, None


def dashboard_login_hint() -> str:
    """How to get past the dashboard's "Authentication Token Required" dialog."""
    path, token = ray_auth_token()
    if token is None:
        return "Ray's token authentication is off: the dashboard opens without a token."
    where = f"the file {path}" if path is not None else "the environment variable RAY_AUTH_TOKEN"
    return (
        f"Log in: the page asks for an \"Authentication Token\"; paste Ray's token, from {where}\n"
        "(print it with `ray get-auth-token`). The browser keeps it as a cookie, ray-authentication-token."
    )


DEMO_SQL = """
select n_name, sum(l_extendedprice * (1 - l_discount)) as revenue
from customer, orders, lineitem, supplier, nation, region
where c_custkey = o_custkey and l_orderkey = o_orderkey and l_suppkey = s_suppkey
  and c_nationkey = s_nationkey and s_nationkey = n_nationkey and n_regionkey = r_regionkey
  and r_name = 'ASIA' and o_orderdate >= date '1994-01-01' and o_orderdate < date '1995-01-01'
group by n_name order by revenue desc
"""


def _check_with_duckdb(result: pa.Table, data: Path) -> None:
    """Compare the demo's answer with DuckDB's, when DuckDB (a dev dependency) is there."""
    try:
        import duckdb
    except ImportError:
        print("(DuckDB is not installed: answer not cross-checked)")
        return
    con = duckdb.connect()
    for t in ("customer", "orders", "lineitem", "supplier", "nation", "region"):
        con.execute(f"create view {t} as select * from read_parquet('{data / (t + '.parquet')}')")
    expected = con.sql(DEMO_SQL).fetchall()
    got = list(zip(result.column("n_name").to_pylist(), result.column("revenue").to_pylist(), strict=True))
    same = len(got) == len(expected) and all(
        a[0] == b[0] and abs(float(a[1]) - float(b[1])) <= 1e-9 * abs(float(b[1])) for a, b in zip(got, expected, strict=True)
    )
    print(f"Same answer as DuckDB: {'yes' if same else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="dataflow", description="dataflow: a parallel query engine on Ray")
    sub = p.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("demo", help="generate a small TPC-H data set and run a query on a local Ray cluster")
    d.add_argument("--sf", type=float, default=0.01)
    d.add_argument("--data", default=str(DEFAULT_DATA))
    d.add_argument("--parallelism", type=int, default=None)
    d.add_argument("--keep", action="store_true",
                   help="keep the Ray cluster up after the query, to watch it in the dashboard (until Ctrl-C)")
    d.set_defaults(fn=cmd_demo)

    t = sub.add_parser("tpch", help="TPC-H data")
    tsub = t.add_subparsers(dest="tpch_cmd", required=True)
    g = tsub.add_parser("gen", help="generate TPC-H data as Parquet with tpchgen-cli")
    g.add_argument("--sf", type=float, required=True)
    g.add_argument("--out", required=True)
    g.set_defaults(fn=cmd_tpch_gen)

    q = sub.add_parser("sql", help="run a SQL query over the Parquet tables in a directory")
    q.add_argument("query")
    q.add_argument("--data", required=True, help="a directory of <table>.parquet/.csv/.json files (or table folders)")
    q.add_argument("--out", help="write the result to a file: .parquet, .csv or .json (by its suffix)")
    q.add_argument("--parallelism", type=int, default=None)
    q.add_argument("--local", action="store_true", help="run in this process, without Ray")
    q.add_argument("--max-rows", type=int, default=50)
    q.add_argument("--address", default=None, help="join a Ray cluster: 'auto' (the one `dataflow cluster up` started) or host:port")
    q.set_defaults(fn=cmd_sql)

    from .bench.cli import add_bench_parser

    add_bench_parser(sub)
    from .cluster.cli import add_cluster_parsers

    add_cluster_parsers(sub)
    args = p.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
