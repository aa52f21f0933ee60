"""EXPLAIN ANALYZE, the stage graph as DOT and SVG, and SQL EXPLAIN, on the local
runtime (threads, no Ray). Row counts are checked against DuckDB over the same
tables and against the per-instance lines of the text itself."""

from __future__ import annotations

import re
import shutil
import time

import duckdb
import pyarrow as pa
import pytest

import dataflow
from dataflow.errors import DataflowError, UnsupportedError
from dataflow.explain import HEADER, render_analysis, render_svg, skew, summarize, to_dot

N_BIG, N_SMALL, KEYS = 20_000, 50, 50

JOIN_SQL = "select name, sum(v) as sv from big join small on big.k = small.k where v % 3 <> 0 group by name order by name"


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return {
        "big": pa.table({"k": [i % KEYS for i in range(N_BIG)], "v": list(range(N_BIG))}),
        "small": pa.table({"k": list(range(N_SMALL)), "name": [f"n{i:02d}" for i in range(N_SMALL)]}),
        # every row has the same key: a hash exchange sends all of them to one instance
        "lopsided": pa.table({"g": [7] * 4000, "x": list(range(4000))}),
    }


@pytest.fixture(scope="module")
def session(tables):
    # every stage at two instances, also where explain() and SQL EXPLAIN give no parallelism
    with dataflow.Session(runtime="local", parallelism=2, adaptive_parallelism=False) as s:
        for name, t in tables.items():
            s.register(name, t)
        yield s


@pytest.fixture(scope="module")
def duck(tables):
    con = duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
    return con


def run(df: dataflow.DataFrame, parallelism: int = 2):
    """Run ``df``; its Analysis and the wall time measured around it."""
    t0 = time.perf_counter()
    job = df.submit(parallelism)
    result = job.result()
    wall = time.perf_counter() - t0
    a = summarize(
        job.metrics(), job.graph, job.optimized.physical, wall, getattr(job, "attempts", ()), job.notes
    )
    return a, result


def column_end(name: str) -> int:
    return HEADER.index(name) + len(name)


def parse_rows(text: str) -> list[dict]:
    """The operator lines of an EXPLAIN ANALYZE text: each 'all' line with the
    '#i' lines under it, read by the header's column positions."""
    cols = {c: column_end(c) for c in ("inst", "rows in", "rows out", "batches")}
    widths = {"inst": 4, "rows in": 11, "rows out": 11, "batches": 7}
    ops: list[dict] = []
    for line in text.splitlines():
        if not line.startswith("  ") or line.startswith("  operator") or len(line) < cols["batches"]:
            continue
        inst = line[cols["inst"] - widths["inst"] : cols["inst"]].strip()
        if not (inst == "all" or inst.startswith("#") or inst.isdigit()):
            continue
        vals = {
            c: int(line[cols[c] - widths[c] : cols[c]].replace(",", ""))
            for c in ("rows in", "rows out", "batches")
        }
        if inst.startswith("#"):
            ops[-1]["instances"].append(vals)
        else:
            ops.append({"name": line[2:32].strip(), **vals, "instances": [], "line": line})
    return ops


