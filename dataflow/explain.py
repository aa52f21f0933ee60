"""EXPLAIN ANALYZE and the picture of the stage graph, from a job's metric records.

The runtime reports one record per operator instance (``Job.metrics()``): rows in
and out, batches, bytes, inclusive and self time, and on the two ends of an exchange
``Receive(<mode>)`` (its time is the wait for input) and ``Send(<mode>)`` (its
``blocked_seconds`` is the wait for consumers: backpressure). This module folds them
into per-operator figures with the per-instance rows under each, and renders the
stage graph as Graphviz DOT (and, with the optional ``graphviz`` package and its
``dot`` program, as SVG). Pure functions over plain records: no Ray.

Totals are sums over instances (rows, batches, bytes), except for the receiving
end of a broadcast: every instance receives every row, so its total is the rows
*sent*, once, and the text says to how many instances they went. Times are
per instance; an operator's time figure is its slowest instance, and the skew
columns are max over median across instances (1.0x: perfectly even).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import DataflowError
from .runtime.stages import RESULT, Edge, Stage, StageGraph


@dataclass(frozen=True)
class InstanceStats:
    """One operator instance's figures (one metric record)."""

    instance: int
    rows_in: int
    rows_out: int
    batches: int
    bytes: int
    seconds: float
    self_seconds: float
    wait_seconds: float | None  # Receive: waiting for input; Send: blocked on consumers
    actor_id: str | None = None
    node_id: str | None = None


@dataclass
class OperatorStats:
    """One operator of the plan (or one end of an exchange) over all its instances."""

    stage: int
    path: str
    operator: str
    est_rows: float | None
    instances: list[InstanceStats] = field(default_factory=list)
    broadcast_to: int = 0  # the receiving end of a broadcast: how many instances got every row
    sent: tuple[int, int, int] | None = None  # broadcast: rows, batches, bytes sent (once)

    @property
    def rows_in(self) -> int:
        return sum(i.rows_in for i in self.instances)

    @property
    def rows_out(self) -> int:
        """Rows out, summed over instances; for a broadcast receive, the rows sent."""
        return self.sent[0] if self.sent is not None else sum(i.rows_out for i in self.instances)

    @property
    def batches(self) -> int:
        return self.sent[1] if self.sent is not None else sum(i.batches for i in self.instances)

    @property
    def bytes(self) -> int:
        return self.sent[2] if self.sent is not None else sum(i.bytes for i in self.instances)

    @property
    def self_seconds(self) -> float:
        """The slowest instance's self time."""
        return max((i.self_seconds for i in self.instances), default=0.0)

    @property
    def wait_seconds(self) -> float | None:
        waits = [i.wait_seconds for i in self.instances if i.wait_seconds is not None]
        return max(waits) if waits else None

    @property
    def skew_rows(self) -> float | None:
        return skew([i.rows_out for i in self.instances])

    @property
    def skew_self(self) -> float | None:
        return skew([i.self_seconds for i in self.instances])

    @property
    def is_receive(self) -> bool:
        return self.operator.startswith("Receive(")

    @property
    def is_send(self) -> bool:
        return self.path.startswith("send:")


@dataclass(frozen=True)
class EdgeStats:
    """What crossed one exchange: rows and bytes sent (each once), and to whom."""

    edge: Edge
    rows: int
    batches: int
    bytes: int
    blocked_seconds: float | None

    @property
    def copies(self) -> int:
        """How many consumer instances receive each row (a broadcast: all of them)."""
        return self.edge.consumers if self.edge.mode == "broadcast" else 1


@dataclass
class Analysis:
    """A finished job's EXPLAIN ANALYZE: per-operator figures, exchanges, attempts."""

    graph: StageGraph
    operators: list[OperatorStats]
    edges: list[EdgeStats]
    wall_seconds: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def operator(self, stage: int, name: str) -> list[OperatorStats]:
        """The operators of ``stage`` whose name starts with ``name``."""
        return [o for o in self.operators if o.stage == stage and o.operator.startswith(name)]


