"""Benchmark results: the records, the summary (totals, geometric mean), the table
printed on the terminal, the JSON document, and the check of issue 5's targets.

Plain Python: nothing here starts Ray, DuckDB or Spark, so it is unit-tested alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# The targets of issue 5 (TPC-H at scale factor 1 on the 2-core, 24 GB machine).
TARGET_TOTAL_RATIO = 4.0
TARGET_AIM_RATIO = 3.0
TARGET_MAX_RATIO = 10.0
TARGET_RAY_DATA_SPEEDUP = 20.0
TARGET_COLD_START_S = 12.0
TARGET_PEAK_MEMORY_BYTES = 8 * 1024**3
RAY_DATA_QUERIES = (1, 3, 6)


@dataclass
class PeerRun:
    """One query on a peer engine (Ray Data, Spark): median seconds, or the error."""

    seconds: float | None = None
    agree: bool | None = None
    error: str | None = None
    diff: str | None = None


@dataclass
class QueryRun:
    """One TPC-H query: dataflow's and DuckDB's median seconds, whether they agree."""

    query: int
    dataflow_s: float | None = None
    duckdb_s: float | None = None
    agree: bool | None = None
    rows: int | None = None
    error: str | None = None  # dataflow's failure, first line
    diff: str | None = None  # the first difference when the answers disagree
    duckdb_error: str | None = None
    runs_s: list[float] = field(default_factory=list)
    duckdb_runs_s: list[float] = field(default_factory=list)
    peers: dict[str, PeerRun] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """dataflow seconds / DuckDB seconds, where both ran and agree."""
        if self.dataflow_s is None or not self.duckdb_s or not self.agree:
            return None
        return self.dataflow_s / self.duckdb_s

    @property
    def status(self) -> str:
        if self.error is not None:
            return "FAILED"
        if self.agree is None:
            return "-"
        return "yes" if self.agree else "NO"


@dataclass
class BenchResult:
    """A whole run of ``dataflow bench tpch``."""

    sf: float
    parallelism: int
    runs: int
    duckdb_threads: int
    warmup: bool = True  # each query ran once untimed first
    address: str | None = None  # the cluster joined (None: one the run started)
    queries: list[QueryRun] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)  # peer columns shown, in order
    peers_skipped: dict[str, str] = field(default_factory=dict)  # peer -> why
    cold_start_s: float | None = None
    cold_start_phases: dict[str, float] = field(default_factory=dict)
    cold_start_error: str | None = None
    peak_rss_bytes: int | None = None
    peak_pss_bytes: int | None = None
    peak_processes: int | None = None  # how many processes there were at the peak
    peak_by_phase: dict[str, list[int]] = field(default_factory=dict)  # phase -> [RSS, PSS]
    machine: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)  # load averages before and after
    started_at: str | None = None
    wall_s: float | None = None
    benchmark: str = "TPC-H"


def geomean(values: list[float]) -> float | None:
    """The geometric mean (``None`` for no values).

    >>> round(geomean([1.0, 4.0]), 6)
    2.0
    """
    vals = [v for v in values if v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def summary(result: BenchResult) -> dict[str, Any]:
    """Totals over the queries where both engines ran and agree, the geometric mean of
    the ratios, the slowest ratio, counts of agreeing/failed/disagreeing queries, and
    each peer's total over the queries it ran."""
    both = [q for q in result.queries if q.ratio is not None]
    df_total = sum(q.dataflow_s for q in both if q.dataflow_s is not None)
    duck_total = sum(q.duckdb_s for q in both if q.duckdb_s is not None)
    ratios = [q.ratio for q in both if q.ratio is not None]
    worst = max(both, key=lambda q: q.ratio or 0.0, default=None)
    out: dict[str, Any] = {
        "queries": len(result.queries),
        "agree": sum(1 for q in result.queries if q.agree),
        "disagree": sum(1 for q in result.queries if q.agree is False and q.error is None),
        "failed": sum(1 for q in result.queries if q.error is not None),
        "compared": len(both),
        "dataflow_total_s": df_total,
        "duckdb_total_s": duck_total,
        "total_ratio": df_total / duck_total if duck_total else None,
        "geomean_ratio": geomean(ratios),
        "max_ratio": worst.ratio if worst else None,
        "max_ratio_query": worst.query if worst else None,
        "peers": {},
    }
    for peer in result.peers:
        ran = [q for q in result.queries if peer in q.peers and q.peers[peer].seconds is not None]
        out["peers"][peer] = {
            "queries": len(ran),
            "total_s": sum(q.peers[peer].seconds or 0.0 for q in ran),
            "dataflow_total_s": sum(q.dataflow_s for q in ran if q.dataflow_s is not None),
            "failed": sum(1 for q in result.queries if peer in q.peers and q.peers[peer].error),
        }
    return out


