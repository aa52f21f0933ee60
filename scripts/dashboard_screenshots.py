"""Screenshots of the Ray dashboard while dataflow runs a TPC-H query, for
``docs/monitoring.md``.

It starts a Session (a local Ray cluster), runs a TPC-H query over and over while it
drives headless Chromium (through Playwright) to the dashboard's pages, logged in with
Ray's token, and saves PNGs:

- ``actors.png``: the Actors page, every actor named ``dataflow:<session>:...``;
- ``jobs.png``: the Jobs page, the driver's job;
- ``tasks.png``: the job's page with its task table (``<query> stage N Ops i/n``);
- ``metrics.png``: dataflow's live rows/s per stage and operator, in Prometheus's graph page
  (when a ``prometheus`` binary is on PATH: ``apt-get install prometheus``), scraping
  the node's metrics endpoint;
- ``metrics-busy.png``: busy seconds per operator of a query that finished, a table.

Needs Chromium (``apt-get install chromium``) and the ``docs`` extra
(``pip install -e '.[docs]'``); Playwright drives the system's Chromium, so
``playwright install`` is not needed::

    .venv/bin/python scripts/dashboard_screenshots.py --sf 1 --query 9 --out docs/img
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataflow import Session, tpch  # noqa: E402
from dataflow.cli import ray_auth_token  # noqa: E402

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
PAGE_TEXT = False  # --page-text: save each page's text next to its PNG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metrics_endpoint() -> str:
    """This node's metrics endpoint (Prometheus text)."""
    import ray

    node = ray._private.worker.global_worker.node
    return f"{node.node_ip_address}:{node.metrics_export_port}"


def start_prometheus(target: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """A Prometheus of our own (its own port and storage) scraping ``target`` every
    2 s; None when no ``prometheus`` binary is installed."""
    binary = shutil.which("prometheus")
    if binary is None:
        return None
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\n"
        f"scrape_configs:\n- job_name: ray\n  static_configs:\n  - targets: ['{target}']\n"
    )
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(workdir / "prometheus.log", "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(60):
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=2)
            return proc, url
        except OSError:
            time.sleep(1)
    proc.terminate()
    print("prometheus did not start: see", workdir / "prometheus.log", file=sys.stderr)
    return None


class QueryLoop:
    """Runs the query again and again on a thread until stopped, so there is always
    a query running while the pages are shot."""

    def __init__(self, session: Session, sql: str) -> None:
        self.session, self.sql = session, sql
        self.job: Any = None
        self.runs: list[float] = []
        self.names: list[str] = []  # the queries that finished
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                self.job = self.session.sql(self.sql).submit()
                self.job.result()
                self.runs.append(time.perf_counter() - t0)
                self.names.append(self.job.name)
                print(f"query {self.job.name} done in {self.runs[-1]:.1f} s", file=sys.stderr)
        except BaseException as e:  # reported by the main thread
            self.error = e

    def wait_running(self, seconds: float) -> None:
        """Until the current job has run ``seconds`` (its actors and tasks exist)."""
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.error is not None:
                raise self.error
            job = self.job
            if job is not None and job.status() == "running":
                time.sleep(seconds)
                if self.job is job and job.status() == "running":
                    return
            time.sleep(0.5)
        raise TimeoutError("the query did not start running in 10 minutes")

    def stop(self) -> None:
        self._stop.set()
        job = self.job
        if job is not None:
            try:
                job.cancel()
            except Exception:
                pass
        self._thread.join(timeout=120)


def shoot(page: Any, url: str | None, out: Path, wait_for: str | None = None, settle: float = 4.0,
          full_page: bool = False) -> None:
    """Open ``url`` (None: stay), wait (at most 90 s) for ``wait_for`` to show, save a PNG."""
    if url is not None:
        page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    if wait_for:
        try:
            page.get_by_text(wait_for).first.wait_for(timeout=90_000)
        except Exception:
            print(f"{out.name}: {wait_for!r} did not show within 90 s", file=sys.stderr)
    time.sleep(settle)
    page.screenshot(path=str(out), full_page=full_page)
    if PAGE_TEXT:  # what the page said, to check a shot without looking
        out.with_suffix(".txt").write_text(page.inner_text("body"))
    print("saved", out, file=sys.stderr)


def start_session(args: argparse.Namespace, attempts: int = 3) -> Session:
    """The Session; a local Ray node that misses Ray's 30 s startup window on a busy
    machine is retried."""
    import ray

    for attempt in range(1, attempts + 1):
        try:
            return Session(name=args.session, parallelism=args.parallelism, chain_operators=args.chain,
                           progress=False)
        except Exception as e:
            if attempt == attempts or "timed out during startup" not in str(e):
                raise
            print(f"Ray did not start ({e}); again", file=sys.stderr)
            ray.shutdown()
    raise AssertionError("unreachable")