def skew(values: Sequence[float]) -> float | None:
    """Max over median of ``values`` (``None`` for fewer than two; ``inf`` when the
    median is zero but the max is not)."""
    if len(values) < 2:
        return None
    top, mid = max(values), statistics.median(values)
    if mid <= 0:
        return 1.0 if top <= 0 else float("inf")
    return top / mid


def path_key(path: str) -> tuple[int, ...]:
    """Sort key for plan paths: pre-order (a parent before its children); a Send's
    ``send:<edge>`` comes first in its stage."""
    if path.startswith("send:"):
        return (-1,)
    return tuple(int(p) for p in path.split("."))


def _nodes(plan: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def visit(node: Any, path: str) -> None:
        out[path] = node
        for i, c in enumerate(node.children()):
            visit(c, f"{path}.{i}")

    visit(plan, "0")
    return out


def _root_records(records: Iterable[dict[str, Any]], stage: Stage) -> list[dict[str, Any]]:
    return [m for m in records if m["stage"] == stage.id and m["path"] == stage.root_path]


def summarize(
    metrics: list[dict[str, Any]],
    graph: StageGraph,
    plan: Any,
    wall_seconds: float | None = None,
    attempts: Sequence[dict[str, Any]] = (),
    notes: Sequence[str] = (),
) -> Analysis:
    """Fold a job's metric records (``Job.metrics()``) into an :class:`Analysis`."""
    nodes = _nodes(plan)
    edges: list[EdgeStats] = []
    by_edge: dict[str, EdgeStats] = {}
    for s in graph.stages:
        e = s.output
        if e is None:
            continue
        sends = [m for m in metrics if m["stage"] == s.id and m["path"] == "send:" + e.id]
        roots = _root_records(metrics, s)
        blocked = [m["blocked_seconds"] for m in sends if "blocked_seconds" in m]
        # a Send forwards its input's batches: its bytes are its input's bytes
        bytes_sent = sum(m.get("bytes_out", 0) for m in sends) or sum(m["bytes_out"] for m in roots)
        batches = sum(m.get("batches_out", 0) for m in sends) or sum(m["batches_out"] for m in roots)
        st = EdgeStats(
            e, sum(m["rows_out"] for m in sends), batches, bytes_sent, max(blocked) if blocked else None
        )
        edges.append(st)
        by_edge[e.id] = st
    # a Send forwards its input's batches: where it reports no batches or bytes of
    # its own, its instance's figures are those of the stage root feeding it
    root_of = {(s.id, m["instance"]): m for s in graph.stages for m in _root_records(metrics, s)}
    groups: dict[tuple[int, str], OperatorStats] = {}
    for m in metrics:
        key = (m["stage"], m["path"])
        op = groups.get(key)
        if op is None:
            node = nodes.get(m["path"])
            op = OperatorStats(m["stage"], m["path"], m["operator"], None if node is None else node.est_rows)
            groups[key] = op
        is_send, is_receive = m["path"].startswith("send:"), m["operator"].startswith("Receive(")
        wait = m["seconds"] if is_receive else m.get("blocked_seconds") if is_send else None
        feed = root_of.get((m["stage"], m["instance"]), {}) if is_send and not m.get("batches_out") else m
        op.instances.append(
            InstanceStats(
                instance=m["instance"],
                rows_in=m["rows_in"],
                rows_out=m["rows_out"],
                batches=feed.get("batches_out", 0),
                bytes=feed.get("bytes_out", 0),
                seconds=m["seconds"],
                self_seconds=m.get("self_seconds", m["seconds"]),
                wait_seconds=wait,
                actor_id=m.get("actor_id"),
                node_id=m.get("node_id"),
            )
        )
    for op in groups.values():
        op.instances.sort(key=lambda i: i.instance)
        edge = by_edge.get(op.path)
        if op.is_receive and edge is not None and edge.edge.mode == "broadcast":
            op.broadcast_to = edge.edge.consumers
            op.sent = (edge.rows, edge.batches, edge.bytes)
        if op.is_send and op.est_rows is None:
            exch = nodes.get(op.path[len("send:") :])
            op.est_rows = None if exch is None else exch.est_rows
    ops = sorted(groups.values(), key=lambda o: (o.stage, path_key(o.path)))
    return Analysis(graph, ops, edges, wall_seconds, list(attempts), list(notes))


# -- text -----------------------------------------------------------------------------------


def fmt_bytes(n: int) -> str:
    """``n`` bytes for people: 740 B, 1.2 KiB, 3.4 MiB."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _x(v: float | None) -> str:
    if v is None:
        return "-"
    return "inf" if v == float("inf") else f"{v:.1f}x"


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _edge_text(e: Edge) -> str:
    keys = f"[{', '.join(e.keys)}]" if e.keys else ""
    order = f"[{', '.join(str(o) for o in e.order)}]" if e.order else ""
    return f"{e.mode}{keys}{order} {e.producers}->{e.consumers}"


def _to(e: Edge) -> str:
    return "result" if e.consumer == RESULT else f"stage {e.consumer}"


HEADER = (
    f"  {'operator':<30} {'inst':>4} {'est rows':>11} {'rows in':>11} {'rows out':>11} {'batches':>7} "
    f"{'bytes':>10} {'self s':>8} {'wait s':>8} {'skew rows':>9} {'skew self':>9}"
)


def _row(
    name: str,
    inst: str,
    est: str,
    i_rows: int,
    o_rows: int,
    batches: int,
    nbytes: int,
    self_s: float | None,
    wait: float | None,
    sk_rows: str,
    sk_self: str,
) -> str:
    return (
        f"  {name:<30} {inst:>4} {est:>11} {i_rows:>11,} {o_rows:>11,} {batches:>7,} {fmt_bytes(nbytes):>10} "
        f"{_s(self_s):>8} {_s(wait):>8} {sk_rows:>9} {sk_self:>9}"
    )


def _attempts_text(a: Analysis) -> list[str]:
    if not a.attempts:
        return ["attempts: 1 (no retries)"]
    parts = []
    for r in a.attempts:
        how = "ok" if r.get("ok") else f"failed{' (lost ' + str(r['lost']) + ')' if r.get('lost') else ''}"
        part = f"attempt {r.get('attempt')} {how} in {r.get('seconds', 0):.3f} s"
        if "run_seconds" in r:
            part += (
                f" (lease {r['lease_seconds']:.3f}, start {r['start_seconds']:.3f}, "
                f"run {r['run_seconds']:.3f}, finish {r['finish_seconds']:.3f})"
            )
        parts.append(part)
    retries = len(a.attempts) - 1
    return [
        f"attempts: {len(a.attempts)} ({retries} {'retry' if retries == 1 else 'retries'}): "
        + "; ".join(parts)
    ]


def render_analysis(a: Analysis) -> str:
    """The EXPLAIN ANALYZE text: a header (wall time, attempts, notes), then per stage
    each operator's totals with one line per instance under it, then the exchanges."""
    lines = ["== Analyze (actual) =="]
    wall = "" if a.wall_seconds is None else f"wall {a.wall_seconds:.3f} s, "
    lines.append(f"job: {wall}{len(a.graph.stages)} stages, {a.graph.instances()} instances")
    lines.extend(_attempts_text(a))
    lines.extend(f"note: {n}" for n in a.notes)
    lines.append(
        "legend: rows/batches/bytes summed over instances (a broadcast's rows counted once, as sent); "
        "self s: the slowest instance's time without its inputs; wait s: Receive = waiting for input, "
        "Send = blocked on consumers (backpressure); skew: max/median over instances"
    )
    by_stage: dict[int, list[OperatorStats]] = {}
    for op in a.operators:
        by_stage.setdefault(op.stage, []).append(op)
    for s in a.graph.stages:
        ops = " -> ".join(n.name for _, n in reversed(s.operators))
        out = "" if s.output is None else f"  => {_edge_text(s.output)} to {_to(s.output)}"
        lines.append(f"Stage {s.id} ({s.dop} instance{'s' if s.dop != 1 else ''}): {ops}{out}")
        lines.append(HEADER)
        base = len(path_key(s.root_path))
        for op in by_stage.get(s.id, []):
            depth = 0 if op.is_send else len(path_key(op.path)) - base + 1
            name = ("  " * depth + op.operator)[:30]
            est = "" if op.est_rows is None else f"{op.est_rows:,.0f}"
            multi = len(op.instances) > 1
            lines.append(
                _row(
                    name,
                    "all" if multi else str(op.instances[0].instance),
                    est,
                    op.rows_in,
                    op.rows_out,
                    op.batches,
                    op.bytes,
                    None if op.is_receive else op.self_seconds,
                    op.wait_seconds,
                    _x(op.skew_rows),
                    _x(op.skew_self),
                )
            )
            if op.broadcast_to:
                lines.append(
                    f"  {'':<30} broadcast to {op.broadcast_to} instances: each received all {op.rows_out:,} rows"
                )
            if multi:
                for i in op.instances:
                    where = f"  node {i.node_id[:8]}" if i.node_id else ""
                    row = _row(
                        "",
                        f"#{i.instance}",
                        "",
                        i.rows_in,
                        i.rows_out,
                        i.batches,
                        i.bytes,
                        None if op.is_receive else i.self_seconds,
                        i.wait_seconds,
                        "",
                        "",
                    )
                    lines.append(row.rstrip() + where)
    lines.append("Exchanges (rows and bytes sent, each row once):")
    for e in a.edges:
        blocked = "" if e.blocked_seconds is None else f", blocked {e.blocked_seconds:.3f} s"
        copies = f", broadcast to {e.copies} instances" if e.copies > 1 else ""
        lines.append(
            f"  stage {e.edge.producer} -> {_to(e.edge)}: "
            f"{_edge_text(e.edge)}: {e.rows:,} rows, {e.batches:,} batches, {fmt_bytes(e.bytes)}{copies}{blocked}"
        )
    return "\n".join(lines)


# -- the picture ----------------------------------------------------------------------------


def _q(text: str) -> str:
    """A DOT double-quoted string (newlines as line breaks)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def to_dot(graph: StageGraph, analysis: Analysis | None = None, name: str = "dataflow") -> str:
    """The stage graph as Graphviz DOT: a cluster per stage (its operators and
    instance count), an edge per exchange labelled with its mode and, after
    analyze, the rows and bytes it carried; data flows upwards to the result."""
    ops = {} if analysis is None else {(o.stage, o.path): o for o in analysis.operators}
    edge_stats = {} if analysis is None else {e.edge.id: e for e in analysis.edges}
    out = [
        f"digraph {_q(name)} {{",
        "  rankdir=BT;",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=10];',
        '  graph [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
        '  result [shape=oval, label="result"];',
    ]
    for s in graph.stages:
        out.append(f"  subgraph cluster_s{s.id} {{")
        title = f"Stage {s.id}: {s.dop} instance" + ("s" if s.dop != 1 else "")
        send = ops.get((s.id, "send:" + s.output.id)) if s.output is not None else None
        if send is not None and len(send.instances) > 1:  # what each instance sent: the skew at a glance
            title += "\n" + ", ".join(f"#{i.instance}: {i.rows_out:,} rows" for i in send.instances)
        out.append(f"    label={_q(title)};")
        out.append('    style="rounded,filled"; fillcolor="#f3f6fa"; color="#8aa1bd";')
        for path, node in s.operators:
            label = _short(node.describe())
            op = ops.get((s.id, path))
            if op is not None:
                label += f"\n{op.rows_out:,} rows, self {op.self_seconds:.3f} s"
            out.append(f"    {_q('n' + path)} [label={_q(label)}];")
        for path, _ in s.operators:
            parent = path.rsplit(".", 1)[0]
            if "." in path and any(p == parent for p, _ in s.operators):
                out.append(f"    {_q('n' + path)} -> {_q('n' + parent)};")
        out.append("  }")
    for s in graph.stages:
        e = s.output
        if e is None:
            continue
        src = _q("n" + s.root_path)
        dst = "result" if e.consumer == RESULT else _q("n" + e.id.rsplit(".", 1)[0])
        label = _edge_text(e)
        st = edge_stats.get(e.id)
        if st is not None:
            label += f"\n{st.rows:,} rows, {fmt_bytes(st.bytes)}"
            if st.copies > 1:
                label += f"\nbroadcast to {st.copies} instances"
        style = ', style=bold, color="#b5562b"' if e.mode == "broadcast" else ""
        out.append(f"  {src} -> {dst} [label={_q(label)}{style}];")
    out.append("}")
    return "\n".join(out) + "\n"


def render_svg(dot: str) -> str:
    """Render DOT text to SVG with the ``graphviz`` package (``pip install
    'dataflow[viz]'``) and Graphviz's ``dot`` program."""
    try:
        import graphviz
    except ImportError as e:
        raise DataflowError(
            "explain(format='svg') needs the graphviz Python package: pip install 'dataflow[viz]'"
        ) from e
    try:
        return graphviz.Source(dot).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as e:
        raise DataflowError(
            "explain(format='svg') needs Graphviz's dot program on PATH (Debian/Ubuntu: apt-get install graphviz; "
            "macOS: brew install graphviz); explain(format='dot') gives the DOT text without it"
        ) from e


FORMATS = ("text", "dot", "svg")


def explain(
    df: Any,
    verbose: bool = False,
    analyze: bool = False,
    parallelism: int | None = None,
    format: str = "text",
) -> str:
    """What :meth:`dataflow.DataFrame.explain` returns (see there)."""
    import time

    from . import logical as L
    from .physical import render as render_physical

    if format not in FORMATS:
        raise DataflowError(f"explain format {format!r} is not one of {', '.join(FORMATS)}")
    session = df.session
    analysis = None
    if analyze:
        t0 = time.perf_counter()
        job = session.execute(df.plan, parallelism)
        job.result()
        wall = time.perf_counter() - t0
        # the Session may have planned again (fewer actors free): show the plan that ran
        opt, graph = job.optimized, job.graph
        analysis = summarize(
            job.metrics(), graph, opt.physical, wall, getattr(job, "attempts", ()), job.notes
        )
    else:
        opt = session.optimize(df.plan, parallelism)
        graph = session.stages(opt.physical)
    if format == "dot":
        return to_dot(graph, analysis)
    if format == "svg":
        return render_svg(to_dot(graph, analysis))
    parts = [
        "== Logical plan ==",
        L.render(df.plan),
        "== Optimized logical plan ==",
        L.render(opt.logical),
        "== Physical plan ==",
        render_physical(opt.physical, estimates=True),
        f"== Stages ({graph.instances()} actors) ==",
        graph.render(),
    ]
    if verbose:
        parts.append("== Optimizer rules ==")
        for r in opt.rules:
            parts.append(f"-- {r.name}: {r.millis:.2f} ms{'' if r.changed else ' (no change)'}")
            parts.append(r.plan_after)
    if analysis is not None:
        parts.append(render_analysis(analysis))
    return "\n".join(parts)


__all__ = [
    "Analysis",
    "EdgeStats",
    "InstanceStats",
    "OperatorStats",
    "explain",
    "fmt_bytes",
    "render_analysis",
    "render_svg",
    "skew",
    "summarize",
    "to_dot",
]