def targets(result: BenchResult) -> list[tuple[str, bool | None, str]]:
    """Issue 5's targets that this run can judge: (target, holds, the figures).
    ``holds`` is ``None`` when this run cannot tell (a peer not run, say). The targets
    are stated for scale factor 1; at other scales the figures are indicative only."""
    s = summary(result)
    out: list[tuple[str, bool | None, str]] = []
    n = len(result.queries)
    out.append(
        (
            "every query agrees with DuckDB",
            False if s["agree"] < n else (True if n == 22 else None),
            f"{s['agree']} of {n} agree, {s['disagree']} disagree, {s['failed']} fail"
            + ("" if n == 22 else " (not all 22 queries were run)"),
        )
    )
    tr = s["total_ratio"]
    out.append(
        (
            f"total warm time <= {TARGET_TOTAL_RATIO:g}x DuckDB (aim {TARGET_AIM_RATIO:g}x)",
            None if tr is None else tr <= TARGET_TOTAL_RATIO and s["compared"] == n,
            "no query compared"
            if tr is None
            else f"{tr:.2f}x over {s['compared']} queries" + ("" if s["compared"] == n else f" of {n}"),
        )
    )
    mr = s["max_ratio"]
    out.append(
        (
            f"no query slower than {TARGET_MAX_RATIO:g}x DuckDB",
            None if mr is None else mr <= TARGET_MAX_RATIO,
            "no query compared" if mr is None else f"slowest Q{s['max_ratio_query']}: {mr:.1f}x",
        )
    )
    if "spark" in result.peers:
        pairs = [
            (q.query, q.dataflow_s, q.peers["spark"].seconds)
            for q in result.queries
            if "spark" in q.peers and q.peers["spark"].seconds is not None
        ]
        slower = [f"Q{qn}" for qn, d, sp in pairs if d is None or sp is None or d >= sp]
        out.append(
            (
                "faster than Spark local mode on every query",
                bool(pairs) and not slower and len(pairs) == n,
                (f"slower or failed on {', '.join(slower)}" if slower else f"faster on all {len(pairs)}")
                + ("" if len(pairs) == n else f" (Spark ran {len(pairs)} of {n})"),
            )
        )
    else:
        out.append(("faster than Spark local mode on every query", None, "Spark not run"))
    if "ray-data" in result.peers:
        parts, ok = [], True
        for q in result.queries:
            if q.query not in RAY_DATA_QUERIES or "ray-data" not in q.peers:
                continue
            rd = q.peers["ray-data"].seconds
            if rd is None or q.dataflow_s is None:
                ok = False
                parts.append(f"Q{q.query}: -")
                continue
            sp = rd / q.dataflow_s
            ok = ok and sp >= TARGET_RAY_DATA_SPEEDUP
            parts.append(f"Q{q.query}: {sp:.1f}x")
        out.append(
            (
                f"at least {TARGET_RAY_DATA_SPEEDUP:g}x faster than Ray Data on Q1, Q3, Q6",
                ok if parts else None,
                ", ".join(parts) or "Q1, Q3, Q6 not run",
            )
        )
    else:
        out.append(
            (
                f"at least {TARGET_RAY_DATA_SPEEDUP:g}x faster than Ray Data on Q1, Q3, Q6",
                None,
                "Ray Data not run",
            )
        )
    cs = result.cold_start_s
    out.append(
        (
            f"cold start to the first result of Q6 <= {TARGET_COLD_START_S:g} s",
            None if cs is None else cs <= TARGET_COLD_START_S,
            f"{cs:.1f} s" if cs is not None else (result.cold_start_error or "not measured"),
        )
    )
    pm = result.peak_rss_bytes
    out.append(
        (
            f"peak memory of all processes <= {TARGET_PEAK_MEMORY_BYTES / 1024**3:g} GB",
            None if pm is None else pm <= TARGET_PEAK_MEMORY_BYTES,
            "not measured"
            if pm is None
            else f"{_gb(pm)} RSS" + (f", {_gb(result.peak_pss_bytes)} PSS" if result.peak_pss_bytes else ""),
        )
    )
    return out


def _gb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024**3:.2f} GB"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _peer_cell(p: PeerRun | None) -> str:
    if p is None:
        return ""
    if p.error is not None:
        return "FAILED"
    cell = _secs(p.seconds)
    return cell + (" (differs)" if p.agree is False else "")


def _note(q: QueryRun, peers: list[str]) -> str:
    notes = []
    if q.error is not None:
        notes.append(f"dataflow: {q.error}")
    elif q.diff is not None:
        notes.append(f"differs: {q.diff}")
    if q.duckdb_error is not None:
        notes.append(f"DuckDB: {q.duckdb_error}")
    for peer in peers:
        p = q.peers.get(peer)
        if p is not None and p.error is not None:
            notes.append(f"{peer}: {p.error}")
        elif p is not None and p.diff is not None:
            notes.append(f"{peer} differs: {p.diff}")
    return "; ".join(notes)