def ray_job_id() -> str:
    import ray

    return ray.get_runtime_context().get_job_id()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--query", type=int, default=9, help="TPC-H query number")
    p.add_argument("--data", default=str(ROOT / "data"), help="holds tpch-sf<SF>/ (generated if missing)")
    p.add_argument("--out", default=str(ROOT / "docs" / "img"))
    p.add_argument("--parallelism", type=int, default=2)
    p.add_argument("--chain", action="store_true", help="chain operators (default: one actor per operator)")
    p.add_argument("--session", default="tpch", help="the Session's name (in every actor's name)")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--page-text", action="store_true", help="save each page's text next to its PNG")
    args = p.parse_args(argv)
    global PAGE_TEXT
    PAGE_TEXT = args.page_text

    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(args.data) / f"tpch-sf{args.sf:g}"
    if not tpch.is_generated(data):
        tpch.generate(args.sf, data)
    work = Path(tempfile.mkdtemp(prefix="dataflow-shots-"))
    prom = None
    with start_session(args) as s:
        for t, path in tpch.table_paths(data).items():
            s.register_parquet(t, str(path))
        url = s.dashboard_url
        if url is None:
            print("error: the Session has no dashboard", file=sys.stderr)
            return 1
        url = url.rstrip("/")
        endpoint = metrics_endpoint()
        prom = start_prometheus(endpoint, work)
        prom_started = time.time()
        loop = QueryLoop(s, tpch.query_text(args.query))
        try:
            with sync_playwright() as pw:
                ctx = pw.chromium.launch_persistent_context(
                    str(work / "chromium"), executable_path=args.chromium, headless=True,
                    args=CHROMIUM_FLAGS, viewport=VIEWPORT,
                )
                _, token = ray_auth_token()
                if token is not None:  # what the dashboard's login dialog sets
                    ctx.add_cookies([{"name": "ray-authentication-token", "value": token, "url": url}])
                page = ctx.new_page()
                loop.wait_running(5)
                shoot(page, f"{url}/#/jobs", out / "jobs.png", wait_for="RUNNING")
                loop.wait_running(3)
                page.goto(f"{url}/#/jobs/{ray_job_id()}", wait_until="domcontentloaded", timeout=120_000)
                page.get_by_text("Task Table", exact=True).first.wait_for(timeout=90_000)
                time.sleep(5)
                # the job page's sections start collapsed: open the task table
                task_table = page.get_by_text("Task Table", exact=True).first
                task_table.click()
                page.get_by_text(" stage ").first.wait_for(timeout=90_000)
                try:
                    page.get_by_label("Page Size").last.fill("15")
                except Exception as e:
                    print(f"task table: page size not set ({e})", file=sys.stderr)
                time.sleep(3)
                task_table.evaluate("e => { e.scrollIntoView({block: 'start'}); window.scrollBy(0, -70); }")
                shoot(page, None, out / "tasks.png", settle=2)
                loop.wait_running(2)
                page.goto(f"{url}/#/actors", wait_until="domcontentloaded", timeout=120_000)
                try:  # dataflow's actors only, more of them a page
                    page.get_by_label("Name", exact=True).fill(f"dataflow:{args.session}:")
                    page.get_by_label("Page Size").fill("12")
                except Exception as e:
                    print(f"actors page: filters not set ({e})", file=sys.stderr)
                shoot(page, None, out / "actors.png", wait_for=f"dataflow:{args.session}:", full_page=True)
                if prom is not None:
                    time.sleep(max(0.0, prom_started + 100 - time.time()))  # graphs of some length
                    loop.wait_running(2)
                    done = loop.names[-1] if loop.names else "q1"  # a query that finished: all its steps
                    shots = {
                        "metrics.png": ("0", "sum by (stage, operator) "
                                        f'(rate(ray_dataflow_operator_rows_out_total{{session="{args.session}"}}[10s]))'),
                        # busy and blocked time are added when an instance ends: a table of one query's
                        "metrics-busy.png": ("1", "sort_desc(sum by (query, stage, operator) "
                                             "(ray_dataflow_operator_busy_seconds_total"
                                             f'{{session="{args.session}",query="{done}"}}))'),
                    }
                    for name, (tab, expr) in shots.items():
                        q = urllib.parse.urlencode({"g0.expr": expr, "g0.tab": tab, "g0.range_input": "2m"})
                        shoot(page, f"{prom[1]}/graph?{q}", out / name, settle=6)
                text = urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=30).read().decode()
                sample = [ln for ln in text.splitlines() if ln.startswith("ray_dataflow_operator_rows_out_total")]
                print("the metrics endpoint, e.g.:", *sample[:2], sep="\n", file=sys.stderr)
                ctx.close()
        finally:
            loop.stop()
            if prom is not None:
                prom[0].terminate()
                prom[0].wait(timeout=30)
    print(json.dumps({"query_runs_seconds": [round(r, 1) for r in loop.runs], "out": str(out)}))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    sys.exit(main())
