"""Render ``docs/grafana/dataflow.json``, the Grafana dashboard over dataflow's live
metrics (``dataflow/runtime/ray_metrics.py``), with Ray's own dashboard factory.

Ray builds its Default and Data dashboards from Python panel lists
(``ray/dashboard/modules/metrics/dashboards/*_panels.py``) rendered onto a base JSON by
``grafana_dashboard_factory``; this file does the same, so the result has the same shape:
a hidden ``$datasource`` variable of type ``prometheus``, the ``$SessionName`` and
``$Cluster`` filters Ray puts on every panel, rows of 2-column 8-high panels, and the
``rayVersion`` tag. It can be dropped next to Ray's dashboards in the folder Ray's
Grafana provisioning reads (``<ray session dir>/metrics/grafana/dashboards``).

    .venv/bin/python docs/grafana/generate.py      # rewrites docs/grafana/dataflow.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ray
from ray.dashboard.modules.metrics.dashboards.common import DashboardConfig, Panel, Row, Target
from ray.dashboard.modules.metrics.grafana_dashboard_factory import _generate_grafana_panels

OUT = Path(__file__).with_name("dataflow.json")

# every dataflow series carries ``session`` (the dataflow Session's name); the
# per-query ones also carry ``query``
STANDARD_FILTERS = ['SessionName=~"$SessionName"', 'ray_io_cluster=~"$Cluster"', 'session=~"$Session"']
Q = 'query=~"$Query"'
# the stage instance is the ``stage_instance`` tag (Prometheus keeps ``instance`` for
# the scrape target)
OP = f'{Q}, stage=~"$Stage", operator=~"$Operator"'


def _rate(metric: str, by: str, filters: str = OP) -> str:
    return f"sum(rate({metric}{{{{{{global_filters}}, {filters}}}}}[$__rate_interval])) by ({by})"


def _sum(metric: str, by: str, filters: str = Q) -> str:
    return f"sum({metric}{{{{{{global_filters}}, {filters}}}}}) by ({by})"


def _panel(pid: int, title: str, description: str, unit: str, *targets: Target, stack: bool = False) -> Panel:
    return Panel(id=pid, title=title, description=description, unit=unit, targets=list(targets), fill=0,
                 stack=stack)


ROWS_OP = "ray_dataflow_operator_rows_out_total"
BYTES_OP = "ray_dataflow_operator_bytes_out_total"
BATCHES_OP = "ray_dataflow_operator_batches_out_total"
BUSY = "ray_dataflow_operator_busy_seconds_total"
BLOCKED = "ray_dataflow_operator_blocked_seconds_total"

OVERVIEW = Row(title="Queries", id=100, panels=[
    _panel(1, "Queries running", "Queries running or queued in each Session.", "short",
           Target(expr="sum(ray_dataflow_queries_running{{{global_filters}}}) by (session)", legend="{{session}}")),
    _panel(2, "Queries finished", "Queries finished in the time range, by outcome (ok, failed, cancelled).",
           "short",
           Target(expr="sum(increase(ray_dataflow_queries_finished_total{{{global_filters}}}[$__range])) "
                       "by (session, outcome)", legend="{{session}}: {{outcome}}")),
    _panel(3, "Scan morsels left", "Morsels (row groups / file pieces) of each scan not yet handed to an "
           "instance: it falls to 0 as the scans progress.", "short",
           Target(expr=_sum("ray_dataflow_morsels_left", "query, scan"), legend="{{query}} {{scan}}")),
    _panel(4, "Scan morsels handed out / s", "Morsels handed to scan instances per second.", "short",
           Target(expr=_rate("ray_dataflow_morsels_handed_out_total", "query, scan", Q),
                  legend="{{query}} {{scan}}")),
    _panel(5, "Query retries", "Query attempts retried after an actor was lost, in the time range.", "short",
           Target(expr="sum(increase(ray_dataflow_query_retries_total{{{global_filters}}}[$__range])) "
                       "by (session)", legend="{{session}}")),
    _panel(6, "Channel queue depth", "Batches waiting in each stage's input channels (summed over its "
           "instances): a growing queue is a stage that cannot keep up.", "short",
           Target(expr=_sum("ray_dataflow_channel_queue_depth", "query, stage, edge", f'{Q}, stage=~"$Stage"'),
                  legend="{{query}} stage {{stage}} {{edge}}")),
])

OPERATORS = Row(title="Operators", id=101, panels=[
    _panel(11, "Rows / s per operator", "Rows each operator produces per second, over its instances.",
           "rows/s", Target(expr=_rate(ROWS_OP, "query, stage, operator"),
                            legend="{{query}} s{{stage}} {{operator}}")),
    _panel(12, "Bytes / s per operator", "Bytes (Arrow buffers) each operator produces per second.",
           "Bps", Target(expr=_rate(BYTES_OP, "query, stage, operator"),
                         legend="{{query}} s{{stage}} {{operator}}")),
    _panel(13, "Busy vs blocked per operator",
           "Seconds each operator spent working (its self time, without its inputs') and blocked on its "
           "consumers (backpressure), so far in each query. Workers add them when a stage instance ends, so "
           "they rise in steps (a rate of them would miss each query's first step).", "s",
           Target(expr=_sum(BUSY, "query, stage, operator", OP), legend="busy {{query}} s{{stage}} {{operator}}"),
           Target(expr=_sum(BLOCKED, "query, stage, operator", OP),
                  legend="blocked {{query}} s{{stage}} {{operator}}")),
    _panel(14, "Batches / s per operator", "Record batches each operator produces per second.", "short",
           Target(expr=_rate(BATCHES_OP, "query, stage, operator"),
                  legend="{{query}} s{{stage}} {{operator}}")),
])

STAGES = Row(title="Stages", id=102, panels=[
    _panel(21, "Rows / s per stage", "Rows per second out of every operator of a stage, summed.", "rows/s",
           Target(expr=_rate(ROWS_OP, "query, stage"), legend="{{query}} stage {{stage}}"), stack=True),
    _panel(22, "Bytes / s per stage", "Bytes per second out of every operator of a stage, summed.", "Bps",
           Target(expr=_rate(BYTES_OP, "query, stage"), legend="{{query}} stage {{stage}}"), stack=True),
    _panel(23, "Busy vs blocked per stage", "Busy and blocked seconds so far, summed over a stage.", "s",
           Target(expr=_sum(BUSY, "query, stage", OP), legend="busy {{query}} stage {{stage}}"),
           Target(expr=_sum(BLOCKED, "query, stage", OP), legend="blocked {{query}} stage {{stage}}")),
    _panel(24, "Rows per stage (total)", "Rows each stage produced so far.", "short",
           Target(expr=_sum(ROWS_OP, "query, stage", OP), legend="{{query}} stage {{stage}}")),
])

INSTANCES = Row(title="Instances (skew)", id=103, collapsed=True, panels=[
    _panel(31, "Rows / s per instance", "One line per operator instance: uneven lines are skew.", "rows/s",
           Target(expr=_rate(ROWS_OP, "query, stage, operator, stage_instance"),
                  legend="{{query}} s{{stage}} {{operator}} #{{stage_instance}}")),
    _panel(32, "Busy per instance", "Busy seconds so far of each operator instance: uneven bars are skew.", "s",
           Target(expr=_sum(BUSY, "query, stage, operator, stage_instance", OP),
                  legend="{{query}} s{{stage}} {{operator}} #{{stage_instance}}")),
    _panel(33, "Rows / s per node", "Rows per second produced on each Ray node.", "rows/s",
           Target(expr=_rate(ROWS_OP, "node"), legend="{{node}}")),
    _panel(34, "Queue depth per instance", "Batches waiting in each instance's input channels.", "short",
           Target(expr=_sum("ray_dataflow_channel_queue_depth", "query, stage, stage_instance, edge",
                            f'{Q}, stage=~"$Stage"'), legend="{{query}} s{{stage}} #{{stage_instance}} {{edge}}")),
])

CONFIG = DashboardConfig(
    name="DATAFLOW", default_uid="dataflowDashboard", rows=[OVERVIEW, OPERATORS, STAGES, INSTANCES],
    standard_global_filters=STANDARD_FILTERS, base_json_file_name="",
)


def _variable(name: str, label: str, metric: str, filters: str, multi: bool = True) -> dict:
    query = f'query_result(count by ({label})(last_over_time({metric}{{{filters}}}[$__range])))'
    return {
        "allValue": ".+", "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": "${datasource}", "definition": query, "description": None, "error": None, "hide": 0,
        "includeAll": True, "label": None, "multi": multi, "name": name, "options": [],
        "query": {"query": query, "refId": f"dataflow-{name}-Variable-Query"}, "refresh": 2,
        "regex": f'{{{label}="(?<value>.*)".*', "skipUrlSync": False, "sort": 2, "tagValuesQuery": "",
        "tags": [], "tagsQuery": "", "type": "query", "useTags": False,
    }


def templating() -> list[dict]:
    base = 'SessionName=~"$SessionName"'
    datasource = {
        "current": {"selected": False}, "description": "Filter queries of a specific Prometheus type.",
        "hide": 2, "includeAll": False, "multi": False, "name": "datasource", "options": [],
        "query": "prometheus", "refresh": 1, "regex": "", "skipUrlSync": False, "type": "datasource",
    }
    ray_session = _variable("SessionName", "SessionName", ROWS_OP, "", multi=False)
    ray_session["description"] = "Filter queries to specific Ray sessions."
    ray_session["current"] = {"selected": False}
    cluster = _variable("Cluster", "ray_io_cluster", "ray_node_network_receive_speed", "", multi=False)
    cluster.update(allValue=".*", description="Filter queries to specific Ray clusters for KubeRay.",
                   regex="", current={"selected": False})
    cluster["definition"] = cluster["query"]["query"] = "label_values(ray_node_network_receive_speed, ray_io_cluster)"
    return [
        datasource, ray_session,
        _variable("Session", "session", ROWS_OP, base),
        _variable("Query", "query", ROWS_OP, f'{base}, session=~"$Session"'),
        _variable("Stage", "stage", ROWS_OP, f'{base}, session=~"$Session", query=~"$Query"'),
        _variable("Operator", "operator", ROWS_OP, f'{base}, session=~"$Session", query=~"$Query"'),
        cluster,
    ]


def render() -> str:
    """The dashboard JSON, as Ray's factory renders its own."""
    panels = _generate_grafana_panels(CONFIG, [], "")
    dashboard = {
        "annotations": {"list": [{
            "builtIn": 1, "datasource": "-- Grafana --", "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "description": "dataflow queries on Ray: rows, bytes, busy and blocked time per operator, stage and "
                       "instance; channel queues; scan morsels; queries and retries.",
        "editable": True, "gnetId": None, "graphTooltip": 1, "links": [], "panels": panels,
        "refresh": "5s", "schemaVersion": 27, "style": "dark",
        "tags": ["dataflow", f"rayVersion:{ray.__version__}"],
        "templating": {"list": templating()},
        "time": {"from": "now-30m", "to": "now"}, "timepicker": {}, "timezone": "",
        "title": "dataflow", "uid": CONFIG.default_uid, "version": 1,
        "rayMeta": ["supportsGlobalFilterOverride"],
    }
    return json.dumps(dashboard, indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