def test_broadcast_join_rows_and_broadcast_counted_once(session, duck):
    df = session.sql(JOIN_SQL)
    a, result = run(df)
    assert result.to_pylist() == duck.sql(JOIN_SQL).arrow().read_all().to_pylist()
    modes = {e.edge.mode for e in a.edges}
    assert "broadcast" in modes, a.graph.render()
    (recv,) = [o for o in a.operators if o.operator == "Receive(broadcast)"]
    assert recv.broadcast_to == 2 and len(recv.instances) == 2
    # counted once: the rows sent, not the sum over the two receiving instances
    assert recv.rows_out == N_SMALL
    assert [i.rows_out for i in recv.instances] == [N_SMALL, N_SMALL]
    (edge,) = [e for e in a.edges if e.edge.mode == "broadcast"]
    assert (edge.rows, edge.copies) == (N_SMALL, 2)
    scans = sorted(o.rows_out for o in a.operators if o.operator == "Scan")
    filtered = duck.execute("select count(*) from big where v % 3 <> 0").fetchone()[0]
    assert scans == [N_SMALL, filtered]  # the filter runs in the scan
    (join,) = [o for o in a.operators if o.operator == "HashJoin"]
    expected = duck.execute(
        "select count(*) from big join small on big.k = small.k where v % 3 <> 0"
    ).fetchone()[0]
    assert join.rows_out == expected
    # the result edge carries the result's rows
    (out,) = [e for e in a.edges if e.edge.consumer == -1]
    assert out.rows == result.num_rows == KEYS
    text = render_analysis(a)
    assert f"broadcast to 2 instances: each received all {N_SMALL:,} rows" in text
    assert re.search(rf"broadcast 2->2: {N_SMALL:,} rows, .*broadcast to 2 instances", text)


def test_per_instance_rows_in_text_sum_to_totals(session):
    text = session.sql(JOIN_SQL).explain(analyze=True, parallelism=2)
    assert "== Analyze (actual) ==" in text
    ops = parse_rows(text)
    names = {o["name"] for o in ops}
    assert {
        "Send(hash)",
        "Send(broadcast)",
        "Receive(broadcast)",
        "HashJoin",
        "Scan",
        "HashAggregate",
    } <= names
    checked = 0
    for op in ops:
        assert len(op["instances"]) == 2, op["line"]
        if op["name"] == "Receive(broadcast)":
            # every instance received every row: each equals the total sent
            assert all(i["rows out"] == op["rows out"] == N_SMALL for i in op["instances"])
            continue
        for c in ("rows in", "rows out", "batches"):
            assert sum(i[c] for i in op["instances"]) == op[c], (c, op["line"])
        checked += 1
    assert checked >= 10


def test_exchange_rows_match_both_ends(session):
    a, _ = run(session.sql(JOIN_SQL))
    for e in a.edges:
        sends = [o for o in a.operators if o.path == "send:" + e.edge.id]
        assert len(sends) == 1 and sends[0].rows_out == e.rows
        if e.edge.consumer >= 0:
            (recv,) = [o for o in a.operators if o.path == e.edge.id and o.is_receive]
            assert recv.rows_out == e.rows
            total_received = sum(i.rows_out for i in recv.instances)
            assert total_received == e.rows * e.copies


def test_self_times_within_wall_time(session):
    a, _ = run(session.sql(JOIN_SQL))
    assert a.wall_seconds is not None and a.wall_seconds > 0
    per_instance: dict[tuple[int, int], float] = {}
    for op in a.operators:
        for i in op.instances:
            assert 0 <= i.self_seconds <= i.seconds + 1e-6 <= a.wall_seconds + 1e-6, (op.operator, i)
            key = (op.stage, i.instance)
            per_instance[key] = per_instance.get(key, 0.0) + i.self_seconds
    # an instance's self times add up to its own busy time, never more than the job's wall time
    for key, total in per_instance.items():
        assert total <= a.wall_seconds + 1e-3, (key, total, a.wall_seconds)
    # chained operators no longer share one inclusive time
    stage1 = [o for o in a.operators if o.operator in ("HashJoin", "Project", "HashAggregate")]
    assert len({round(o.self_seconds, 6) for o in stage1}) > 1


def test_skew_of_a_lopsided_hash_exchange(session):
    from dataflow import col
    from dataflow import functions as F

    df = session.table("lopsided").group_by("g").agg(F.sum(col("x")).alias("sx"))
    a, result = run(df)
    assert result.to_pylist() == [{"g": 7, "sx": sum(range(4000))}]
    recv = [o for o in a.operators if o.operator == "Receive(hash)"]
    assert recv, a.graph.render()
    # one instance got every partial row, the other none: max/median = 2.0 at two instances
    assert sorted(i.rows_out for i in recv[0].instances)[0] == 0
    assert recv[0].skew_rows == pytest.approx(2.0)
    assert "2.0x" in render_analysis(a)


