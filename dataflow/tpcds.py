"""TPC-DS helpers: data generation through ``tpcgen-cli`` and the 99 query texts.

The query texts are DuckDB's (its ``tpcds`` extension's ``tpcds_queries()``), copied
into ``dataflow/tpcds_queries/`` so that a checkout is self-contained; the shared copy
beside the repository (``<repo>/../shared/tpcds/queries``) is used only if the
packaged one is missing.

>>> from dataflow import tpcds
>>> "store_sales" in tpcds.TABLES
True
>>> "select" in tpcds.query_text(3).lower()
True
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

TABLES: tuple[str, ...] = (
    "call_center",
    "catalog_page",
    "catalog_returns",
    "catalog_sales",
    "customer",
    "customer_address",
    "customer_demographics",
    "date_dim",
    "household_demographics",
    "income_band",
    "inventory",
    "item",
    "promotion",
    "reason",
    "ship_mode",
    "store",
    "store_returns",
    "store_sales",
    "time_dim",
    "warehouse",
    "web_page",
    "web_returns",
    "web_sales",
    "web_site",
)

QUERY_NUMBERS: tuple[int, ...] = tuple(range(1, 100))

_HERE = Path(__file__).resolve().parent
QUERIES_DIR = _HERE / "tpcds_queries"
SHARED_QUERIES_DIR = _HERE.parent.parent / "shared" / "tpcds" / "queries"


def query_path(n: int) -> Path:
    """The file holding TPC-DS query ``n`` (1..99)."""
    if n not in QUERY_NUMBERS:
        raise ValueError(f"TPC-DS has queries 1 to 99, not {n}")
    p = QUERIES_DIR / f"q{n:02d}.sql"
    if not p.is_file():
        p = SHARED_QUERIES_DIR / f"q{n:02d}.sql"
    return p


def query_text(n: int) -> str:
    """The SQL text of TPC-DS query ``n`` (1..99), in DuckDB's dialect."""
    return query_path(n).read_text()


def table_paths(data_dir: str | Path) -> dict[str, Path]:
    """The Parquet file of each table in a directory written by :func:`generate`."""
    d = Path(data_dir)
    return {t: d / f"{t}.parquet" for t in TABLES}


def is_generated(out_dir: str | Path) -> bool:
    """Whether every table's Parquet file is already in ``out_dir``."""
    return all(p.is_file() and p.stat().st_size > 0 for p in table_paths(out_dir).values())


def _tpcgen() -> str:
    local = Path(sys.executable).parent / "tpcgen-cli"
    if local.is_file():
        return str(local)
    found = shutil.which("tpcgen-cli")
    if found is None:
        raise RuntimeError("tpcgen-cli is not installed; install it with `pip install tpcgen-cli`")
    return found


def generate(sf: float, out_dir: str | Path, threads: int | None = None) -> Path:
    """Write the 24 TPC-DS tables at scale factor ``sf`` as Parquet files
    ``<out_dir>/<table>.parquet`` with ``tpcgen-cli``; does nothing if they are all
    there already. Returns ``out_dir``."""
    out = Path(out_dir)
    if is_generated(out):
        return out
    out.mkdir(parents=True, exist_ok=True)
    cmd = [_tpcgen(), "tpcds", "parquet", "-s", f"{sf:g}", "--output-dir", str(out), "--overwrite", "--quiet"]
    if threads is not None:
        cmd += ["--num-threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not is_generated(out):
        raise RuntimeError(
            f"tpcgen-cli failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return out


__all__ = ["QUERIES_DIR", "TABLES", "generate", "is_generated", "query_path", "query_text", "table_paths"]
