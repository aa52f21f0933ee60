"""The shipped Grafana dashboard (docs/grafana/dataflow.json) is valid JSON, and every
metric its panels and variables query is one dataflow exports
(dataflow/runtime/ray_metrics.py), with the suffix Prometheus gives its kind."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "dataflow.json"
METRICS_SOURCE = ROOT / "dataflow" / "runtime" / "ray_metrics.py"


def _exported() -> dict[str, str]:
    """name -> kind (Counter/Gauge/Histogram), read from the source without importing Ray."""
    found = re.findall(r'rm\.(Counter|Gauge|Histogram)\(\s*"([a-z_]+)"', METRICS_SOURCE.read_text())
    return {name: kind for kind, name in found}


def _queries(node: Any) -> list[str]:
    """Every PromQL text in the dashboard: panel targets (also inside collapsed rows)
    and variable definitions."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                out.append(value)
            else:
                out.extend(_queries(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_queries(value))
    return out


def test_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _exported()
    assert len(exported) >= 10, exported  # the source parse found the metrics
    queries = _queries(dashboard["panels"]) + _queries(dashboard["templating"])
    used = {m for q in queries for m in re.findall(r"\bray_(dataflow_[a-z_]+)", q)}
    assert used, "the dashboard queries no dataflow metric"
    for series in used:
        name = series.removesuffix("_total")
        assert name in exported, f"{series}: no such metric in ray_metrics.py"
        # Prometheus names a counter's series <name>_total, a gauge's <name>
        assert series.endswith("_total") == (exported[name] == "Counter"), series
    # every metric dataflow exports has a panel
    assert {u.removesuffix("_total") for u in used} == set(exported)


def test_dashboard_shape_follows_rays() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert {"SessionName", "Cluster", "Session", "Query"} <= set(variables)
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    panels += [p for row in dashboard["panels"] if row["type"] == "row" for p in row["panels"]]
    ids = [p["id"] for p in dashboard["panels"]] + [p["id"] for r in dashboard["panels"] for p in r.get("panels", [])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        assert p["datasource"] == "${datasource}", p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert 'SessionName=~"$SessionName"' in t["expr"], (p["title"], t["expr"])
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]
            assert t["expr"].count("{") == t["expr"].count("}"), t["expr"]