def test_skew_function():
    assert skew([1, 1, 4]) == 4.0
    assert skew([0, 0, 5]) == float("inf")
    assert skew([0, 0]) == 1.0
    assert skew([3]) is None
    assert skew([2, 2]) == 1.0


def test_attempts_and_notes_are_shown(session):
    a, _ = run(session.table("small"))
    a.attempts = [
        {"attempt": 1, "ok": False, "seconds": 1.25, "lost": "worker 3"},
        {"attempt": 2, "ok": True, "seconds": 0.5},
    ]
    a.notes = ["attempt 1 failed (worker 3); retried"]
    text = render_analysis(a)
    assert (
        "attempts: 2 (1 retry): attempt 1 failed (lost worker 3) in 1.250 s; attempt 2 ok in 0.500 s" in text
    )
    assert "note: attempt 1 failed (worker 3); retried" in text
    a.attempts = []
    assert "attempts: 1 (no retries)" in render_analysis(a)


def test_dot_has_every_stage_operator_and_exchange(session):
    df = session.sql(JOIN_SQL)
    opt = session.optimize(df.plan, 2)
    graph = session.stages(opt.physical)
    dot = df.explain(format="dot", parallelism=2)
    assert dot == to_dot(graph)
    assert dot.startswith('digraph "dataflow" {') and dot.rstrip().endswith("}")
    for s in graph.stages:
        assert f"subgraph cluster_s{s.id} {{" in dot
        assert f'label="Stage {s.id}: {s.dop} instance' in dot
        for path, _ in s.operators:
            assert f'"n{path}" [label=' in dot
    arrows = re.findall(r'^\s*("[^"]+"|result) -> ("[^"]+"|result)(?: \[label="([^"]*)")?', dot, re.M)
    inner = sum(
        1
        for s in graph.stages
        for p, _ in s.operators
        if any(q == p.rsplit(".", 1)[0] for q, _ in s.operators)
    )
    exchange_arrows = [x for x in arrows if x[2]]
    assert len(arrows) == inner + len(graph.edges)
    assert sorted(x[2].split(" ")[0].split("[")[0] for x in exchange_arrows) == sorted(
        e.mode for e in graph.edges
    )
    assert sum(1 for x in arrows if x[1] == "result") == 1
    assert "rows," not in dot  # no actual figures without analyze


def test_dot_after_analyze_has_rows_and_bytes_on_every_exchange(session):
    df = session.sql(JOIN_SQL)
    dot = df.explain(analyze=True, format="dot", parallelism=2)
    a, _ = run(df)
    labels = re.findall(r'-> (?:"[^"]+"|result) \[label="([^"]*)"', dot)
    assert len(labels) == len(a.edges)
    for e in a.edges:
        (label,) = [
            lab
            for lab in labels
            if lab.startswith(f"{e.edge.mode}") and f"{e.edge.producers}->{e.edge.consumers}" in lab
        ]
        rows = int(re.search(r"\\n([\d,]+) rows, ", label).group(1).replace(",", ""))
        assert rows == e.rows
        assert re.search(r"rows, \d+(\.\d)? (B|KiB|MiB|GiB)", label)
    assert "broadcast to 2 instances" in dot
    # each stage's label lists what every instance sent (they add up to the exchange's rows)
    for e in a.edges:
        stage = e.edge.producer
        m = re.search(rf'label="Stage {stage}: 2 instances\\n#0: ([\d,]+) rows, #1: ([\d,]+) rows"', dot)
        assert m, stage
        assert sum(int(x.replace(",", "")) for x in m.groups()) == e.rows


