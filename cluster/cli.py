"""The ``dataflow cluster``, ``submit``, ``jobs`` and ``logs`` subcommands.

    dataflow cluster up --nodes N [--cpus-per-node C] [--object-store-memory M] [--temp-dir D]
    dataflow cluster status [--address A]
    dataflow cluster down
    dataflow submit [--address URL] [--name NAME] [--wait] script.py [args ...]
    dataflow submit [--address URL] --sql "SELECT ..." --data DIR [--wait]
    dataflow jobs [--address URL]
    dataflow logs ID [--address URL]

Wired into ``dataflow/cli.py`` by :func:`add_cluster_parsers`. Parsing needs no Ray;
each command imports it only when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dataflow.errors import DataflowError


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {n}")
    return n


def _size(text: str) -> int:
    from .local import MIN_OBJECT_STORE, parse_size

    try:
        n = parse_size(text)
    except DataflowError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if n < MIN_OBJECT_STORE:
        raise argparse.ArgumentTypeError(f"at least 75M (Ray's minimum), got {text!r}")
    return n


def cmd_cluster_up(args: argparse.Namespace) -> int:
    from . import local

    state = local.up(args.nodes, args.cpus_per_node, args.object_store_memory, temp_dir=args.temp_dir)
    print(f"Started a local Ray cluster of {len(state.nodes)} node(s) on 127.0.0.1:")
    for n in state.nodes:
        print(f"  {n.role:6} pid {n.pid}  raylet port {n.ports['node_manager']}  log {n.log}")
    print(f"address:   {state.gcs_address}   (Session(address='auto') or --address auto joins it)")
    print(f"dashboard: {state.dashboard_url}")
    print(f"token:     {state.token_path}   (paste it when the dashboard asks)")
    print(f"state:     {local.state_path()}   (`dataflow cluster down` stops it)")
    return 0


def cmd_cluster_down(args: argparse.Namespace) -> int:
    from . import local

    stopped = local.down()
    if not stopped:
        print("no running cluster started by `dataflow cluster up`")
    for n in stopped:
        print(f"stopped {n.role} node (pid {n.pid})")
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    import ray

    from . import connect, dashboard_help, local
    from .status import describe, format_status

    if args.address in (None, "auto") and local.running_state() is None and not os.environ.get("RAY_ADDRESS"):
        print("no running cluster started by `dataflow cluster up` (and no RAY_ADDRESS)", file=sys.stderr)
        return 1
    info = connect(args.address or "auto")
    try:
        print(format_status(describe(info.dashboard_url), info.dashboard_url, dashboard_help(info.dashboard_url)))
    finally:
        ray.shutdown()
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from . import jobs

    if args.sql is not None:
        if args.script is not None:
            raise DataflowError("give either a script or --sql, not both")
        if args.data is None:
            raise DataflowError("--sql needs --data DIR (a directory of Parquet tables, the same path on the head node)")
        data = str(Path(args.data).resolve()) if Path(args.data).exists() else args.data
        entry = jobs.sql_entrypoint(args.sql, data, parallelism=args.parallelism)
    elif args.script is not None:
        entry = jobs.script_entrypoint(args.script, args.args)
    else:
        raise DataflowError("nothing to submit: give a script.py or --sql \"...\"")
    runtime_env = {"working_dir": args.working_dir} if args.working_dir else None
    sid = jobs.submit(entry, address=args.address, name=args.name, runtime_env=runtime_env)
    print(f"submitted job {sid}: {entry}")
    url, _ = jobs.dashboard_address(args.address)
    print(f"see it at {url}/#/jobs/{sid}, or `dataflow logs {sid}`")
    if args.wait:
        status = jobs.wait(sid, address=args.address)
        print(jobs.logs(sid, address=args.address), end="")
        print(f"job {sid}: {status}")
        return 0 if status == "SUCCEEDED" else 1
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from . import jobs

    rows = jobs.list_jobs(args.address)
    if not rows:
        print("no jobs")
    for j in rows:
        print(f"{j['submission_id'] or '-':32} {j['status']:10} {j['name'][:32]:32} {j['entrypoint']}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from . import jobs

    print(jobs.logs(args.id, args.address), end="")
    return 0


def _run(fn):  # type: ignore[no-untyped-def]
    """A command that turns a dataflow error into a message and exit code 1."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except DataflowError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1

    return wrapped


def add_cluster_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``cluster``, ``submit``, ``jobs`` and ``logs`` on dataflow's command line."""
    c = sub.add_parser("cluster", help="a local multi-node Ray cluster on loopback (ray start)")
    csub = c.add_subparsers(dest="cluster_cmd", required=True)
    up = csub.add_parser("up", help="start a head and N-1 worker raylets on 127.0.0.1")
    up.add_argument("--nodes", type=_positive_int, default=2)
    up.add_argument("--cpus-per-node", type=_positive_int, default=None)
    up.add_argument("--object-store-memory", type=_size, default=None, help="per node, e.g. 2G or 500M")
    up.add_argument("--temp-dir", default=None, help="Ray's session directory root (default /tmp/ray)")
    up.set_defaults(fn=_run(cmd_cluster_up))
    st = csub.add_parser("status", help="nodes, CPUs, memory, object store, dataflow actors, dashboard")
    st.add_argument("--address", default=None, help="a Ray head's host:port (default: the one `up` started)")
    st.set_defaults(fn=_run(cmd_cluster_status))
    dn = csub.add_parser("down", help="stop the nodes `up` started (by their recorded pids)")
    dn.set_defaults(fn=_run(cmd_cluster_down))

    s = sub.add_parser("submit", help="run a script or a SQL query as a Ray job (Job Submission API)")
    s.add_argument("script", nargs="?", default=None)
    s.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    s.add_argument("--sql", default=None, help="a SQL query to run with `dataflow sql` on the cluster")
    s.add_argument("--data", default=None, help="with --sql: a directory of Parquet tables")
    s.add_argument("--parallelism", type=_positive_int, default=None)
    s.add_argument("--address", default=None, help="the dashboard URL (default: the cluster `up` started)")
    s.add_argument("--name", default=None, help="the job's name in the dashboard (default: its id)")
    s.add_argument("--working-dir", default=None, help="a directory to ship to the cluster with the job")
    s.add_argument("--wait", action="store_true", help="wait for the job, print its log, exit with its status")
    s.set_defaults(fn=_run(cmd_submit))

    j = sub.add_parser("jobs", help="list the cluster's jobs")
    j.add_argument("--address", default=None)
    j.set_defaults(fn=_run(cmd_jobs))

    lg = sub.add_parser("logs", help="one job's log")
    lg.add_argument("id")
    lg.add_argument("--address", default=None)
    lg.set_defaults(fn=_run(cmd_logs))