def _render(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [
        max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
        for i in range(len(header))
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return [line(header), sep, *(line(r) for r in rows)]


def format_table(result: BenchResult, note_width: int = 100) -> str:
    """The table printed by ``dataflow bench tpch``: one line per query, the totals,
    the geometric mean of the ratios, the cold start, the peak memory and the targets."""
    header = (
        ["query", "dataflow s", "DuckDB s", "ratio", "agree"] + [f"{p} s" for p in result.peers] + ["note"]
    )
    right = set(range(1, 4)) | set(range(5, 5 + len(result.peers)))
    rows = []
    for q in result.queries:
        note = _note(q, result.peers)
        if len(note) > note_width:
            note = note[: note_width - 3] + "..."
        rows.append(
            [
                f"Q{q.query:02d}",
                _secs(q.dataflow_s),
                _secs(q.duckdb_s),
                "-" if q.ratio is None else f"{q.ratio:.2f}",
                q.status,
            ]
            + [_peer_cell(q.peers.get(p)) for p in result.peers]
            + [note]
        )
    s = summary(result)
    total_ratio = "-" if s["total_ratio"] is None else f"{s['total_ratio']:.2f}"
    rows.append(
        [
            "total",
            _secs(s["dataflow_total_s"]),
            _secs(s["duckdb_total_s"]),
            total_ratio,
            f"{s['agree']}/{s['queries']}",
        ]
        + [_secs(s["peers"][p]["total_s"]) for p in result.peers]
        + [f"totals over the {s['compared']} queries that ran on both and agree"]
    )
    gm = s["geomean_ratio"]
    rows.append(
        ["geomean", "", "", "-" if gm is None else f"{gm:.2f}", ""]
        + ["" for _ in result.peers]
        + ["of the ratios"]
    )
    lines = [
        f"{result.benchmark} scale factor {result.sf:g}: dataflow parallelism {result.parallelism}, "
        f"DuckDB threads {result.duckdb_threads}; median of {result.runs} run(s)"
        + (" after one warm-up" if result.warmup else ", no warm-up")
        + (f"; cluster {result.address}" if result.address else ""),
        "",
        *_render(header, rows, right),
        "",
    ]
    for peer, why in result.peers_skipped.items():
        lines.append(f"{peer}: skipped ({why})")
    if result.cold_start_s is not None:
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.cold_start_phases.items())
        lines.append(
            f"cold start (new process to the first result of Q6): {result.cold_start_s:.1f} s"
            + (f" ({phases})" if phases else "")
        )
    elif result.cold_start_error:
        lines.append(f"cold start: FAILED ({result.cold_start_error})")
    if result.peak_rss_bytes is not None:
        pss = f", {_gb(result.peak_pss_bytes)} PSS" if result.peak_pss_bytes else ""
        procs = f" over {result.peak_processes} processes" if result.peak_processes else ""
        lines.append(
            f"peak memory of all processes (this process tree and Ray's): {_gb(result.peak_rss_bytes)} RSS{pss}{procs}"
        )
    if result.peak_by_phase:
        lines.append(
            "  by phase: "
            + ", ".join(
                f"{k} {_gb(v[0])} RSS / {_gb(v[1]) if v[1] else '-'} PSS"
                for k, v in result.peak_by_phase.items()
            )
        )
    if result.load:
        lines.append(
            "machine load (1/5/15 min): "
            + ", ".join(f"{k} {' '.join(f'{x:.2f}' for x in v)}" for k, v in result.load.items())
        )
    if result.benchmark != "TPC-H":
        return "\n".join(lines)  # issue 5's targets are TPC-H's
    lines.append("")
    lines.append(
        "targets of issue 5"
        + ("" if result.sf == 1 else f" (stated for sf 1; this is sf {result.sf:g})")
        + ":"
    )
    for name, holds, detail in targets(result):
        mark = "?" if holds is None else ("ok" if holds else "NO")
        lines.append(f"  [{mark:>2}] {name}: {detail}")
    return "\n".join(lines)


def to_json(result: BenchResult) -> dict[str, Any]:
    """The JSON document of ``--json FILE``: the run, every query, the summary, the targets."""
    doc = asdict(result)
    for q, d in zip(result.queries, doc["queries"], strict=True):
        d["ratio"] = q.ratio
        d["status"] = q.status
    doc["summary"] = summary(result)
    doc["targets"] = [{"target": n, "holds": h, "detail": d} for n, h, d in targets(result)]
    return doc


__all__ = [
    "BenchResult",
    "PeerRun",
    "QueryRun",
    "format_table",
    "geomean",
    "summary",
    "targets",
    "to_json",
]