def test_dot_escapes_quotes():
    with dataflow.Session(runtime="local", parallelism=1) as s:
        s.register("t", pa.table({"a": ["x"]}))
        dot = s.table("t").filter(dataflow.col("a") == 'say "hi"').explain(format="dot")
    assert '\\"hi\\"' in dot
    assert not re.search(r'[^\\]"hi"', dot)


def test_svg_renders(session, tmp_path):
    assert shutil.which("dot"), "Graphviz's dot is needed (make test installs it: make graphviz)"
    df = session.sql(JOIN_SQL)
    svg = df.explain(analyze=True, format="svg", parallelism=2)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    graph = session.stages(session.optimize(df.plan, 2).physical)
    for s in graph.stages:
        assert f"Stage {s.id}: {s.dop} instance" in svg
    assert "broadcast to 2 instances" in svg
    path = df.explain_svg(str(tmp_path / "plan.svg"))
    assert "<svg" in (tmp_path / "plan.svg").read_text() and path.endswith("plan.svg")


def test_svg_without_dot_says_what_to_install(session, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DataflowError, match="dot program"):
        render_svg(to_dot(session.stages(session.optimize(session.table("small").plan).physical)))


def test_unknown_format(session):
    with pytest.raises(DataflowError, match="'json' is not one of text, dot, svg"):
        session.table("small").explain(format="json")


# -- SQL EXPLAIN ---------------------------------------------------------------------------


def plan_lines(df: dataflow.DataFrame) -> list[str]:
    t = df.to_arrow()
    assert t.schema == pa.schema([("plan", pa.string())])
    return t.column("plan").to_pylist()


def test_sql_explain(session):
    lines = plan_lines(session.sql("EXPLAIN " + JOIN_SQL))
    df = session.sql(JOIN_SQL)
    assert lines == df.explain().splitlines()
    assert "== Physical plan ==" in lines and not any(line.startswith("== Analyze") for line in lines)
    assert any("HashJoin" in line and "broadcast" in line for line in lines)


def test_sql_explain_analyze_runs_the_query(session, duck):
    lines = plan_lines(session.sql("-- how fast?\nexplain analyze " + JOIN_SQL))
    assert "== Analyze (actual) ==" in lines
    ops = parse_rows("\n".join(lines))
    (recv,) = [o for o in ops if o["name"] == "Receive(broadcast)"]
    assert recv["rows out"] == N_SMALL
    (join,) = [o for o in ops if o["name"] == "HashJoin"]
    assert (
        join["rows out"]
        == duck.execute("select count(*) from big join small on big.k = small.k where v % 3 <> 0").fetchone()[
            0
        ]
    )
    assert any(line.startswith("job: wall ") for line in lines)


def test_sql_explain_options_and_parameters(session):
    analyse = plan_lines(session.sql("explain analyse verbose select k from small where k < $1", [10]))
    assert "== Optimizer rules ==" in analyse and "== Analyze (actual) ==" in analyse
    (scan,) = [o for o in parse_rows("\n".join(analyse)) if o["name"].endswith("Scan")]
    assert scan["rows out"] == 10
    pg = plan_lines(session.sql("EXPLAIN (ANALYZE true, FORMAT DOT) select k from small where k < ?", [5]))
    assert pg[0] == 'digraph "dataflow" {' and any("5 rows" in line for line in pg)
    off = plan_lines(session.sql("explain (analyze off, verbose) select k from small"))
    assert "== Optimizer rules ==" in off and "== Analyze (actual) ==" not in off


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("explain", "EXPLAIN needs a query"),
        ("explain (format json) select k from small", "EXPLAIN format 'json'"),
        ("explain (costs off) select k from small", "EXPLAIN option 'costs'"),
        ("explain (analyze maybe) select k from small", "takes true or false"),
        ("explain drop view if exists v", "only queries can be explained"),
    ],
)
def test_sql_explain_errors(session, sql, message):
    with pytest.raises(UnsupportedError, match=re.escape(message)):
        session.sql(sql)
